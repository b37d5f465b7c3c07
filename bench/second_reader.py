"""The LLM second reader on a fixed subset of 8 shared notes (../shared/data): speed, JSON validity, and whether
the findings it raises point at something a biller would correct.

NOTES is the subset, chosen once by name (sorted, surgery and injection notes): 5 dev dictations and 3 MTSamples
notes. BENCH_SECOND_READER_NOTES=N reads only the first N of them (a smoke run: a note takes about a minute on
2 cores); figures from such a run are not comparable with a full one, and say how many notes they cover.

For each note: the rule-based draft (billing.coding.code_note, Medicare, POS 22, today, as `voice_to_claim`
codes it in bench/coding.py), the second read (billing.second_reader.read_transcript, max_tokens 1024) and the
reconciliation (billing.reconcile.reconcile). The model is billy.llm's default at an 8192-token context, from the
project's model cache (settings.MODEL_CACHE when Django is configured, as under bench/run.py; else
.data/models). The cache is joined, if needed, before the load is timed, so the load time is the load and the
cache check a worker pays, not a one-off join.

Figures (printed, never asserted; targets on 2 CPU cores: under 30 s per note, JSON validity at least 95 %,
more right findings than wrong):
- model load time (ours around load_model, and the model's own), backend, device, threads; and the seconds a
  worker's first read spends once on the prompt every read begins with (billing.second_reader.prime), which the
  seconds per note leave out: they time each note as a running worker reads it;
- seconds per note (each, median, max), prompt and completion tokens;
- peak RSS of this process (ru_maxrss) before the load and after the run. Under bench/run.py the earlier
  benches ran in this process too: when both figures are equal, the model did not raise the peak;
- JSON validity: chunks whose first reply parsed and validated / chunks, and reads that ended ok / reads;
- findings raised, RIGHT and WRONG, decided mechanically against the gold codes. Right = the note's draft
  differs from gold where the finding points:
  * a procedure finding (LLM-PROCEDURE-MISSED, LLM-IMPLANT-MISSED, and LLM-LEVEL-DIFFERS, LLM-SIDE-DIFFERS,
    LLM-NEGATION-DIFFERS about a procedure) is RIGHT iff the draft's CPT codes for that note differ from gold's,
    as score.py counts them: code x units, or the modifiers per code;
  * LLM-DIAGNOSIS-MISSED is RIGHT iff gold has an ICD-10-CM code the draft lacks;
  * LLM-LEVEL-DIFFERS and LLM-NEGATION-DIFFERS about a diagnosis (their message names the draft's ICD code:
    "The draft codes M51.16 (...)") are RIGHT iff the draft's ICD codes differ from gold's;
  WRONG otherwise. It is deliberately coarse: a right finding says "a biller checking this note would correct
  something in that category", not that the finding names the very code.
- simulated misses: each procedure and diagnosis code of a draft taken out of the rule reader's facts in turn
  (as if the rules had missed it), and whether the same second read then says it is missing. On notes whose
  drafts equal gold this is what shows what the second reader catches;
- CPT and ICD F1 of the drafts before, and after a biller accepts the right findings: the draft's CPT lines
  (ICD codes) replaced by gold's on the notes where a RIGHT finding was raised about procedures (diagnoses),
  unchanged elsewhere. Micro F1 over the notes read, scored as ../shared/eval/score.py scores: its cpt_bag,
  icd_set and prf are imported from it; the sums over notes repeat its main() (which prints, not returns).

Says so and returns {} when ../shared/data is absent, or the model cannot load (billy.llm.ModelUnavailable).
Standalone: .venv/bin/python bench/second_reader.py (Django stays unconfigured: the cache is .data/models).
"""

from __future__ import annotations

import datetime as dt
import importlib.util
import json
import os
import re
import resource
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("BILLY_SHARED_DIR", ROOT.parent / "shared"))
# (set, file): 3 surgeries and 2 injections written for IamBilly, a redo laminotomy and two injection notes from
# MTSamples. Sorted; a smoke run reads the first BENCH_SECOND_READER_NOTES of them.
NOTES = (
    ("dev_dictations", "acdf_2level.txt"),
    ("dev_dictations", "lumbar_ilesi_negation.txt"),
    ("dev_dictations", "microdiscectomy_l5s1_left.txt"),
    ("dev_dictations", "tfesi_bilateral_l4_s1.txt"),
    ("dev_dictations", "tlif_l45.txt"),
    ("mtsamples_dev", "mts-spine-041.txt"),
    ("mtsamples_dev", "mts-spine-069.txt"),
    ("mtsamples_dev", "mts-spine-100.txt"),
)
CONTEXT_TOKENS = 8192
MAX_TOKENS = 1024
TARGET_SECONDS = 30.0
TARGET_VALID = 0.95
PROCEDURE_RULES = ("LLM-PROCEDURE-MISSED", "LLM-IMPLANT-MISSED", "LLM-LEVEL-DIFFERS", "LLM-SIDE-DIFFERS",
                   "LLM-NEGATION-DIFFERS")
# billing.reconcile words a diagnosis finding "The draft codes M51.16 (...)"; a procedure one "The draft codes a
# TLIF" / "the laminotomy".
_ABOUT_A_DIAGNOSIS = re.compile(r"^The draft codes [A-Z]\d")


def _scorer():
    spec = importlib.util.spec_from_file_location("shared_score", SHARED / "eval" / "score.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _cache_dir() -> Path:
    from django.conf import settings

    return Path(settings.MODEL_CACHE) if settings.configured else ROOT / ".data" / "models"


def _gold(folder: str) -> dict[str, dict]:
    lines = (SHARED / "data" / folder / "gold.jsonl").read_text().splitlines()
    return {case["file"]: case for case in map(json.loads, filter(str.strip, lines))}


def category(finding) -> str:
    """"icd" for a finding about a diagnosis, "cpt" for one about a procedure (see the module docstring)."""
    if finding.rule == "LLM-DIAGNOSIS-MISSED" or _ABOUT_A_DIAGNOSIS.match(finding.message):
        return "icd"
    return "cpt"


def differences(draft: dict, gold: dict, score) -> dict[str, bool]:
    """Where a note's draft differs from gold: "cpt" (code x units, or modifiers), "icd", "icd_missed"."""
    drafted, expected = score.icd_set(draft["diagnoses"]), score.icd_set(gold["icd"])
    return {"cpt": (score.cpt_bag(draft["service_lines"]) != score.cpt_bag(gold["cpt"])
                    or score.mod_bag(draft["service_lines"]) != score.mod_bag(gold["cpt"])),
            "icd": drafted != expected, "icd_missed": bool(expected - drafted)}


def verdict(finding, differs: dict[str, bool]) -> bool:
    """True (RIGHT) when the note's draft differs from gold where the finding points."""
    if category(finding) == "cpt":
        return differs["cpt"]
    return differs["icd_missed"] if finding.rule == "LLM-DIAGNOSIS-MISSED" else differs["icd"]


def micro_f1(pairs: list[tuple[dict, dict]], score) -> dict[str, float]:
    """CPT (code x units) and ICD micro F1 over (gold, draft) pairs, summed as score.py's main() sums them."""
    cpt, icd = [0, 0, 0], [0, 0, 0]
    for gold, draft in pairs:
        gc, pc = score.cpt_bag(gold["cpt"]), score.cpt_bag(draft["service_lines"])
        gi, pi = score.icd_set(gold["icd"]), score.icd_set(draft["diagnoses"])
        cpt[0] += sum((gc & pc).values())
        cpt[1] += sum((pc - gc).values())
        cpt[2] += sum((gc - pc).values())
        icd[0] += len(gi & pi)
        icd[1] += len(pi - gi)
        icd[2] += len(gi - pi)
    return {"cpt": score.prf(*cpt)[2], "icd": score.prf(*icd)[2]}


def _draft(result) -> dict:
    """The draft as the claim JSON carries it (claims.claim_json): its service lines, 12 diagnoses at most."""
    return {"service_lines": [{"cpt": line.cpt, "units": line.units, "modifiers": list(line.modifiers[:4])}
                              for line in result.lines],
            "diagnoses": [dx.code for dx in result.diagnoses[:12]]}


def _accepted(draft: dict, gold: dict, right: set[str]) -> dict:
    """The draft after a biller accepts the right findings: corrected to gold in the categories they point at."""
    return {"service_lines": gold["cpt"] if "cpt" in right else draft["service_lines"],
            "diagnoses": gold["icd"] if "icd" in right else draft["diagnoses"]}


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def _simulated_misses(result, facts, text: str) -> tuple[int, int]:
    """(caught, simulated): each procedure and each diagnosis code of the draft taken out of the rule reader's
    facts in turn, as if the rules had missed it; caught when the same second read then raises a finding that
    names it missing (LLM-PROCEDURE-MISSED, LLM-NEGATION-DIFFERS, LLM-DIAGNOSIS-MISSED). Every draft here equals
    gold, so this is the measure of what the second reader would catch: the same reads, no extra model time."""
    from billing.procedures import DETAIL_KINDS
    from billing.reconcile import RuleFacts, reconcile

    rule = RuleFacts.of(result)
    caught = simulated = 0
    for kind in [k for k in rule.procedures if k not in DETAIL_KINDS]:
        without = RuleFacts({k: f for k, f in rule.procedures.items() if k != kind}, rule.negated, rule.diagnoses)
        simulated += 1
        caught += any(f.rule in ("LLM-PROCEDURE-MISSED", "LLM-NEGATION-DIFFERS")
                      for f in reconcile(without, facts, transcript=text).findings)
    for code in rule.diagnoses:
        without = RuleFacts(rule.procedures, rule.negated, [c for c in rule.diagnoses if c is not code])
        simulated += 1
        caught += any(f.rule == "LLM-DIAGNOSIS-MISSED" for f in reconcile(without, facts, transcript=text).findings)
    return caught, simulated


def main() -> dict:
    if not (SHARED / "data").exists():
        print(f"second reader benchmark skipped: {SHARED / 'data'} is absent (it lives beside the project in "
              "development)")
        return {}
    sys.path.insert(0, str(ROOT))
    from billing.coding import CodingContext, code_note
    from billing.reconcile import reconcile
    from billing.second_reader import prime, read_transcript
    from billy import llm

    count = max(1, min(len(NOTES), int(os.environ.get("BENCH_SECOND_READER_NOTES", len(NOTES)))))
    notes = NOTES[:count]
    score = _scorer()
    golds = {folder: _gold(folder) for folder in {folder for folder, _ in notes}}
    context = CodingContext(payer_id="MEDICARE", payer_type="medicare", place_of_service="22",
                            date_of_service=dt.date.today())

    texts = {name: (SHARED / "data" / folder / name).read_text() for folder, name in notes}
    code_note(next(iter(texts.values())), context=context)  # medspaCy and the reference data, loaded once
    results = {name: code_note(text, context=context) for name, text in texts.items()}

    settings = llm.Settings(cache_dir=_cache_dir(), context_tokens=CONTEXT_TOKENS)
    rss_before = _rss_mb()
    try:
        llm.resolve(settings)  # join the cache now, if needed, so that the timed load is not a one-off join
        started = time.perf_counter()
        model = llm.load_model(settings)
    except llm.ModelUnavailable as exc:
        print(f"second reader benchmark skipped: {exc}")
        return {}
    load_s = time.perf_counter() - started
    info = model.info
    prime_s = prime(model)  # once per worker: then every note is read as a running worker reads it

    rows = []
    for folder, name in notes:
        text, gold, draft = texts[name], golds[folder][name], _draft(results[name])
        differs = differences(draft, gold, score)
        outcome, error, findings, dropped, caught, simulated = None, "", [], 0, 0, 0
        try:
            outcome = read_transcript(text, model, max_tokens=MAX_TOKENS)
        except llm.GenerationFailed as exc:
            error = str(exc)
        if outcome is not None and outcome.ok:
            reconciliation = reconcile(results[name], outcome.facts, transcript=text)
            findings = [(f, verdict(f, differs)) for f in reconciliation.findings]
            dropped = len(reconciliation.second.dropped)
            caught, simulated = _simulated_misses(results[name], outcome.facts, text)
        elif outcome is not None:
            error = outcome.error
        right = {category(f) for f, ok in findings if ok}
        rows.append({"note": Path(name).stem, "outcome": outcome, "error": error, "findings": findings,
                     "dropped": dropped, "caught": caught, "simulated": simulated, "differs": differs,
                     "gold": gold, "draft": draft,
                     "accepted": _accepted(draft, gold, right)})
    peak_rss = _rss_mb()

    read = [r for r in rows if r["outcome"] is not None]
    seconds = {r["note"]: round(r["outcome"].seconds, 1) for r in read}
    chunks = sum(r["outcome"].chunks for r in read)
    valid_first = sum(r["outcome"].valid_first for r in read)
    reads_ok = sum(r["outcome"].ok for r in read)
    prompt_tokens = sum(r["outcome"].prompt_tokens for r in read)
    completion_tokens = sum(r["outcome"].completion_tokens for r in read)
    verdicts = [ok for r in rows for _, ok in r["findings"]]
    before = micro_f1([(r["gold"], r["draft"]) for r in rows], score)
    after = micro_f1([(r["gold"], r["accepted"]) for r in rows], score)
    figures = {
        "second_reader_notes": len(rows),
        "second_reader_simulated_misses": sum(r["simulated"] for r in rows),
        "second_reader_simulated_misses_caught": sum(r["caught"] for r in rows),
        "second_reader_model": info.name,
        "second_reader_backend": info.backend,
        "second_reader_device": info.device,
        "second_reader_threads": info.threads,
        "second_reader_load_s": round(load_s, 2),
        "second_reader_model_load_s": round(info.load_seconds, 2),
        "second_reader_prime_s": round(prime_s, 1),
        "second_reader_seconds_by_note": seconds,
        "second_reader_s_per_note_median": round(statistics.median(seconds.values()), 1) if seconds else None,
        "second_reader_s_per_note_max": max(seconds.values()) if seconds else None,
        "second_reader_prompt_tokens": prompt_tokens,
        "second_reader_completion_tokens": completion_tokens,
        "second_reader_completion_tokens_per_s": round(
            completion_tokens / sum(r["outcome"].seconds for r in read), 1) if read else None,
        "second_reader_rss_before_load_mb": round(rss_before),
        "second_reader_peak_rss_mb": round(peak_rss),
        "second_reader_first_reply_valid": round(valid_first / chunks, 4) if chunks else None,
        "second_reader_reads_ok": round(reads_ok / len(rows), 4),
        "second_reader_retried_chunks": sum(r["outcome"].retried for r in read),
        "second_reader_findings": len(verdicts),
        "second_reader_findings_right": sum(verdicts),
        "second_reader_findings_wrong": len(verdicts) - sum(verdicts),
        "second_reader_dropped_facts": sum(r["dropped"] for r in rows),
        "second_reader_cpt_f1_before": round(before["cpt"], 4),
        "second_reader_cpt_f1_after": round(after["cpt"], 4),
        "second_reader_icd_f1_before": round(before["icd"], 4),
        "second_reader_icd_f1_after": round(after["icd"], 4),
    }
    _print(figures, rows, count)
    return figures


def _met(ok: bool) -> str:
    return "met" if ok else "NOT met"


def _print(figures: dict, rows: list[dict], count: int) -> None:
    subset = f"{count} of {len(NOTES)} notes (BENCH_SECOND_READER_NOTES={count})" if count < len(NOTES) \
        else f"{count} notes"
    print(f"second reader: {subset}; {figures['second_reader_model']} on {figures['second_reader_backend']}, "
          f"{figures['second_reader_device']}, {figures['second_reader_threads']} threads, {os.cpu_count()} cores; "
          f"load {figures['second_reader_load_s']:.2f} s (model's own {figures['second_reader_model_load_s']:.2f} s); "
          f"the fixed prompt evaluated once per worker in {figures['second_reader_prime_s']:.1f} s (not in the "
          "seconds per note)")
    print(f"  {'note':<26} {'s':>6} {'prompt':>6} {'compl':>5} {'chunks':>6} {'valid 1st':>9} {'retried':>7} "
          f"{'ok':>3} {'findings':>8} {'right':>5} {'wrong':>5} {'dropped':>7}  draft = gold (CPT, ICD)")
    for r in rows:
        o = r["outcome"]
        right = sum(ok for _, ok in r["findings"])
        if o is None:
            print(f"  {r['note']:<26} {'-':>6}  failed: {r['error']}")
            continue
        print(f"  {r['note']:<26} {o.seconds:>6.1f} {o.prompt_tokens:>6} {o.completion_tokens:>5} {o.chunks:>6} "
              f"{o.valid_first:>9} {o.retried:>7} {'yes' if o.ok else 'no':>3} {len(r['findings']):>8} {right:>5} "
              f"{len(r['findings']) - right:>5} {r['dropped']:>7}  {'no' if r['differs']['cpt'] else 'yes'}, "
              f"{'no' if r['differs']['icd'] else 'yes'}")
    median, peak = figures["second_reader_s_per_note_median"], figures["second_reader_s_per_note_max"]
    if median is not None:
        print(f"  seconds per note: median {median:.1f}, max {peak:.1f}; "
              f"{figures['second_reader_completion_tokens_per_s']} completion tokens per second of read "
              f"(prompt included) "
              f"(target < {TARGET_SECONDS:.0f} s per note, every note, on 2 CPU cores: "
              f"{_met(peak < TARGET_SECONDS)})")
    valid, reads_ok = figures["second_reader_first_reply_valid"], figures["second_reader_reads_ok"]
    chunks = sum(r["outcome"].chunks for r in rows if r["outcome"])
    valid_first = sum(r["outcome"].valid_first for r in rows if r["outcome"])
    reads = sum(bool(r["outcome"] and r["outcome"].ok) for r in rows)
    if valid is not None:
        print(f"  JSON validity: first replies valid {valid_first}/{chunks} chunks ({valid:.0%}), reads ok "
              f"{reads}/{len(rows)} ({reads_ok:.0%}) (target >= {TARGET_VALID:.0%}: {_met(valid >= TARGET_VALID)})")
    right, wrong = figures["second_reader_findings_right"], figures["second_reader_findings_wrong"]
    print(f"  findings: {figures['second_reader_findings']} raised, {right} right, {wrong} wrong "
          f"(target more right than wrong: {_met(right > wrong) if right + wrong else 'nothing raised'}); "
          f"{figures['second_reader_dropped_facts']} facts dropped by grounding")
    print("    right = the note's draft differs from gold where the finding points (procedure findings: its CPT "
          "codes x units or modifiers; diagnosis findings: its ICD codes)")
    if not any(r["differs"]["cpt"] or r["differs"]["icd"] for r in rows):
        print("    every draft here equals gold: no finding can be right on these notes, each one is a false alarm")
    print(f"  simulated misses (each draft procedure or diagnosis code taken out in turn): caught "
          f"{figures['second_reader_simulated_misses_caught']} of {figures['second_reader_simulated_misses']}")
    print(f"  F1 before -> after a biller accepts the right findings: CPT {figures['second_reader_cpt_f1_before']:.3f}"
          f" -> {figures['second_reader_cpt_f1_after']:.3f}, ICD {figures['second_reader_icd_f1_before']:.3f} -> "
          f"{figures['second_reader_icd_f1_after']:.3f} (micro, as ../shared/eval/score.py)")
    print(f"  peak RSS {figures['second_reader_peak_rss_mb']} MB after the run "
          f"({figures['second_reader_rss_before_load_mb']} MB before the load)")
    for r in rows:
        for finding, ok in r["findings"]:
            print(f"    {r['note']}: {'RIGHT' if ok else 'WRONG'} {finding.rule}: {finding.message}")
        if r["error"]:
            print(f"    {r['note']}: read failed: {r['error']}")


if __name__ == "__main__":
    for key, value in main().items():
        print(f"  {key}  {value}")
