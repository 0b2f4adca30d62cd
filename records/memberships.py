"""Which programmes an account works in, and with which role and scope in each.

An account belongs to one programme (`Account.programme_code`, role and scope on the
account row) and may be granted others (`ProgrammeMembership`): a coordinator of two
successive programmes, an administrator of the instance. A web session works in one of
them at a time (`WebSession.programme_code`, chosen in the header); everything a request
reads or writes is scoped by that one programme (api.auth.User.programme_code).

Writers only flush, the caller commits.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, update
from sqlmodel import Session, col, select

from domain.stages import Role
from records.accounts import AccountError, check_scope, token_digest
from records.models import Account, Programme, ProgrammeMembership, WebSession


@dataclass(frozen=True)
class Membership:
    """An account's role and scope in one programme."""

    programme_code: int
    role: Role
    reception_structure_id: int | None = None
    mediation_structure_id: int | None = None
    epci_id: int | None = None


def own(account: Account) -> Membership:
    """The account's role in its own programme."""
    return _of(account)


def _of(row: Account | ProgrammeMembership) -> Membership:
    """The role and scope a row holds (the account's own, or a membership's)."""
    return Membership(
        programme_code=row.programme_code,
        role=Role(row.role),
        reception_structure_id=row.reception_structure_id,
        mediation_structure_id=row.mediation_structure_id,
        epci_id=row.epci_id,
    )


def in_programme(session: Session, account: Account, code: int | None) -> Membership:
    """The account's membership in `code` (None: its own programme); its own programme's
    when it is no longer a member of `code` (access withdrawn during the session)."""
    if code is None or code == account.programme_code:
        return own(account)
    row = session.get(ProgrammeMembership, (account.id, code))
    return _of(row) if row is not None else own(account)


def all_of(session: Session, account: Account) -> list[Membership]:
    """Every programme the account works in, its own first."""
    rows = session.exec(
        select(ProgrammeMembership)
        .where(ProgrammeMembership.account_id == account.id)
        .order_by(col(ProgrammeMembership.programme_code))
    ).all()
    return [own(account), *(_of(r) for r in rows if r.programme_code != account.programme_code)]


def programme_names(session: Session, codes: list[int]) -> dict[int, str]:
    rows = session.exec(
        select(Programme.code, Programme.name).where(col(Programme.code).in_(codes))
    )
    return {code: name for code, name in rows}


def grant(
    session: Session,
    account: Account,
    membership: Membership,
    *,
    now: datetime,
    granted_by: int | None,
) -> ProgrammeMembership:
    """Give `account` a role in another programme (or change it there)."""
    check_scope(
        membership.role,
        reception_structure_id=membership.reception_structure_id,
        mediation_structure_id=membership.mediation_structure_id,
        epci_id=membership.epci_id,
    )
    if membership.programme_code == account.programme_code:
        raise AccountError("Ce compte appartient déjà à ce programme.")
    assert account.id is not None
    row = session.get(ProgrammeMembership, (account.id, membership.programme_code))
    if row is None:
        row = ProgrammeMembership(
            account_id=account.id,
            programme_code=membership.programme_code,
            role=membership.role.value,
            granted_at=now,
            granted_by=granted_by,
        )
    row.role = membership.role.value
    row.reception_structure_id = membership.reception_structure_id
    row.mediation_structure_id = membership.mediation_structure_id
    row.epci_id = membership.epci_id
    session.add(row)
    session.flush()
    return row


def revoke(session: Session, account_id: int, programme_code: int) -> bool:
    """Withdraw an account's access to a programme; its sessions working there fall back to
    its own programme. False if it had none."""
    gone = session.execute(
        delete(ProgrammeMembership).where(
            col(ProgrammeMembership.account_id) == account_id,
            col(ProgrammeMembership.programme_code) == programme_code,
        )
    )
    session.execute(
        update(WebSession)
        .where(
            col(WebSession.account_id) == account_id,
            col(WebSession.programme_code) == programme_code,
        )
        .values(programme_code=None)
    )
    session.flush()
    return bool(getattr(gone, "rowcount", 0))


def members(session: Session, programme_code: int) -> list[tuple[Account, ProgrammeMembership]]:
    """Accounts of other programmes granted access to this one, by name."""
    rows = session.exec(
        select(Account, ProgrammeMembership)
        .join(ProgrammeMembership, col(ProgrammeMembership.account_id) == col(Account.id))
        .where(ProgrammeMembership.programme_code == programme_code)
        .order_by(col(Account.full_name), col(Account.id))
    ).all()
    return [(a, m) for a, m in rows]


def choose(session: Session, account: Account, token: str, programme_code: int) -> bool:
    """Make `programme_code` the session's current programme; False (nothing changed) unless
    the account works there."""
    if programme_code not in {m.programme_code for m in all_of(session, account)}:
        return False
    chosen = None if programme_code == account.programme_code else programme_code
    session.execute(
        update(WebSession)
        .where(col(WebSession.token_hash) == token_digest(token))
        .values(programme_code=chosen)
    )
    session.flush()
    return True
