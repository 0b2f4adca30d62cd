"""The journey workflow: one durable run per beneficiary, the single authority over its state.

Human decisions arrive as Updates whose validators refuse bad input before anything
reaches history; the calendar (stall reminders, orientation expiry, cheque expiry,
retention) is a loop of "timer or state change, first wins". Every change bumps
`status.seq` and is persisted by a record activity carrying the log entry, the whole
status after it and the notices to send; a step that makes several changes at once (the
last session closing the journey, calendar jobs falling due together) records them with
one `record_journey_events` call.

The rules are pure code in domain/: what each request may do (`journey_rules`, whose
`Refused` becomes the update's failure in `_failure`) and what each step does to the status
(`journey_steps`, returning the `Change` to record). This class only orchestrates: the
lock, the calendar's timers, the activities and the patches.

A journey records some 30 to 60 events over its life (each a handful of history
events), far below Temporal's history limits: no continue-as-new is needed.
Running journeys last more than a year: any change of behaviour here must be patched
(`workflow.patched`) and tests/test_replay.py replays the recorded histories.
"""

from __future__ import annotations

import asyncio
import copy
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy, SearchAttributeKey, SearchAttributeUpdate
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from domain import journey_rules as rules
    from domain import journey_steps as steps
    from domain.contracts import (
        ACTIVITY_ALLOCATE_BOOKLET,
        ACTIVITY_ANONYMISE,
        ACTIVITY_RECORD_EVENT,
        ACTIVITY_RECORD_EVENTS,
        SA_EPCI,
        SA_MEDIATION,
        SA_STAGE,
        SA_STALLED,
        SYSTEM,
        U_ANSWER_ORIENTATION,
        U_ASSESS,
        U_CONFIRM_REFERRAL,
        U_DECLARE_BOOKLET_LOST,
        U_ERASE_ON_REQUEST,
        U_ISSUE_BOOKLET,
        U_LOCK_BOOKLET,
        U_LOG_SESSION,
        U_NUDGE,
        U_ORIENT,
        U_REORIENT,
        U_UNLOCK_BOOKLET,
        U_WITHDRAW,
        WORKFLOW_NAME,
        Actor,
        AnonymiseRequest,
        AssessmentRequest,
        BookletAllocation,
        BookletRequest,
        ConfirmReferral,
        DeclareBookletLostRequest,
        EraseRequest,
        JourneyEvent,
        JourneyInput,
        JourneyStatus,
        LockBookletRequest,
        Notice,
        NudgeRequest,
        OrientationAnswer,
        OrientRequest,
        SessionReceipt,
        SessionRequest,
        SessionState,
        UnlockBookletRequest,
        WithdrawRequest,
    )
    from domain.deadlines import Due, Job, next_due, pending_jobs
    from domain.journey_steps import Change
    from domain.mail import ACTIVITY_DELIVER_NOTICES, DeliverNotices
    from domain.notices import Recipient, notice_key
    from domain.refusals import RefusalKind, Refused, accept
    from domain.serials import parse_serial
    from domain.stages import Action, ChequeStatus, Outcome, Stage

# Behaviour changes since the first recorded journeys (tests/histories/*.json). Each id
# guards its change with `workflow.patched`: journeys whose history predates it replay
# the old commands. See tests/test_replay.py.
# The events of one step (the closing session's, calendar jobs due together) in one
# `record_journey_events` call instead of one `record_journey_event` call each.
PATCH_RECORD_TOGETHER = "record-events-together"
# Upsert only the search attributes whose value changed, not all four on every event.
PATCH_CHANGED_SEARCH_ATTRIBUTES = "upsert-changed-search-attributes"
# Send each recorded event's notices (`deliver_notices`, in the background: a slow or
# unreachable SMTP server never holds up the journey); wait for them before completing.
PATCH_DELIVER_NOTICES = "deliver-notices"
# A session logged by another structure than the one training the person (or awaiting
# their answer) is the person's change of structure: the previous structure is told.
PATCH_NOTIFY_STRUCTURE_CHANGE = "notify-structure-change"
# A booklet declared lost is replaced (U_DECLARE_BOOKLET_LOST: cancel its unspent cheques,
# allocate and record the replacement). No history before it runs the update; the marker
# sets apart the journeys that did, for any later change of this path.
PATCH_LOST_BOOKLET = "lost-booklet"
# The person's data erased on request (U_ERASE_ON_REQUEST: close if open, then anonymise at
# once instead of after the retention period). A new Update, guarded like the lost booklet.
PATCH_ERASE_ON_REQUEST = "erase-on-request"
# Notices sent by the worker's outbox dispatcher, told by the record activity once the
# event is recorded (notifications.outbox_dispatch), instead of a delivery activity per
# event: no activity task, no workflow task for its completion, nothing to wait for.
PATCH_DELIVER_FROM_OUTBOX = "deliver-from-outbox"
_DELIVERY_TIMEOUT = timedelta(seconds=60)  # below notifications' delivery lease (90 s)

# Records and notices must eventually land: retry forever, backing off to a minute.
_RETRY_FOREVER = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    maximum_interval=timedelta(minutes=1),
    maximum_attempts=0,
)
_ACTIVITY_TIMEOUT = timedelta(seconds=30)

_SA_STAGE = SearchAttributeKey.for_keyword(SA_STAGE)
_SA_STALLED = SearchAttributeKey.for_bool(SA_STALLED)
_SA_EPCI = SearchAttributeKey.for_keyword(SA_EPCI)
_SA_MEDIATION = SearchAttributeKey.for_keyword(SA_MEDIATION)


def _failure(refused: Refused, *, conflict: bool = False) -> ApplicationError:
    """The update's failure for a domain refusal (the one place they are converted): its
    kind as the error type, its details carried along. `conflict`: refused when re-checked
    in the handler, another update having changed the journey since validation (cheques
    refused keep their kind and verdicts)."""
    if conflict and refused.kind != RefusalKind.CHEQUES_REFUSED:
        return ApplicationError(
            refused.message, type=RefusalKind.CONFLICT.value, non_retryable=True
        )
    return ApplicationError(
        refused.message, *refused.details, type=refused.kind.value, non_retryable=True
    )


@workflow.defn(name=WORKFLOW_NAME)
class JourneyWorkflow:
    @workflow.init
    def __init__(self, input: JourneyInput) -> None:
        self._input = input
        self._policy = input.policy
        now = workflow.now()
        self._status = JourneyStatus(
            journey_id=input.journey_id,
            programme_code=input.programme_code,
            epci_id=input.epci_id,
            reception_structure_id=input.reception_structure_id,
            referrer=input.referrer,
            stage=Stage.REFERRED,
            stage_dates={Stage.REFERRED: now},
            last_activity_at=now,
        )
        self._lock = asyncio.Lock()
        self._recorded_seq = 0  # last seq whose record activity completed
        self._changes = 0  # bumped on every state change: wakes the calendar loop
        self._deliveries = 0  # notice deliveries started and not finished
        self._batch: list[JourneyEvent] | None = None  # events held for one record call

    # ---- run: referral, then the calendar until anonymisation ----

    @workflow.run
    async def run(self, input: JourneyInput) -> JourneyStatus:
        async with self._lock:
            await self._record(input.referrer, steps.referral())
        while self._status.stage != Stage.ANONYMISED:
            due = next_due(self._status, self._policy)
            changed = self._changed_since(self._changes)
            if due is None:
                await workflow.wait_condition(changed)
                continue
            delay = due.at - workflow.now()
            if delay > timedelta(0):
                try:
                    await workflow.wait_condition(changed, timeout=delay, timeout_summary=due.job)
                    continue  # state changed: recompute the calendar
                except TimeoutError:
                    pass
            async with self._lock:
                await self._run_due_jobs()
        await workflow.wait_condition(workflow.all_handlers_finished)
        await workflow.wait_condition(lambda: self._deliveries == 0)
        return copy.deepcopy(self._status)

    @workflow.query(name="status")
    def status(self) -> JourneyStatus:
        return self._status

    # ---- updates: check (validator, then again in turn), step, record ----

    @workflow.update(name=U_CONFIRM_REFERRAL)
    async def confirm_referral(self, req: ConfirmReferral) -> JourneyStatus:
        """Answer of the API's update-with-start: the journey once its referral is recorded."""
        await workflow.wait_condition(lambda: self._recorded_seq >= 1)
        return copy.deepcopy(self._status)

    @workflow.update(name=U_ASSESS)
    async def assess(self, req: AssessmentRequest) -> JourneyStatus:
        async with self._turn(rules.check_assess, req):
            await self._record(req.actor, self._step(steps.assess, req, self._now()))
        return copy.deepcopy(self._status)

    @assess.validator
    def _validate_assess(self, req: AssessmentRequest) -> None:
        self._check(rules.check_assess, req)

    @workflow.update(name=U_ISSUE_BOOKLET)
    async def issue_booklet(self, req: BookletRequest) -> JourneyStatus:
        async with self._turn(rules.check_booklet, req):
            s = self._status
            number = await workflow.execute_activity(
                ACTIVITY_ALLOCATE_BOOKLET,
                BookletAllocation(s.journey_id, s.programme_code, req.millesime),
                result_type=int,
                start_to_close_timeout=_ACTIVITY_TIMEOUT,
                retry_policy=_RETRY_FOREVER,
            )
            change = self._step(steps.issue_booklet, self._policy, req, number, self._now())
            await self._record(req.actor, change)
        return copy.deepcopy(self._status)

    @issue_booklet.validator
    def _validate_issue_booklet(self, req: BookletRequest) -> None:
        self._check(rules.check_booklet, req)

    @workflow.update(name=U_ORIENT)
    async def orient(self, req: OrientRequest) -> JourneyStatus:
        async with self._turn(rules.check_orient, req):
            await self._open_orientation(req, Action.ORIENTED)
        return copy.deepcopy(self._status)

    @orient.validator
    def _validate_orient(self, req: OrientRequest) -> None:
        self._check(rules.check_orient, req)

    @workflow.update(name=U_ANSWER_ORIENTATION)
    async def answer_orientation(self, req: OrientationAnswer) -> JourneyStatus:
        async with self._turn(rules.check_answer, req):
            change = self._step(steps.answer_orientation, req, self._now())
            await self._record(req.actor, change)
        return copy.deepcopy(self._status)

    @answer_orientation.validator
    def _validate_answer_orientation(self, req: OrientationAnswer) -> None:
        self._check(rules.check_answer, req)

    @workflow.update(name=U_LOG_SESSION)
    async def log_session(self, req: SessionRequest) -> SessionReceipt:
        async with self._turn(rules.check_session, req):
            known = rules.find_session(self._status, req.session_id)
            if known is not None:  # same session sent again under another update id
                return self._receipt(known)
            s = self._status
            digits = [parse_serial(text).digits for text in req.serials]  # all checked
            session, change, left = self._step(steps.log_session, req, digits, self._now())
            if left is not None and workflow.patched(PATCH_NOTIFY_STRUCTURE_CHANGE):
                steps.tell_structure_change(change, left)
            async with self._together(several=s.cheques_left == 0):
                await self._record(req.actor, change)
                if s.cheques_left == 0:
                    closed = self._step(
                        steps.close, Outcome.COMPLETED, ChequeStatus.CANCELLED, self._now()
                    )
                    await self._record(SYSTEM, closed)
            return self._receipt(session)

    @log_session.validator
    def _validate_log_session(self, req: SessionRequest) -> None:
        self._check(rules.check_session, req)

    @workflow.update(name=U_WITHDRAW)
    async def withdraw(self, req: WithdrawRequest) -> JourneyStatus:
        async with self._turn(rules.check_withdraw, req):
            await self._record(req.actor, self._step(steps.withdraw, req, self._now()))
        return copy.deepcopy(self._status)

    @withdraw.validator
    def _validate_withdraw(self, req: WithdrawRequest) -> None:
        self._check(rules.check_withdraw, req)

    @workflow.update(name=U_NUDGE)
    async def nudge(self, req: NudgeRequest) -> JourneyStatus:
        async with self._turn(rules.check_nudge, req):
            await self._record(req.actor, steps.nudge(self._status, req))
        return copy.deepcopy(self._status)

    @nudge.validator
    def _validate_nudge(self, req: NudgeRequest) -> None:
        self._check(rules.check_nudge, req)

    @workflow.update(name=U_REORIENT)
    async def reorient(self, req: OrientRequest) -> JourneyStatus:
        async with self._turn(rules.check_reorient, req):
            await self._open_orientation(req, Action.REORIENTED)
        return copy.deepcopy(self._status)

    @reorient.validator
    def _validate_reorient(self, req: OrientRequest) -> None:
        self._check(rules.check_reorient, req)

    @workflow.update(name=U_LOCK_BOOKLET)
    async def lock_booklet(self, req: LockBookletRequest) -> JourneyStatus:
        async with self._turn(rules.check_lock, req):
            change = steps.lock_booklet(self._status, req, self._now())
            if change is not None:  # None: a concurrent request locked it
                await self._record(req.actor, change)
        return copy.deepcopy(self._status)

    @lock_booklet.validator
    def _validate_lock_booklet(self, req: LockBookletRequest) -> None:
        self._check(rules.check_lock, req)

    @workflow.update(name=U_UNLOCK_BOOKLET)
    async def unlock_booklet(self, req: UnlockBookletRequest) -> JourneyStatus:
        async with self._turn(rules.check_unlock, req):
            await self._record(req.actor, steps.unlock_booklet(self._status))
        return copy.deepcopy(self._status)

    @unlock_booklet.validator
    def _validate_unlock_booklet(self, req: UnlockBookletRequest) -> None:
        self._check(rules.check_unlock, req)

    @workflow.update(name=U_DECLARE_BOOKLET_LOST)
    async def declare_booklet_lost(self, req: DeclareBookletLostRequest) -> JourneyStatus:
        async with self._turn(rules.check_declare_lost, req):
            if not workflow.patched(PATCH_LOST_BOOKLET):  # unreachable: see the patch
                raise _failure(Refused(RefusalKind.CONFLICT, "Remplacement indisponible."))
            s = self._status
            assert s.millesime is not None  # checked: a booklet was issued
            number = await workflow.execute_activity(
                ACTIVITY_ALLOCATE_BOOKLET,
                BookletAllocation(
                    s.journey_id,
                    s.programme_code,
                    s.millesime,
                    sequence=len(s.lost_booklets) + 2,
                    replaces=s.booklet_number,
                ),
                result_type=int,
                start_to_close_timeout=_ACTIVITY_TIMEOUT,
                retry_policy=_RETRY_FOREVER,
            )
            change = self._step(steps.declare_booklet_lost, req, number, self._now())
            await self._record(req.actor, change)
        return copy.deepcopy(self._status)

    @declare_booklet_lost.validator
    def _validate_declare_booklet_lost(self, req: DeclareBookletLostRequest) -> None:
        self._check(rules.check_declare_lost, req)

    @workflow.update(name=U_ERASE_ON_REQUEST)
    async def erase_on_request(self, req: EraseRequest) -> JourneyStatus:
        async with self._turn(rules.check_erase, req):
            if not workflow.patched(PATCH_ERASE_ON_REQUEST):  # unreachable: see the patch
                raise _failure(Refused(RefusalKind.CONFLICT, "Effacement indisponible."))
            await self._record(req.actor, self._step(steps.erase_on_request, req, self._now()))
            await self._anonymise({"on_request": "true"})
        return copy.deepcopy(self._status)

    @erase_on_request.validator
    def _validate_erase_on_request(self, req: EraseRequest) -> None:
        self._check(rules.check_erase, req)

    # ---- checks and steps (domain/journey_rules.py, domain/journey_steps.py) ----

    @asynccontextmanager
    async def _turn(self, check: rules.Check, req: Any) -> AsyncIterator[None]:
        """Run a handler alone, once the referral is recorded, re-checking its preconditions:
        another update may have changed the journey since this one was validated."""
        await workflow.wait_condition(lambda: self._recorded_seq >= 1)
        async with self._lock:
            try:
                check(self._status, self._policy, req, self._now())
            except Refused as refused:
                raise _failure(refused, conflict=True) from None
            yield

    def _check(self, check: rules.Check, req: Any) -> None:
        """A validator: the domain check, its refusal rejecting the update."""
        try:
            check(self._status, self._policy, req, self._now())
        except Refused as refused:
            raise _failure(refused) from None

    def _step(self, step: Callable[..., Any], *args: Any) -> Any:
        """Apply a domain step to the status; a refusal (the checks make it unreachable)
        fails the update."""
        try:
            return step(self._status, *args)
        except Refused as refused:
            raise _failure(refused) from None

    async def _open_orientation(self, req: OrientRequest, action: Action) -> None:
        orientation_id = str(workflow.uuid4())
        change = self._step(steps.orient, req, action, orientation_id, self._now())
        await self._record(req.actor, change)

    # ---- the calendar (called with the lock held) ----

    async def _run_due_jobs(self) -> None:
        now = self._now()
        due_now = [d for d in pending_jobs(self._status, self._policy) if d.at <= now]
        async with self._together(several=len(due_now) > 1):
            # Each job changes the state so that it is no longer due; the bound is a safety net.
            for _ in range(16):
                due = next_due(self._status, self._policy)
                if due is None or due.at > self._now():
                    return
                await self._run_job(due)

    async def _run_job(self, due: Due) -> None:
        if due.job != Job.ANONYMISATION:
            change = self._step(steps.run_job, self._policy, due, self._now())
            await self._record(SYSTEM, change)
            return
        await self._anonymise({"days": str(due.days)})

    async def _anonymise(self, detail: dict[str, str]) -> None:
        """Erase the person (records and mail) and record the journey ANONYMISED: the
        retention period's end, or the person's request."""
        await self._flush()  # events held before it are recorded before the erasure
        await workflow.execute_activity(
            ACTIVITY_ANONYMISE,
            AnonymiseRequest(self._status.journey_id, self._now()),
            start_to_close_timeout=_ACTIVITY_TIMEOUT,
            retry_policy=_RETRY_FOREVER,
        )
        self._step(steps.move, Stage.ANONYMISED, self._now())
        await self._record(SYSTEM, Change(Action.ANONYMISED, Stage.CLOSED, detail=detail))

    # ---- recording ----

    def _now(self) -> datetime:
        return workflow.now()

    def _changed_since(self, seen: int) -> Callable[[], bool]:
        return lambda: self._changes != seen

    def _receipt(self, session: SessionState) -> SessionReceipt:
        return SessionReceipt(
            session_id=session.session_id,
            verdicts=[accept(serial) for serial in session.serials],
            status=copy.deepcopy(self._status),
        )

    async def _record(self, actor: Actor, change: Change) -> None:
        """Persist the change just made: one activity call, keyed by the new seq.

        Notices to MEDIATION_STRUCTURE go to `change.structure`, by default the one asked
        to act (pending orientation, else the one training the person); skipped when there
        is none.
        """
        s = self._status
        s.seq += 1
        self._changes += 1
        target = change.structure or rules.acting_structure(s)
        built: list[Notice] = []
        for kind, recipient in change.notices:
            extra = dict(change.notice_detail or {})
            if recipient == Recipient.MEDIATION_STRUCTURE:
                if target is None:
                    continue
                extra["mediation_structure_id"] = str(target)
            built.append(
                Notice(kind, recipient, notice_key(s.journey_id, s.seq, kind, recipient), extra)
            )
        event = JourneyEvent(
            journey_id=s.journey_id,
            seq=s.seq,
            at=self._now(),
            actor=actor,
            action=change.action,
            from_stage=change.from_stage,
            to_stage=s.stage,
            status=copy.deepcopy(s),
            reason=change.reason,
            detail=dict(change.detail),
            notices=built,
            text_id=change.text_id,
        )
        if self._input.use_search_attributes:
            self._upsert_search_attributes()
        if self._batch is not None:
            self._batch.append(event)  # recorded with the step's other events
            return
        await workflow.execute_activity(
            ACTIVITY_RECORD_EVENT,
            event,
            start_to_close_timeout=_ACTIVITY_TIMEOUT,
            retry_policy=_RETRY_FOREVER,
        )
        self._recorded_seq = s.seq
        self._deliver([event])

    @asynccontextmanager
    async def _together(self, *, several: bool) -> AsyncIterator[None]:
        """Hold the `_record`s of a step that makes `several` changes and record them with one
        activity call at its end: one round trip instead of one per event."""
        if not several or not workflow.patched(PATCH_RECORD_TOGETHER):
            yield
            return
        self._batch = []
        try:
            yield
        finally:
            await self._flush()
            self._batch = None

    async def _flush(self) -> None:
        """Record the held events: one activity, one transaction, in seq order."""
        batch = self._batch
        if not batch:
            return
        self._batch = []
        await workflow.execute_activity(
            ACTIVITY_RECORD_EVENTS,
            batch,
            start_to_close_timeout=_ACTIVITY_TIMEOUT,
            retry_policy=_RETRY_FOREVER,
        )
        self._recorded_seq = batch[-1].seq
        self._deliver(batch)

    def _deliver(self, events: Sequence[JourneyEvent]) -> None:
        """Start sending the notices of events just recorded (patched: histories recorded
        before it replay without these activities), unless the outbox dispatcher does."""
        for event in events:
            if not event.notices or workflow.patched(PATCH_DELIVER_FROM_OUTBOX):
                continue
            if not workflow.patched(PATCH_DELIVER_NOTICES):
                continue
            self._deliveries += 1
            handle = workflow.start_activity(
                ACTIVITY_DELIVER_NOTICES,
                DeliverNotices(event.journey_id, event.seq),
                start_to_close_timeout=_DELIVERY_TIMEOUT,
                retry_policy=_RETRY_FOREVER,
            )
            handle.add_done_callback(self._delivered)

    def _delivered(self, handle: asyncio.Future[object]) -> None:
        self._deliveries -= 1
        if not handle.cancelled():
            handle.exception()  # retried forever: only a cancellation ends it otherwise

    def _upsert_search_attributes(self) -> None:
        s = self._status
        updates: list[SearchAttributeUpdate[Any]] = [
            _SA_STAGE.value_set(s.stage.value),
            _SA_STALLED.value_set(s.stalled),
            _SA_EPCI.value_set(str(s.epci_id)),
            _SA_MEDIATION.value_set(
                str(s.mediation_structure_id) if s.mediation_structure_id else ""
            ),
        ]
        if workflow.patched(PATCH_CHANGED_SEARCH_ATTRIBUTES):
            # The SDK keeps info's attributes in step with each upsert, on replay too.
            current = workflow.info().typed_search_attributes
            updates = [u for u in updates if current.get(u.key) != u.value]
            if not updates:
                return
        workflow.upsert_search_attributes(updates)
