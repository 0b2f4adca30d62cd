"""Idempotency claims: one request per (scope, key).

A change carries a key (an API `Idempotency-Key`, a page form's UUID). The first request
sent with it claims the key with its fingerprint; the same request sent again finds its
own claim and goes on (Temporal then answers the first outcome); another request sent with
the same key is refused (`KeyReused`), before anything is executed. A claim whose request
was refused (nothing changed) is released, so that the corrected request can use the key.

Writers flush only; call them inside a write unit of work (`records.db.begin_write`).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col

from records.models import IdempotencyClaim


class KeyReused(Exception):
    """The key was claimed by a request with another fingerprint."""


def claim(session: Session, *, scope: str, key: str, fingerprint: str, now: datetime) -> bool:
    """Claim `key` in `scope` for the request of `fingerprint`: True if this call made the
    claim, False if the same request had made it before; `KeyReused` if another request
    had."""
    existing = session.get(IdempotencyClaim, (scope, key))
    if existing is None:
        try:
            # A savepoint: losing a race to a concurrent request keeps the caller's work.
            with session.begin_nested():
                session.add(
                    IdempotencyClaim(scope=scope, key=key, fingerprint=fingerprint, created_at=now)
                )
            return True
        except IntegrityError:
            existing = session.get(IdempotencyClaim, (scope, key), populate_existing=True)
            if existing is None:
                raise
    if existing.fingerprint != fingerprint:
        raise KeyReused(scope, key)
    return False


def release(session: Session, *, scope: str, key: str, fingerprint: str) -> None:
    """Give the key back: its request was refused and changed nothing."""
    session.execute(
        delete(IdempotencyClaim).where(
            col(IdempotencyClaim.scope) == scope,
            col(IdempotencyClaim.key) == key,
            col(IdempotencyClaim.fingerprint) == fingerprint,
        )
    )
