"""Benchmark: the coordinators' exports, the programme report and the overview's filters
over a whole programme.

    python -m bench.exports [--journeys 9000] [--scale 10] [--postgres URL [--no-sqlite]]

Writes `--journeys` journeys straight as rows (bench/programme_rows.py: about ten cheques
per booklet, one session per spent cheque, assessments) into a fresh SQLite file (with
--postgres, into that empty database as well), then, for each database:

- builds every month's reimbursement statements (records.statements.build_statements);
- streams each export (journeys, cheques, sessions, statements, ledger entries) as CSV and
  as XLSX through the service
  the API uses (api/export_service.py), as the programme's coordination (whole programme)
  and as one EPCI's, and builds the PDF programme report; prints for each the time, the
  rows and bytes, the peak of Python allocations during the run (tracemalloc, a second run)
  and the growth of the process's peak RSS (VmHWM, reset before each run); and, for
  contrast, what holding the cheque rows in a list would take;
- times the overview (records.coordination.programme_overview) under a few filter sets
  (median of 30 reads each), then adds `--scale - 1` times as many journeys (rows of
  journeys only: the overview reads the counters, not the cheques), recounts the counters
  (`records.overview_counts.rebuild`) and times them again; prints the ratio.

Aims (issue 10): peak memory growth under 50 MiB per export; the overview at 90,000
journeys under twice its time at 9,000.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
import tracemalloc
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import func, select
from sqlmodel import col

from api import export_service
from api.auth import User
from api.deps import Database
from api.spreadsheets import file_chunks
from bench.programme_rows import FIRST_DAY, NOW, fill, write_programme
from domain.months import next_month
from domain.stages import Role
from records.coordination import OverviewFilter, programme_overview
from records.db import SessionFactory, begin_write, make_engine, migrate, session_factory
from records.exports import ExportContext, Table
from records.models import Cheque, Journey, Programme, TrainingSession
from records.queries import JourneyScope
from records.statements import build_statements

MIB = 1024 * 1024


def _user(epci_id: int | None) -> User:
    return User(
        id=1,
        email="coordination@bench.example",
        full_name="Bench",
        role=Role.COORDINATOR,
        programme_code=12,
        reception_structure_id=None,
        mediation_structure_id=None,
        epci_id=epci_id,
        via="token",
        csrf_token=None,
    )


def _status_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def _reset_peak_rss() -> bool:
    try:
        Path("/proc/self/clear_refs").write_text("5")  # resets VmHWM to the current RSS
        return True
    except OSError:
        return False


@dataclass
class Measure:
    seconds: float
    size: int
    tracemalloc_peak: int
    rss_growth: int | None


async def _measure(run: Callable[[], Awaitable[int]]) -> Measure:
    """Time one run; then a second under tracemalloc for the peak of Python allocations;
    the RSS peak growth of the first (the process's high-water mark, reset before it)."""
    resettable = _reset_peak_rss()
    rss_before = _status_kib("VmRSS")
    started = time.perf_counter()
    size = await run()
    seconds = time.perf_counter() - started
    rss_growth = (_status_kib("VmHWM") - rss_before) * 1024 if resettable else None
    tracemalloc.start()
    tracemalloc.reset_peak()
    base = tracemalloc.get_traced_memory()[0]
    await run()
    peak = tracemalloc.get_traced_memory()[1] - base
    tracemalloc.stop()
    return Measure(seconds, size, peak, rss_growth)


def _mib(n: int | None) -> str:
    return "n/a" if n is None else f"{n / MIB:6.1f} MiB"


async def _exports(url: str, label: str) -> None:
    engine = make_engine(url)
    sessions = session_factory(engine)
    db = Database(sessions)
    with sessions() as s:
        counts = {
            "journeys": s.execute(select(func.count()).select_from(Journey)).scalar_one(),
            "cheques": s.execute(select(func.count()).select_from(Cheque)).scalar_one(),
            "sessions": s.execute(select(func.count()).select_from(TrainingSession)).scalar_one(),
        }
        epci = s.execute(
            select(col(Journey.epci_id), func.count())
            .group_by(col(Journey.epci_id))
            .order_by(func.count().desc())
        ).first()
    assert epci is not None
    print(
        f"\n== {label}: {counts['journeys']:,} journeys, {counts['cheques']:,} cheques, "
        f"{counts['sessions']:,} sessions =="
    )
    print(
        f"{'export':<22}{'scope':<8}{'rows':>8}{'bytes':>12}{'time':>9}"
        f"{'tracemalloc peak':>19}{'RSS peak growth':>18}"
    )
    worst = 0
    for scope_label, epci_id in (("all", None), ("EPCI", int(epci[0]))):
        user = _user(epci_id)
        ctx = await export_service.context(db, user, OverviewFilter())
        for name, table in export_service.EXPORTS.items():
            rows = _count_rows(sessions, table, ctx)
            for fmt in export_service.Format:

                async def run(
                    table: Table = table,
                    fmt: export_service.Format = fmt,
                    ctx: ExportContext = ctx,
                ) -> int:
                    size = 0
                    if fmt == export_service.Format.CSV:
                        async for chunk in export_service.csv_stream(db, table, ctx):
                            size += len(chunk)
                    else:
                        handle, _ = await export_service.xlsx_file(db, table, ctx)
                        async for chunk in file_chunks(handle):
                            size += len(chunk)
                    return size

                m = await _measure(run)
                worst = max(worst, m.tracemalloc_peak, m.rss_growth or 0)
                print(
                    f"{name + '.' + fmt.value:<22}{scope_label:<8}{rows:>8,}{m.size:>12,}"
                    f"{m.seconds:>8.2f}s{_mib(m.tracemalloc_peak):>19}{_mib(m.rss_growth):>18}"
                )

        async def report(user: User = user) -> int:
            return len(await export_service.programme_report_pdf(db, user, OverviewFilter()))

        m = await _measure(report)
        worst = max(worst, m.tracemalloc_peak, m.rss_growth or 0)
        print(
            f"{'programme.pdf':<22}{scope_label:<8}{'':>8}{m.size:>12,}{m.seconds:>8.2f}s"
            f"{_mib(m.tracemalloc_peak):>19}{_mib(m.rss_growth):>18}"
        )
    print(f"worst peak growth: {_mib(worst)} (aim < 50 MiB)")

    # For contrast: the cheque rows held in a list instead of streamed.
    ctx = await export_service.context(db, _user(None), OverviewFilter())
    tracemalloc.start()
    with sessions() as s:
        held = list(export_service.EXPORTS["cheques"].rows(s, ctx))
        peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    print(f"for contrast, {len(held):,} cheque rows held in a list: {_mib(peak)}")
    del held
    engine.dispose()


def _count_rows(sessions: SessionFactory, table: Table, ctx: ExportContext) -> int:
    with sessions() as s:
        return sum(1 for _ in table.rows(s, ctx))


FILTER_SETS: list[tuple[str, OverviewFilter]] = [
    ("none", OverviewFilter()),
    ("millésime 2026", OverviewFilter(millesime=2026)),
    ("months 2025-07..2026-03", OverviewFilter(from_month=202507, to_month=202603)),
    ("EPCI 3 + millésime 2025", OverviewFilter(epci_id=3, millesime=2025)),
    ("reception structure 1", OverviewFilter(reception_structure_id=1)),
    ("mediation structure 2", OverviewFilter(mediation_structure_id=2)),
]


def _overview_times(url: str) -> dict[str, float]:
    engine = make_engine(url)
    sessions = session_factory(engine)
    out: dict[str, float] = {}
    try:
        with sessions() as s:
            programme = s.execute(select(Programme)).scalar_one()
            for label, filters in FILTER_SETS:
                for scope in (JourneyScope(everything=True), JourneyScope(epci_id=1)):
                    times = []
                    for _ in range(30):
                        t0 = time.perf_counter()
                        programme_overview(s, programme, scope, filters)
                        times.append(time.perf_counter() - t0)
                    key = f"{label} ({'all' if scope.everything else 'EPCI 1'})"
                    out[key] = statistics.median(times)
                    s.rollback()
    finally:
        engine.dispose()
    return out


def _overview(url: str, journeys: int, scale: int, label: str) -> None:
    small = _overview_times(url)
    engine = make_engine(url)
    t0 = time.perf_counter()
    try:
        write_programme(
            engine,
            journeys * (scale - 1),
            seed=99,
            first_booklet=journeys + 1,
            with_cheques=False,
        )
    finally:
        engine.dispose()
    grown = time.perf_counter() - t0
    large = _overview_times(url)
    print(
        f"\n== {label}: overview with filters, {journeys:,} vs {journeys * scale:,} journeys "
        f"(added and recounted in {grown:.1f} s) =="
    )
    print(f"{'filters':<42}{journeys:>10,}{journeys * scale:>10,}{'ratio':>8}")
    ratios = []
    for key, before in small.items():
        after = large[key]
        ratios.append(after / before)
        print(f"{key:<42}{before * 1000:>8.2f}ms{after * 1000:>8.2f}ms{after / before:>8.2f}")
    print(f"worst ratio: {max(ratios):.2f} (aim < 2)")


def _build_statements(url: str) -> int:
    """Every month's reimbursement statements, as the monthly Schedule would have."""
    engine = make_engine(url)
    built = 0
    try:
        month = FIRST_DAY.replace(day=1)
        while month <= NOW.date():
            with session_factory(engine)() as s:
                begin_write(s)
                built += build_statements(s, month=month, at=NOW).created
                s.commit()
            month = next_month(month)
    finally:
        engine.dispose()
    return built


def _run(url: str, journeys: int, scale: int, label: str) -> None:
    t0 = time.perf_counter()
    written = fill(url, journeys)
    print(
        f"\n{label}: wrote {written.journeys:,} journeys, {written.cheques:,} cheques "
        f"({written.by_status}), {written.sessions:,} sessions, {written.assessments:,} "
        f"assessments in {time.perf_counter() - t0:.1f} s"
    )
    t0 = time.perf_counter()
    statements = _build_statements(url)
    print(f"built {statements:,} monthly statements in {time.perf_counter() - t0:.1f} s")
    asyncio.run(_exports(url, label))
    _overview(url, journeys, scale, label)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--journeys", type=int, default=9000)
    parser.add_argument("--scale", type=int, default=10, help="overview: journeys x scale")
    parser.add_argument("--postgres", help="an empty PostgreSQL database's URL, also measured")
    parser.add_argument("--no-sqlite", action="store_true", help="PostgreSQL only")
    args = parser.parse_args()
    if not args.no_sqlite:
        with tempfile.TemporaryDirectory() as folder:
            _run(f"sqlite:///{folder}/bench.db", args.journeys, args.scale, "SQLite")
    if args.postgres:
        migrate(args.postgres)
        _run(args.postgres, args.journeys, args.scale, "PostgreSQL")


if __name__ == "__main__":
    main()
