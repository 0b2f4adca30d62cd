"""The production topology on one machine (stack/topology.py): PostgreSQL records, two
workers and two API processes against one Temporal dev server, each its own process, loaded
with full journeys over HTTP; then, the same under faults: each part killed with kill -9
(PostgreSQL restarted) several times at seeded random moments, and started again.

Afterwards nothing may be lost or done twice: every journey completed with its row, the
overview counters equal to a recount, no cheque spent twice, no mail sent twice (by
Message-ID), the read model equal to each workflow's status, no deadlock in any log.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from stack.topology import (
    FAULT_COMPONENTS,
    Topology,
    check,
    cpu_seconds,
    fault_table,
    inject_faults,
    run_load,
)

pytestmark = [pytest.mark.devserver, pytest.mark.timeout(420)]
JOURNEYS = 60


def report(title: str, lines: list[str]) -> None:
    print(f"\n{title}\n" + "\n".join(f"  {line}" for line in lines))  # shown with -s or on failure


async def test_two_workers_two_apis_on_postgresql(tmp_path: Path) -> None:
    async with Topology(tmp_path, workers=2, apis=2) as topology:
        assert topology.db_url.startswith("postgresql://")
        driver, seconds, _ = await run_load(topology, journeys=JOURNEYS, concurrency=24)
        outcome = await check(topology, driver)
        report(f"{JOURNEYS} journeys in {seconds:.1f} s ({topology.pg.name})", outcome.lines())
        assert outcome.unsettled == ""
        assert outcome.journeys == outcome.completed == JOURNEYS, outcome.lost[:5]
        assert outcome.lost == []
        assert outcome.counter_mismatches == []
        assert outcome.cheques_redeemed == JOURNEYS * 10
        assert outcome.cheques_spent_twice == 0
        assert outcome.mails > 0
        assert outcome.mails_sent_twice == 0
        assert outcome.mails_resent == 0  # nothing killed: nothing sent again
        assert outcome.mails_failed == 0
        assert outcome.read_model_mismatches == []
        assert outcome.deadlocks == {}
        # The load went through both API processes, and both workers took tasks.
        for name in topology.apis:
            assert "POST /api/v1/journeys/" in topology.procs[name].log.read_text(), name
        for name in topology.workers:
            assert cpu_seconds(topology.procs[name].pid) > 2.0, name


@pytest.mark.timeout(600)  # 3–4 min here; a delivery cut by a kill settles after its lease
async def test_faults_each_part_killed_several_times(tmp_path: Path) -> None:
    """A bounded fault suite (the long one: `make faults`)."""
    async with Topology(tmp_path, workers=2, apis=2) as topology:

        async def faults(driver, load):  # type: ignore[no-untyped-def]
            return await inject_faults(
                topology, driver, load, components=list(FAULT_COMPONENTS), rounds=2, seed=12,
                gap_s=(1.0, 3.0),
            )  # fmt: skip

        # At least 60 journeys, and more until the last fault is over.
        driver, seconds, done = await run_load(topology, journeys=60, concurrency=24, during=faults)
        outcome = await check(topology, driver, histories=False)
        report(
            f"{len(driver.runs)} journeys in {seconds:.1f} s under faults ({topology.pg.name}); "
            f"retried requests: {dict(driver.retries)}",
            [*fault_table(done), *outcome.lines()],
        )
        killed = {f.component.split("-")[0] for f in done}
        assert killed == set(FAULT_COMPONENTS)
        assert len(done) == 2 * len(FAULT_COMPONENTS)
        assert outcome.unsettled == ""
        assert outcome.lost == []
        assert outcome.cheques_spent_twice == 0
        assert outcome.mails_sent_twice == 0
        assert outcome.mails_failed == 0
        assert outcome.read_model_mismatches == []
        assert outcome.counter_mismatches == []
        assert outcome.deadlocks == {}
        assert outcome.ok
