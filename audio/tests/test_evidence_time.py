"""Evidence spans of the transcript text mapped to the second their first word is said (audio.evidence_time)."""

from audio.evidence_time import TimedWord, audio_start_s, timed_words
from audio.speech import Segment, Word

TEXT = "procedure, left L4-L5 laminotomy. No complications."


def segments() -> list[Segment]:
    # As the normaliser leaves them: "L four five" heard, one word "L4-L5" timed from "L"'s start.
    first = Segment(start=0.0, end=3.1, text="procedure, left L4-L5 laminotomy.", words=[
        Word(0.0, 0.8, " procedure,", 0.9), Word(0.9, 1.2, " left", 0.9), Word(1.3, 2.0, "L4-L5", 0.7),
        Word(2.1, 3.1, " laminotomy.", 0.8)])
    second = Segment(start=3.5, end=5.0, text="No complications.", words=[
        Word(3.5, 3.8, " No", 0.9), Word(3.9, 5.0, " complications.", 0.9)])
    return [first, second]


def test_each_timed_word_is_found_in_the_text_in_order():
    words = timed_words(TEXT, segments())
    assert [TEXT[w.start:w.end] for w in words] == ["procedure,", "left", "L4-L5", "laminotomy.", "No",
                                                     "complications."]
    assert [w.start_s for w in words] == [0.0, 0.9, 1.3, 2.1, 3.5, 3.9]


def test_stored_segments_json_gives_the_same_words():
    as_json = [{"start": s.start, "end": s.end, "text": s.text,
                "words": [{"start": w.start, "end": w.end, "word": w.word, "probability": w.probability}
                          for w in s.words]} for s in segments()]
    assert timed_words(TEXT, as_json) == timed_words(TEXT, segments())


def test_a_span_starts_with_the_first_timed_word_it_overlaps():
    words = timed_words(TEXT, segments())
    level = TEXT.index("L4-L5")
    assert audio_start_s(words, level, level + 5) == 1.3
    assert audio_start_s(words, level + 1, level + 3) == 1.3  # inside one word
    assert audio_start_s(words, level, TEXT.index("No") + 2) == 1.3  # across segments: its first word's start
    assert audio_start_s(words, TEXT.index("left") - 1, TEXT.index("left") + 2) == 0.9  # from the space before
    assert audio_start_s(words, TEXT.index("complications"), len(TEXT)) == 3.9


def test_a_span_that_overlaps_no_timed_word_has_no_time():
    words = timed_words(TEXT, segments())
    gap = TEXT.index(" left")
    assert audio_start_s(words, gap, gap + 1) is None  # the space between two words
    assert audio_start_s(words, 5, 5) is None  # empty
    assert audio_start_s(words, len(TEXT), len(TEXT) + 4) is None  # past the text
    assert audio_start_s([], 0, 10) is None  # a text with no timings


def test_a_word_the_text_no_longer_holds_times_nothing_and_the_rest_still_count():
    edited = "procedure, left L4-L5 microdiscectomy. No complications."
    words = timed_words(edited, segments())
    assert [edited[w.start:w.end] for w in words] == ["procedure,", "left", "L4-L5", "No", "complications."]
    assert audio_start_s(words, edited.index("microdiscectomy"), edited.index("microdiscectomy") + 5) is None
    assert audio_start_s(words, edited.index("No"), len(edited)) == 3.5


def test_times_are_rounded_to_hundredths():
    assert audio_start_s([TimedWord(0, 4, 1.23456)], 0, 4) == 1.23
