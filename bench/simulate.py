"""Benchmark: the programme simulator's time.

    python -m bench.simulate [--trials 1000] [--rounds 3] [--seed 1]

Simulates the Aveyron programme (records/seed/aveyron.json, 9 000 booklets, ~10 500
people referred) under the default assumptions, `--trials` trials, `--rounds` times, and
prints the wall and CPU time of each round, the best, and the time per trial (the best
round's; on a shared machine the CPU time is the steadier figure).
Then the same with one person per plan drawn by `draw_plans` (one trial from explicit
plans, what a run of real journeys would start from), and the time to draw the charts
and the HTML page.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from records.seed import load_programme_file
from simulation import Assumptions, draw_plans, programme_from_seed, simulate, simulate_plans


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()

    programme = programme_from_seed(load_programme_file())
    assumptions = Assumptions()
    times: list[float] = []
    cpu: list[float] = []
    result = None
    for round_ in range(args.rounds):
        started, cpu_started = time.perf_counter(), time.process_time()
        result = simulate(programme, assumptions, trials=args.trials, seed=args.seed)
        times.append(time.perf_counter() - started)
        cpu.append(time.process_time() - cpu_started)
        print(
            f"round {round_ + 1}: {times[-1]:.2f} s wall, {cpu[-1]:.2f} s CPU "
            f"for {args.trials} trials"
        )
    assert result is not None
    best = min(times)
    print(f"best CPU: {min(cpu):.2f} s ({min(cpu) / args.trials * 1000:.2f} ms per trial)")
    people = float(result.totals["referrals"].mean)
    print(
        f"best: {best:.2f} s for {args.trials} trials of {people:.0f} people "
        f"({float(result.totals['booklets'].mean):.0f} booklets): "
        f"{best / args.trials * 1000:.2f} ms per trial, "
        f"{best / (args.trials * people) * 1e9:.0f} ns per person"
    )
    print(
        f"spent share {float(result.totals['spent_share'].mean) * 100:.1f} %, "
        f"cheques per active person {float(result.totals['cheques_per_active'].mean):.2f}"
    )

    started = time.perf_counter()
    plans = draw_plans(assumptions, programme, seed=args.seed)
    drawn = time.perf_counter() - started
    started = time.perf_counter()
    simulate_plans(programme, plans)
    accounted = time.perf_counter() - started
    print(
        f"draw_plans: {len(plans)} plans in {drawn:.2f} s; "
        f"simulate_plans (one trial): {accounted:.2f} s"
    )

    from simulation.report import write_report

    with tempfile.TemporaryDirectory() as out:
        started = time.perf_counter()
        written = write_report(result, Path(out))
        print(f"charts and page: {time.perf_counter() - started:.2f} s ({len(written)} files)")


if __name__ == "__main__":
    main()
