"""The simulator's plans acted out by the real engine: `JourneyWorkflow` and its real
activities (records, ledger, mail filed in the mailbox table) on Temporal's time-skipping
test server, then reconciled with what `simulate_plans` computes for the same plans.

**Driving.** Each person's plan (`draw_plans`) becomes dated steps: the referral (an
update-with-start, as the API does), the entry assessment, the booklet (the millésime
`millesimes_offered` gives on its day, next year's when both are offered and the person
prefers it, as the simulator does), the orientation to a mediation structure serving the
person's EPCI, its answer, the sessions (their cheques, no more than the booklet has left).
The days are played in order: the server's clock is moved to 10:00 Europe/Paris of the
next plan day (every timer in between fires: stall reminders, orientation expiry, expiry
warnings), then that day's Updates are sent, people concurrently (bounded), each person's
steps in turn. A step the engine refuses (a session after the cheques' validity, an
orientation once the journey closed) is counted by its refusal kind: the engine's rules
decide, the driver only states intentions. After the last plan day the clock runs past
the last millésime's expiry, so that every cheque is spent or expired.

**Reconciling.** The read model against the simulator (booklets, cheques spent and
expired per month; the funder ledger per funder, kind and month, to the cent), the read
model against every workflow's final status (stage, outcome, seq, each cheque's status),
the ledger's monthly sums and the overview counters against recounts.

`bench/whole_programme.py` runs it at the programme's size; tests/test_whole_programme.py
a reduced run.
"""

from __future__ import annotations

import asyncio
import os
import resource
import threading
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

from google.protobuf.duration_pb2 import Duration
from sqlalchemy import func, select
from sqlmodel import Session, col
from temporalio.api.testservice.v1 import SleepRequest
from temporalio.client import (
    WithStartWorkflowOperation,
    WorkflowHandle,
    WorkflowUpdateFailedError,
    WorkflowUpdateRPCTimeoutOrCancelledError,
)
from temporalio.common import WorkflowIDConflictPolicy
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment

from domain import contracts as c
from domain.millesimes import ProgrammePeriod, millesimes_offered
from domain.needs import (
    AssessmentKind,
    AssessmentTool,
    AutonomyLevel,
    SessionKind,
    SessionPlace,
    Theme,
)
from domain.stages import Action, ChequeStatus, DeclineReason, Role
from domain.validity import PARIS, paris_day, valid_until
from records import overview_counts
from records.db import SessionFactory
from records.ledger import ENTRY, MONTH
from records.models import (
    Cheque,
    Journey,
    MediationStructure,
    MediationStructureEpci,
    ReceptionStructure,
    TransitionLog,
)
from records.programme_file import ProgrammeFile
from records.seed import load_programme_file
from simulation import (
    Assumptions,
    PersonPlan,
    SimProgramme,
    SimulationResult,
    draw_plans,
    programme_from_seed,
    simulate_plans,
)

HOUR = 10  # Europe/Paris wall time of every plan day's Updates
REFERRER = c.Actor(Role.SOCIAL_WORKER, "whole-run")
# Between one day's last event and the next day's first Update, in time of day.
TIMER_MARGIN = timedelta(seconds=2)
SKIP_STEP = timedelta(days=1)  # the longest clock move in one call
SKIP_TIMEOUT = timedelta(minutes=10)  # for one call (its timers' workflow tasks included)
RPC_ATTEMPTS = 8  # of one Update whose RPC broke (RealRun._retrying)
T = TypeVar("T")


def _duration(delta: timedelta) -> Duration:
    out = Duration()
    out.FromTimedelta(delta)
    return out


# ---- the programme and the plans ----


def programme_data(start: date, path: Path | None = None) -> ProgrammeFile:
    """The Aveyron reference data with the programme starting on `start`: the test
    server's clock starts at the real time and only moves forward."""
    return starting_on(load_programme_file() if path is None else load_programme_file(path), start)


def starting_on(spec: ProgrammeFile, start: date) -> ProgrammeFile:
    """`spec` with its programme starting on `start`."""
    return spec.model_copy(
        update={"programme": spec.programme.model_copy(update={"starts_on": start})}
    )


def first_of_month_after(now: datetime, month: int) -> date:
    """The first 1st of `month` (Europe/Paris) strictly after `now`."""
    day = paris_day(now)
    candidate = date(day.year, month, 1)
    return candidate if candidate > day else date(day.year + 1, month, 1)


def booklet_millesime(plan: PersonPlan, programme: SimProgramme) -> int | None:
    """The millésime the person's booklet takes on its day (None: none offered), as the
    simulator chooses it."""
    day = plan.booklet_on
    if day is None:
        return None
    offered = millesimes_offered(
        day,
        programme.period,
        programme.grace_months,
        programme.policy.stop_issuing_days_before_expiry,
    ).offered
    if not offered:
        return None
    return offered[1] if plan.prefers_next_millesime and len(offered) > 1 else offered[0]


@dataclass(frozen=True)
class Step:
    """One thing a person's plan does on a day."""

    kind: str  # refer, assess, booklet, orient, answer, session
    cheques: int = 0  # session: cheques the person hands over


def plan_steps(plan: PersonPlan, programme: SimProgramme) -> list[tuple[date, Step]]:
    """The dated steps of one plan, in order (the simulator's reading of the plan)."""
    out: list[tuple[date, Step]] = [(plan.referred_on, Step("refer"))]
    if plan.assessed_on is None:
        return out
    out.append((plan.assessed_on, Step("assess")))
    millesime = booklet_millesime(plan, programme)
    if plan.booklet_on is None or millesime is None:
        return out
    out.append((plan.booklet_on, Step("booklet")))
    if plan.oriented_on is None:
        return out
    out.append((plan.oriented_on, Step("orient")))
    answered = plan.answered_on
    assert answered is not None
    if plan.answered_after >= programme.policy.orientation_expiry_days:
        return out  # the structure answers too late: the orientation expires first
    out.append((answered, Step("answer")))
    for day, cheques in plan.session_days(date(millesime, 1, 1)):
        out.append((day, Step("session", cheques)))
    return out


# ---- driving ----


@dataclass
class Person:
    index: int
    plan: PersonPlan
    journey_id: str
    epci_id: int
    reception_id: int
    mediation_id: int
    millesime: int | None
    handle: WorkflowHandle[Any, Any] | None = None
    serials: list[str] = field(default_factory=list)  # the booklet's, unspent first
    left: int = 0


@dataclass
class RunFigures:
    journeys: int
    days: int  # plan days played
    updates: int  # Updates sent (the referral's update-with-start included)
    refusals: Counter[str]  # "step:kind" -> count
    drive_seconds: float  # plan days, Updates and clock moves
    skip_seconds: float  # of which clock moves
    tail_seconds: float  # the clock to the last expiry, and settling
    first_day: date
    last_day: date  # the clock's last stop


def _assessment() -> c.AssessmentRequest:
    return c.AssessmentRequest(
        actor=REFERRER,
        kind=AssessmentKind.ENTRY,
        tool=AssessmentTool.ABC_DIAG,
        autonomy=AutonomyLevel.BEGINNER,
        needs=[Theme.EMAIL, Theme.ADMIN_PROCEDURES],
    )


def _mediator(structure: int) -> c.Actor:
    return c.Actor(Role.MEDIATOR, f"med-{structure}")


def _refusal_kind(err: WorkflowUpdateFailedError) -> str:
    cause = err.cause
    if isinstance(cause, ApplicationError) and cause.type:
        return cause.type
    return type(cause).__name__


class RealRun:
    """Plays plans through the real workflow on a time-skipping server whose worker polls
    `task_queue` (the caller runs the worker)."""

    def __init__(
        self,
        env: WorkflowEnvironment,
        task_queue: str,
        sessions: SessionFactory,
        programme: SimProgramme,
        plans: Sequence[PersonPlan],
        *,
        concurrency: int = 32,
        programme_code: int,
        seed: int = 1,
        progress: bool = False,
        shard: tuple[int, int] = (0, 1),
    ) -> None:
        """`shard` (k, n): only the plans whose index is k modulo n (the others are played
        by other runs on other servers, on the same records)."""
        self.programme_code = programme_code
        self.env = env
        self.client = env.client
        self.task_queue = task_queue
        self.sessions = sessions
        self.programme = programme
        self.plans = list(plans)
        self.concurrency = concurrency
        self.progress = progress
        reception, mediation = structures_by_epci(sessions)
        self.people = [
            Person(
                index=i,
                plan=p,
                journey_id=str(uuid.UUID(int=(seed << 64) | i)),
                epci_id=p.epci_id,
                reception_id=reception[p.epci_id],
                mediation_id=mediation[p.epci_id],
                millesime=booklet_millesime(p, programme),
            )
            for i, p in enumerate(self.plans)
            if i % shard[1] == shard[0]
        ]
        self._by_index = {person.index: person for person in self.people}
        self.updates = 0
        self.rpc_retries = 0  # calls sent again after a broken RPC (same update id)
        self.refusals: Counter[str] = Counter()
        self.skip_seconds = 0.0  # wall time in clock moves (the timers they fire run then)

    # ---- the calendar ----

    def schedule(self) -> dict[date, list[tuple[Person, list[Step]]]]:
        by_day: dict[date, dict[int, list[Step]]] = {}
        for person in self.people:
            for day, step in plan_steps(person.plan, self.programme):
                by_day.setdefault(day, {}).setdefault(person.index, []).append(step)
        return {
            day: [(self._by_index[i], steps) for i, steps in sorted(per_person.items())]
            for day, per_person in sorted(by_day.items())
        }

    async def advance_to(self, instant: datetime) -> None:
        """Skip to `instant`, a day at most per call: the server answers a skip once every
        timer on the way has fired and its workflow task run, which for months of a whole
        programme's calendar outlasts any RPC timeout."""
        began = time.perf_counter()
        service = self.client.test_service
        while (delta := instant - await self.env.get_current_time()) > timedelta(0):
            step = min(delta, SKIP_STEP)
            try:
                await service.unlock_time_skipping_with_sleep(
                    SleepRequest(duration=_duration(step)),
                    timeout=SKIP_TIMEOUT,
                )
            except RPCError as err:  # a long skip's call may break: the clock went on
                print(f"  clock move interrupted ({err}); carrying on", flush=True)
        self.skip_seconds += time.perf_counter() - began

    async def advance_to_day(self, day: date) -> None:
        """Move the clock to `day`, at a time of day later than any event so far.

        The time-skipping server strands a workflow whose task cancels a timer that fired
        while the task was with the worker (it refuses the completion, "invalid history
        builder state for action", temporalio/sdk-java#3088, and never sends the task
        again): an Update that ends a calendar wait does cancel its timer. Every timer of a
        journey falls a whole number of days after one of its events (or at midnight, for
        the cheques' validity), and between skips the server's clock runs at real pace. So
        each day's Updates are sent at a time of day past every earlier event's (10:00,
        then later as the run's real time adds up): every timer due that day has fired
        before the skip ends, none fires while the Updates are handled."""
        now = (await self.env.get_current_time()).astimezone(PARIS)
        start = datetime(day.year, day.month, day.day, HOUR, tzinfo=PARIS)
        if now.date() < day:
            # The time of day reached so far (events keep theirs from day to day).
            reached = now + TIMER_MARGIN
            if reached.date() != now.date():
                raise RuntimeError("the run's real time passed a whole day: too slow to drive")
            start = max(start, datetime.combine(day, reached.time(), tzinfo=PARIS))
            await self.advance_to(start.astimezone(UTC))
        elif now.date() > day:
            raise RuntimeError(f"the clock is past {day}")

    def end_instant(self) -> datetime:
        """A day after the last millésime's cheques expire (every expiry job has run)."""
        millesimes = [p.millesime for p in self.people if p.millesime is not None]
        last = max(millesimes, default=max(p.plan.referred_on for p in self.people).year)
        return valid_until(last, self.programme.grace_months) + timedelta(days=1)

    async def run(self) -> RunFigures:
        started = time.perf_counter()
        schedule = self.schedule()
        gate = asyncio.Semaphore(self.concurrency)

        async def one(person: Person, steps: list[Step], day: date) -> None:
            async with gate:
                for step in steps:
                    await self._step(person, step, day)

        for n, (day, todo) in enumerate(schedule.items()):
            await self.advance_to_day(day)
            await asyncio.gather(*(one(p, steps, day) for p, steps in todo))
            if self.progress and n % 20 == 0:
                print(
                    f"  {day.strftime('%d/%m/%Y')}: {self.updates} updates, "
                    f"{time.perf_counter() - started:.0f} s (clock moves "
                    f"{self.skip_seconds:.0f} s), CPU {sum(os.times()[:2]):.0f} s"
                    + (f", {self.rpc_retries} calls sent again" if self.rpc_retries else ""),
                    flush=True,
                )
        drive = time.perf_counter() - started
        skips = self.skip_seconds
        end = self.end_instant()
        await self.advance_to(end)
        tail = time.perf_counter() - started - drive
        days = list(schedule)
        return RunFigures(
            journeys=len(self.people),
            days=len(days),
            updates=self.updates,
            refusals=self.refusals,
            drive_seconds=drive,
            skip_seconds=skips,
            tail_seconds=tail,
            first_day=days[0],
            last_day=paris_day(end),
        )

    async def _step(self, person: Person, step: Step, day: date) -> None:
        if step.kind == "refer":
            await self._refer(person)
            return
        handle = person.handle
        assert handle is not None
        mediation = person.mediation_id
        try:
            if step.kind == "assess":
                await self._update(handle, c.U_ASSESS, _assessment())
            elif step.kind == "booklet":
                assert person.millesime is not None
                status = await self._update(
                    handle, c.U_ISSUE_BOOKLET, c.BookletRequest(REFERRER, person.millesime)
                )
                person.serials = [
                    ch.serial for ch in sorted(status.cheques, key=lambda x: x.number)
                ]
                person.left = len(person.serials)
            elif step.kind == "orient":
                await self._update(handle, c.U_ORIENT, c.OrientRequest(REFERRER, mediation))
            elif step.kind == "answer":
                accepts = person.plan.accepts
                answer = c.OrientationAnswer(
                    _mediator(mediation),
                    mediation,
                    accepts,
                    None if accepts else DeclineReason.NO_CAPACITY,
                )
                await self._update(handle, c.U_ANSWER_ORIENTATION, answer)
            elif step.kind == "session":
                await self._session(person, handle, step.cheques, day)
            else:
                raise ValueError(step.kind)
        except WorkflowUpdateFailedError as err:
            self.refusals[f"{step.kind}:{_refusal_kind(err)}"] += 1

    async def _refer(self, person: Person) -> None:
        journey_input = c.JourneyInput(
            journey_id=person.journey_id,
            programme_code=self.programme_code,
            epci_id=person.epci_id,
            reception_structure_id=person.reception_id,
            referrer=REFERRER,
            policy=self.programme.policy,
            use_search_attributes=False,  # the test server has no visibility
        )
        operation: WithStartWorkflowOperation[Any, c.JourneyStatus] = WithStartWorkflowOperation(
            c.WORKFLOW_NAME,
            journey_input,
            id=c.workflow_id_for(person.journey_id),
            task_queue=self.task_queue,
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        )
        self.updates += 1
        await self._retrying(
            lambda: self.client.execute_update_with_start_workflow(
                c.U_CONFIRM_REFERRAL,
                c.ConfirmReferral(REFERRER),
                start_workflow_operation=operation,
                id=f"referral-{person.journey_id}",
                result_type=c.JourneyStatus,
            )
        )
        person.handle = await operation.workflow_handle()

    async def _update(self, handle: WorkflowHandle[Any, Any], name: str, arg: object) -> Any:
        self.updates += 1
        update_id = str(uuid.uuid4())
        return await self._retrying(
            lambda: handle.execute_update(name, arg, id=update_id, result_type=c.JourneyStatus)
        )

    async def _retrying(self, call: Callable[[], Awaitable[T]]) -> T:
        """`call` again when its RPC broke (the time-skipping server under heavy load has
        answered an update-with-start with an internal error, a NullPointerException in
        its waitForUpdateResponse): each call carries a fixed update id, so a call that
        did reach the workflow is answered with its outcome, never applied twice."""
        for attempt in range(RPC_ATTEMPTS):
            try:
                return await call()
            except (RPCError, WorkflowUpdateRPCTimeoutOrCancelledError):
                if attempt == RPC_ATTEMPTS - 1:
                    raise
                self.rpc_retries += 1
                await asyncio.sleep(2.0 * (attempt + 1))
        raise AssertionError("unreachable")

    async def _session(
        self, person: Person, handle: WorkflowHandle[Any, Any], cheques: int, day: date
    ) -> None:
        """Hand over the next `cheques` of the booklet (no more than it has left)."""
        take = min(cheques, person.left)
        if take <= 0:
            return  # the booklet is used up: the person has nothing to pay with
        spent = len(person.serials) - person.left
        request = c.SessionRequest(
            actor=_mediator(person.mediation_id),
            session_id=str(uuid.uuid4()),
            mediation_structure_id=person.mediation_id,
            day=day,
            duration_minutes=120,
            kind=SessionKind.INDIVIDUAL,
            place=SessionPlace.ON_SITE,
            themes=[Theme.EMAIL],
            equipment=[],
            autonomy_observed=AutonomyLevel.BEGINNER,
            serials=person.serials[spent : spent + take],
        )
        self.updates += 1
        update_id = str(uuid.uuid4())
        await self._retrying(
            lambda: handle.execute_update(
                c.U_LOG_SESSION, request, id=update_id, result_type=c.SessionReceipt
            )
        )
        person.left -= take


def structures_by_epci(sessions: SessionFactory) -> tuple[dict[int, int], dict[int, int]]:
    """Per EPCI id: its first reception structure, and the mediation structure that serves
    it (its own if it has one, else the first serving it)."""
    with sessions() as session:
        reception: dict[int, int] = {}
        for sid, epci in session.execute(
            select(col(ReceptionStructure.id), col(ReceptionStructure.epci_id)).order_by(
                col(ReceptionStructure.id)
            )
        ):
            reception.setdefault(int(epci), int(sid))
        own = {
            int(epci): int(sid)
            for sid, epci in session.execute(
                select(col(MediationStructure.id), col(MediationStructure.epci_id)).order_by(
                    col(MediationStructure.id).desc()
                )
            )
        }
        mediation = dict(own)
        for sid, epci in session.execute(
            select(
                col(MediationStructureEpci.mediation_structure_id),
                col(MediationStructureEpci.epci_id),
            ).order_by(col(MediationStructureEpci.mediation_structure_id))
        ):
            mediation.setdefault(int(epci), int(sid))
    return reception, mediation


# ---- reconciling ----


@dataclass
class Reconciliation:
    months: tuple[tuple[int, int], ...]
    expected: dict[str, list[int]]  # booklets, spent, expired: per month
    actual: dict[str, list[int]]
    funders: list[tuple[int, str, dict[str, int], dict[str, int]]]  # id, name, expected, actual
    mismatches: list[str]
    # Stall flags per month (simulator, records): informative only. The simulator flags
    # a stage idle for more than its deadline; the engine at the deadline, so an action
    # planned on the deadline's very day comes after the flag.
    stalls: tuple[list[int], list[int]]

    @property
    def ok(self) -> bool:
        return not self.mismatches


_LEDGER_KINDS = {"committed": "COMMITTED", "spent": "SPENT", "returned": "EXPIRED"}


def _month_index(months: Sequence[tuple[int, int]]) -> dict[int, int]:
    return {y * 100 + m: i for i, (y, m) in enumerate(months)}


def _per_month(
    rows: Any, index: dict[int, int], width: int, problems: list[str], what: str
) -> list[int]:
    out = [0] * width
    for month, n in rows:
        i = index.get(int(month))
        if i is None:
            if n:
                problems.append(f"{what}: {n} in {month}, a month the simulator has no column for")
            continue
        out[i] += int(n)
    return out


def reconcile_records(
    sessions: SessionFactory, programme: SimProgramme, expected: SimulationResult
) -> Reconciliation:
    """The read model against the simulator's figures for the same plans (exact)."""
    months = expected.months
    index = _month_index(months)
    width = len(months)
    problems: list[str] = []
    pt = expected.per_trial
    exp = {
        "booklets": [int(x) for x in pt["booklets"][0]],
        "spent": [int(x) for x in pt["spent"][0]],
        "expired": [int(x) for x in pt["expired"][0]],
    }
    e = ENTRY.c
    with sessions() as session:
        booklet_months = Counter(
            paris_day(at).year * 100 + paris_day(at).month
            for (at,) in session.execute(
                select(col(Journey.booklet_issued_at)).where(
                    col(Journey.booklet_issued_at).is_not(None)
                )
            )
        )
        act = {
            "booklets": _per_month(booklet_months.items(), index, width, problems, "booklets"),
            # Cheques per month from the ledger: one entry per funder, so distinct serials.
            "spent": _per_month(
                session.execute(
                    select(e.month, func.count(func.distinct(e.serial)))
                    .where(e.kind == "SPENT")
                    .group_by(e.month)
                ),
                index,
                width,
                problems,
                "spent cheques",
            ),
            "expired": _per_month(
                session.execute(
                    select(e.month, func.count(func.distinct(e.serial)))
                    .where(e.kind == "EXPIRED")
                    .group_by(e.month)
                ),
                index,
                width,
                problems,
                "expired cheques",
            ),
        }
        # The cheque rows say the same as the ledger.
        statuses: dict[str, int] = {
            str(k): int(n)
            for k, n in session.execute(
                select(col(Cheque.status), func.count()).group_by(col(Cheque.status))
            )
        }
        redeemed_rows = Counter(
            d.year * 100 + d.month
            for (d,) in session.execute(
                select(col(Cheque.redeemed_on)).where(
                    col(Cheque.status) == ChequeStatus.REDEEMED.value
                )
            )
        )
        if statuses.get(ChequeStatus.ISSUED.value, 0):
            problems.append(
                f"{statuses[ChequeStatus.ISSUED.value]} cheques still ISSUED at the end"
            )
        if statuses.get(ChequeStatus.REDEEMED.value, 0) != sum(act["spent"]):
            problems.append(
                f"cheque rows REDEEMED {statuses.get('REDEEMED', 0)} != ledger SPENT {sum(act['spent'])}"
            )
        if statuses.get(ChequeStatus.EXPIRED.value, 0) != sum(act["expired"]):
            problems.append(
                f"cheque rows EXPIRED {statuses.get('EXPIRED', 0)} != ledger EXPIRED {sum(act['expired'])}"
            )
        if (
            _per_month(redeemed_rows.items(), index, width, problems, "redeemed rows")
            != act["spent"]
        ):
            problems.append("cheque rows' redemption months differ from the ledger's SPENT months")
        # Funder ledger, per funder, kind and month, to the cent.
        ledger: dict[tuple[int, str, int], int] = {
            (int(f), str(k), int(m)): int(a)
            for f, k, m, a in session.execute(
                select(e.funder_id, e.kind, e.month, func.sum(e.amount_cents)).group_by(
                    e.funder_id, e.kind, e.month
                )
            )
        }
        mc = MONTH.c
        monthly: dict[tuple[int, str, int], int] = {}
        for f, k, m, a in session.execute(
            select(mc.funder_id, mc.kind, mc.month, func.sum(mc.amount_cents)).group_by(
                mc.funder_id, mc.kind, mc.month
            )
        ):
            if int(a):
                monthly[(int(f), str(k), int(m))] = int(a)
        if monthly != {k: v for k, v in ledger.items() if v}:
            problems.append("ledger_month sums differ from the ledger entries")
        for kind in {k for _, k, _ in ledger} - set(_LEDGER_KINDS.values()):
            problems.append(f"unexpected ledger entries of kind {kind}")
        funders = []
        for i, f in enumerate(programme.funders):
            want: dict[str, int] = {}
            got: dict[str, int] = {}
            for name, kind in _LEDGER_KINDS.items():
                per_month = pt[f"{name}_cents"][0, i]
                want[name] = int(per_month.sum())
                got[name] = sum(a for (fid, k, _), a in ledger.items() if fid == f.id and k == kind)
                for j, (y, m) in enumerate(months):
                    have = ledger.get((f.id, kind, y * 100 + m), 0)
                    if have != int(per_month[j]):
                        problems.append(
                            f"funder {f.id} {kind} {m:02d}/{y}: ledger {have} != simulator {int(per_month[j])} cents"
                        )
            funders.append((f.id, f.name, want, got))
        problems.extend(_overview_problems(session))
        # Stall flags (orientation expiries included), compared but not reconciled: see
        # `Reconciliation.stalls`.
        stall_months = Counter(
            paris_day(at).year * 100 + paris_day(at).month
            for (at,) in session.execute(
                select(col(TransitionLog.at)).where(
                    col(TransitionLog.action).in_(
                        [Action.STALLED.value, Action.ORIENTATION_EXPIRED.value]
                    )
                )
            )
        )
        ignored: list[str] = []
        stalls = (
            [int(x) for x in pt["stalled"][0]],
            _per_month(stall_months.items(), index, width, ignored, "stall flags"),
        )
    for name in exp:
        if exp[name] != act[name]:
            problems.append(f"{name} per month: records {act[name]} != simulator {exp[name]}")
    return Reconciliation(months, exp, act, funders, problems, stalls)


def _overview_problems(session: Session) -> list[str]:
    """The overview's counter tables against their recount from the journey rows."""
    out: list[str] = []
    for level in overview_counts.LEVELS:
        for table, width, query in (
            (level.counts, len(level.count_key), overview_counts.recount_query(level)),
            (
                level.first_sessions,
                len(level.first_session_key),
                overview_counts.first_session_recount_query(level),
            ),
        ):
            kept = {
                tuple(r[:width]): tuple(r[width:])
                for r in session.execute(select(table))
                if any(r[width:])
            }
            recount = {tuple(r[:width]): tuple(r[width:]) for r in session.execute(query)}
            if kept != recount:
                out.append(f"overview counters {table.name} differ from their recount")
    return out


async def reconcile_workflows(
    run: RealRun, *, sample: int | None = None, concurrency: int = 16
) -> list[str]:
    """Each workflow's final status (queried) against its journey and cheque rows."""
    people = run.people if sample is None else run.people[:: max(1, len(run.people) // sample)]
    gate = asyncio.Semaphore(concurrency)
    problems: list[str] = []

    async def one(person: Person) -> None:
        assert person.handle is not None
        async with gate:
            status: c.JourneyStatus = await person.handle.query(
                c.Q_STATUS, result_type=c.JourneyStatus
            )
        with run.sessions() as session:
            row = session.get(Journey, person.journey_id)
            cheques = {
                str(serial): str(cheque_status)
                for serial, cheque_status in session.execute(
                    select(col(Cheque.serial), col(Cheque.status)).where(
                        col(Cheque.journey_id) == person.journey_id
                    )
                )
            }
        who = f"journey {person.index}"
        if row is None:
            problems.append(f"{who}: no journey row")
            return
        outcome = status.outcome.value if status.outcome else None
        for name, have, want in (
            ("seq", row.last_seq, status.seq),
            ("stage", row.stage, status.stage.value),
            ("outcome", row.outcome, outcome),
            ("stalled", row.stalled, status.stalled),
            ("cheques_total", row.cheques_total, len(status.cheques)),
            (
                "cheques_redeemed",
                row.cheques_redeemed,
                sum(ch.status == ChequeStatus.REDEEMED for ch in status.cheques),
            ),
            ("millesime", row.millesime, status.millesime),
        ):
            if have != want:
                problems.append(f"{who}: {name} read model {have!r} != workflow {want!r}")
        wanted = {ch.serial: ch.status.value for ch in status.cheques}
        if cheques != wanted:
            problems.append(f"{who}: cheque rows differ from the workflow's cheques")
        if person.millesime != status.millesime:
            problems.append(f"{who}: millésime {status.millesime} != planned {person.millesime}")

    await asyncio.gather(*(one(p) for p in people))
    return problems


# ---- figures: events and memory ----


async def history_events(run: RealRun, sample: int) -> tuple[int, float, Counter[str]]:
    """(journeys sampled, mean history events per journey, event types summed)."""
    people = [p for p in run.people if p.handle is not None]
    picked = people[:: max(1, len(people) // sample)][:sample] if sample else []
    kinds: Counter[str] = Counter()
    total = 0
    for person in picked:
        assert person.handle is not None
        history = await person.handle.fetch_history()
        total += len(history.events)
        for event in history.events:
            kinds[event.WhichOneof("attributes") or "?"] += 1
    return len(picked), (total / len(picked) if picked else 0.0), kinds


def _rss_kib(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def _children(pid: int) -> list[int]:
    out: list[int] = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        if ppid == pid:
            out.append(int(entry.name))
    return out


class PeakMemory:
    """Peak resident memory of this process (getrusage) and of its child processes (the
    test server), sampled every `interval` seconds from /proc."""

    def __init__(self, interval: float = 0.5) -> None:
        self.interval = interval
        self.children: dict[int, tuple[str, int]] = {}  # pid -> (command, peak KiB)
        self.cpu: dict[int, float] = {}  # pid -> CPU seconds (user + system), last seen
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)

    def __enter__(self) -> PeakMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _watch(self) -> None:
        me = os.getpid()
        while not self._stop.wait(self.interval):
            for pid in _children(me):
                rss = _rss_kib(pid)
                name, peak = self.children.get(pid, ("", 0))
                if not name:
                    try:
                        name = Path(f"/proc/{pid}/comm").read_text().strip()
                    except OSError:
                        name = "?"
                self.children[pid] = (name, max(peak, rss))
                try:
                    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
                    ticks = os.sysconf("SC_CLK_TCK")
                    self.cpu[pid] = (int(fields[11]) + int(fields[12])) / ticks
                except (OSError, IndexError, ValueError):
                    pass

    @staticmethod
    def own_peak_kib() -> int:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


# ---- one whole run ----


def assumptions_for(journeys: int, start: date, **changes: Any) -> Assumptions:
    """The default take-up assumptions, `journeys` people referred over the campaign from
    `start`."""
    return Assumptions(campaign_start=start, referrals_total=journeys, **changes)


def prepare(
    start: date, journeys: int, seed: int, **changes: Any
) -> tuple[ProgrammeFile, SimProgramme, list[PersonPlan]]:
    """The reference data (programme starting on `start`), the simulator's programme of it
    and the drawn plans."""
    data = programme_data(start)
    programme = programme_from_seed(data)
    programme = replace(programme, period=ProgrammePeriod(start, None))
    plans = draw_plans(assumptions_for(journeys, start, **changes), programme, seed)
    return data, programme, plans


@dataclass
class WholeResult:
    figures: RunFigures
    expected: SimulationResult
    records: Reconciliation
    workflow_problems: list[str]
    workflows_checked: int
    events_sampled: int
    events_per_journey: float
    event_kinds: Counter[str]
    booklets: int
    cheques_issued: int
    reconcile_seconds: float

    @property
    def problems(self) -> list[str]:
        return [*self.records.mismatches, *self.workflow_problems]


@dataclass
class Played:
    """What a run (or a shard of it) did, and its workflows checked against the records."""

    figures: RunFigures
    workflow_problems: list[str]
    workflows_checked: int
    events_sampled: int
    events_per_journey: float
    event_kinds: Counter[str]
    check_seconds: float


async def play(
    env: WorkflowEnvironment,
    sessions: SessionFactory,
    data: ProgrammeFile,
    programme: SimProgramme,
    plans: Sequence[PersonPlan],
    *,
    seed: int,
    sqlite: bool,
    shard: tuple[int, int] = (0, 1),
    concurrency: int = 32,
    max_cached_workflows: int | None = None,
    events_sample: int = 50,
    check_sample: int | None = None,
    progress: bool = False,
) -> Played:
    """Play the plans (of `shard`) through a worker on `env`, on the seeded records; then
    check each workflow's final status against its rows and sample the histories."""
    from concurrent.futures import ThreadPoolExecutor

    from activities.journey_records import JourneyActivities
    from worker import ACTIVITY_THREADS, MAX_CACHED_WORKFLOWS, build_worker

    task_queue = f"whole-{uuid.uuid4()}"
    activities = JourneyActivities(sessions, serialise_writes=sqlite)
    with ThreadPoolExecutor(max_workers=ACTIVITY_THREADS) as executor:
        worker = build_worker(
            env.client,
            task_queue,
            activities,
            executor,
            max_cached_workflows=max_cached_workflows or MAX_CACHED_WORKFLOWS,
        )
        async with worker:
            run = RealRun(
                env,
                task_queue,
                sessions,
                programme,
                plans,
                programme_code=data.programme.code,
                concurrency=concurrency,
                seed=seed,
                progress=progress,
                shard=shard,
            )
            figures = await run.run()
            began = time.perf_counter()
            workflow_problems = await reconcile_workflows(run, sample=check_sample)
            checked = (
                len(run.people) if check_sample is None else min(check_sample, len(run.people))
            )
            sampled, per_journey, kinds = await history_events(run, events_sample)
    return Played(
        figures,
        workflow_problems,
        checked,
        sampled,
        per_journey,
        kinds,
        time.perf_counter() - began,
    )


def seed_records(sessions: SessionFactory, data: ProgrammeFile) -> None:
    from records.seed import seed_programme

    with sessions() as session:
        seed_programme(session, data)
        session.commit()


def reconcile(
    sessions: SessionFactory,
    programme: SimProgramme,
    plans: Sequence[PersonPlan],
    played: Played,
    *,
    figures: RunFigures | None = None,
) -> WholeResult:
    """The records against the simulator for all the plans (after every shard ran)."""
    began = time.perf_counter()
    expected = simulate_plans(programme, plans)
    records = reconcile_records(sessions, programme, expected)
    with sessions() as session:
        booklets = int(
            session.execute(
                select(func.count()).where(Journey.booklet_number.is_not(None))  # type: ignore[union-attr]
            ).scalar_one()
        )
        cheques = int(session.execute(select(func.count()).select_from(Cheque)).scalar_one())
    return WholeResult(
        figures=figures or played.figures,
        expected=expected,
        records=records,
        workflow_problems=played.workflow_problems,
        workflows_checked=played.workflows_checked,
        events_sampled=played.events_sampled,
        events_per_journey=played.events_per_journey,
        event_kinds=played.event_kinds,
        booklets=booklets,
        cheques_issued=cheques,
        reconcile_seconds=played.check_seconds + time.perf_counter() - began,
    )


async def run_whole(
    env: WorkflowEnvironment,
    db_url: str,
    *,
    journeys: int,
    seed: int = 1,
    campaign_month: int = 1,
    concurrency: int = 32,
    max_cached_workflows: int | None = None,
    events_sample: int = 50,
    check_sample: int | None = None,
    progress: bool = False,
    **assumptions: Any,
) -> WholeResult:
    """Seed the programme into the (migrated, empty) database at `db_url`, draw the plans
    of `journeys` people referred from the first 1st of `campaign_month` after the
    server's clock, play them through a worker on `env`, reconcile."""
    from records.db import is_sqlite, make_engine, session_factory

    start = first_of_month_after(await env.get_current_time(), campaign_month)
    data, programme, plans = prepare(start, journeys, seed, **assumptions)
    engine = make_engine(db_url)
    try:
        sessions = session_factory(engine)
        seed_records(sessions, data)
        played = await play(
            env,
            sessions,
            data,
            programme,
            plans,
            seed=seed,
            sqlite=is_sqlite(db_url),
            concurrency=concurrency,
            max_cached_workflows=max_cached_workflows,
            events_sample=events_sample,
            check_sample=check_sample,
            progress=progress,
        )
        return reconcile(sessions, programme, plans, played)
    finally:
        engine.dispose()


__all__ = [
    "PeakMemory",
    "RealRun",
    "Reconciliation",
    "RunFigures",
    "booklet_millesime",
    "first_of_month_after",
    "history_events",
    "plan_steps",
    "prepare",
    "reconcile_records",
    "reconcile_workflows",
    "run_whole",
]
