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
