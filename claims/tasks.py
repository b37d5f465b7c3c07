"""django-q2 task entry points of the claims app: ids in, no PHI in task arguments or results."""

from claims import pipeline


def recording_code(recording_id: int) -> int | None:
    coded = pipeline.recording_code(recording_id=recording_id)
    return coded.pk if coded else None
