"""django-q2 tasks of the audio app. Each takes an id only (task arguments are stored in tables: no PHI)."""

from audio import services


def recording_transcribe(recording_id: int) -> bool:
    return services.recording_transcribe(recording_id=recording_id)
