"""Fee schedule lookup per claim line, on a throwaway practice with five yearly generations of charges.

The practice gets the demo schedule (every catalogue code, from 2026-01-01) through the real import, then
2023, 2024 and 2025 generations (bounded to their year) and a 2027 one that ends the 2026 charges: about
900 rows, each code with five date ranges, some with modifier rows. Then it times:
- `fee_schedule_on`: one query for the charges in effect on a date of service (once per claim);
- `FeeTable.charge`: the in-memory lookup per claim line, with and without modifiers;
- `fee_for`: a single line priced with its own query (a line priced on its own, outside a claim);
- a whole claim of 8 lines priced through one table;
- the import of one generation (parse, checks against the schedule, insert, audit).
The practice and its rows are deleted at the end. Django is set up by bench/run.py before main() runs.
"""

from __future__ import annotations

import datetime as dt
import random
import statistics
import time
import uuid
from decimal import Decimal

from billing import cpt, fees
from billing.models import FeeScheduleEntry
from billing.selectors import fee_for, fee_schedule_on
from billing.services import fee_schedule_import_as_operator, fee_schedule_load_demo
from billy.models import Practice

# The year's charges as a share of the 2026 demo charges.
GENERATIONS = {2023: Decimal("0.90"), 2024: Decimal("0.94"), 2025: Decimal("0.97"), 2027: Decimal("1.04")}
LINE_MODIFIERS = [(), (), (), ("26",), ("TC",), ("50",), ("59",), ("XS", "LT"), ("RT",)]


def _p95(values: list[float]) -> float:
    return statistics.quantiles(values, n=100)[94] if len(values) > 1 else values[0]


def _timed(fn, repeat: int) -> list[float]:
    out = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        out.append((time.perf_counter() - start) * 1000)
    return out


def _generation(demo: list[fees.FeeRow], year: int, factor: Decimal) -> bytes:
    open_ended = year == max(GENERATIONS)
    rows = [fees.FeeRow(code=r.code, modifier=r.modifier, charge=(r.charge * factor).quantize(Decimal("1")),
                        effective_from=dt.date(year, 1, 1), effective_to=None if open_ended else dt.date(year, 12, 31))
            for r in demo]
    return fees.write(rows).encode()


def main() -> dict:
    rng = random.Random(20260101)  # noqa: S311 - a repeatable sample of lines and dates, not a secret
    practice = Practice.objects.create(name=f"Bench fees {uuid.uuid4().hex[:8]}")
    try:
        fee_schedule_load_demo(practice=practice)
        demo = [fees.FeeRow(code=e.code, modifier=e.modifier, charge=e.charge, effective_from=e.effective_from,
                            effective_to=e.effective_to) for e in FeeScheduleEntry.objects.filter(practice=practice)]
        import_ms = []
        for year, factor in GENERATIONS.items():
            data = _generation(demo, year, factor)
            start = time.perf_counter()
            fee_schedule_import_as_operator(practice=practice, csv_bytes=data, replace=False)
            import_ms.append((time.perf_counter() - start) * 1000)
        rows = FeeScheduleEntry.objects.filter(practice=practice).count()

        codes = list(cpt.catalogue())
        dates = [dt.date(2023, 1, 1) + dt.timedelta(days=rng.randrange(5 * 365)) for _ in range(500)]
        lines = [(rng.choice(codes), rng.choice(LINE_MODIFIERS)) for _ in range(1000)]

        table_ms = _timed(lambda: fee_schedule_on(practice_id=practice.pk, date_of_service=rng.choice(dates)), 300)

        table = fee_schedule_on(practice_id=practice.pk, date_of_service=dt.date(2026, 6, 15))
        priced = sum(table.charge(code, mods) is not None for code, mods in lines)
        per_line_us = []
        for _ in range(50):
            start = time.perf_counter()
            for code, mods in lines:
                table.charge(code, mods)
            per_line_us.append((time.perf_counter() - start) * 1e6 / len(lines))

        fee_for_ms = _timed(lambda: fee_for(practice_id=practice.pk, code=rng.choice(codes),
                                            modifiers=rng.choice(LINE_MODIFIERS),
                                            date_of_service=rng.choice(dates)), 500)

        def claim_of_8():
            claim_table = fee_schedule_on(practice_id=practice.pk, date_of_service=rng.choice(dates))
            for code, mods in rng.sample(lines, 8):
                claim_table.charge(code, mods)

        claim_ms = _timed(claim_of_8, 300)
    finally:
        practice.delete()

    figures = {
        "fee_schedule_rows": rows,
        "fee_table_ms_median": round(statistics.median(table_ms), 3),
        "fee_table_ms_p95": round(_p95(table_ms), 3),
        "fee_line_lookup_us_median": round(statistics.median(per_line_us), 3),
        "fee_line_lookup_us_p95": round(_p95(per_line_us), 3),
        "fee_for_ms_median": round(statistics.median(fee_for_ms), 3),
        "fee_for_ms_p95": round(_p95(fee_for_ms), 3),
        "fee_claim_8_lines_ms_median": round(statistics.median(claim_ms), 3),
        "fee_claim_8_lines_ms_p95": round(_p95(claim_ms), 3),
        "fee_import_generation_ms_median": round(statistics.median(import_ms), 1),
    }
    print(f"fee schedule: {rows} rows; table of one date {figures['fee_table_ms_median']} ms median "
          f"(p95 {figures['fee_table_ms_p95']}), {len(table)} charges; per line in memory "
          f"{figures['fee_line_lookup_us_median']} µs (p95 {figures['fee_line_lookup_us_p95']}), "
          f"{priced}/{len(lines)} sample lines priced; fee_for {figures['fee_for_ms_median']} ms "
          f"(p95 {figures['fee_for_ms_p95']}); a claim of 8 lines {figures['fee_claim_8_lines_ms_median']} ms "
          f"(p95 {figures['fee_claim_8_lines_ms_p95']}); import of one generation ({len(demo)} rows) "
          f"{figures['fee_import_generation_ms_median']} ms")
    return figures
