"""Operators find journeys with Temporal visibility queries on passnum's search attributes.

Real worker, real activities on SQLite, the dev server's (eventually consistent) visibility.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import TypeVar

from sqlmodel import select
from temporalio.client import Client, WorkflowHandle
from temporalio.testing import WorkflowEnvironment

from activities.journey_records import JourneyActivities
from domain.contracts import (
    Q_STATUS,
    SA_STAGE,
    SA_STALLED,
    U_ASSESS,
    U_ISSUE_BOOKLET,
    U_ORIENT,
    WORKFLOW_NAME,
    Actor,
    AssessmentRequest,
    BookletRequest,
    JourneyInput,
    JourneyStatus,
    OrientRequest,
    workflow_id_for,
)
from domain.needs import AssessmentKind, AssessmentTool, AutonomyLevel, Theme
from domain.policy import JourneyPolicy
from domain.stages import Role, Stage
from records.db import SessionFactory
from records.models import Journey
from tests.fixtures.temporal import booklet_millesime, stalling_at
from worker import build_worker

T = TypeVar("T")
SW = Actor(role=Role.SOCIAL_WORKER, ref="ts-visibility")
VISIBILITY_WAIT_S = 20.0
MEDIATION_ID = 7

# A referral nobody acts on is reminded and flagged stalled at once.
STALLS_AT_ONCE = stalling_at(Stage.REFERRED)


async def start(client: Client, queue: str, policy: JourneyPolicy | None = None) -> WorkflowHandle:
    journey_id = str(uuid.uuid4())
    return await client.start_workflow(
        WORKFLOW_NAME,
        JourneyInput(
            journey_id=journey_id,
            programme_code=12,
            epci_id=1,
            reception_structure_id=4,
            referrer=SW,
            policy=policy or JourneyPolicy(),
        ),
        id=workflow_id_for(journey_id),
        task_queue=queue,
    )


async def assess(handle: WorkflowHandle) -> None:
    await handle.execute_update(
        U_ASSESS,
        AssessmentRequest(
            actor=SW,
            kind=AssessmentKind.ENTRY,
            tool=AssessmentTool.ABC_DIAG,
            autonomy=AutonomyLevel.BEGINNER,
            needs=[Theme.EMAIL],
        ),
        result_type=JourneyStatus,
    )


async def issue_booklet(handle: WorkflowHandle) -> None:
    millesime = booklet_millesime(JourneyPolicy())
    await handle.execute_update(
        U_ISSUE_BOOKLET, BookletRequest(actor=SW, millesime=millesime), result_type=JourneyStatus
    )


async def orient(handle: WorkflowHandle) -> None:
    status = await handle.execute_update(
        U_ORIENT,
        OrientRequest(actor=SW, mediation_structure_id=MEDIATION_ID),
        result_type=JourneyStatus,
    )
    assert status.stage == Stage.ORIENTED


async def status_of(handle: WorkflowHandle) -> JourneyStatus:
    return await handle.query(Q_STATUS, result_type=JourneyStatus)


async def eventually(probe: Callable[[], Awaitable[T]], ok: Callable[[T], bool], what: str) -> T:
    """Poll until `ok(value)`, for at most VISIBILITY_WAIT_S (visibility lags a little)."""
    deadline = time.monotonic() + VISIBILITY_WAIT_S
    while True:
        value = await probe()
        if ok(value):
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: still {value!r} after {VISIBILITY_WAIT_S} s")
        await asyncio.sleep(0.2)


def is_stalled(status: JourneyStatus) -> bool:
    return status.stalled


async def listed(client: Client, query: str) -> set[str]:
    return {wf.id async for wf in client.list_workflows(query)}


async def test_visibility_queries_by_stage_and_stall(
    dev_server: WorkflowEnvironment, sqlite_sessions: SessionFactory
) -> None:
    client = dev_server.client
    queue = f"visibility-{uuid.uuid4()}"
    with ThreadPoolExecutor(max_workers=8) as executor:
        worker = build_worker(client, queue, JourneyActivities(sqlite_sessions), executor)
        async with worker:
            oriented = [await start(client, queue) for _ in range(2)]
            booklet_only = await start(client, queue)
            referred = await start(client, queue)
            stalled = await start(client, queue, STALLS_AT_ONCE)
            unstalled = await start(client, queue, STALLS_AT_ONCE)

            for handle in [*oriented, booklet_only]:
                await assess(handle)
                await issue_booklet(handle)
            for handle in oriented:
                await orient(handle)
            for handle in (stalled, unstalled):
                await eventually(partial(status_of, handle), is_stalled, "stall flag")
            await assess(unstalled)  # activity clears the flag
            assert not (await status_of(unstalled)).stalled

            ids = {h.id for h in [*oriented, booklet_only, referred, stalled, unstalled]}
            in_queue = f"TaskQueue = '{queue}'"
            await eventually(partial(listed, client, in_queue), ids.__eq__, "all journeys")
            expected = {
                f"{SA_STAGE} = 'ORIENTED'": {h.id for h in oriented},
                f"{SA_STALLED} = true": {stalled.id},
                f"{SA_STAGE} = 'REFERRED'": {referred.id, stalled.id},
                f"{SA_STAGE} = 'BOOKLET_ISSUED'": {booklet_only.id},
                f"{SA_STAGE} = 'ASSESSED' AND {SA_STALLED} = false": {unstalled.id},
            }
            for query, want in expected.items():
                await eventually(
                    partial(listed, client, f"{query} AND {in_queue}"), want.__eq__, query
                )

    # The read model agrees with the search attributes.
    with sqlite_sessions() as session:
        rows = session.exec(select(Journey)).all()
    by_workflow = {r.workflow_id: r for r in rows}
    assert {wf for wf, r in by_workflow.items() if r.stalled} == {stalled.id}
    assert {wf for wf, r in by_workflow.items() if r.stage == Stage.ORIENTED} == {
        h.id for h in oriented
    }
