"""What makes two change requests "the same request" for an idempotency key.

`fingerprint` is an HMAC-SHA256, keyed by the instance's secret, of the request's canonical
JSON (sorted keys, no spaces; dates in ISO format, enumerations as their values). Keyed,
because requests carry what a database reader must not recover by trying guesses: cheque
security codes (35 bits) and free text typed by professionals. Changing PASSNUM_SECRET_KEY
makes every earlier claim look like another request: a retry sent across such a change
is refused (409) and must be sent with a new key.
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import json
from datetime import date, datetime
from enum import Enum
from typing import Any
from uuid import UUID

from pydantic import BaseModel
from sqlmodel import Session

from api.errors import key_reused
from domain import clock
from records import idempotency as claims

_CONTEXT = b"passnum idempotency fingerprint v1"


def _plain(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, date | datetime):
        return value.isoformat()
    if isinstance(value, UUID):
        return str(value)
    return value


def canonical_json(request: Any) -> str:
    return json.dumps(_plain(request), sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def fingerprint(secret: str, request: Any) -> str:
    """64 hex characters naming `request` (see the module docstring)."""
    key = hmac.new(secret.encode(), _CONTEXT, hashlib.sha256).digest()
    return hmac.new(key, canonical_json(request).encode(), hashlib.sha256).hexdigest()


def claim(session: Session, *, scope: str, key: str, fingerprint: str) -> bool:
    """Claim `key` for the request named `fingerprint` (records/idempotency.py): True for
    its first use, False for the same request sent again; 409 `idempotency_key_reused` if
    another request used it."""
    try:
        return claims.claim(session, scope=scope, key=key, fingerprint=fingerprint, now=clock.now())
    except claims.KeyReused:
        raise key_reused() from None
