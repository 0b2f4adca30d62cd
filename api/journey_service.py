"""What the API asks of journeys: reads from the records, changes through the workflow.

Routes validate; this module authorises (api/access.py, inside the same database round
trip as its other checks) and talks to Temporal and the database.
"""

from __future__ import annotations

import uuid
from datetime import date
from typing import Any, TypeVar

from sqlmodel import Session
from temporalio.client import WithStartWorkflowOperation, WorkflowHandle
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy

from api import access
from api.access import Change
from api.auth import User
from api.deps import AppState
from api.errors import ApiError, from_temporal, not_found
from domain import contracts as c
from domain.policy import JourneyPolicy
from domain.redemption import check_cheques
from domain.refusals import (
    ChequeRefusal,
    ChequeVerdict,
    accept,
    msg_not_qualified,
    msg_not_qualified_for_orientation,
    msg_other_beneficiary,
    msg_other_programme,
    msg_unknown,
    refuse,
)
from domain.serials import ChequeSerial, SerialError, parse_serial
from records import models, queries

T = TypeVar("T")

# Journey ids derive from the caller's idempotency key: a retried referral maps to the
# same workflow id whatever happened to the first attempt.
_JOURNEY_NS = uuid.UUID("6b0f1c3e-5e7a-4c1d-9f2a-2f1d0c9a7b11")


def journey_id_for(programme_code: int, idempotency_key: str) -> str:
    return str(uuid.uuid5(_JOURNEY_NS, f"{programme_code}:{idempotency_key}"))


def policy_for(programme: models.Programme) -> JourneyPolicy:
    return JourneyPolicy(
        grace_months=programme.grace_months,
        cheques_per_booklet=programme.cheques_per_booklet,
        cheque_value_cents=programme.cheque_value_cents,
    )


class JourneyService:
    def __init__(self, state: AppState) -> None:
        self.state = state
        self.settings = state.settings
        self.client = state.temporal

    # ---- reads ----

    async def programme(self) -> models.Programme:
        return await self.state.db.run(self._programme)

    def _programme(self, session: Session) -> models.Programme:
        programme = queries.get_programme(session, self.settings.programme_code)
        if programme is None:
            raise ApiError(
                503, "no_programme", "Aucun programme n'est configuré (base non initialisée)."
            )
        return programme

    async def journey_row(self, journey_id: str) -> models.Journey:
        return await self.state.db.run(lambda s: self._journey_row(s, journey_id))

    def _journey_row(self, session: Session, journey_id: str) -> models.Journey:
        row = queries.get_journey(session, journey_id)
        if row is None or row.programme_code != self.settings.programme_code:
            raise not_found()
        return row

    def _access(self, session: Session, journey_id: str) -> queries.JourneyAccess | None:
        """What access decisions need of the journey, if this programme has it."""
        row = queries.journey_access(session, journey_id)
        return (
            row if row is not None and row.programme_code == self.settings.programme_code else None
        )

    async def check_visible(self, user: User, journey_id: str) -> queries.JourneyAccess:
        """The journey if `user` may see it, else 404."""
        return await self.state.db.run(
            lambda s: access.require_visible(user, self._access(s, journey_id))
        )

    def handle(self, journey_id: str) -> WorkflowHandle[Any, Any]:
        return self.client.get_workflow_handle(c.workflow_id_for(journey_id))

    async def live_status(self, journey_id: str, user: User | None = None) -> c.JourneyStatus:
        """The workflow's view of a journey; with `user`, 404 unless they may see it."""
        if user is not None:
            await self.check_visible(user, journey_id)
        else:
            await self.journey_row(journey_id)
        try:
            return await self.handle(journey_id).query(c.Q_STATUS, result_type=c.JourneyStatus)
        except Exception as exc:
            raise from_temporal(exc) or exc from exc

    # ---- changes ----

    async def refer(
        self,
        *,
        idempotency_key: str,
        reception_structure_id: int,
        user: User,
        person: dict[str, Any],
        consent_text: str,
    ) -> c.JourneyStatus:
        actor = user.actor

        def register(session: Session) -> tuple[models.Programme, models.ReceptionStructure]:
            programme = self._programme(session)
            journey_id = journey_id_for(programme.code, idempotency_key)
            structure = queries.get_reception_structure(session, reception_structure_id)
            if structure is None or structure.programme_id != programme.id:
                raise ApiError(
                    422,
                    "unknown_structure",
                    "Cette structure d'accueil n'existe pas dans le programme.",
                )
            access.require_refer(user, reception_structure_id)
            beneficiary, created = queries.register_beneficiary(
                session,
                idempotency_key=idempotency_key,
                journey_id=journey_id,
                consent_text=consent_text,
                consent_recorded_by=actor.ref,
                **person,
            )
            if not created and (
                beneficiary.last_name != person["last_name"]
                or beneficiary.first_name != person["first_name"]
            ):
                raise ApiError(
                    409,
                    "idempotency_key_reused",
                    "Cette clé d'idempotence a déjà servi pour une autre personne.",
                )
            return programme, structure

        # One unit of work (one database round trip) from the programme to the person.
        programme, structure = await self.state.db.run(register, write=True)
        journey_id = journey_id_for(programme.code, idempotency_key)
        start = WithStartWorkflowOperation(
            c.WORKFLOW_NAME,
            c.JourneyInput(
                journey_id=journey_id,
                programme_code=programme.code,
                epci_id=structure.epci_id,
                reception_structure_id=structure.id,
                referrer=actor,
                policy=policy_for(programme),
                use_search_attributes=self.settings.use_search_attributes,
            ),
            id=c.workflow_id_for(journey_id),
            task_queue=self.settings.temporal_task_queue,
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
        )
        try:
            return await self.client.execute_update_with_start_workflow(
                c.U_CONFIRM_REFERRAL,
                c.ConfirmReferral(actor=actor),
                start_workflow_operation=start,
                id=f"referral:{idempotency_key}",
                result_type=c.JourneyStatus,
            )
        except Exception as exc:
            raise from_temporal(exc) or exc from exc

    async def update(
        self,
        journey_id: str,
        name: str,
        arg: Any,
        *,
        key: str | None,
        result_type: type[T],
        user: User,
        change: Change,
        mediation_structure_id: int | None = None,
    ) -> T:
        """Send a change to the journey once `user` may make it (404/403 otherwise)."""
        await self.state.db.run(
            lambda s: access.require_change(
                user,
                self._access(s, journey_id),
                change,
                mediation_structure_id=mediation_structure_id,
            )
        )
        return await self._execute_update(journey_id, name, arg, key=key, result_type=result_type)

    async def _execute_update(
        self, journey_id: str, name: str, arg: Any, *, key: str | None, result_type: type[T]
    ) -> T:
        update_id = f"{name}:{key}" if key else f"{name}:{uuid.uuid4()}"
        try:
            result: T = await self.handle(journey_id).execute_update(
                name, arg, id=update_id, result_type=result_type
            )
            return result
        except Exception as exc:
            raise from_temporal(exc) or exc from exc

    async def check_mediation_structure(
        self, structure_id: int, *, on: date | None = None
    ) -> models.MediationStructure:
        structure = await self.state.db.run(lambda s: self._mediation_structure(s, structure_id))
        # `on`: the day an orientation is made; the structure must be qualified that day.
        if on is not None and not structure.is_qualified_on(on):
            raise ApiError(
                422,
                ChequeRefusal.STRUCTURE_NOT_QUALIFIED.value,
                msg_not_qualified_for_orientation(on),
            )
        return structure

    def _mediation_structure(
        self, session: Session, structure_id: int
    ) -> models.MediationStructure:
        programme = self._programme(session)
        structure = queries.get_mediation_structure(session, structure_id)
        if structure is None or structure.programme_id != programme.id:
            raise ApiError(
                422,
                "unknown_structure",
                "Cette structure de médiation n'existe pas dans le programme.",
            )
        return structure

    async def log_session(
        self, journey_id: str, request: c.SessionRequest, *, key: str | None, user: User
    ) -> c.SessionReceipt:
        """Refuse, with a verdict per cheque, what only the records can tell (unknown serial,
        another beneficiary's, unqualified structure); the workflow's validator decides the rest."""
        verdicts = await self._session_verdicts(
            journey_id,
            request.serials,
            day=request.day,
            mediation_structure_id=request.mediation_structure_id,
            user=user,
            live=False,
        )
        if any(not v.accepted for v in verdicts):
            raise ApiError(
                422,
                "cheques_refused",
                "Séance non enregistrée : des chèques sont refusés.",
                {"verdicts": [v.__dict__ for v in verdicts]},
            )
        return await self._execute_update(  # the journey was checked above
            journey_id, c.U_LOG_SESSION, request, key=key, result_type=c.SessionReceipt
        )

    async def check_session_cheques(
        self,
        journey_id: str,
        serials: list[str],
        *,
        day: date,
        mediation_structure_id: int,
        user: User,
    ) -> list[ChequeVerdict]:
        """Dry run of `log_session`'s cheque checks (pages show a verdict as each serial is
        typed or scanned): one verdict per serial, in order; nothing changes. Same access
        rule as logging the session (404/403)."""
        return await self._session_verdicts(
            journey_id,
            serials,
            day=day,
            mediation_structure_id=mediation_structure_id,
            user=user,
            live=True,
        )

    async def _session_verdicts(
        self,
        journey_id: str,
        serials: list[str],
        *,
        day: date,
        mediation_structure_id: int,
        user: User,
        live: bool,
    ) -> list[ChequeVerdict]:
        """The records' verdicts, completed with the journey's own (domain.redemption) when
        `live` or when the records already refuse one: the workflow's validator decides the
        rest of a real session."""

        def read(session: Session) -> tuple[models.MediationStructure, list[ChequeVerdict]]:
            # One round trip, checks in the order the API answers them: journey, structure.
            journey = self._journey_row(session, journey_id)
            structure = self._mediation_structure(session, mediation_structure_id)
            verdicts = self._record_verdicts(session, journey, serials)
            access.require_change(
                user,
                journey,
                Change.LOG_SESSION,
                mediation_structure_id=mediation_structure_id,
                holds_cheque=any(v.accepted for v in verdicts),  # a cheque of this journey
            )
            return structure, verdicts

        structure, verdicts = await self.state.db.run(read)
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
        status = await self.live_status(journey_id)
        # Complete the answer with what the journey itself would say of the others, in order.
        journey_side = iter(check_cheques(status, accepted, day))
        return [next(journey_side) if v.accepted else v for v in verdicts]

    def _record_verdicts(
        self, session: Session, journey: models.Journey, texts: list[str]
    ) -> list[ChequeVerdict]:
        verdicts: list[ChequeVerdict] = []
        parsed: list[tuple[str, ChequeSerial | SerialError]] = []
        for text in texts:
            try:
                parsed.append((text, parse_serial(text)))
            except SerialError as err:
                parsed.append((text, err))
        # One query for all the serials of the session rather than one per cheque.
        known = queries.find_cheques(
            session,
            [
                p.digits
                for _, p in parsed
                if not isinstance(p, SerialError) and p.programme_code == journey.programme_code
            ],
        )
        for text, serial in parsed:
            if isinstance(serial, SerialError):
                verdicts.append(refuse(text, ChequeRefusal(serial.code), serial.message))
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
                verdicts.append(accept(digits))
        return verdicts
