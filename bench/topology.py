"""Benchmark and fault suite of the production topology on one machine (stack/topology.py).

    python -m bench.topology [--journeys 300] [--concurrency 24] [--apis 2]
    python -m bench.topology --faults [--journeys 300] [--rounds 4] [--seed 12]

Throughput (default): the same topology (PostgreSQL records, a private instance when
Debian's binaries are there; two API processes; one Temporal dev server; the SMTP sink
process) started twice, with one worker and with two worker processes, each warmed up then
loaded with the same full journeys over HTTP at the same concurrency. Prints journeys/s,
the CPU each kind of process spent per journey, the events of each journey's history and
what the dev server (one history shard) carried, then the ratio two workers / one.

Faults (`--faults`, `make faults`): one run of the two-worker topology during which a
worker, an API process, the dev server, the SMTP sink (each kill -9, then started again)
and PostgreSQL (restarted) are hit in turn, `--rounds` times each at seeded random moments.
Prints the table of faults and what held afterwards; exits 1 if anything was lost or done
twice.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from stack.topology import (
    FAULT_COMPONENTS,
    Driver,
    Outcome,
    Topology,
    check,
    cpu_seconds,
    fault_table,
    inject_faults,
    run_load,
)


@dataclass
class Measured:
    workers: int
    journeys: int
    seconds: float
    cpu_ms: dict[str, float]  # per journey, by kind of process
    outcome: Outcome

    @property
    def rate(self) -> float:
        return self.journeys / self.seconds

    @property
    def events(self) -> float:
        return sum(self.outcome.events) / max(1, len(self.outcome.events))


def pids_by_kind(topology: Topology) -> dict[str, list[int]]:
    assert topology.temporal.process is not None
    kinds: dict[str, list[int]] = {"temporal": [topology.temporal.process.pid]}
    for name, proc in topology.procs.items():
        kinds.setdefault(name.split("-")[0], []).append(proc.pid)
    return kinds


async def measure(workers: int, journeys: int, concurrency: int, apis: int) -> Measured:
    with tempfile.TemporaryDirectory(prefix="passnum-topology-") as folder:
        async with Topology(Path(folder), workers=workers, apis=apis) as topology:
            await run_load(topology, concurrency * 2, concurrency)  # warm up
            kinds = pids_by_kind(topology)
            before = {k: sum(cpu_seconds(p) for p in pids) for k, pids in kinds.items()}
            driver, seconds, _ = await run_load(topology, journeys, concurrency)
            cpu = {
                k: (sum(cpu_seconds(p) for p in pids) - before[k]) / journeys * 1000
                for k, pids in kinds.items()
            }
            outcome = await check(topology, driver)
            return Measured(workers, journeys, seconds, cpu, outcome)


async def throughput(journeys: int, concurrency: int, apis: int) -> None:
    results = [await measure(w, journeys, concurrency, apis) for w in (1, 2)]
    print(
        f"full journeys over HTTP ({journeys} per run, concurrency {concurrency}, {apis} API "
        "processes, PostgreSQL records, one Temporal dev server)"
    )
    print(
        f"{'workers':>7}  {'journeys/s':>10}  {'wall s':>7}  "
        "CPU ms per journey (worker / api / temporal / sink / postgresql*)  events/journey  lost"
    )
    for m in results:
        cpu = " / ".join(f"{m.cpu_ms.get(k, 0):.0f}" for k in ("worker", "api", "temporal", "sink"))
        print(
            f"{m.workers:>7}  {m.rate:>10.2f}  {m.seconds:>7.1f}  {cpu:<62}  "
            f"{m.events:>14.1f}  {len(m.outcome.lost)}"
        )
    one, two = results
    print(f"ratio two workers / one: {two.rate / one.rate:.2f}x")
    print("(*PostgreSQL's own CPU is not counted: its backends are not children of this run.)")
    for m in results:
        events_s = m.events * m.rate
        print(
            f"{m.workers} worker(s): the dev server (one history shard) took {events_s:.0f} "
            f"history events/s; {m.cpu_ms.get('temporal', 0):.0f} ms of its CPU per journey"
        )
        if not m.outcome.ok:
            print("  NOT OK:", *m.outcome.lines(), sep="\n  ")


async def faults(journeys: int, concurrency: int, rounds: int, seed: int) -> bool:
    folder = tempfile.mkdtemp(prefix="passnum-faults-")  # kept: the logs of every part
    print(f"logs in {folder}", flush=True)
    async with Topology(Path(folder), workers=2, apis=2) as topology:

        async def during(driver: Driver, load: asyncio.Task[Any]) -> Any:
            return await inject_faults(
                topology,
                driver,
                load,
                components=list(FAULT_COMPONENTS),
                rounds=rounds,
                seed=seed,
            )

        driver, seconds, done = await run_load(topology, journeys, concurrency, during)
        print(
            f"{len(driver.runs)} journeys (at least {journeys}, until the last fault is "
            f"over) at concurrency {concurrency} in {seconds:.1f} s, "
            f"{topology.pg.name}, seed {seed}"
        )
        print(f"requests retried (same Idempotency-Key): {dict(driver.retries)}")
        print("\n".join(fault_table(done)), flush=True)
        outcome = await check(topology, driver)
        print("\n".join(outcome.lines()))
        for line in (*outcome.read_model_mismatches, *outcome.counter_mismatches)[:20]:
            print("  ", line)
        return outcome.ok and len(done) == rounds * len(FAULT_COMPONENTS)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--journeys", type=int, default=300)
    parser.add_argument("--concurrency", type=int, default=24)
    parser.add_argument("--apis", type=int, default=2)
    parser.add_argument("--faults", action="store_true", help="the fault suite")
    parser.add_argument("--rounds", type=int, default=4, help="faults: times each part is hit")
    parser.add_argument("--seed", type=int, default=12)
    ns = parser.parse_args()
    if ns.faults:
        ok = asyncio.run(faults(ns.journeys, ns.concurrency, ns.rounds, ns.seed))
        sys.exit(0 if ok else 1)
    asyncio.run(throughput(ns.journeys, ns.concurrency, ns.apis))
