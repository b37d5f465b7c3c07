"""django-q2 task entry points of the claims app: ids in, no PHI in task arguments or results."""

from claims import pipeline


def recording_code(recording_id: int) -> int | None:
    coded = pipeline.recording_code(recording_id=recording_id)
    return coded.pk if coded else None


def second_read(second_read_id: int) -> str:
    """The LLM second reader (cluster inference-llm): the SecondRead id in, its final status out. The worker runs at
    the lowest CPU priority from its first read on, so a transcription on the same cores goes first."""
    from billy.llm import lowest_priority
    from claims import second_reading

    lowest_priority()
    return second_reading.second_read_run(second_read_id=second_read_id)
