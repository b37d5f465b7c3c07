"""The second reader's pure parts on recorded model replies (written for these tests): no model, no database."""

from __future__ import annotations

import json
import typing
from pathlib import Path

import pytest

from billing.second_reader import (
    PROCEDURE_KINDS,
    Facts,
    SecondReaderError,
    build_prompt,
    find_quote,
    grounded,
    merge,
    parse_reply,
    retry_messages,
    schema,
    split_for_context,
)

REPLIES = Path(__file__).parent / "llm_replies"


def reply(name: str) -> str:
    return (REPLIES / name).read_text()


MICRODISCECTOMY = reply("note_microdiscectomy.txt")
TLIF = reply("note_tlif.txt")


# --- parse_reply ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "procedures", "diagnoses"),
    [
        ("valid.json", [("hemilaminotomy", ["L5-S1"], "right", False), ("foraminotomy", ["L5-S1"], "right", False),
                        ("fusion", [], "none", True)],
         [("disc_displacement", ["L5-S1"], False), ("radiculopathy", ["S1"], False), ("myelopathy", [], True)]),
        ("fenced_with_prose.txt", [("microdiscectomy", ["L5-S1"], "right", False)],
         [("disc_displacement", ["L5-S1"], False)]),
        ("prose_around_object.txt", [("foraminotomy", ["L5-S1"], "right", False)], []),
        ("level_slash.json",
         [("tlif", ["L4/5"], "left", False), ("fusion", ["L4", "L5"], "left", False)],
         [("spondylolisthesis", ["L4/5"], False), ("stenosis", [], False)]),
    ],
)
def test_it_reads_the_facts_of_a_usable_reply(name, procedures, diagnoses):
    facts = parse_reply(reply(name))
    assert [(p.kind, p.levels, p.side, p.negated) for p in facts.procedures] == procedures
    assert [(d.condition, d.levels, d.negated) for d in facts.diagnoses] == diagnoses


def test_it_normalises_how_a_model_writes_a_side():
    facts = parse_reply(reply("fenced_with_prose.txt"))
    assert facts.procedures[0].side == "right"  # written "Right"


@pytest.mark.parametrize(
    ("name", "says"),
    [
        ("invalid_json.txt", ["not valid JSON", "Expecting property name"]),
        ("not_json.txt", ["not JSON: no JSON object found"]),
        ("partial_missing_fields.json", ["procedures[0].quote: is missing", "diagnoses: is missing"]),
        ("unknown_keys.json", ["procedures[0].cpt: is not a key of the schema",
                               "confidence: is not a key of the schema"]),
        ("bad_values.json", ["procedures[0].levels: Value error, 'L6-7' is not a spinal level",
                             "procedures[0].side: Input should be 'left', 'right', 'bilateral' or 'none' (got 'upper')",
                             "procedures[0].kind: Input should be", "(got 'spinal_surgery')"]),
    ],
)
def test_it_says_what_is_wrong_with_an_unusable_reply(name, says):
    with pytest.raises(SecondReaderError) as raised:
        parse_reply(reply(name))
    for words in says:
        assert words in str(raised.value)


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("", "the reply is empty"),
        ("   \n", "the reply is empty"),
        ("[1, 2]", "not an object (got a list)"),
        ('{"procedures": [], "diagnoses": [{"condition": "gout", "quote": "gouty tophus"}]}',
         "diagnoses[0].condition: Input should be"),
        ('{"procedures": [{"kind": "tlif", "quote": "x"}], "diagnoses": []}',
         "procedures[0].quote: String should have"),
    ],
)
def test_it_refuses_other_garbage(text, says):
    with pytest.raises(SecondReaderError) as raised:
        parse_reply(text)
    assert says in str(raised.value)


def test_an_empty_reading_is_a_valid_reply():
    assert parse_reply('{"procedures": [], "diagnoses": []}') == Facts(procedures=[], diagnoses=[])


# --- the prompt and the retry --------------------------------------------------------------------------------


def test_the_prompt_states_the_task_the_vocabularies_the_rules_and_an_example():
    system, user = build_prompt(TLIF)
    assert system["role"] == "system" and user["role"] == "user"
    content = system["content"]
    kinds = content.split("kind is one of: ", 1)[1].split(".\n", 1)[0].split(", ")
    assert set(kinds) == set(PROCEDURE_KINDS) and "foraminotomy" in kinds and "transforaminal_esi" in kinds
    conditions = content.split("condition is one of: ", 1)[1].split(".\n", 1)[0].split(", ")
    enum = Facts.model_json_schema()["$defs"]["DiagnosisRead"]["properties"]["condition"]["enum"]
    assert set(conditions) == set(enum)
    for rule in ("exact words", "Never write a CPT or ICD-10 code", '"negated": true', '"L4-L5"'):
        assert rule in content
    # The worked example is a valid reply to its own transcript, every fact grounded in it.
    example = content.split("Example.\nTranscript:\n", 1)[1]
    note, reply_text = example.split("\nReply:\n", 1)
    example_facts = grounded(parse_reply(reply_text), note)
    assert not example_facts.dropped and len(example_facts.procedures) == 2 and len(example_facts.diagnoses) == 2
    assert user["content"] == "Transcript:\n" + TLIF


def test_the_grammar_schema_requires_the_core_fields_and_bounds_every_list():
    shape = schema()
    procedure = shape["$defs"]["ProcedureRead"]
    assert procedure["required"] == ["kind", "quote", "levels", "side"]
    assert shape["$defs"]["DiagnosisRead"]["required"] == ["condition", "quote", "levels", "side"]
    assert shape["properties"]["procedures"]["maxItems"] == 6 and procedure["properties"]["levels"]["maxItems"] == 8
    assert shape["properties"]["diagnoses"]["maxItems"] == 6
    # The approach is the kind's (a TLIF is transforaminal): not asked, so never paid for in tokens.
    assert "approach" not in procedure["properties"] and "approach" not in build_prompt("")[0]["content"]
    assert procedure["properties"]["quote"]["maxLength"] == 90 and procedure["additionalProperties"] is False


def test_a_chunk_prompt_says_which_part_it_is():
    _, user = build_prompt("Procedure: L4-5 TLIF.", section="part 2 of 3")
    assert user["content"].startswith("This is part 2 of 3 of a longer transcript")
    assert user["content"].endswith("Transcript:\nProcedure: L4-5 TLIF.")


def test_the_retry_carries_the_bad_reply_and_the_validation_error():
    messages = build_prompt(TLIF)
    bad = reply("partial_missing_fields.json")
    with pytest.raises(SecondReaderError) as raised:
        parse_reply(bad)
    retry = retry_messages(messages, bad, raised.value)
    assert retry[:2] == messages
    assert retry[2] == {"role": "assistant", "content": bad}
    assert retry[3]["role"] == "user"
    assert "procedures[0].quote: is missing" in retry[3]["content"]
    assert len(messages) == 2  # the first conversation is left as it was


# --- split_for_context ---------------------------------------------------------------------------------------

LONG_NOTE = (
    "Preoperative diagnosis: Lumbar stenosis at L3-4 and L4-5.\n"
    "Procedure: L3-L5 laminectomy.\n"
    "Findings: Severe stenosis. Thick ligamentum flavum at both levels. No dural tear.\n\n"
    "Description: The patient was placed prone. A midline incision was made. The laminae of L3 and L4 were "
    "removed. The foramina were decompressed bilaterally. The wound was closed in layers.\n"
)


@pytest.mark.parametrize("max_chars", [10_000, 200, 120, 60, 25, 7])
def test_split_for_context_never_loses_a_character(max_chars):
    chunks = split_for_context(LONG_NOTE, max_chars=max_chars)
    assert "".join(chunks) == LONG_NOTE
    assert all(0 < len(chunk) <= max_chars for chunk in chunks)


def test_a_short_transcript_is_one_chunk():
    assert split_for_context(LONG_NOTE, max_chars=len(LONG_NOTE)) == [LONG_NOTE]
    assert split_for_context("", max_chars=10) == []


def test_it_cuts_between_sections_first():
    chunks = split_for_context(LONG_NOTE, max_chars=200)
    assert chunks[0].startswith("Preoperative diagnosis:")
    assert chunks[0].endswith("No dural tear.\n\n")
    assert chunks[1].startswith("Description:")


def test_a_section_longer_than_the_context_is_cut_between_sentences():
    chunks = split_for_context(LONG_NOTE, max_chars=120)
    description = [c for c in chunks if "laminae" in c or "midline" in c or "closed" in c]
    assert len(description) >= 2
    assert all(c.rstrip().endswith(".") for c in description)


def test_a_sentence_longer_than_the_context_is_cut_between_words():
    chunks = split_for_context("Bilateral L4-5 foraminotomies were performed", max_chars=16)
    assert chunks == ["Bilateral L4-5 ", "foraminotomies ", "were performed"]


def test_merge_keeps_every_chunks_facts_in_order():
    first, second = parse_reply(reply("valid.json")), parse_reply(reply("fenced_with_prose.txt"))
    merged = merge([first, second])
    assert [p.kind for p in merged.procedures] == ["hemilaminotomy", "foraminotomy", "fusion", "microdiscectomy"]
    assert len(merged.diagnoses) == 4


# --- grounding -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("quote", "found"),
    [
        ("Right L5-S1 hemilaminotomy and microdiscectomy", "Right L5-S1 hemilaminotomy and microdiscectomy"),
        ("right l5-s1 HEMILAMINOTOMY   and\nmicrodiscectomy", "Right L5-S1 hemilaminotomy and microdiscectomy"),
        ("Right L5/S1 hemilaminotomy, and microdiscectomy.", "Right L5-S1 hemilaminotomy and microdiscectomy"),
        ("operating microscope ... extruded fragment removed",
         "operating microscope a right L5-S1 hemilaminotomy was performed and the extruded fragment removed"),
        ("a left L5-S1 hemilaminotomy", None),
        ("L5", None),  # too short to prove anything
    ],
)
def test_find_quote_matches_across_case_spacing_and_punctuation(quote, found):
    span = find_quote(quote, MICRODISCECTOMY)
    assert (MICRODISCECTOMY[span[0]:span[1]] if span else None) == found


def test_every_kept_fact_carries_its_span_in_the_transcript():
    facts = grounded(parse_reply(reply("valid.json")), MICRODISCECTOMY)
    for fact in [*facts.procedures, *facts.diagnoses]:
        assert MICRODISCECTOMY[fact.evidence.start:fact.evidence.end] == fact.evidence.text
    foraminotomy = facts.procedures[1]
    assert (foraminotomy.kind, foraminotomy.rule_kind, foraminotomy.level_names, foraminotomy.side) == (
        "foraminotomy", "laminotomy", ["L5-S1"], "right")
    assert foraminotomy.evidence.text == "A right L5-S1 foraminotomy was also performed"
    assert (facts.procedures[2].kind, facts.procedures[2].negated) == ("fusion", True)
    assert facts.dropped == []


def test_facts_whose_quote_is_not_in_the_transcript_are_dropped_and_recorded():
    facts = grounded(parse_reply(reply("quote_not_in_text.json")), TLIF)
    assert [p.kind for p in facts.procedures] == ["tlif"]
    assert [d.condition for d in facts.diagnoses] == ["spondylolisthesis"]
    assert [(d.fact.quote, d.part, d.reason) for d in facts.dropped] == [
        ("bilateral L3-4 laminectomy for decompression", "fact", "its quote is not in the transcript"),
        ("mild lumbar scoliosis", "fact", "its quote is not in the transcript"),
    ]
    tlif = facts.procedures[0]
    assert (tlif.implants, tlif.graft) == (("pedicle_screws", "interbody_cage", "rods"), ("local_autograft",))


def test_levels_are_normalised_to_interspaces():
    facts = grounded(parse_reply(reply("level_slash.json")), TLIF)
    # "L4/5" -> L4-L5; "L4", "L5" for the "L4 to L5" the quote names -> the interspace L4-L5.
    assert [(p.kind, p.level_names) for p in facts.procedures] == [
        ("tlif", ["L4-L5"]), ("fusion", ["L4-L5"])]
    assert [(d.condition, d.level_names) for d in facts.diagnoses] == [
        ("spondylolisthesis", ["L4-L5"]), ("stenosis", [])]
    assert facts.procedures[0].evidence.text == "Left-sided L4-5 transforaminal lumbar interbody fusion"
    assert facts.diagnoses[0].evidence.text == "Grade 1 degenerative spondylolisthesis at L4/5"


@pytest.mark.parametrize(
    ("fact", "kept_levels", "kept_side", "dropped"),
    [
        # A side copied onto midline work: no side word in its sentence.
        ({"kind": "laminectomy", "levels": ["L3-L4"], "side": "left", "quote": "L3-L4 laminectomy was performed"},
         ["L3-L4"], None, [("side", "no side word in the quote's sentence for 'left'")]),
        # A side the sentence contradicts: the words decide.
        ({"kind": "transforaminal_esi", "levels": ["L5"], "side": "left",
          "quote": "Bilateral L5 transforaminal epidural steroid injections"}, ["L5"], None,
         [("side", "the quote's sentence says bilateral, not left")]),
        # A side said in the section, of the procedure beside it: not this one's.
        ({"kind": "laminectomy", "levels": ["L4-L5"], "side": "left", "quote": "A complete L4-L5 laminectomy"},
         ["L4-L5"], None, [("side", "no side word in the quote's sentence for 'left'")]),
        # A level the text never names near the quote.
        ({"kind": "laminectomy", "levels": ["L3-L4", "L5-S1"], "side": "none",
          "quote": "L3-L4 laminectomy was performed"},
         ["L3-L4"], None, [("level", "L5-S1 is not named near the quote")]),
        ({"kind": "transforaminal_esi", "levels": ["L5"], "side": "bilateral",
          "quote": "Bilateral L5 transforaminal epidural steroid injections"}, ["L5"], "bilateral", []),
    ],
)
def test_levels_and_sides_the_text_does_not_show_are_dropped(fact, kept_levels, kept_side, dropped):
    transcript = ("Procedure: L3-L4 laminectomy was performed under general anesthesia.\n"
                  "Procedure: Bilateral L5 transforaminal epidural steroid injections.\n"
                  "Procedure: Left-sided L4-L5 TLIF. A complete L4-L5 laminectomy was done.\n")
    facts = grounded(Facts(procedures=[fact], diagnoses=[]), transcript)
    assert (facts.procedures[0].level_names, facts.procedures[0].side) == (kept_levels, kept_side)
    assert [(d.part, d.reason) for d in facts.dropped] == dropped


def test_a_templated_levels_line_grounds_the_level():
    transcript = "PROCEDURE: Lumbar medial branch blocks.\nLEVELS: L4-5, L5-S1\nSIDE: Right\n"
    facts = grounded(Facts(procedures=[{"kind": "medial_branch_block", "levels": ["L4-L5", "L5-S1"], "side": "right",
                                        "quote": "Lumbar medial branch blocks"}], diagnoses=[]), transcript)
    assert (facts.procedures[0].level_names, facts.procedures[0].side) == (["L4-L5", "L5-S1"], "right")
    assert facts.dropped == []


def test_a_validation_error_never_repeats_free_text_of_the_reply():
    """A failed read's message is stored and may reach a log: it names the field, never the transcript's words."""
    reply = json.dumps({"procedures": [{"kind": "laminotomy", "levels": ["L4-L5"], "side": "left",
                                        "quote": 4455667788}], "diagnoses": []})
    with pytest.raises(SecondReaderError) as caught:
        parse_reply(reply)
    assert "procedures[0].quote" in str(caught.value) and "4455667788" not in str(caught.value)


def test_every_condition_has_the_words_its_sentence_must_hold():
    from billing.second_reader import CONDITION_WORDS, ConditionKind

    assert set(CONDITION_WORDS) == set(typing.get_args(ConditionKind))


@pytest.mark.parametrize(("condition", "quote", "kept"), [
    ("disc_displacement", "chronic low back pain", False),  # the words say pain, the model said a herniation
    ("low_back_pain", "chronic low back pain", True),
    ("radiculopathy", "left L5 radiculopathy", True),
    ("stenosis", "left L5 radiculopathy", False),
])
def test_a_diagnosis_stands_only_where_its_sentence_names_the_condition(condition, quote, kept):
    transcript = "Diagnosis: chronic low back pain. Also left L5 radiculopathy."
    facts = grounded(Facts(procedures=[], diagnoses=[{"condition": condition, "quote": quote, "levels": [],
                                                      "side": "none"}]), transcript)
    assert bool(facts.diagnoses) is kept
    if not kept:
        assert [(d.part, d.reason) for d in facts.dropped] == [
            ("fact", f"its sentence does not name {condition.replace('_', ' ')}")]
