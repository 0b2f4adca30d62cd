"""Benchmark: the whole programme through the real engine, its people played in shards.

    python -m bench.whole_shards [--journeys 9000] [--shards 9] [--parallel 2] [--seed 1]
                                 [--database sqlite|postgresql] [--concurrency 32]
                                 [--cache 2000] [--events-sample 100] [--check-sample N]

`bench.whole_programme` on one time-skipping server does not reach 9 000 journeys: the
test server (one thread, every history in memory) takes a whole core from ~19 000 Updates
on (the 9 000 run stood at 22/03/2027 of the calendar after 34 min, its driver idle at 13 %
of a core). Journeys never talk to each other, so the people are dealt into `--shards`
groups (person i in shard i mod n), each played by its own process (driver, worker) with
its own test server over the same calendar, `--parallel` at a time, on one records
database seeded once. Each shard checks its workflows' final statuses against their rows;
then the read model is reconciled exactly with `simulate_plans` for all the plans, as
`bench.whole_programme` does. Prints each shard's figures (wall, CPU, peak memory of its
process and its test server) and the reconciliation. Exits 1 if anything does not
reconcile.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import os
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from temporalio.testing import WorkflowEnvironment

from bench.whole_programme import PG_URL, pg_database, report, test_server_path
from bench.whole_run import (
    PeakMemory,
    Played,
    RunFigures,
    first_of_month_after,
    play,
    prepare,
    reconcile,
    seed_records,
)
from config import Settings
from records.db import is_sqlite, make_engine, migrate, session_factory
from temporal_client import data_converter


async def run_shard(ns: argparse.Namespace) -> int:
    """One shard, in this process: its own test server, the seeded records at `--db-url`."""
    k, n = (int(x) for x in ns.shard.split("/"))
    data, programme, plans = prepare(date.fromisoformat(ns.start), ns.journeys, ns.seed)
    engine = make_engine(ns.db_url)
    began = time.perf_counter()
    try:
        with PeakMemory() as memory:
            env = await WorkflowEnvironment.start_time_skipping(
                test_server_existing_path=test_server_path(),
                data_converter=data_converter(Settings()),
            )
            try:
                played = await play(
                    env,
                    session_factory(engine),
                    data,
                    programme,
                    plans,
                    seed=ns.seed,
                    sqlite=is_sqlite(ns.db_url),
                    shard=(k, n),
                    concurrency=ns.concurrency,
                    max_cached_workflows=ns.cache,
                    events_sample=ns.events_sample,
                    check_sample=ns.check_sample,
                    progress=True,
                )
            finally:
                await env.shutdown()
    finally:
        engine.dispose()
    own = os.times()
    server = [
        (name, peak, memory.cpu.get(pid, 0.0)) for pid, (name, peak) in memory.children.items()
    ]
    Path(ns.out).write_text(  # noqa: ASYNC240 (once, at the end)
        json.dumps(
            {
                "played": _plain(played),
                "wall": time.perf_counter() - began,
                "cpu": own.user + own.system,
                "peak_kib": memory.own_peak_kib(),
                "server": server,
            },
            default=str,
        )
    )
    return 0


def _plain(played: Played) -> dict[str, Any]:
    """`played` as JSON values (`dataclasses.asdict` would rebuild each Counter from its
    items, counting the pairs)."""
    f = played.figures
    return {
        **{k.name: getattr(played, k.name) for k in dataclasses.fields(played)},
        "figures": {
            **{k.name: getattr(f, k.name) for k in dataclasses.fields(f)},
            "refusals": dict(f.refusals),
        },
        "event_kinds": dict(played.event_kinds),
    }


def _played(raw: dict[str, Any]) -> Played:
    f = raw["figures"]
    figures = RunFigures(
        **{
            **f,
            "refusals": Counter(f["refusals"]),
            "first_day": date.fromisoformat(f["first_day"]),
            "last_day": date.fromisoformat(f["last_day"]),
        }
    )
    return Played(**{**raw, "figures": figures, "event_kinds": Counter(raw["event_kinds"])})


def merged(parts: list[Played]) -> Played:
    """The shards as one run: counts summed, times the longest shard's (they ran side by
    side or one after the other: the wall time is printed apart)."""
    fs = [p.figures for p in parts]
    sampled = sum(p.events_sampled for p in parts)
    figures = RunFigures(
        journeys=sum(f.journeys for f in fs),
        days=max(f.days for f in fs),
        updates=sum(f.updates for f in fs),
        refusals=sum((f.refusals for f in fs), Counter()),
        drive_seconds=max(f.drive_seconds for f in fs),
        skip_seconds=max(f.skip_seconds for f in fs),
        tail_seconds=max(f.tail_seconds for f in fs),
        first_day=min(f.first_day for f in fs),
        last_day=max(f.last_day for f in fs),
    )
    return Played(
        figures=figures,
        workflow_problems=[x for p in parts for x in p.workflow_problems],
        workflows_checked=sum(p.workflows_checked for p in parts),
        events_sampled=sampled,
        events_per_journey=(
            sum(p.events_per_journey * p.events_sampled for p in parts) / sampled if sampled else 0
        ),
        event_kinds=sum((p.event_kinds for p in parts), Counter()),
        check_seconds=max(p.check_seconds for p in parts),
    )


async def _shard_process(
    k: int, ns: argparse.Namespace, start: date, db_url: str, out: Path
) -> None:
    args = [
        *("--shard", f"{k}/{ns.shards}", "--start", start.isoformat(), "--db-url", db_url),
        *("--out", str(out), "--journeys", str(ns.journeys), "--seed", str(ns.seed)),
        *("--concurrency", str(ns.concurrency), "--cache", str(ns.cache)),
        *("--events-sample", str(max(1, ns.events_sample // ns.shards))),
        *(("--check-sample", str(ns.check_sample // ns.shards)) if ns.check_sample else ()),
    ]
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bench.whole_shards",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    assert proc.stdout is not None
    async for line in proc.stdout:  # its progress, marked with the shard
        text = line.decode(errors="replace").rstrip()
        if text.startswith("  ") or "Error" in text or "error" in text:
            print(f"[{k}]{text}", flush=True)
    if await proc.wait() != 0:
        raise RuntimeError(f"shard {k} failed ({proc.returncode})")


async def run_all(ns: argparse.Namespace) -> int:
    began = time.perf_counter()
    start = first_of_month_after(datetime.now(UTC), ns.campaign_month)
    data, programme, plans = prepare(start, ns.journeys, ns.seed)
    with tempfile.TemporaryDirectory() as tmp:
        pg_name = pg_database() if ns.database == "postgresql" else None
        db_url = PG_URL.format(name=pg_name) if pg_name else f"sqlite:///{tmp}/records.db"
        try:
            migrate(db_url)
            engine = make_engine(db_url)
            sessions = session_factory(engine)
            seed_records(sessions, data)
            gate = asyncio.Semaphore(ns.parallel)
            outs = [Path(tmp) / f"shard-{k}.json" for k in range(ns.shards)]

            async def one(k: int) -> None:
                async with gate:
                    await _shard_process(k, ns, start, db_url, outs[k])

            await asyncio.gather(*(one(k) for k in range(ns.shards)))
            raws = [json.loads(out.read_text()) for out in outs]
            played = merged([_played(r["played"]) for r in raws])
            result = reconcile(sessions, programme, plans, played)
            engine.dispose()
        finally:
            if pg_name:
                pg_database(drop=pg_name)
    n = ns.journeys
    lines = [
        f"{ns.shards} shards, {ns.parallel} at a time ({ns.database} records); per shard: "
        "journeys, wall, CPU of its process (driver + worker), of its test server, peak RSS of each",
    ]
    for k, r in enumerate(raws):
        servers = ", ".join(
            f"{cpu:.0f} s CPU, {peak / 1024:.0f} MiB" for _, peak, cpu in r["server"]
        )
        lines.append(
            f"  shard {k}: {r['played']['figures']['journeys']} journeys, {r['wall']:.0f} s, "
            f"{r['cpu']:.0f} s CPU, {r['peak_kib'] / 1024:.0f} MiB; test server {servers}"
        )
    cpu = sum(r["cpu"] + sum(s[2] for s in r["server"]) for r in raws)
    lines.append(f"CPU in all: {cpu:.0f} s ({cpu * 1000 / n:.0f} ms per journey)")
    report(result, time.perf_counter() - began, lines)
    return 0 if not result.problems else 1


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--journeys", type=int, default=9000)
    parser.add_argument("--shards", type=int, default=9)
    parser.add_argument("--parallel", type=int, default=2)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--database", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--cache", type=int, default=2000)
    parser.add_argument("--campaign-month", type=int, default=1)
    parser.add_argument("--events-sample", type=int, default=100)
    parser.add_argument("--check-sample", type=int, default=None)
    # A shard's process (started by the above).
    parser.add_argument("--shard", help=argparse.SUPPRESS)
    parser.add_argument("--start", help=argparse.SUPPRESS)
    parser.add_argument("--db-url", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    ns = parser.parse_args()
    sys.exit(asyncio.run(run_shard(ns) if ns.shard else run_all(ns)))
