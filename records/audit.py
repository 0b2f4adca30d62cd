"""The administrators' audit log: one append-only row per administrator's action.

`record` is called in the unit of work of the action itself (the caller commits both or
neither). Rows are never changed or deleted: the database refuses it (triggers of
migration 0015, on SQLite and PostgreSQL), whatever the code does. `details` names what was
done (ids, labels, dates, roles), never a secret (password, token).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlmodel import Session, col, func, select

from domain.rights import AuditAction
from records.models import Account, AdminAudit

# Keys that must never reach the log, whatever a caller passes.
_SECRET_KEYS = frozenset({"password", "password_hash", "token", "token_hash", "secret"})


def record(
    session: Session,
    *,
    at: datetime,
    programme_code: int,
    account_id: int | None,
    action: AuditAction,
    target: str,
    details: dict[str, Any] | None = None,
) -> AdminAudit:
    """Append one entry (flushed, not committed)."""
    clean = {k: v for k, v in (details or {}).items() if k not in _SECRET_KEYS}
    row = AdminAudit(
        at=at,
        programme_code=programme_code,
        account_id=account_id,
        action=AuditAction(action).value,
        target=target[:120],
        details=clean,
    )
    session.add(row)
    session.flush()
    return row


@dataclass(frozen=True)
class AuditEntry:
    entry: AdminAudit
    account_name: str | None  # who acted (None: the command line)
    account_email: str | None


def list_entries(
    session: Session, programme_code: int, *, limit: int, offset: int
) -> tuple[list[AuditEntry], int]:
    """The programme's entries, most recent first, and how many there are."""
    total = session.exec(
        select(func.count())
        .select_from(AdminAudit)
        .where(AdminAudit.programme_code == programme_code)
    ).one()
    rows = session.exec(
        select(AdminAudit, Account.full_name, Account.email)
        .join(Account, col(Account.id) == col(AdminAudit.account_id), isouter=True)
        .where(AdminAudit.programme_code == programme_code)
        .order_by(col(AdminAudit.id).desc())
        .limit(limit)
        .offset(offset)
    ).all()
    return [AuditEntry(row, name, email) for row, name, email in rows], int(total)
