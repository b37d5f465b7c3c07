"""Reconciling the rule-based draft with the second reader: table-driven, recorded replies, no model or database."""

from __future__ import annotations

from pathlib import Path

import pytest

from billing import levels as lv
from billing.procedures import ProcedureFact
from billing.reconcile import RuleFacts, reconcile
from billing.results import DiagnosisCode, Evidence
from billing.second_reader import Facts, parse_reply

REPLIES = Path(__file__).parent / "llm_replies"
TLIF = (REPLIES / "note_tlif.txt").read_text()
MICRO = (REPLIES / "note_microdiscectomy.txt").read_text()


def evidence(text: str, words: str) -> Evidence:
    start = text.index(words)
    return Evidence(start, start + len(words), words)


def px(kind: str, levels: str = "", side: str | None = None, words: str = "", text: str = TLIF) -> ProcedureFact:
    mentions = lv.find_levels(levels)
    ev = evidence(text, words)
    return ProcedureFact(kind=kind, start=ev.start, end=ev.end, laterality=side,
                         interspaces=[i for m in mentions for i in m.interspaces],
                         vertebrae=[v for m in mentions if m.form == "vertebra" for v in m.vertebrae], evidence=[ev])


def dx(code: str, levels: tuple[str, ...], *words: str, text: str = TLIF) -> DiagnosisCode:
    return DiagnosisCode(code=code, description=f"description of {code}", rationale="", confidence=0.95,
                         evidence=[evidence(text, w) for w in words], levels=levels)


TLIF_LINE = "Left-sided L4-5 transforaminal lumbar interbody fusion with pedicle screw instrumentation L4 to L5."
TLIF_QUOTE = "Left-sided L4-5 transforaminal lumbar interbody fusion"


def tlif_read(**changes) -> dict:
    return {"kind": "tlif", "levels": ["L4-L5"], "side": "left", "quote": TLIF_QUOTE, **changes}


SCREWS = px("instrumentation_posterior", "L4 to L5", "left", "pedicle screw instrumentation L4 to L5")
CASES = [
    ("both readers agree",
     RuleFacts({"posterior_interbody": px("posterior_interbody", "L4-5", "left", TLIF_LINE),
                "instrumentation_posterior": SCREWS}, {}, []),
     {"procedures": [tlif_read(implants=["pedicle_screws"])], "diagnoses": []},
     [], {"procedure:posterior_interbody": "confirmed"}),
    ("the draft does not code it",
     RuleFacts({}, {}, []),
     {"procedures": [tlif_read()], "diagnoses": []},
     [("LLM-PROCEDURE-MISSED", "The second reader found a left-sided L4-L5 TLIF that the draft does not code.")], {}),
    ("another level",
     RuleFacts({"posterior_interbody": px("posterior_interbody", "L5-S1", "left", TLIF_LINE)}, {}, []),
     {"procedures": [tlif_read()], "diagnoses": []},
     [("LLM-LEVEL-DIFFERS", "The draft codes the posterior interbody fusion at L5-S1; the second reader reads it at "
                            'L4-L5.')], {"procedure:posterior_interbody": "disputed"}),
    ("another side",
     RuleFacts({"posterior_interbody": px("posterior_interbody", "L4-5", "right", TLIF_LINE)}, {}, []),
     {"procedures": [tlif_read()], "diagnoses": []},
     [("LLM-SIDE-DIFFERS", "The draft codes the posterior interbody fusion as right; the second reader reads it as "
                           'left.')], {"procedure:posterior_interbody": "disputed"}),
    ("a generic rule kind covers the specific one",
     RuleFacts({"fusion": px("fusion", "L4-5", None, TLIF_LINE)}, {}, []),
     {"procedures": [tlif_read()], "diagnoses": []}, [], {"procedure:fusion": "confirmed"}),
    ("an implant the draft does not code",
     RuleFacts({"posterior_interbody": px("posterior_interbody", "L4-5", "left", TLIF_LINE)}, {}, []),
     {"procedures": [tlif_read(implants=["pedicle_screws", "interbody_cage"])], "diagnoses": []},
     [("LLM-IMPLANT-MISSED", "The second reader found pedicle screws with the TLIF that the draft does not code."),
      ("LLM-IMPLANT-MISSED", "The second reader found interbody cage with the TLIF that the draft does not code.")],
     {"procedure:posterior_interbody": "confirmed"}),
    ("the draft reads as not done what the second reader reads as done",
     RuleFacts({}, {"laminotomy": px("laminotomy", "L5-S1", "right", "A right L5-S1 foraminotomy", MICRO)}, []),
     {"procedures": [{"kind": "foraminotomy", "levels": ["L5-S1"], "side": "right",
                      "quote": "A right L5-S1 foraminotomy was also performed"}], "diagnoses": []},
     [("LLM-NEGATION-DIFFERS", "The second reader found a right-sided L5-S1 foraminotomy that the draft reads as not "
                               'done and does not code.')], {}),
    ("the draft codes what the second reader reads as not done",
     RuleFacts({"fusion": px("fusion", "", None, "No fusion was performed", MICRO)}, {}, []),
     {"procedures": [{"kind": "fusion", "negated": True, "quote": "No fusion was performed."}], "diagnoses": []},
     [("LLM-NEGATION-DIFFERS", "The draft codes a fusion, but the second reader reads the note as saying it was not "
                               'done.')], {"procedure:fusion": "disputed"}),
    ("a quote not in the transcript raises nothing",
     RuleFacts({"posterior_interbody": px("posterior_interbody", "L4-5", "left", TLIF_LINE)}, {}, []),
     {"procedures": [{"kind": "laminectomy", "levels": ["L3-L4"], "side": "bilateral",
                      "quote": "bilateral L3-4 laminectomy"}], "diagnoses": []},
     [], {"procedure:posterior_interbody": "unconfirmed"}),
    ("the diagnoses agree, and a denied one is not coded",
     RuleFacts({}, {}, [dx("M43.16", ("L4-L5",), "spondylolisthesis", "L4/5")]),
     {"procedures": [], "diagnoses": [
         {"condition": "spondylolisthesis", "levels": ["L4/5"], "quote": "degenerative spondylolisthesis at L4/5"},
         {"condition": "myelopathy", "negated": True, "quote": "No myelopathy was suspected"}]},
     [], {"diagnosis:M43.16": "confirmed"}),
    ("a diagnosis at another level",
     RuleFacts({}, {}, [dx("M43.16", ("L3-L4",), "spondylolisthesis")]),
     {"procedures": [], "diagnoses": [
         {"condition": "spondylolisthesis", "levels": ["L4-L5"], "quote": "degenerative spondylolisthesis at L4/5"}]},
     [("LLM-LEVEL-DIFFERS", "The draft codes M43.16 (description of M43.16) at L3-L4; the second reader reads "
                            'spondylolisthesis at L4-L5.')],
     {"diagnosis:M43.16": "disputed"}),
    ("a diagnosis the draft does not code; its routine symptom is not asked for",
     RuleFacts({}, {}, [dx("M43.16", ("L4-L5",), "spondylolisthesis")]),
     {"procedures": [], "diagnoses": [
         {"condition": "stenosis", "quote": "lumbar spinal stenosis"},
         {"condition": "low_back_pain", "quote": "positioned prone"}]},
     [("LLM-DIAGNOSIS-MISSED", "The second reader found stenosis that the draft does not code.")],
     {"diagnosis:M43.16": "unconfirmed"}),
    ("a code the second reader denies",
     RuleFacts({}, {}, [dx("M47.16", ("L4-L5",), "myelopathy")]),
     {"procedures": [], "diagnoses": [{"condition": "myelopathy", "negated": True,
                                       "quote": "No myelopathy was suspected"}]},
     [("LLM-NEGATION-DIFFERS", "The draft codes M47.16 (description of M47.16), but the second reader reads the note "
                               'as denying myelopathy.')],
     {"diagnosis:M47.16": "disputed"}),
]


@pytest.mark.parametrize(("case", "rule", "second", "findings", "confidence"), CASES, ids=[c[0] for c in CASES])
def test_reconciliation(case, rule, second, findings, confidence):
    text = MICRO if "foraminotomy" in str(second) or "No fusion" in str(second) else TLIF
    result = reconcile(rule, Facts.model_validate(second), transcript=text)
    assert [(f.rule, f.message) for f in result.findings] == findings
    assert all(f.severity == "warning" for f in result.findings)
    for key, value in confidence.items():
        assert result.confidence[key] == value


def test_a_finding_holds_both_readers_evidence_rule_reader_first():
    rule = RuleFacts({"posterior_interbody": px("posterior_interbody", "L5-S1", "left", TLIF_LINE)}, {}, [])
    [finding] = reconcile(rule, Facts.model_validate({"procedures": [tlif_read()], "diagnoses": []}),
                          transcript=TLIF).findings
    assert [e.text for e in finding.evidence] == [TLIF_LINE, TLIF_QUOTE]
    assert TLIF[finding.evidence[1].start:finding.evidence[1].end] == TLIF_QUOTE
    # The quote is transcript words: it rides in the evidence (stored encrypted), never in the message or passage.
    assert TLIF_QUOTE not in finding.message and finding.source_passage == ""
    assert "units and add-on codes" in finding.fix


def test_dropped_facts_are_reported_with_the_reconciliation():
    result = reconcile(RuleFacts({}, {}, []), parse_reply((REPLIES / "quote_not_in_text.json").read_text()),
                       transcript=TLIF)
    assert [d.fact.quote for d in result.second.dropped] == ["bilateral L3-4 laminectomy for decompression",
                                                              "mild lumbar scoliosis"]
    assert [f.rule for f in result.findings] == ["LLM-PROCEDURE-MISSED", "LLM-DIAGNOSIS-MISSED"]


def test_it_reconciles_the_real_draft_without_changing_it():
    from billing.coding import code_note

    draft = code_note(MICRO)
    lines_before = [(line.cpt, line.units, list(line.modifiers)) for line in draft.lines]
    levels_before = [f.level_names for f in draft.reading.facts]
    result = reconcile(draft, parse_reply((REPLIES / "valid.json").read_text()), transcript=MICRO)
    assert result.confidence["procedure:laminotomy"] == "confirmed"
    assert result.confidence["diagnosis:M51.17"] == "confirmed"
    assert [f.rule for f in result.findings] == []
    assert [(line.cpt, line.units, list(line.modifiers)) for line in draft.lines] == lines_before
    assert [f.level_names for f in draft.reading.facts] == levels_before


def test_a_negation_the_sentence_does_not_say_is_dropped():
    text = "Procedure: A complete laminectomy and bilateral foraminotomies were performed at L4-L5. No complications."
    rule = RuleFacts({"laminectomy": px("laminectomy", "L4-L5", "bilateral", "A complete laminectomy", text)}, {}, [])
    result = reconcile(rule, Facts.model_validate({"procedures": [
        {"kind": "laminectomy", "negated": True, "levels": ["L4-L5"], "quote": "A complete laminectomy"}],
        "diagnoses": []}), transcript=text)
    assert result.findings == []
    assert [(d.part, d.reason) for d in result.second.dropped] == [
        ("fact", "its sentence does not say it was not done or is absent")]


def test_two_facts_at_one_level_each_agree_with_the_drafts_two_levels():
    text = "Procedure: Right L4-L5 and L5-S1 transforaminal epidural steroid injections."
    fact = px("transforaminal_injection", "L4-L5 and L5-S1", "right", "Right L4-L5 and L5-S1 transforaminal", text)
    result = reconcile(RuleFacts({"transforaminal_injection": fact}, {}, []), Facts.model_validate({"procedures": [
        {"kind": "transforaminal_esi", "levels": ["L4-L5"], "side": "right", "quote": "Right L4-L5"},
        {"kind": "transforaminal_esi", "levels": ["L5-S1"], "side": "right",
         "quote": "L5-S1 transforaminal epidural steroid injections"}], "diagnoses": []}), transcript=text)
    assert result.findings == [] and result.confidence["procedure:transforaminal_injection"] == "confirmed"


def test_a_condition_coded_at_two_levels_agrees_with_one_fact_naming_both():
    text = "Diagnosis: cervical radiculopathy from disc herniations at C5-C6 and C6-C7."
    codes = [dx("M50.122", ("C5-C6",), "radiculopathy", text=text), dx("M50.123", ("C6-C7",), "radiculopathy",
                                                                        text=text)]
    result = reconcile(RuleFacts({}, {}, codes), Facts.model_validate({"procedures": [], "diagnoses": [
        {"condition": "radiculopathy", "levels": ["C5-C6", "C6-C7"], "quote": "cervical radiculopathy"}]}),
        transcript=text)
    assert result.findings == []
    assert result.confidence == {"diagnosis:M50.122": "confirmed", "diagnosis:M50.123": "confirmed"}


def test_a_vertebra_the_second_reader_names_covers_the_draft_interspaces_it_ends():
    text = "Procedure: Bilateral L3-L4, L4-L5 and L5-S1 facet joint injections. The L5 level was injected last."
    fact = px("facet_injection", "L3-L4, L4-L5 and L5-S1", "bilateral", "Bilateral L3-L4, L4-L5 and L5-S1 facet", text)
    read = {"kind": "facet_injection", "side": "bilateral", "quote": "Bilateral L3-L4, L4-L5 and L5-S1 facet joint "
            "injections"}
    rule = RuleFacts({"facet_injection": fact}, {}, [])
    # L3-L4 and the vertebra L5 (an end of L4-L5 and of L5-S1): nothing of the draft is left out.
    covered = reconcile(rule, Facts.model_validate({"procedures": [{**read, "levels": ["L3-L4", "L5"]}],
                                                    "diagnoses": []}), transcript=text)
    assert covered.findings == [] and covered.confidence["procedure:facet_injection"] == "confirmed"
    # L3-L4 alone leaves L4-L5 and L5-S1 out: the levels differ.
    short = reconcile(rule, Facts.model_validate({"procedures": [{**read, "levels": ["L3-L4"]}], "diagnoses": []}),
                      transcript=text)
    assert [f.rule for f in short.findings] == ["LLM-LEVEL-DIFFERS"]
