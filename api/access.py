"""What a signed-in user may see and change: the one place that decides, for every API
route and every page.

Scopes (DESIGN.md §8):

- social worker: journeys referred by their reception structure;
- mediator: journeys trained by their mediation structure, or oriented to it and waiting
  for its answer; and a training session on a journey whose cheques they hold, proved by
  each cheque's security code (any qualified structure may redeem a cheque: the person
  chooses; api.cheque_service). A serial alone gives only the cheque's verdict;
- coordinator: journeys of their EPCI, or the whole programme when they have none;
- administrator: structures and accounts, and no journey. Journeys hold personal data of
  people in difficulty; an administrator manages who uses passnum, not who is helped.

Answers: a read outside scope is 404 (as if the journey did not exist); a change outside
scope, or one the role may not make, is 403. Both are raised before anything is changed.
Lists filter in SQL with `journey_scope(user)` (records.queries.JourneyScope).
"""

from __future__ import annotations

import dataclasses
from enum import StrEnum
from typing import TypeVar

from sqlmodel import Session

from api.auth import User
from api.errors import ApiError, not_found
from domain.contracts import Actor, JourneyStatus
from domain.refusals import (
    MSG_ACCOUNT_NOT_FOUND,
    MSG_PAYLOADS_COORDINATION_ONLY,
    MSG_STATEMENT_NOT_FOUND,
    MSG_STATEMENTS_COORDINATION_ONLY,
    MSG_TOKEN_NOT_FOUND,
)
from domain.stages import Role
from records import accounts
from records.models import Account, ApiToken, Cheque, Journey
from records.queries import JourneyAccess, JourneyScope
from records.statements import StatementRow, StatementScope

J = TypeVar("J", JourneyAccess, Journey)  # a light access read or a whole journey row


class Change(StrEnum):
    """Every change to a journey, each made by one kind of account."""

    REFER = "REFER"
    ASSESS_ENTRY = "ASSESS_ENTRY"
    ISSUE_BOOKLET = "ISSUE_BOOKLET"
    ORIENT = "ORIENT"
    ANSWER_ORIENTATION = "ANSWER_ORIENTATION"
    LOG_SESSION = "LOG_SESSION"
    ASSESS_EXIT = "ASSESS_EXIT"
    NUDGE = "NUDGE"
    REORIENT = "REORIENT"
    WITHDRAW = "WITHDRAW"
    UNLOCK_BOOKLET = "UNLOCK_BOOKLET"
    ALLOW_SECOND_BOOKLET = "ALLOW_SECOND_BOOKLET"  # a second booklet of a millésime
    DECLARE_BOOKLET_LOST = "DECLARE_BOOKLET_LOST"  # lost, stolen, damaged: replaced
    # The person's rights (RGPD): read everything held on them (droit d'accès), correct
    # their identity and contact (rectification), erase them on request (effacement).
    READ_PERSON_DATA = "READ_PERSON_DATA"
    RECTIFY_PERSON = "RECTIFY_PERSON"
    ERASE_ON_REQUEST = "ERASE_ON_REQUEST"


ROLES_BY_CHANGE: dict[Change, frozenset[Role]] = {
    Change.REFER: frozenset({Role.SOCIAL_WORKER}),
    Change.ASSESS_ENTRY: frozenset({Role.SOCIAL_WORKER}),
    Change.ISSUE_BOOKLET: frozenset({Role.SOCIAL_WORKER}),
    Change.ORIENT: frozenset({Role.SOCIAL_WORKER}),
    Change.ANSWER_ORIENTATION: frozenset({Role.MEDIATOR}),
    Change.LOG_SESSION: frozenset({Role.MEDIATOR}),
    Change.ASSESS_EXIT: frozenset({Role.MEDIATOR}),
    Change.NUDGE: frozenset({Role.COORDINATOR}),
    Change.REORIENT: frozenset({Role.COORDINATOR}),
    Change.WITHDRAW: frozenset({Role.COORDINATOR}),
    Change.UNLOCK_BOOKLET: frozenset({Role.COORDINATOR}),
    Change.ALLOW_SECOND_BOOKLET: frozenset({Role.COORDINATOR}),
    Change.DECLARE_BOOKLET_LOST: frozenset({Role.SOCIAL_WORKER, Role.COORDINATOR}),
    Change.READ_PERSON_DATA: frozenset({Role.SOCIAL_WORKER, Role.COORDINATOR}),
    Change.RECTIFY_PERSON: frozenset({Role.SOCIAL_WORKER, Role.COORDINATOR}),
    Change.ERASE_ON_REQUEST: frozenset({Role.SOCIAL_WORKER, Role.COORDINATOR}),
}

# The person's rights are served by the social workers of their reception structure and
# the coordinators in scope (a mediator sees the journey, not the person's whole file).
PERSON_RIGHTS = (Change.READ_PERSON_DATA, Change.RECTIFY_PERSON, Change.ERASE_ON_REQUEST)

FORBIDDEN_MESSAGE = "Vous n'avez pas accès à cette action pour ce parcours."


def forbidden(message: str = FORBIDDEN_MESSAGE) -> ApiError:
    return ApiError(403, "forbidden", message)


# ---- scope ----


def journey_scope(user: User) -> JourneyScope:
    """The journeys `user` may see, for SQL lists and single checks alike."""
    match user.role:
        case Role.SOCIAL_WORKER:
            return JourneyScope(reception_structure_id=user.reception_structure_id)
        case Role.MEDIATOR:
            return JourneyScope(mediation_structure_id=user.mediation_structure_id)
        case Role.COORDINATOR:
            if user.epci_id is None:
                return JourneyScope(everything=True)
            return JourneyScope(epci_id=user.epci_id)
    return JourneyScope()  # administrators and anything else: no journey


def can_see_journey(user: User, journey: JourneyAccess | Journey | None) -> bool:
    return (
        journey is not None
        and journey.programme_code == user.programme_code
        and journey_scope(user).contains(journey)
    )


def require_visible(user: User, journey: J | None) -> J:
    """The journey if `user` may see it; else 404, as for a journey that does not exist."""
    if journey is None or not can_see_journey(user, journey):
        raise not_found()
    return journey


def visible_status(user: User, status: JourneyStatus) -> JourneyStatus:
    """A journey's live state as an answer to `user`: whole while they may see the journey
    (after their change), else only the stage and their own part in it (a mediator who just
    declined an orientation no longer sees the cheques, sessions or assessments)."""
    orientation = status.orientation
    seen = JourneyAccess(
        id=status.journey_id,
        programme_code=status.programme_code,
        epci_id=status.epci_id,
        reception_structure_id=status.reception_structure_id,
        mediation_structure_id=status.mediation_structure_id,
        orientation_structure_id=orientation.mediation_structure_id if orientation else None,
        orientation_status=str(orientation.status) if orientation else None,
        stage=str(status.stage),
    )
    if can_see_journey(user, seen):
        return status
    return dataclasses.replace(
        status,
        referrer=Actor(status.referrer.role, ""),
        stage_dates={},
        entry_assessment=None,
        exit_assessment=None,
        cheques=[],
        sessions=[],
        stalled_reason=None,
        booklet_number=None,
        lost_booklets=[],
    )


def may_make(user: User, change: Change) -> bool:
    """Whether the role makes this kind of change at all (to show or hide a button)."""
    return user.role in ROLES_BY_CHANGE[change]


def require_change(
    user: User,
    journey: J | None,
    change: Change,
    *,
    mediation_structure_id: int | None = None,
    holds_cheque: bool = False,
) -> J:
    """Allow `change` on `journey`, or raise: 404 if the journey does not exist, 403 if
    it is outside the user's scope or the role does not make this change.

    `mediation_structure_id`: the structure named in the request (answer, session); a
    mediator acts for their own structure only. `holds_cheque`: the request's serials
    include a cheque of this journey (sessions only: the holder of a cheque may redeem it).
    """
    if journey is None or journey.programme_code != user.programme_code:
        raise not_found()
    if not may_make(user, change):
        raise forbidden()
    if (
        user.role == Role.MEDIATOR
        and mediation_structure_id is not None
        and mediation_structure_id != user.mediation_structure_id
    ):
        raise forbidden("Vous ne pouvez agir qu'au nom de votre structure de médiation.")
    in_scope = journey_scope(user).contains(journey)
    if not in_scope and not (change == Change.LOG_SESSION and holds_cheque):
        raise forbidden()
    return journey


def require_person_rights(user: User, journey: J | None, change: Change) -> J:
    """The person's rights on `journey` (`PERSON_RIGHTS`). Reading: 404 if the user may
    not see the journey, 403 if they see it but their role does not serve these rights (a
    mediator). Correcting, erasing: as any change (404 if it does not exist, else 403)."""
    assert change in PERSON_RIGHTS
    if change != Change.READ_PERSON_DATA:
        return require_change(user, journey, change)
    visible = require_visible(user, journey)
    if not may_make(user, change):
        raise forbidden(
            "Les droits de la personne (accès, rectification, effacement) sont exercés par "
            "sa structure d'accueil et la coordination."
        )
    return visible


def require_refer(user: User, reception_structure_id: int) -> None:
    """A social worker refers people to passnum from their own reception structure."""
    if not may_make(user, Change.REFER):
        raise forbidden("Seul un travailleur social peut orienter une personne.")
    if reception_structure_id != user.reception_structure_id:
        raise forbidden("Vous ne pouvez orienter qu'au nom de votre structure d'accueil.")


def can_see_cheque(user: User, cheque: Cheque, journey: JourneyAccess | Journey | None) -> bool:
    """A cheque's details are visible with its journey. Anyone else learns only its verdict
    (api.cheque_service): a serial proves nothing, serials are sequential; the security
    code printed beside it does (and then the session form of its journey opens)."""
    return cheque.programme_code == user.programme_code and can_see_journey(user, journey)


# ---- roles ----


def require_role(user: User, *roles: Role) -> None:
    """403 unless the user has one of `roles` (role spaces, administration)."""
    if user.role not in roles:
        raise forbidden("Cette page est réservée à un autre rôle.")


def may_hand_out_stock(user: User) -> bool:
    """Booklet stock is handed to structures by the programme's coordination (a
    coordinator of the whole programme); an EPCI's coordinators follow theirs."""
    return user.role == Role.COORDINATOR and user.epci_id is None


def require_stock_manager(user: User) -> None:
    if not may_hand_out_stock(user):
        raise forbidden("Seule la coordination du programme confie des carnets aux structures.")


def require_admin(user: User) -> None:
    require_role(user, Role.ADMINISTRATOR)


# ---- accounts (administrators) ----


def programme_account(session: Session, user: User, account_id: int) -> Account:
    """The account `account_id` of the user's programme; 404 for any other (an account of
    another programme is not shown to exist)."""
    account = accounts.get_account(session, account_id)
    if account is None or account.programme_code != user.programme_code:
        raise ApiError(404, "not_found", MSG_ACCOUNT_NOT_FOUND)
    return account


def programme_token(session: Session, user: User, token_id: int) -> ApiToken:
    """The API token `token_id` of an account of the user's programme; 404 for any other."""
    token = accounts.get_api_token(session, token_id)
    owner = accounts.get_account(session, token.account_id) if token else None
    if token is None or owner is None or owner.programme_code != user.programme_code:
        raise ApiError(404, "not_found", MSG_TOKEN_NOT_FOUND)
    return token


# ---- reimbursement statements (api/statement_service.py) ----
#
# Mediators read their structure's statements; coordinators those of the mediation
# structures of their EPCI, or every one with the whole programme in scope. Validating a
# statement and recording its payment is the programme's (the coordination of the whole
# programme pays the structures back): EPCI coordinators read them. Others see none.


def statement_scope(user: User) -> StatementScope:
    match user.role:
        case Role.MEDIATOR if user.mediation_structure_id is not None:
            return StatementScope(mediation_structure_id=user.mediation_structure_id)
        case Role.COORDINATOR:
            if user.epci_id is None:
                return StatementScope(everything=True)
            return StatementScope(epci_id=user.epci_id)
    return StatementScope()


def may_read_statements(user: User) -> bool:
    return user.role in (Role.MEDIATOR, Role.COORDINATOR)


def may_manage_statements(user: User) -> bool:
    """Whether the user validates statements and records payments (to show the buttons)."""
    return user.role == Role.COORDINATOR and user.epci_id is None


def statement_not_found() -> ApiError:
    return ApiError(404, "not_found", MSG_STATEMENT_NOT_FOUND)


def require_statement_visible(user: User, row: StatementRow | None) -> StatementRow:
    """The statement if `user` may read it; else 404, as for one that does not exist (403
    for a role that reads no statement at all)."""
    if not may_read_statements(user):
        raise forbidden(
            "Les relevés de remboursement sont réservés à la médiation et à la coordination."
        )
    if (
        row is None
        or row.statement.programme_code != user.programme_code
        or not statement_scope(user).contains(row.statement, row.structure_epci_id)
    ):
        raise statement_not_found()
    return row


def require_statement_change(user: User, row: StatementRow | None) -> StatementRow:
    """Allow validating `row` or recording its payment: 404 if it does not exist in the
    programme, 403 unless the user coordinates the whole programme."""
    if row is None or row.statement.programme_code != user.programme_code:
        raise statement_not_found()
    if not may_manage_statements(user):
        raise forbidden(MSG_STATEMENTS_COORDINATION_ONLY)
    return row


# ---- the funder ledger ----


@dataclasses.dataclass(frozen=True)
class LedgerScope:
    """What of the funder ledger a coordinator reads: the whole programme (`epci_id`
    None), or the entries of their EPCI's journeys, their own EPCI's line in full and
    only their territory's part of the State's and the Département's."""

    epci_id: int | None


def ledger_scope(user: User) -> LedgerScope:
    """Coordinators only: the ledger is the programme's money, followed by the Département
    and the EPCI. Administrators manage accounts and no journey (entries name cheques);
    social workers and mediators have no part in funders' figures. 403 otherwise."""
    if user.role != Role.COORDINATOR:
        raise forbidden("Le suivi des financeurs est réservé aux coordinateurs du programme.")
    return LedgerScope(epci_id=user.epci_id)


# ---- Temporal's histories, decoded (api/routes/codec.py) ----


def require_payload_reader(user: User) -> None:
    """Decoding Temporal payloads (the Temporal UI's codec endpoint): coordinators of the
    whole programme only. The UI lists every journey of the namespace, so only those who
    may see every journey read them decoded (they hold opaque ids, but still)."""
    if user.role != Role.COORDINATOR or user.epci_id is not None:
        raise forbidden(MSG_PAYLOADS_COORDINATION_ONLY)
