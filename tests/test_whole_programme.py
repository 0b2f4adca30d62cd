"""A reduced whole programme through the real engine (bench/whole_run.py): the
simulator's plans for a few hundred people played by `JourneyWorkflow` and its real
activities on the time-skipping server, over the whole calendar, reconciled exactly.

The campaign starts in October so that the run crosses a new year: booklets handed out
from November may take next year's millésime (the person's preference), whose sessions
wait for 1 January, and two millésimes expire a year apart.
"""

from __future__ import annotations

from datetime import date, timedelta

from temporalio.testing import WorkflowEnvironment

from bench.whole_run import booklet_millesime, plan_steps, run_whole, starting_on
from domain import contracts as c
from domain.stages import DeclineReason, Stage
from records.db import migrate
from records.seed import load_programme_file
from simulation import PersonPlan, programme_from_seed
from tests.fixtures.database import sqlite_url_for
from tests.fixtures.temporal import (
    MEDIATION,
    MEDIATOR,
    REFERRER,
    Journeys,
    about,
    entry_assessment,
)

JOURNEYS = 120


async def test_whole_programme_reconciles_with_the_simulator(
    time_skipping_env: WorkflowEnvironment, tmp_path
) -> None:
    url = sqlite_url_for(tmp_path / "records.db")
    migrate(url)
    result = await run_whole(
        time_skipping_env,
        url,
        journeys=JOURNEYS,
        seed=7,
        campaign_month=10,
        campaign_months=3,
        events_sample=5,
    )
    assert result.problems == []
    rec = result.records
    # Exactly the simulator's figures (reconcile_records compares every month and funder
    # to the cent; these say the run exercised what it reconciles).
    assert sum(rec.actual["booklets"]) == result.booklets > 0
    assert sum(rec.actual["spent"]) > 0 and sum(rec.actual["expired"]) > 0
    assert sum(rec.actual["spent"]) + sum(rec.actual["expired"]) == result.cheques_issued
    for _fid, _name, want, got in rec.funders:
        assert want == got
    # Both millésimes were handed out and both expired, a year apart.
    expired_months = [m for m, n in zip(rec.months, rec.actual["expired"], strict=True) if n]
    assert len(expired_months) == 2
    assert expired_months[1][0] == expired_months[0][0] + 1
    assert result.workflows_checked == JOURNEYS
    # What the engine refused, the simulator did not count either: sessions after the
    # cheques' validity, an answer once the journey closed at their expiry.
    assert set(result.figures.refusals) <= {"session:ChequesRefused", "answer:WrongStage"}
    assert result.events_per_journey > 10


def test_plan_steps_follow_the_simulator_reading() -> None:
    """A hand-written plan: booklet in November taking next year's millésime, so its first
    session waits for 1 January; a 2-cheque session with 1 cheque left pays 1."""
    start = date(2030, 1, 1)
    programme = programme_from_seed(starting_on(load_programme_file(), start))
    plan = PersonPlan(
        referred_on=date(2030, 11, 10),
        epci_id=1,
        assessed_after=2,
        booklet_after=1,
        prefers_next_millesime=True,
        oriented_after=0,
        answered_after=3,
        accepts=True,
        first_session_after=5,
        session_gaps=(7,),
        cheques_per_session=(2, 1),
    )
    assert booklet_millesime(plan, programme) == 2031
    steps = plan_steps(plan, programme)
    assert [(d, s.kind, s.cheques) for d, s in steps] == [
        (date(2030, 11, 10), "refer", 0),
        (date(2030, 11, 12), "assess", 0),
        (date(2030, 11, 13), "booklet", 0),
        (date(2030, 11, 13), "orient", 0),
        (date(2030, 11, 16), "answer", 0),
        (date(2031, 1, 1), "session", 2),
        (date(2031, 1, 8), "session", 1),
    ]
    declined = PersonPlan(**{**plan.__dict__, "accepts": False, "prefers_next_millesime": False})
    assert booklet_millesime(declined, programme) == 2030
    assert [s.kind for _, s in plan_steps(declined, programme)][-1] == "answer"


async def test_booklet_issue_date_survives_a_declined_orientation(journeys: Journeys) -> None:
    """Found by the whole run: a declined orientation moves the journey back to
    BOOKLET_ISSUED, and the read model took that day as the booklet's issue (reports count
    issued cheques by it); the ledger dates the cheques' commitment at the issue."""
    j = journeys
    start = await j.next_january()
    handle, _ = await j.start()
    await j.update(handle, c.U_ASSESS, entry_assessment())
    await j.update(handle, c.U_ISSUE_BOOKLET, c.BookletRequest(REFERRER, start.year))
    issued = await j.now()
    await j.update(handle, c.U_ORIENT, c.OrientRequest(REFERRER, MEDIATION))
    await j.advance(timedelta(days=20))
    decline = c.OrientationAnswer(MEDIATOR, MEDIATION, False, DeclineReason.NO_CAPACITY)
    status = await j.update(handle, c.U_ANSWER_ORIENTATION, decline)
    assert status.stage == Stage.BOOKLET_ISSUED
    await j.settle(handle)
    row = j.journey_row(status.journey_id)
    assert row is not None and row.booklet_issued_at is not None
    assert row.booklet_issued_at == about(issued)
