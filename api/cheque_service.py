"""Cheques at the counter: what a serial alone tells, what serial + code proves, and the
session paid with them.

- A serial alone (`lookup`) tells anyone signed in only the cheque's verdict (usable,
  spent, expired, cancelled, locked, unknown); the journey behind it only to those who may
  see that journey.
- Serial + security code (`verify`, and every cheque of a session) proves the person's
  paper is there. Codes are checked here, against the records (sealed, see
  records.cheque_codes): they never reach the workflow, whose validator decides the rest
  (domain.redemption). A wrong code is counted per journey (distinct wrong codes, until a
  session succeeds or a coordinator unlocks); at `cheque_code_max_failures` the booklet is
  locked through the workflow, which tells the coordinators and the referrer.
- A mediator outside the journey's scope may log a session only with cheques of it whose
  codes are right: the person chose another qualified place (recorded by the workflow as
  a change of structure, never silently).

Every check is a read, except when a wrong code must be counted.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

from sqlalchemy import func
from sqlmodel import Session, col, select

from api import access
from api import programme_reads as reads
from api.access import Change
from api.auth import User
from api.deps import AppState
from api.errors import ApiError, from_temporal
from domain import clock
from domain import contracts as c
from domain.labels import Labelled, labels
from domain.redemption import check_cheques, refusal_summary
from domain.refusals import (
    MSG_SESSION_KEY_REUSED,
    ChequeRefusal,
    ChequeVerdict,
    accept,
    msg_booklet_locked,
    msg_cheque_code,
    msg_code_wrong,
    msg_code_wrong_locked,
    msg_declared_lost,
    msg_not_qualified,
    msg_other_beneficiary,
    msg_other_programme,
    msg_unknown,
    refuse,
)
from domain.security_codes import ChequeLine, CodeError, parse_code, split_line
from domain.serials import ChequeSerial, SerialError, parse_serial
from domain.stages import ChequeStatus, LossReason, Stage
from domain.validity import last_valid_day, paris_day, paris_today
from records import models, queries

log = logging.getLogger(__name__)

CODE_REFUSALS = frozenset(
    {
        ChequeRefusal.CODE_MISSING.value,
        ChequeRefusal.CODE_MALFORMED.value,
        ChequeRefusal.CODE_MISTYPED.value,
        ChequeRefusal.CODE_WRONG.value,
    }
)


class LookupVerdict(Labelled):
    """All a lookup by serial tells someone who may not see the cheque's journey."""

    USABLE = "usable"
    SPENT = "spent"
    EXPIRED = "expired"
    CANCELLED = "cancelled"
    LOCKED = "locked"
    NOT_YET_VALID = "not_yet_valid"
    UNKNOWN = "unknown"


VERDICT_LABELS = labels(
    LookupVerdict,
    {
        LookupVerdict.USABLE: "Utilisable",
        LookupVerdict.SPENT: "Déjà encaissé",
        LookupVerdict.EXPIRED: "Expiré",
        LookupVerdict.CANCELLED: "Annulé",
        LookupVerdict.LOCKED: "Carnet bloqué (codes de sécurité erronés)",
        LookupVerdict.NOT_YET_VALID: "Pas encore valable",
        LookupVerdict.UNKNOWN: "Inconnu",
    },
)


def lookup_verdict(
    cheque: models.Cheque | None, journey: models.Journey | None, grace_months: int, today: date
) -> LookupVerdict:
    if cheque is None or journey is None:
        return LookupVerdict.UNKNOWN
    status = ChequeStatus(cheque.status)
    if status in (ChequeStatus.REDEEMED, ChequeStatus.REIMBURSED):
        return LookupVerdict.SPENT
    if status == ChequeStatus.EXPIRED or today > last_valid_day(cheque.millesime, grace_months):
        return LookupVerdict.EXPIRED
    if status == ChequeStatus.CANCELLED or not Stage(journey.stage).is_open:
        return LookupVerdict.CANCELLED
    if journey.booklet_locked_at is not None:
        return LookupVerdict.LOCKED
    if today < date(cheque.millesime, 1, 1):
        return LookupVerdict.NOT_YET_VALID
    return LookupVerdict.USABLE


@dataclass(frozen=True)
class Lookup:
    """A lookup's answer. `cheque` and `journey` are for this service; callers show them
    only when `revealed`: the caller may see the journey, or proved they hold the cheque
    (its code)."""

    serial: str
    display: str
    verdict: LookupVerdict
    valid_until_day: date | None
    cheque: models.Cheque | None = None
    journey: models.Journey | None = None
    revealed: bool = False
    code_verdict: ChequeVerdict | None = None  # `verify` only


def lines_of(texts: Sequence[str]) -> list[ChequeLine]:
    """Typed or scanned lines (one cheque each: serial then code)."""
    return [split_line(t) for t in texts]


class ChequeService:
    def __init__(self, state: AppState, programme_code: int) -> None:
        """`programme_code`: the caller's current programme (User.programme_code)."""
        self.state = state
        self.settings = state.settings
        self.code = programme_code
        self.vault = state.settings.code_vault

    # ---- lookups ----

    async def lookup(self, user: User, text: str) -> Lookup:
        """A cheque by serial alone: its verdict; its details if the caller sees its journey."""
        serial = parse_serial(text)  # SerialError: the caller answers 422
        return await self.state.db.run(lambda s: self._lookup(s, user, serial.digits, None))

    async def verify(self, user: User, line: ChequeLine) -> Lookup:
        """A cheque by serial and code: as `lookup`, and with the right code its journey (to
        log a session there). A wrong code is counted like one typed for a session."""
        serial = parse_serial(line.serial)
        found = await self.state.db.run(lambda s: self._lookup(s, user, serial.digits, line))
        verdict = found.code_verdict
        if verdict is not None and verdict.code == ChequeRefusal.CODE_WRONG and found.cheque:
            locked = await self._count_wrong_codes(
                found.cheque.journey_id, [(found.cheque.serial, line.code)], user
            )
            if locked:
                found = dataclasses.replace(
                    found,
                    verdict=LookupVerdict.LOCKED,
                    code_verdict=refuse(
                        verdict.serial,
                        ChequeRefusal.CODE_WRONG,
                        msg_code_wrong_locked(serial.display),
                    ),
                )
        return found

    def _lookup(self, session: Session, user: User, digits: str, line: ChequeLine | None) -> Lookup:
        programme = queries.get_programme(session, self.code)
        grace = programme.grace_months if programme else 1
        serial = parse_serial(digits)
        cheque = queries.find_cheque(session, digits)
        if cheque is not None and cheque.programme_code != user.programme_code:
            cheque = None
        journey = queries.get_journey(session, cheque.journey_id) if cheque else None
        verdict = lookup_verdict(cheque, journey, grace, paris_today())
        valid_until = last_valid_day(serial.millesime, grace) if cheque else None
        answer = Lookup(digits, serial.display, verdict, valid_until)
        if cheque is None or journey is None:
            return answer
        code_verdict = None
        if line is not None:
            code_verdict = _lost_verdict(session, cheque, serial.display) or self._code_verdict(
                cheque, journey, line.code, serial.display
            )
        visible = access.can_see_journey(user, journey)
        proven = code_verdict is not None and code_verdict.accepted
        return Lookup(
            digits,
            serial.display,
            verdict,
            valid_until,
            cheque,
            journey,
            revealed=visible or proven,
            code_verdict=code_verdict,
        )

    async def proven_serials(
        self, user: User, journey_id: str, lines: Sequence[ChequeLine]
    ) -> list[str]:
        """The serials among `lines` that are cheques of the journey typed with their right
        code (the caller holds them); wrong codes are counted."""

        def read(session: Session) -> list[ChequeVerdict]:
            return self._line_verdicts(session, self._journey_row(session, journey_id), lines)

        verdicts = await self.state.db.run(read)
        wrong = [
            (v.serial, line.code)
            for v, line in zip(verdicts, lines, strict=False)
            if v.code == ChequeRefusal.CODE_WRONG
        ]
        if wrong:
            await self._count_wrong_codes(journey_id, wrong, user)
        return [v.serial for v in verdicts if v.accepted]

    # ---- sessions ----

    async def session_verdicts(
        self,
        journey_id: str,
        lines: Sequence[ChequeLine],
        *,
        day: date,
        mediation_structure_id: int,
        user: User,
        live: bool,
    ) -> list[ChequeVerdict]:
        """One verdict per line, in order, after the access check (404/403). The records'
        verdicts (serial, programme, journey, lock, security code, structure qualified),
        completed with the journey's own (domain.redemption) when `live` or when the records
        already refuse one: the workflow's validator decides the rest of a real session.
        Wrong codes are counted (and may lock the booklet) whatever the answer."""

        def read(session: Session) -> tuple[models.MediationStructure, list[ChequeVerdict]]:
            journey = self._journey_row(session, journey_id)
            structure = self._mediation_structure(session, mediation_structure_id)
            verdicts = self._line_verdicts(session, journey, lines)
            proven = any(v.accepted for v in verdicts)  # a cheque of this journey, right code
            try:
                access.require_change(
                    user,
                    journey,
                    Change.LOG_SESSION,
                    mediation_structure_id=mediation_structure_id,
                    holds_cheque=proven,
                )
            except ApiError as refused:
                # Outside the scope, a wrong code for a cheque of this journey is still
                # counted and told as such; anything else is a plain 403.
                if refused.status != 403 or not any(
                    v.code == ChequeRefusal.CODE_WRONG for v in verdicts
                ):
                    raise
                verdicts = [v for v in verdicts if v.code == ChequeRefusal.CODE_WRONG]
            return structure, verdicts

        structure, verdicts = await self.state.db.run(read)
        wrong = [
            (v.serial, line.code)
            for v, line in zip(verdicts, lines, strict=False)
            if v.code == ChequeRefusal.CODE_WRONG
        ]
        if wrong:
            if await self._count_wrong_codes(journey_id, wrong, user):
                verdicts = [
                    refuse(v.serial, ChequeRefusal.CODE_WRONG, msg_code_wrong_locked(_shown(v)))
                    if v.code == ChequeRefusal.CODE_WRONG
                    else v
                    for v in verdicts
                ]
            if len(verdicts) != len(lines):  # outside the scope: only the wrong codes
                raise ApiError(
                    422,
                    "cheques_refused",
                    refusal_summary(verdicts),
                    {"verdicts": [v.__dict__ for v in verdicts]},
                )
        if not structure.is_qualified_on(day):
            verdicts = [
                refuse(v.serial, ChequeRefusal.STRUCTURE_NOT_QUALIFIED, msg_not_qualified(day))
                for v in verdicts
            ]
        if not live and all(v.accepted for v in verdicts):
            return verdicts
        accepted = [v.serial for v in verdicts if v.accepted]
        if not accepted:
            return verdicts
        status = await self._live_status(journey_id)
        # Complete the answer with what the journey itself would say of the others, in order.
        journey_side = iter(check_cheques(status, accepted, day))
        return [next(journey_side) if v.accepted else v for v in verdicts]

    async def checked_session(
        self,
        journey_id: str,
        request: c.SessionRequest,
        lines: Sequence[ChequeLine],
        *,
        user: User,
    ) -> c.SessionRequest:
        """The session request to send to the workflow once every line (serial + code) is
        accepted, with `serials` set to the canonical serials (codes stay out of the
        workflow); else 422 with a verdict per cheque, and nothing recorded."""
        verdicts = await self.session_verdicts(
            journey_id,
            lines,
            day=request.day,
            mediation_structure_id=request.mediation_structure_id,
            user=user,
            live=False,
        )
        if any(not v.accepted for v in verdicts):
            raise ApiError(
                422,
                "cheques_refused",
                refusal_summary(verdicts),
                {"verdicts": [v.__dict__ for v in verdicts]},
            )
        return dataclasses.replace(request, serials=[v.serial for v in verdicts])

    # ---- the records' verdicts ----

    def _line_verdicts(
        self, session: Session, journey: models.Journey, lines: Sequence[ChequeLine]
    ) -> list[ChequeVerdict]:
        parsed: list[tuple[ChequeLine, ChequeSerial | SerialError]] = []
        for line in lines:
            try:
                parsed.append((line, parse_serial(line.serial)))
            except SerialError as err:
                parsed.append((line, err))
        # One query for all the serials of the session rather than one per cheque.
        known = queries.find_cheques(
            session,
            [
                p.digits
                for _, p in parsed
                if not isinstance(p, SerialError) and p.programme_code == journey.programme_code
            ],
        )
        verdicts: list[ChequeVerdict] = []
        for line, serial in parsed:
            if isinstance(serial, SerialError):
                verdicts.append(refuse(line.serial, ChequeRefusal(serial.code), serial.message))
                continue
            digits, shown = serial.digits, serial.display
            if serial.programme_code != journey.programme_code:
                verdicts.append(
                    refuse(digits, ChequeRefusal.OTHER_PROGRAMME, msg_other_programme(shown))
                )
                continue
            cheque = known.get(digits)
            if cheque is None:
                verdicts.append(refuse(digits, ChequeRefusal.UNKNOWN_SERIAL, msg_unknown(shown)))
            elif cheque.journey_id != journey.id:
                verdicts.append(
                    refuse(digits, ChequeRefusal.OTHER_BENEFICIARY, msg_other_beneficiary(shown))
                )
            else:
                verdicts.append(
                    _lost_verdict(session, cheque, shown)
                    or self._code_verdict(cheque, journey, line.code, shown)
                )
        return verdicts

    def _code_verdict(
        self, cheque: models.Cheque, journey: models.Journey, typed: str, shown: str
    ) -> ChequeVerdict:
        """The verdict of a cheque of `journey` typed with `typed` as its code."""
        digits = cheque.serial
        if journey.booklet_locked_at is not None:
            since = paris_day(journey.booklet_locked_at)
            return refuse(digits, ChequeRefusal.BOOKLET_LOCKED, msg_booklet_locked(shown, since))
        try:
            code = parse_code(typed)
        except CodeError as err:
            return refuse(digits, ChequeRefusal(err.code), msg_cheque_code(shown, err.message))
        if not self.vault.matches(digits, cheque.security_code, code):
            return refuse(digits, ChequeRefusal.CODE_WRONG, msg_code_wrong(shown))
        return accept(digits)

    async def _count_wrong_codes(
        self, journey_id: str, wrong: Sequence[tuple[str, str]], user: User
    ) -> bool:
        """Record wrong codes (each distinct one once); lock the booklet at the limit.
        True if the booklet is locked now."""
        now = clock.now()
        attempts = {
            (serial, self.vault.attempt_id(serial, _canonical_or_raw(code)))
            for serial, code in wrong
        }

        def write(session: Session) -> int:
            f = models.ChequeCodeFailure
            pending = select(f.serial, f.attempt).where(
                f.journey_id == journey_id, col(f.cleared_at).is_(None)
            )
            seen = {(r[0], r[1]) for r in session.exec(pending).all()}
            for serial, attempt in sorted(attempts - seen):
                session.add(
                    f(
                        at=now,
                        journey_id=journey_id,
                        serial=serial,
                        attempt=attempt,
                        mediation_structure_id=user.mediation_structure_id,
                        account_id=user.id,
                    )
                )
            session.flush()
            return session.exec(
                select(func.count())
                .select_from(f)
                .where(f.journey_id == journey_id, col(f.cleared_at).is_(None))
            ).one()

        failures = await self.state.db.run(write, write=True)
        if failures < self.settings.cheque_code_max_failures:
            return False
        log.warning("booklet of journey %s locked after %d wrong codes", journey_id, failures)
        handle = self.state.temporal.get_workflow_handle(c.workflow_id_for(journey_id))
        try:
            await handle.execute_update(
                c.U_LOCK_BOOKLET,
                c.LockBookletRequest(actor=c.SYSTEM, failures=failures),
                id=f"{c.U_LOCK_BOOKLET}:{failures}",
                result_type=c.JourneyStatus,
            )
        except Exception as exc:
            refused = from_temporal(exc)
            if refused is None:
                raise
            log.info("booklet of journey %s not locked: %s", journey_id, refused.message)
            return False
        return True

    # ---- reads ----

    def _journey_row(self, session: Session, journey_id: str) -> models.Journey:
        return reads.journey(session, self.code, journey_id)

    def _mediation_structure(
        self, session: Session, structure_id: int
    ) -> models.MediationStructure:
        return reads.mediation_structure(session, self.code, structure_id)

    async def _live_status(self, journey_id: str) -> c.JourneyStatus:
        handle = self.state.temporal.get_workflow_handle(c.workflow_id_for(journey_id))
        try:
            return await handle.query(c.Q_STATUS, result_type=c.JourneyStatus)
        except Exception as exc:
            raise from_temporal(exc) or exc from exc


def _lost_verdict(session: Session, cheque: models.Cheque, shown: str) -> ChequeVerdict | None:
    """A cheque of a booklet declared lost: refused with the day, before its code is even
    looked at (a wrong code typed for it never counts towards locking the replacement)."""
    if cheque.status != ChequeStatus.CANCELLED:
        return None
    lost = queries.lost_booklet(session, cheque.programme_code, cheque.booklet_number)
    if lost is None or lost.lost_on is None:
        return None
    reason = LossReason(lost.lost_reason or LossReason.LOST)
    return refuse(
        cheque.serial, ChequeRefusal.DECLARED_LOST, msg_declared_lost(shown, lost.lost_on, reason)
    )


def _shown(verdict: ChequeVerdict) -> str:
    try:
        return parse_serial(verdict.serial).display
    except SerialError:
        return verdict.serial


def _canonical_or_raw(code: str) -> str:
    try:
        return parse_code(code)
    except CodeError:
        return code


def require_same_session(receipt: c.SessionReceipt, request: c.SessionRequest) -> None:
    """A session id (or key) already used for another session: 409, nothing changed (the
    workflow answered with the session it recorded first)."""
    recorded = next(
        (x for x in receipt.status.sessions if x.session_id == receipt.session_id), None
    )
    if recorded is None:
        return
    same = (
        sorted(recorded.serials) == sorted(request.serials)
        and recorded.day == request.day
        and recorded.duration_minutes == request.duration_minutes
        and recorded.mediation_structure_id == request.mediation_structure_id
        and recorded.kind == request.kind
        and recorded.place == request.place
    )
    if not same:
        raise ApiError(
            409,
            "idempotency_key_reused",
            MSG_SESSION_KEY_REUSED,
        )
