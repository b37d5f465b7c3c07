"""The spine normaliser and the clean-up of Whisper's segments, on text and timings written here (no model).

The phrases are our own: each shows one way Whisper mishears spine speech, and the ordinary English next to it
that must stay as it is.
"""

from __future__ import annotations

import json
import re
import warnings

import pytest

from audio import speech
from audio.speech import Segment, Word, finish_transcript
from audio.spine_vocabulary import SPINE_LEXICON, _fuzzy_match, normalise_spine_terms


@pytest.mark.parametrize(
    ("heard", "expected"),
    [
        # A noun naming another is singular: the hotwords' "pedicle screws" must not leak into the compound.
        ("pedicals crew fixation from T10 to L2", "pedicle screw fixation from T10 to L2"),
        ("bilateral pedicle screws instrumentation", "bilateral pedicle screw instrumentation"),
        ("pedicles crews were tightened", "pedicle screws were tightened"),
        # Whisper's comma where the voice paused inside a term.
        ("with pedicals, crews and rods", "with pedicle screws and rods"),
        ("a small dual, tear", "a small dural tear"),
        # The disc, spelled as spine writing spells it, and its space.
        ("the disk and the diskogram", "the disc and the discogram"),
        ("the disk case was cleared of fragments", "the disc space was cleared of fragments"),
        ("a diskectomy", "a discectomy"),
        ("a hard disk", "a hard disc"),  # spine writing has no other disk
        # Laterality: "write" before a level or a part with a side; never elsewhere.
        ("a write-sided approach to the write L3 foramen", "a right-sided approach to the right L3 foramen"),
        ("pain in the write knee and write SI joint", "pain in the right knee and right SI joint"),
        ("I will write to the family", "I will write to the family"),
        ("write the discharge orders", "write the discharge orders"),
        # "spinal" without its s, only where "final" cannot be meant.
        ("final cord compression at T6", "spinal cord compression at T6"),
        ("a 25 gauge final needle", "a 25 gauge spinal needle"),
        ("the final needle position was confirmed", "the final needle position was confirmed"),
        ("final fluoroscopic images were saved", "final fluoroscopic images were saved"),
        ("central final stenosis", "central spinal stenosis"),
        # The stimulator, not a simulator; a cord, not a chord.
        ("final chord, simulator leads were placed", "spinal cord stimulator leads were placed"),
        ("a peripheral nerve simulator", "a peripheral nerve stimulator"),
        ("the simulator trial ended", "the stimulator trial ended"),
        ("compression of the spinal chord", "compression of the spinal cord"),
        ("trained on a surgical simulator", "trained on a surgical simulator"),
        # Terms and phrases with a sound lost or swapped.
        ("interoperative fluoroscopy and interoperatively", "intraoperative fluoroscopy and intraoperatively"),
        ("the ligamentum flavor was thickened", "the ligamentum flavum was thickened"),
        ("medial branch locks at L2 and L3", "medial branch blocks at L2 and L3"),
        ("a medial branch lock", "a medial branch block"),
        ("the rods were locked", "the rods were locked"),
        ("the transfer processes of L3 were exposed", "the transverse processes of L3 were exposed"),
        ("the transfer process to recovery", "the transfer process to recovery"),
        ("blood lost was minimal", "blood loss was minimal"),
        ("estimated blood lost 400 milliliters", "estimated blood loss 400 milliliters"),
        ("blood lost during the exposure", "blood lost during the exposure"),
        ("post-laminectomy syndrome", "postlaminectomy syndrome"),
        ("a post laminectomy kyphosis", "a post laminectomy kyphosis"),
        ("fail back surgery syndrome", "failed back surgery syndrome"),
        ("ala draft and auto braft", "allograft and autograft"),
        ("buy lateral foraminotomies", "bilateral foraminotomies"),
        ("bi lateral", "bilateral"),
        # Levels: an interspace heard as one number; never a vertebra that exists.
        ("a protrusion at C34 and T1011", "a protrusion at C3-C4 and T10-T11"),
        ("fusion at l45", "fusion at L4-L5"),
        ("T12 burst fracture and T11", "T12 burst fracture and T11"),
        ("L12 and T910", "L1-L2 and T9-T10"),
        ("C35 and L56 and C78", "C35 and L56 and C78"),
        ("C7 1 and T121", "C7 1 and T12-L1"),
    ],
)
def test_the_normaliser_fixes_the_mishearing_and_leaves_the_english(heard, expected):
    assert normalise_spine_terms(heard)[0] == expected


@pytest.mark.parametrize(
    ("heard", "expected"),
    [
        # Letters close to one term.
        ("ropivicaine", "ropivacaine"),
        ("neuromonitering", "neuromonitoring"),
        # Sound alike: voiced for voiceless stops, vowels moved.
        ("methylbrednisolone", "methylprednisolone"),
        ("bipeticular", "bipedicular"),
        ("sacroileitis", "sacroiliitis"),
        ("Betamethazone", "Betamethasone"),
    ],
)
def test_a_long_word_close_to_or_sounding_like_one_term_becomes_it(heard, expected):
    text, changes = normalise_spine_terms(heard)
    assert text == expected
    assert changes[0].reason in ("close to spine term", "sounds like spine term")


@pytest.mark.parametrize("word", [
    "sbondylosis",  # sounds like spondylosis and spondylolysis alike: the sound cannot choose
    # Other words made from a term's stem: an instrument, a verb, a person, a plural.
    "osteotome", "decorticating", "fluoroscopist", "spondylolistheses", "fluoroscopically", "autografts",
    "perpendicular", "particularly", "spectacular", "extraordinary", "interpreted", "interoperable",
    "radiologist", "laminated", "decoration", "transported", "neurotoxin", "oscillation",
])
def test_a_word_that_sounds_like_no_single_term_is_left_alone(word):
    assert _fuzzy_match(word) is None


def test_no_word_of_icd_10_cm_is_changed_by_the_fuzzy_rule():
    with warnings.catch_warnings():  # simple_icd_10_cm reads its data files the deprecated way
        warnings.simplefilter("ignore", DeprecationWarning)
        import simple_icd_10_cm as icd

        descriptions = [icd.get_description(code) for code in icd.get_all_codes(with_dots=False)]
    words = {word for description in descriptions for word in re.findall(r"[A-Za-z]+", description)}
    assert len(words) > 5000
    assert [(w, _fuzzy_match(w)) for w in sorted(words) if _fuzzy_match(w)] == []


def test_no_whole_word_of_whispers_vocabulary_is_changed_by_the_fuzzy_rule():
    # Whisper's tokenizer holds the common English words as single tokens (a leading space, "Ġ", then the word).
    vocabulary = json.loads((speech.model_path("tiny.en") / "tokenizer.json").read_text())["model"]["vocab"]
    words = {token[1:] for token in vocabulary if token.startswith("Ġ") and token[1:].isalpha()}
    assert len(words) > 10000
    assert [(w, _fuzzy_match(w)) for w in sorted(words) if _fuzzy_match(w)] == []


def test_every_lexicon_term_is_left_as_it_is():
    for term in SPINE_LEXICON:
        assert normalise_spine_terms(term) == (term, [])


# --- Whisper's segments to the transcript -------------------------------------------------------------------


def _segment(*timed_words: tuple[str, float, float]) -> Segment:
    words = [Word(start=start, end=end, word=f" {w}", probability=0.9) for w, start, end in timed_words]
    return Segment(start=words[0].start, end=words[-1].end, text="".join(w.word for w in words), words=words)


def _assert_consistent(heard: str, text: str, segments: list[Segment], changes) -> None:
    assert text == " ".join(segment.text for segment in segments)
    for segment in segments:
        assert segment.text == " ".join(word.word for word in segment.words)
        assert segment.start <= segment.words[0].start and segment.words[-1].end <= segment.end
    assert all(a.end <= b.start for a, b in zip(segments, segments[1:], strict=False))
    for change in changes:
        assert text[change.start:change.end] == change.replacement
        assert heard[change.original_start:change.original_end] == change.original


def test_a_term_split_across_two_segments_is_fixed_and_timed_in_the_first():
    segments = [_segment(("the", 0.0, 0.2), ("disc", 0.2, 0.6)),
                _segment(("case", 0.7, 1.0), ("was", 1.0, 1.2), ("cleared.", 1.2, 1.8))]
    heard, text, out, changes = finish_transcript(segments)
    assert heard == "the disc case was cleared."
    assert text == "the disc space was cleared."
    assert [[(w.word, w.start, w.end) for w in s.words] for s in out] == [
        [("the", 0.0, 0.2), ("disc space", 0.2, 1.0)], [("was", 1.0, 1.2), ("cleared.", 1.2, 1.8)]]
    assert out[1].start == 1.0  # its first word went to the segment before
    _assert_consistent(heard, text, out, changes)


def test_a_segment_whose_words_have_no_time_is_taken_out_and_listed():
    said = _segment(("the", 0.0, 0.2), ("wound", 0.2, 0.6), ("was", 0.6, 0.8), ("closed.", 0.8, 1.4))
    untimed = _segment(("a", 1.4, 1.4), ("PEEK", 1.4, 1.4), ("cage", 1.4, 1.45), ("was", 1.45, 1.45),
                       ("placed.", 1.45, 1.45))
    heard, text, out, changes = finish_transcript([said, untimed])
    assert heard == "the wound was closed. a PEEK cage was placed."
    assert text == "the wound was closed."
    assert len(out) == 1
    assert [(c.original, c.replacement) for c in changes] == [(" a PEEK cage was placed.", "")]
    assert "no time in the audio" in changes[0].reason
    _assert_consistent(heard, text, out, changes)


def test_a_short_quick_segment_is_kept():
    # Two or three quick words ("and a") are how Whisper times a fast joint; only four or more are untimed text.
    segments = [_segment(("epidural", 0.0, 0.5), ("steroid", 0.5, 1.0)), _segment(("and", 1.0, 1.0), ("a", 1.0, 1.05)),
                _segment(("block.", 1.1, 1.5))]
    heard, text, out, changes = finish_transcript(segments)
    assert text == heard == "epidural steroid and a block."
    assert changes == []


def test_untimed_text_opening_the_transcript_takes_the_space_after_it():
    segments = [_segment(("thank", 0.0, 0.0), ("you", 0.0, 0.0), ("for", 0.0, 0.0), ("watching.", 0.0, 0.01)),
                _segment(("operative", 0.5, 1.0), ("note.", 1.0, 1.3))]
    heard, text, out, changes = finish_transcript(segments)
    assert text == "operative note."
    _assert_consistent(heard, text, out, changes)


def test_without_the_normaliser_only_untimed_text_is_taken_out():
    segments = [_segment(("L4", 0.0, 0.3), ("L5", 0.3, 0.6), ("disk.", 0.6, 1.0))]
    heard, text, out, changes = finish_transcript(segments, normalise=False)
    assert text == heard == "L4 L5 disk."
    assert changes == []


# --- a window Whisper cut short is decoded again ---------------------------------------------------------------


def test_a_word_stretched_over_skipped_speech_is_decoded_again_from_its_segment():
    first = [_segment(("after", 0.0, 0.4), ("prep", 0.4, 0.8)),
             _segment(("the", 1.0, 1.2), ("needle", 1.2, 1.6), ("fluoroscopy", 1.6, 7.9)),  # 6.3 s: a skip
             _segment(("and", 8.0, 8.2), ("lidocaine.", 8.2, 8.9))]
    again = [_segment(("the", 1.0, 1.2), ("needle", 1.2, 1.6), ("under", 1.6, 1.9), ("fluoroscopy.", 1.9, 2.6)),
             _segment(("contrast", 3.0, 3.6), ("spread.", 3.6, 4.2), ("dexamethasone", 6.5, 7.6)),
             _segment(("and", 8.0, 8.2), ("lidocaine.", 8.2, 8.9))]
    calls = []

    def decode(from_s):
        calls.append(from_s)
        return again

    result = speech._resume_after_skips(first, decode)
    assert calls == [1.0]  # from the start of the segment holding the stretched word
    assert [w.word.strip() for s in result for w in s.words] == [
        "after", "prep", "the", "needle", "under", "fluoroscopy.", "contrast", "spread.", "dexamethasone", "and",
        "lidocaine."]


def test_a_second_reading_with_no_more_words_is_not_taken():
    first = [_segment(("the", 0.0, 0.2), ("patient", 0.2, 3.9), ("rested.", 4.0, 4.5))]  # a long pause kept in
    same = [_segment(("the", 0.0, 0.2), ("patient", 0.2, 3.9), ("rested.", 4.0, 4.5))]
    calls = []
    result = speech._resume_after_skips(first, lambda from_s: calls.append(from_s) or same)
    assert result == first
    assert calls == [0.0]  # tried once, then the word is passed over


def test_no_word_over_three_seconds_means_no_second_reading():
    first = [_segment(("polymethylmethacrylate", 0.0, 1.4), ("cement.", 1.4, 2.0))]
    assert speech._resume_after_skips(first, lambda from_s: pytest.fail("decoded again")) == first
