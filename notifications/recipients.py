"""Who receives a notice, from the role the workflow named.

- BENEFICIARY: the person's e-mail; without one, their referrer (the message says so and a
  printable letter is offered).
- REFERRER: the referring account (`journey.referrer_ref` is its id), else the reception
  structure's mailbox.
- MEDIATION_STRUCTURE: the structure's mailbox and its active mediators' accounts.
- COORDINATORS: active coordinators whose scope covers the journey's EPCI (or the whole
  programme); they hear of it in their daily digest only.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlmodel import Session, col, or_, select

from domain.notices import Recipient
from domain.stages import Role
from notifications.context import person_of, referrer_account
from notifications.preferences import Preferences, preferences_of
from records.models import Account, Journey, MediationStructure, ReceptionStructure


@dataclass(frozen=True)
class Target:
    address: str
    name: str | None  # how to greet them
    account_id: int | None = None
    preferences: Preferences | None = None  # None: a shared mailbox or the person
    for_beneficiary: bool = False


def _account_target(account: Account) -> Target:
    return Target(
        address=account.email,
        name=account.full_name,
        account_id=account.id,
        preferences=preferences_of(account),
    )


def referrer_targets(session: Session, journey: Journey) -> list[Target]:
    account = referrer_account(session, journey)
    if account is not None:
        return [_account_target(account)]
    structure = session.get(ReceptionStructure, journey.reception_structure_id)
    if structure is not None and structure.email:
        return [Target(address=structure.email, name=structure.name)]
    return []


def mediation_targets(session: Session, structure_id: int | None) -> list[Target]:
    if structure_id is None:
        return []
    targets: list[Target] = []
    structure = session.get(MediationStructure, structure_id)
    if structure is not None and structure.email:
        targets.append(Target(address=structure.email, name=structure.name))
    mediators = session.exec(
        select(Account)
        .where(
            Account.mediation_structure_id == structure_id,
            Account.role == Role.MEDIATOR.value,
            Account.is_active == True,  # noqa: E712
        )
        .order_by(col(Account.id))
    ).all()
    targets.extend(_account_target(a) for a in mediators)
    return targets


def coordinator_targets(session: Session, journey: Journey) -> list[Target]:
    coordinators = session.exec(
        select(Account)
        .where(
            Account.role == Role.COORDINATOR.value,
            Account.is_active == True,  # noqa: E712
            Account.programme_code == journey.programme_code,
            or_(col(Account.epci_id).is_(None), Account.epci_id == journey.epci_id),
        )
        .order_by(col(Account.id))
    ).all()
    return [_account_target(a) for a in coordinators]


def resolve(
    session: Session, journey: Journey, recipient: Recipient, detail: dict[str, str]
) -> list[Target]:
    """The addresses a notice goes to, each once (first occurrence wins)."""
    match recipient:
        case Recipient.BENEFICIARY:
            person = person_of(session, journey.id)
            if person.email:
                targets = [Target(address=person.email, name=person.name)]
            else:
                targets = [
                    Target(
                        address=t.address,
                        name=t.name,
                        account_id=t.account_id,
                        for_beneficiary=True,
                    )
                    for t in referrer_targets(session, journey)
                ]
        case Recipient.REFERRER:
            targets = referrer_targets(session, journey)
        case Recipient.MEDIATION_STRUCTURE:
            raw = detail.get("mediation_structure_id")
            targets = mediation_targets(
                session, int(raw) if raw else journey.mediation_structure_id
            )
        case Recipient.COORDINATORS:
            targets = coordinator_targets(session, journey)
    seen: set[str] = set()
    unique: list[Target] = []
    for t in targets:
        key = t.address.strip().lower()
        if key and key not in seen:
            seen.add(key)
            unique.append(t)
    return unique
