"""The administrators' audit log as the API and the pages write and read it
(records/audit.py): what an entry says of an account or a token, and the entries' French
descriptions. Every administrator's action writes its entry in its own unit of work."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel
from sqlmodel import Session

from api.auth import User
from domain.rights import AuditAction
from records import audit, models


def account_details(account: models.Account) -> dict[str, Any]:
    """What the audit log says of an account (never its password)."""
    return {
        "email": account.email,
        "full_name": account.full_name,
        "role": account.role,
        "reception_structure_id": account.reception_structure_id,
        "mediation_structure_id": account.mediation_structure_id,
        "epci_id": account.epci_id,
    }


def audit_token(
    session: Session, user: User, token: models.ApiToken, action: AuditAction, now: datetime
) -> None:
    """An API token issued or revoked, in the audit log (its label and visible prefix,
    never the secret)."""
    audit.record(
        session,
        at=now,
        programme_code=user.programme_code,
        account_id=user.id,
        action=action,
        target=f"token:{token.id}",
        details={"account_id": token.account_id, "label": token.label, "prefix": token.prefix},
    )


class AuditEntryOut(BaseModel):
    id: int
    at: datetime
    account_id: int | None
    account_name: str | None
    action: str
    action_label: str
    target: str
    details: dict[str, Any]


class AuditPage(BaseModel):
    items: list[AuditEntryOut]
    total: int
    limit: int
    offset: int


def entry_out(e: audit.AuditEntry) -> AuditEntryOut:
    row = e.entry
    assert row.id is not None
    try:
        label = AuditAction(row.action).label
    except ValueError:
        label = row.action
    return AuditEntryOut(
        id=row.id,
        at=row.at,
        account_id=row.account_id,
        account_name=e.account_name or ("ligne de commande" if row.account_id is None else None),
        action=row.action,
        action_label=label,
        target=row.target,
        details=dict(row.details),
    )


def read_page(session: Session, user: User, *, limit: int, offset: int) -> AuditPage:
    rows, total = audit.list_entries(session, user.programme_code, limit=limit, offset=offset)
    return AuditPage(items=[entry_out(e) for e in rows], total=total, limit=limit, offset=offset)
