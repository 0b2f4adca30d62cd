"""Record full journey histories for the replay test (tests/test_replay.py).

    /work/venv/bin/python -m tests.histories.record --suffix _v2 completed expired
    (from the repository root; scenarios: completed, expired, calendar, search_attributes)

Runs scripted journeys with the real record activities over a throwaway SQLite database
and writes each workflow history as JSON next to this file, as `<scenario><suffix>.json`.
The time-skipping server runs them, except `search_attributes`: the dev server (the only
one with visibility), which does not skip time, so that journey stays open (its history
ends at the exit assessment).

Never overwrite a history (the script refuses to): a change that running journeys will
replay is patched with `workflow.patched`, its old histories stay and new ones are added
beside them under a new suffix. completed/expired/calendar/search_attributes.json come
from the code before the patches of workflows/journey.py; the `_v2` ones from the code
with them.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import tempfile
import uuid
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path
from typing import Any

from temporalio.client import WorkflowHandle, WorkflowHistory, WorkflowUpdateFailedError
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from activities.journey_records import JourneyActivities
from domain import contracts as c
from domain.stages import DeclineReason, Stage
from domain.validity import paris_day
from records.db import make_engine, migrate, session_factory
from records.seed import seed_default_programme
from stack.devserver import WAL_PRAGMAS, search_attribute_keys, temporal_binary
from tests.fixtures.temporal import (
    COORDINATOR,
    MEDIATION,
    MEDIATOR,
    OTHER_MEDIATION,
    OTHER_MEDIATOR,
    REFERRER,
    Journeys,
    booklet_millesime,
    entry_assessment,
    exit_assessment,
    session_request,
    stalling_at,
    time_skipping_binary,
)
from worker import build_worker

HERE = Path(__file__).resolve().parent


async def completed(j: Journeys) -> WorkflowHandle[Any, Any]:
    """Stall reminder, assessment, declined then accepted orientation, every cheque spent
    (one session refused, one retried), exit assessment, anonymisation."""
    start = await j.next_january()
    handle, _ = await j.start()
    await j.advance(timedelta(days=12))
    await j.update(handle, c.U_ASSESS, entry_assessment())
    status = await j.update(handle, c.U_ISSUE_BOOKLET, c.BookletRequest(REFERRER, start.year))
    serials = [ch.serial for ch in status.cheques]
    await j.update(handle, c.U_ORIENT, c.OrientRequest(REFERRER, MEDIATION))
    await j.advance(timedelta(days=2))
    await j.update(
        handle,
        c.U_ANSWER_ORIENTATION,
        c.OrientationAnswer(MEDIATOR, MEDIATION, False, DeclineReason.TOO_FAR),
    )
    await j.update(handle, c.U_ORIENT, c.OrientRequest(REFERRER, OTHER_MEDIATION))
    await j.update(
        handle,
        c.U_ANSWER_ORIENTATION,
        c.OrientationAnswer(OTHER_MEDIATOR, OTHER_MEDIATION, True),
    )
    for n in range(5):
        await j.advance(timedelta(days=20))
        day = paris_day(await j.now())
        request = session_request(serials[2 * n : 2 * n + 2], day, structure=OTHER_MEDIATION)
        await j.log_session(handle, request)
        if n == 0:
            await j.log_session(handle, request)  # a retried request
            # Already redeemed: refused by the validator, so absent from the history.
            with contextlib.suppress(WorkflowUpdateFailedError):
                await j.log_session(handle, session_request(serials[:1], day))
    await j.update(handle, c.U_ASSESS, exit_assessment(OTHER_MEDIATOR))
    await j.finish(handle)
    return handle


async def expired(j: Journeys) -> WorkflowHandle[Any, Any]:
    """Unanswered orientation (reminder, expiry, stall), nudge, coordinator re-orientation,
    a session elsewhere, expiry warnings, expiry, anonymisation."""
    start = await j.next_january()
    handle, _ = await j.start()
    await j.update(handle, c.U_ASSESS, entry_assessment())
    status = await j.update(handle, c.U_ISSUE_BOOKLET, c.BookletRequest(REFERRER, start.year))
    await j.update(handle, c.U_ORIENT, c.OrientRequest(REFERRER, MEDIATION))
    await j.advance(timedelta(days=31))
    await j.settle(handle)
    await j.update(handle, c.U_NUDGE, c.NudgeRequest(COORDINATOR, "Merci de réorienter"))
    await j.update(
        handle, c.U_REORIENT, c.OrientRequest(COORDINATOR, OTHER_MEDIATION, "Sans réponse")
    )
    await j.advance(timedelta(days=3))
    day = paris_day(await j.now())
    await j.log_session(handle, session_request([status.cheques[0].serial], day))
    await j.finish(handle)
    return handle


async def calendar(j: Journeys) -> WorkflowHandle[Any, Any]:
    """Calendar jobs falling due together (reminder and stall of the referral), an
    orientation reminded then replaced, a session, a withdrawal, anonymisation."""
    start = await j.next_january()
    handle, _ = await j.start(policy=stalling_at(Stage.REFERRED, 10))
    await j.advance(timedelta(days=11))
    await j.settle(handle)
    await j.update(handle, c.U_ASSESS, entry_assessment())
    status = await j.update(handle, c.U_ISSUE_BOOKLET, c.BookletRequest(REFERRER, start.year))
    await j.update(handle, c.U_ORIENT, c.OrientRequest(REFERRER, MEDIATION))
    await j.advance(timedelta(days=12))
    await j.settle(handle)
    await j.update(
        handle, c.U_REORIENT, c.OrientRequest(COORDINATOR, OTHER_MEDIATION, "Sans réponse")
    )
    await j.update(
        handle,
        c.U_ANSWER_ORIENTATION,
        c.OrientationAnswer(OTHER_MEDIATOR, OTHER_MEDIATION, True),
    )
    await j.advance(timedelta(days=3))
    day = paris_day(await j.now())
    request = session_request([status.cheques[0].serial], day, structure=OTHER_MEDIATION)
    await j.log_session(handle, request)
    await j.update(handle, c.U_WITHDRAW, c.WithdrawRequest(REFERRER, "Déménagement"))
    await j.finish(handle)
    return handle


async def search_attributes(j: Journeys) -> WorkflowHandle[Any, Any]:
    """With search attributes (dev server, real time): reminded and stalled at referral,
    then a whole training up to the closing session and the exit assessment."""
    policy = stalling_at(Stage.REFERRED)
    handle, _ = await j.start(policy=policy, search_attributes=True)
    await j.settle(handle)  # referral, reminder and stall recorded
    await j.update(handle, c.U_ASSESS, entry_assessment())
    status = await j.update(
        handle, c.U_ISSUE_BOOKLET, c.BookletRequest(REFERRER, booklet_millesime(policy))
    )
    serials = [ch.serial for ch in status.cheques]
    await j.update(handle, c.U_ORIENT, c.OrientRequest(REFERRER, MEDIATION))
    await j.update(handle, c.U_ANSWER_ORIENTATION, c.OrientationAnswer(MEDIATOR, MEDIATION, True))
    day = paris_day(await j.now())
    for n in range(5):
        await j.log_session(handle, session_request(serials[2 * n : 2 * n + 2], day))
    await j.update(handle, c.U_ASSESS, exit_assessment())
    await j.settle(handle)
    return handle


Scenario = Callable[[Journeys], Awaitable[WorkflowHandle[Any, Any]]]
TIME_SKIPPING: dict[str, Scenario] = {
    "completed": completed,
    "expired": expired,
    "calendar": calendar,
}
DEV_SERVER: dict[str, Scenario] = {"search_attributes": search_attributes}


async def record_histories(
    env: WorkflowEnvironment,
    scenarios: list[tuple[str, Scenario]],
    *,
    seeded: bool = False,
    check: Callable[[WorkflowHistory], None] | None = None,
) -> None:
    """Run each scenario over a throwaway SQLite database (with the default programme when
    `seeded`: its structures have e-mail addresses, so mails are sent) and write its history,
    passed to `check` first, as `<name>.json` next to this file."""
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{tmp}/records.db"
        migrate(url)
        engine = make_engine(url)
        sessions = session_factory(engine)
        if seeded:
            with sessions() as session:
                seed_default_programme(session)
                session.commit()
        task_queue = f"record-{uuid.uuid4()}"
        try:
            with ThreadPoolExecutor(max_workers=4) as executor:
                worker = build_worker(env.client, task_queue, JourneyActivities(sessions), executor)
                async with worker:
                    harness = Journeys(env, task_queue, sessions)
                    for name, scenario in scenarios:
                        handle = await scenario(harness)
                        history = await handle.fetch_history()
                        if check is not None:
                            check(history)
                        path = HERE / f"{name}.json"
                        path.write_text(history.to_json())
                        print(f"{path.name}: {len(history.events)} events")
                    await harness.close()
        finally:
            engine.dispose()


async def record_time_skipping(
    scenarios: list[tuple[str, Scenario]],
    *,
    seeded: bool = True,
    check: Callable[[WorkflowHistory], None] | None = None,
) -> None:
    """`record_histories` on a time-skipping server of its own, refusing to overwrite a
    history already recorded (a new one gets a new name)."""
    for name, _ in scenarios:
        if (HERE / f"{name}.json").exists():
            raise SystemExit(f"{name}.json exists: record under a new name")
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=str(time_skipping_binary()),
        data_converter=pydantic_data_converter,
    )
    try:
        await record_histories(env, scenarios, seeded=seeded, check=check)
    finally:
        await env.shutdown()


async def main(names: list[str], suffix: str) -> None:
    for name in names:
        if name not in TIME_SKIPPING and name not in DEV_SERVER:
            raise SystemExit(f"unknown scenario {name!r}")
        if (HERE / f"{name}{suffix}.json").exists():
            raise SystemExit(f"{name}{suffix}.json exists: record under a new --suffix")
    skipping = [(n, TIME_SKIPPING[n]) for n in names if n in TIME_SKIPPING]
    dev = [(n, DEV_SERVER[n]) for n in names if n in DEV_SERVER]
    if skipping:
        await record_time_skipping([(n + suffix, f) for n, f in skipping], seeded=False)
    if dev:
        with tempfile.TemporaryDirectory() as tmp:
            env = await WorkflowEnvironment.start_local(
                dev_server_existing_path=str(temporal_binary()),
                dev_server_database_filename=f"{tmp}/temporal.db",
                dev_server_extra_args=list(WAL_PRAGMAS),
                data_converter=pydantic_data_converter,
                search_attributes=search_attribute_keys(),
            )
            try:
                await record_histories(env, [(n + suffix, f) for n, f in dev])
            finally:
                await env.shutdown()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("scenarios", nargs="+", choices=[*TIME_SKIPPING, *DEV_SERVER])
    parser.add_argument("--suffix", default="", help="appended to each file name, e.g. _v2")
    ns = parser.parse_args()
    asyncio.run(main(ns.scenarios, ns.suffix))
