"""Reading a note: sections typed or spoken, spoken punctuation, sentences, ConText (texts written for these tests)."""

import pytest

from billing.note import Note, assess, split_sentences, spoken_to_written


def sections(text: str) -> list[tuple[str, str]]:
    note = Note(spoken_to_written(text))
    return [(s.name, note.text[s.start:s.end].strip(" .\n")) for s in note.sections if s.name != "preamble"]


@pytest.mark.parametrize(("said", "written"), [
    ("stenosis period post op", "stenosis .      post op"),
    ("the fusion new paragraph she did well", "the fusion .\n\n           she did well"),
    ("EBL 10 period end of note", "EBL 10 .      end of note"),
    ("in the postoperative period she walked", "in the postoperative period she walked"),
    ("a period of six weeks", "a period of six weeks"),
    ("the diagnosis was the same period the procedure", "the diagnosis was the same .      the procedure"),
    ("screws comma rods", "screws,      rods"),
])
def test_spoken_punctuation_becomes_marks_of_the_same_length(said, written):
    assert spoken_to_written(said) == written
    assert len(spoken_to_written(said)) == len(said)


@pytest.mark.parametrize(("said", "kept"), [
    ("fusion at C4-5, sorry, scratch that, at C5-6 and C6-7", "C5-6 and C6-7"),
    ("TFESI at, um, L4-5, no, L5-S1 on the left", "L5-S1 on the left"),
    ("we placed a three-level, uh, sorry, a two-level plate", "two-level plate"),
    ("block on the left, I mean right side", "right side"),
])
def test_a_self_correction_leaves_only_what_was_meant(said, kept):
    written = spoken_to_written(said)
    assert len(written) == len(said)
    assert written.rstrip().endswith(kept)
    assert not any(word in written for word in ("sorry", "scratch", ", no,", "I mean"))


@pytest.mark.parametrize("said", [
    "no stenosis at L3-4, no, the canal was wide",   # "no" that negates a finding, not a correction
    "at L4-5, no stenosis at L3-4",
    "it was L3-4, sorry, so we went down one level",  # the apology is not followed by a level
])
def test_what_is_not_a_self_correction_is_left_as_said(said):
    assert spoken_to_written(said) == said


def test_an_unticked_yes_box_blanks_its_line():
    text = "Approach: interlaminar\nTransforaminal performed: [ ] yes [X] no\nSedation: [X] no [ ] yes\nEnd"
    written = spoken_to_written(text)
    assert "Transforaminal" not in written and "Sedation" not in written
    assert written.startswith("Approach: interlaminar\n") and written.endswith("\nEnd")
    assert len(written) == len(text)
    ticked = "Transforaminal performed: [X] yes [ ] no"
    assert spoken_to_written(ticked) == ticked


@pytest.mark.parametrize(("text", "expected"), [
    # A header dictated with its period opens its paragraph.
    ("Dictation for a 60 year old.\n\nIndications. Leg pain for a year.\n\nDescription. Prone, prepped.",
     [("indications", "Leg pain for a year"), ("description", "Prone, prepped")]),
    # "Procedure was ..." is a header said as a sentence: it ends with its paragraph.
    ("Pre-op diagnosis: stenosis.\nPost-op diagnosis: same.\nProcedure was a C5-6 arthroplasty.\n\n"
     "We then did foraminotomies.",
     [("preoperative_diagnosis", "stenosis"), ("postoperative_diagnosis", "same"),
      ("procedure", "a C5-6 arthroplasty")]),
    # A short qualifier in brackets before the colon.
    ("Procedure: medial branch blocks.\nTargets (bilateral): L3, L4 and L5 medial branches.",
     [("procedure", "medial branch blocks"), ("levels", "L3, L4 and L5 medial branches")]),
])
def test_dotted_sentence_and_qualified_headers(text, expected):
    assert sections(text) == expected


@pytest.mark.parametrize(("text", "expected"), [
    ("PREOPERATIVE DIAGNOSIS: L4-5 stenosis.\nPOSTOPERATIVE DIAGNOSIS: Same.\nPROCEDURE: L4-5 laminectomy.",
     [("preoperative_diagnosis", "L4-5 stenosis"), ("postoperative_diagnosis", "Same"),
      ("procedure", "L4-5 laminectomy")]),
    ("pre op diagnosis L4-5 stenosis period post op same period procedure L4-5 laminectomy period",
     [("preoperative_diagnosis", "L4-5 stenosis"), ("postoperative_diagnosis", "same"),
      ("procedure", "L4-5 laminectomy")]),
    ("okay note on a 70 year old procedure today was a right L4-5 microdiscectomy period more text",
     [("procedure", "a right L4-5 microdiscectomy .      more text")]),
    ("pre op diagnosis HNP period new line procedure: L5-S1 microdiscectomy period",
     [("preoperative_diagnosis", "HNP"), ("procedure", "L5-S1 microdiscectomy")]),
    ("Pre/post dx: L4-5 stenosis.\nProc: L4-5 laminectomy.\nPlanned: fusion next year.",
     [("postoperative_diagnosis", "L4-5 stenosis"), ("procedure", "L4-5 laminectomy"), ("other", "fusion next year")]),
    ("indications she has leg pain period procedure left L5-S1 microdiscectomy period",
     [("indications", "she has leg pain"), ("procedure", "left L5-S1 microdiscectomy")]),
])
def test_sections_are_found_typed_or_spoken(text, expected):
    assert sections(text) == expected


def test_a_procedure_that_was_tolerated_is_not_a_procedure_header():
    assert [name for name, _ in sections("Pre op diagnosis: stenosis. Procedure was tolerated well.")] == [
        "preoperative_diagnosis"]


def test_lower_case_speech_is_split_into_sentences():
    text = spoken_to_written("we did the laminectomy period no fusion was done period closed")
    assert [text[a:b].strip() for a, b in split_sentences(text)] == ["we did the laminectomy .",
                                                                      "no fusion was done .", "closed"]


def test_a_negation_in_the_next_spoken_sentence_does_not_reach_back():
    text = spoken_to_written("we did a left L5-S1 laminoforaminotomy period the other side was not touched period")
    start = text.index("laminoforaminotomy")
    [context] = assess(text, [(start, start + len("laminoforaminotomy"))])
    assert context.affirmed and not context.negated
