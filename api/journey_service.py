"""What the API asks of journeys: reads from the records, changes through the workflow.

Routes validate; this module authorises (api/access.py, inside the same database round
trip as its other checks) and talks to Temporal and the database.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Callable, Sequence
from datetime import date
from typing import Any, TypeVar

from sqlmodel import Session
from temporalio.client import WithStartWorkflowOperation, WorkflowHandle
from temporalio.common import (
    SearchAttributeKey,
    SearchAttributePair,
    TypedSearchAttributes,
    WorkflowIDConflictPolicy,
    WorkflowIDReusePolicy,
)

from api import access, idempotency
from api import programme_reads as reads
from api.access import Change
from api.auth import User
from api.cheque_service import ChequeService, require_same_session
from api.consent_service import version_for_referral
from api.deps import AppState
from api.errors import ApiError, from_temporal, key_reused
from api.idempotency import fingerprint
from domain import clock
from domain import contracts as c
from domain.policy import JourneyPolicy
from domain.refusals import (
    MSG_NO_SECOND_BOOKLET_TO_ALLOW,
    MSG_RECEPTION_INACTIVE,
    MSG_STRUCTURE_INACTIVE,
    STRUCTURE_INACTIVE,
    ChequeRefusal,
    ChequeVerdict,
    msg_not_qualified_for_orientation,
    msg_possible_duplicate,
    msg_second_booklet_not_allowed,
    msg_stock_empty,
)
from domain.security_codes import ChequeLine
from domain.stages import Stage
from records import booklet_stock, duplicates, free_texts, models, queries
from records import idempotency as claims
from records import policy as stored_policy

T = TypeVar("T")

_UPDATE_ID_FINGERPRINT = 16  # hex characters of the request's fingerprint in an Update id

# Journey ids derive from the caller's idempotency key: a retried referral maps to the
# same workflow id whatever happened to the first attempt.
_JOURNEY_NS = uuid.UUID("6b0f1c3e-5e7a-4c1d-9f2a-2f1d0c9a7b11")
# Free texts' ids derive from the request (key and fingerprint) when it has a key: a
# retried request writes and sends the same id.
_TEXT_NS = uuid.UUID("0d4b7a52-93e1-4f0c-8a57-5c2f8e6b1d3a")


def journey_id_for(programme_code: int, idempotency_key: str) -> str:
    return str(uuid.uuid5(_JOURNEY_NS, f"{programme_code}:{idempotency_key}"))


def without_free_texts(
    journey_id: str, name: str, request: Any, *, key: str | None, fingerprint: str
) -> tuple[Any, list[free_texts.NewText]]:
    """The request to send the workflow, its free texts (domain.contracts.FREE_TEXTS)
    replaced by the ids of the records' rows that will hold them; and those rows. A blank
    text is no text (the workflow's rules refuse what needs one)."""
    fields = c.FREE_TEXTS.get(type(request))
    if fields is None:
        return request, []
    text_field, id_field = fields
    typed = (getattr(request, text_field) or "").strip()
    blank = "" if text_field == "reason" and isinstance(request, c.WithdrawRequest) else None
    if not typed:
        return dataclasses.replace(request, **{text_field: blank}), []
    seed = f"{journey_id}:{name}:{key}:{fingerprint}:{text_field}" if key else None
    text_id = str(uuid.uuid5(_TEXT_NS, seed) if seed else uuid.uuid4())
    actor: c.Actor = request.actor
    row = free_texts.NewText(
        id=text_id,
        journey_id=journey_id,
        kind=f"{name}.{text_field}",
        text=typed,
        author_role=str(actor.role),
        author_ref=actor.ref,
    )
    return dataclasses.replace(request, **{text_field: blank, id_field: text_id}), [row]


def possible_duplicate(user: User, matches: list[duplicates.Match]) -> ApiError:
    """409 for a referral of a person who may already have a journey: the matched journeys
    the caller may see (ids), how many others, and on what they match."""
    visible = [m.journey.id for m in matches if access.can_see_journey(user, m.journey)]
    criteria = list(dict.fromkeys(x for m in matches for x in m.criteria))
    return ApiError(
        409,
        "possible_duplicate",
        msg_possible_duplicate([x.label for x in criteria]),
        {
            "journey_ids": visible,
            "other_journeys": len(matches) - len(visible),
            "criteria": [x.value for x in criteria],
        },
    )


_SA_PROGRAMME = SearchAttributeKey.for_keyword(c.SA_PROGRAMME)


def programme_attribute(code: int) -> TypedSearchAttributes:
    """A journey's programme, as Temporal indexes it (`PassnumProgramme = '012'`)."""
    return TypedSearchAttributes([SearchAttributePair(_SA_PROGRAMME, f"{code:03d}")])


class JourneyService:
    def __init__(self, state: AppState, programme_code: int) -> None:
        """`programme_code`: the caller's current programme (User.programme_code), the only
        one whose records this service reads or changes."""
        self.state = state
        self.settings = state.settings
        self.client = state.temporal
        self.code = programme_code

    # ---- reads ----

    async def programme(self) -> models.Programme:
        return await self.state.db.run(self._programme)

    def _programme(self, session: Session) -> models.Programme:
        return reads.programme(session, self.code)

    async def journey_row(self, journey_id: str) -> models.Journey:
        return await self.state.db.run(lambda s: self._journey_row(s, journey_id))

    def _journey_row(self, session: Session, journey_id: str) -> models.Journey:
        return reads.journey(session, self.code, journey_id)

    def _access(self, session: Session, journey_id: str) -> queries.JourneyAccess | None:
        """What access decisions need of the journey, if this programme has it."""
        row = queries.journey_access(session, journey_id)
        return row if row is not None and row.programme_code == self.code else None

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
        consent_text: str | None,
        consent_version: int | None = None,
        confirm_possible_duplicate: bool = False,
    ) -> c.JourneyStatus:
        """Refer a person (one journey per idempotency key). A person who may already have
        a journey in the programme (records.duplicates) is 409 `possible_duplicate` unless
        `confirm_possible_duplicate`; the key sent again with the same request answers the
        first journey, with another request 409 `idempotency_key_reused`. The consent pins
        the wording's version in force (`consent_version`, if given, must be it: 409
        `consent_version_outdated`); `consent_text` is recorded as said, by default that
        version's wording."""
        actor = user.actor
        # What makes the request the same one: everything but the confirmation.
        same: dict[str, Any] = {
            "actor": actor,
            "reception_structure_id": reception_structure_id,
            "person": person,
            "consent_text": consent_text,
        }
        if consent_version is not None:
            same["consent_version"] = consent_version
        fingerprint = self._fingerprint(same)

        def register(
            session: Session,
        ) -> tuple[models.Programme, models.ReceptionStructure, JourneyPolicy]:
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
            idempotency.claim(
                session,
                scope=f"referral:{programme.code}",
                key=idempotency_key,
                fingerprint=fingerprint,
            )
            version = version_for_referral(session, consent_version)
            beneficiary, created = queries.register_beneficiary(
                session,
                idempotency_key=idempotency_key,
                journey_id=journey_id,
                consent_text=consent_text or version.wording,
                consent_version=version.version,
                consent_recorded_by=actor.ref,
                **person,
            )
            if not created and (
                beneficiary.last_name != person["last_name"]
                or beneficiary.first_name != person["first_name"]
            ):
                raise key_reused()  # a referral made before keys were claimed
            if created:  # a referral sent again is answered, even after the programme ends
                reads.require_running(programme)
            if created and not structure.active:  # the rollback takes the person back
                raise ApiError(422, STRUCTURE_INACTIVE, MSG_RECEPTION_INACTIVE)
            if created and not confirm_possible_duplicate:
                matches = duplicates.possible_duplicates(
                    session,
                    programme_code=programme.code,
                    first_name=person.get("first_name"),
                    last_name=person.get("last_name"),
                    birth_year=person.get("birth_year"),
                    email=person.get("email"),
                    phone=person.get("phone"),
                    exclude_journey_id=journey_id,
                )
                if matches:  # the rollback takes the person and the claim back
                    raise possible_duplicate(user, matches)
            policy = reads.policy_for(session, programme)
            if created:  # what its workflow starts with, for the pages
                stored_policy.remember(session, journey_id, policy)
            return programme, structure, policy

        # One unit of work (one database round trip) from the programme to the person.
        programme, structure, policy = await self.state.db.run(register, write=True)
        journey_id = journey_id_for(programme.code, idempotency_key)
        assert structure.id is not None  # read from the database
        start: WithStartWorkflowOperation[Any, Any] = WithStartWorkflowOperation(
            c.WORKFLOW_NAME,
            c.JourneyInput(
                journey_id=journey_id,
                programme_code=programme.code,
                epci_id=structure.epci_id,
                reception_structure_id=structure.id,
                referrer=actor,
                policy=policy,
                use_search_attributes=self.settings.use_search_attributes,
            ),
            id=c.workflow_id_for(journey_id),
            task_queue=self.settings.temporal_task_queue,
            search_attributes=programme_attribute(programme.code)
            if self.settings.use_search_attributes
            else None,
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

        def authorise(session: Session) -> None:
            access.require_change(
                user,
                self._access(session, journey_id),
                change,
                mediation_structure_id=mediation_structure_id,
            )

        precheck: Callable[[Session], None] | None = None
        if name == c.U_ISSUE_BOOKLET:
            millesime = int(arg.millesime)
            precheck = lambda s: self._check_booklet(s, journey_id, millesime, user)  # noqa: E731
        result = await self._execute_update(
            journey_id,
            name,
            arg,
            key=key,
            result_type=result_type,
            authorise=authorise,
            precheck=precheck,
        )
        if isinstance(result, c.JourneyStatus):  # e.g. a mediator's decline: theirs no more
            return access.visible_status(user, result)  # type: ignore[return-value]
        return result

    async def _execute_update(
        self,
        journey_id: str,
        name: str,
        arg: Any,
        *,
        key: str | None,
        result_type: type[T],
        authorise: Callable[[Session], None] | None = None,
        precheck: Callable[[Session], None] | None = None,
    ) -> T:
        """Every change to a journey goes through here: `authorise` (every time), then the
        idempotency key's claim (records/idempotency.py: the same key with another request
        is 409 and executes nothing), then `precheck` (first request of a key only: a
        retry was checked the first time), all in one unit of work; then the Update. A
        refused Update gives the key back, so that a corrected request may use it.

        The Update id carries the request's fingerprint: a corrected request (same key,
        after a refusal) is a new Update, never answered with the refusal Temporal keeps.

        Free text in the request (a reason, a comment, a message) is written to the records
        in the same unit of work, and the Update carries its id instead (nothing a
        professional types reaches Temporal); a refused Update takes it back."""
        scope = f"{journey_id}:{name}"
        fingerprint = self._fingerprint(arg) if key else ""
        arg, texts = without_free_texts(journey_id, name, arg, key=key, fingerprint=fingerprint)
        now = clock.now()

        def prepare(session: Session) -> bool:
            if authorise is not None:
                authorise(session)
            claimed = False
            if key:
                claimed = idempotency.claim(session, scope=scope, key=key, fingerprint=fingerprint)
            if precheck is not None and (claimed or not key):
                precheck(session)
            free_texts.write(session, texts, now)
            return claimed

        claimed = False
        if key or texts or authorise is not None or precheck is not None:
            claimed = await self.state.db.run(prepare, write=bool(key or texts))
        update_id = (
            f"{name}:{key}:{fingerprint[:_UPDATE_ID_FINGERPRINT]}"
            if key
            else f"{name}:{uuid.uuid4()}"
        )
        try:
            result: T = await self.handle(journey_id).execute_update(
                name, arg, id=update_id, result_type=result_type
            )
            return result
        except Exception as exc:
            refusal = from_temporal(exc)
            if refusal is not None and ((claimed and key) or texts):

                def take_back(session: Session) -> None:
                    if claimed and key:
                        claims.release(session, scope=scope, key=key, fingerprint=fingerprint)
                    free_texts.discard(session, [t.id for t in texts])

                await self.state.db.run(take_back, write=True)
            raise refusal or exc from exc

    def _fingerprint(self, request: Any) -> str:
        return fingerprint(self.settings.secret_key.get_secret_value(), request)

    # ---- booklets: the millésime, the structure's stock, one per person and millésime ----

    async def booklet_millesime(self, requested: int | None) -> int:
        """The millésime a booklet asked for now takes (409 if not offered today)."""
        return reads.booklet_millesime(await self.programme(), requested)

    def _check_booklet(self, session: Session, journey_id: str, millesime: int, user: User) -> None:
        journey = self._journey_row(session, journey_id)
        if journey.booklet_number is None and booklet_stock.is_managed(
            session, journey.programme_code, millesime
        ):
            left = booklet_stock.left_in_stock(
                session, journey.programme_code, millesime, journey.reception_structure_id
            )
            if left <= 0:
                raise ApiError(409, "booklet_stock_empty", msg_stock_empty(millesime))
        self._check_second_booklet(session, journey_id, millesime, user)

    def _check_second_booklet(
        self, session: Session, journey_id: str, millesime: int, user: User
    ) -> None:
        """409 if the person (records.duplicates' match rule) already holds a booklet of
        `millesime` in another journey, unless a coordinator allowed this journey one."""
        if duplicates.second_booklet_allowance(session, journey_id) is not None:
            return
        held = duplicates.other_booklets(session, journey_id=journey_id, millesime=millesime)
        if held:
            raise ApiError(
                409,
                "second_booklet_not_allowed",
                msg_second_booklet_not_allowed(millesime),
                {
                    "journey_ids": [
                        m.journey.id for m in held if access.can_see_journey(user, m.journey)
                    ]
                },
            )

    async def allow_second_booklet(
        self, journey_id: str, user: User
    ) -> models.SecondBookletAllowance:
        """A coordinator allows this journey a booklet although its person holds one of the
        same millésime elsewhere; allowing again keeps the first decision (who, when)."""
        now = clock.now()

        def write(session: Session) -> models.SecondBookletAllowance:
            journey = access.require_change(
                user, self._access(session, journey_id), Change.ALLOW_SECOND_BOOKLET
            )
            existing = duplicates.second_booklet_allowance(session, journey_id)
            if existing is not None:
                return existing
            if journey.stage not in (Stage.REFERRED, Stage.ASSESSED):
                raise ApiError(
                    409,
                    "wrong_stage",
                    MSG_NO_SECOND_BOOKLET_TO_ALLOW,
                )
            row, _ = duplicates.allow_second_booklet(
                session, journey_id=journey_id, account_id=user.id, now=now
            )
            return row

        return await self.state.db.run(write, write=True)

    async def check_mediation_structure(
        self, structure_id: int, *, on: date | None = None
    ) -> models.MediationStructure:
        structure = await self.state.db.run(lambda s: self._mediation_structure(s, structure_id))
        # `on`: the day an orientation is made; the structure must be active and qualified.
        if on is not None and not structure.active:
            raise ApiError(422, STRUCTURE_INACTIVE, MSG_STRUCTURE_INACTIVE)
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
        return reads.mediation_structure(session, self.code, structure_id)

    async def log_session(
        self,
        journey_id: str,
        request: c.SessionRequest,
        lines: Sequence[ChequeLine],
        *,
        key: str | None,
        user: User,
    ) -> c.SessionReceipt:
        """A session paid with cheques (serial + security code each, checked by
        api.cheque_service); the same session id or key sent again with another session
        is 409 and changes nothing."""
        checked = await ChequeService(self.state, self.code).checked_session(
            journey_id, request, lines, user=user
        )
        receipt = await self._execute_update(  # the journey was checked above
            journey_id, c.U_LOG_SESSION, checked, key=key, result_type=c.SessionReceipt
        )
        require_same_session(receipt, checked)
        return dataclasses.replace(receipt, status=access.visible_status(user, receipt.status))

    async def check_session_cheques(
        self,
        journey_id: str,
        lines: Sequence[ChequeLine],
        *,
        day: date,
        mediation_structure_id: int,
        user: User,
    ) -> list[ChequeVerdict]:
        """Dry run of `log_session`'s cheque checks (pages show a verdict as each cheque is
        typed or scanned): one verdict per line, in order; nothing changes but the count of
        wrong security codes. Same access rule as logging the session (404/403)."""
        return await ChequeService(self.state, self.code).session_verdicts(
            journey_id,
            lines,
            day=day,
            mediation_structure_id=mediation_structure_id,
            user=user,
            live=True,
        )
