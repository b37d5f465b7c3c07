"""Coding accuracy and speed on the shared dev sets (../shared/data), scored with ../shared/eval/score.py, and on
any further sets named in BILLY_BENCH_EXTRA_SETS (colon-separated folders of notes with a gold.jsonl).

Runs `manage.py voice_to_claim` over each set's files in gold order (the real contract), scores the JSON
Lines with the shared scorer, prints the misses, and times the engine per transcript in-process.
Says so and returns nothing when ../shared is absent (a clone without it).
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("BILLY_SHARED_DIR", ROOT.parent / "shared"))
SETS = ("dev_dictations", "mtsamples_dev")


def score_set(name: str, *, verbose: bool = True, folder: Path | None = None) -> dict | None:
    folder = folder or SHARED / "data" / name
    gold = folder / "gold.jsonl"
    if not gold.exists():
        return None
    cases = [json.loads(line) for line in gold.read_text().splitlines() if line.strip()]
    files = [str(folder / case["file"]) for case in cases]
    with tempfile.NamedTemporaryFile("w+", suffix=".jsonl", delete=False) as pred:
        out = Path(pred.name)
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    run = subprocess.run([sys.executable, "manage.py", "voice_to_claim", *files, "--out", str(out)], cwd=ROOT,
                         env=env, capture_output=True, text=True)
    if run.returncode != 0:
        raise SystemExit(f"voice_to_claim failed on {name}:\n{run.stderr[-3000:]}")
    scored = subprocess.run([sys.executable, str(SHARED / "eval" / "score.py"), str(gold), str(out)]
                            + (["-v"] if verbose else []), capture_output=True, text=True)
    out.unlink(missing_ok=True)
    figures = {}
    for line in scored.stdout.splitlines():
        if line.startswith("CPT F1"):
            parts = line.split()
            figures = {"cpt_f1": float(parts[2]), "icd_f1": float(parts[5]), "modifier_f1": float(parts[8])}
        if line.startswith("cases"):
            figures["exact"] = line.split("exact claims (CPT x units, modifiers, ICD) ")[1]
    return {"figures": figures, "report": scored.stdout}


def time_engine() -> dict | None:
    folder = SHARED / "data"
    texts = [p.read_text() for name in SETS for p in sorted((folder / name).glob("*.txt"))]
    if not texts:
        return None
    sys.path.insert(0, str(ROOT))
    from billing.coding import code_note

    code_note(texts[0])  # load medspaCy and the reference data once, as a worker does
    times = []
    for text in texts:
        start = time.perf_counter()
        code_note(text)
        times.append((time.perf_counter() - start) * 1000)
    times.sort()
    return {"notes": len(texts), "median_ms": round(statistics.median(times), 1),
            "p95_ms": round(times[int(len(times) * 0.95) - 1], 1), "max_ms": round(times[-1], 1)}


def main() -> dict:
    if not (SHARED / "data").exists():
        print(f"coding benchmark skipped: {SHARED / 'data'} is absent (it lives beside the project in development)")
        return {}
    figures = {}
    for name in SETS:
        result = score_set(name)
        if result is None:
            print(f"{name}: no gold.jsonl, skipped")
            continue
        print(f"== {name}")
        print(result["report"].rstrip())
        for key, value in result["figures"].items():
            figures[f"{name}_{key}"] = value
    # Further sets of notes the engine has never been tuned on (a folder of *.txt with gold.jsonl each), e.g.
    # BILLY_BENCH_EXTRA_SETS=/data/heldout-a:/data/heldout-b. They stay outside the project.
    for extra in filter(None, os.environ.get("BILLY_BENCH_EXTRA_SETS", "").split(":")):
        folder = Path(extra)
        result = score_set(folder.name, folder=folder, verbose=False)
        if result is None:
            print(f"{folder}: no gold.jsonl, skipped")
            continue
        print(f"== {folder.name} (extra set)")
        print(result["report"].rstrip())
        for key, value in result["figures"].items():
            figures[f"{folder.name}_{key}"] = value
    timing = time_engine()
    if timing:
        print(f"engine time per transcript (no LLM): median {timing['median_ms']} ms, p95 {timing['p95_ms']} ms, "
              f"max {timing['max_ms']} ms over {timing['notes']} notes")
        figures.update({f"coding_{k}": v for k, v in timing.items()})
    return figures


if __name__ == "__main__":
    main()
