"""Cheque security codes at rest: sealed so that a database reader cannot spend a cheque.

Each code is encrypted with AES-256-GCM (the `cryptography` package) under a key derived
from the `PASSNUM_CHEQUE_CODE_KEY` setting, which lives with the application, never in the
database. The cheque's serial is the associated data: a sealed code copied onto another
cheque does not open. Sealed form: `v1.<key id>.<base64url(nonce + ciphertext)>`; the key
id (8 hex digits of the key's hash) lets older keys still open what they sealed after a
rotation (`PASSNUM_CHEQUE_CODE_PREVIOUS_KEYS`).

Why encrypted rather than hashed: the social worker's page prints the slip again (a lost
slip, or booklets issued before codes existed), which needs the code itself. A hash of a
35-bit code would not stop an offline search anyway; a key outside the database does.

Also here: codes for cheques that have none (`ensure_codes`, run by `passnum migrate` after
migration 0007), whose booklets are then marked for a reprinted slip.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from sqlalchemy import update
from sqlmodel import Session, col, select

from domain.security_codes import new_code
from records.models import BookletAllocation, Cheque

# Accepted only in dev mode (config.py refuses it in production), like the secret key.
DEV_CHEQUE_CODE_KEY = "dev-only-cheque-code-key-not-for-production-use-passnum"
_VERSION = "v1"
_NONCE_BYTES = 12


def _derive(secret: str) -> bytes:
    return HKDF(
        algorithm=hashes.SHA256(), length=32, salt=None, info=b"passnum cheque security codes"
    ).derive(secret.encode())


@dataclass(frozen=True)
class _Key:
    id: str
    aead: AESGCM


def _key(secret: str) -> _Key:
    raw = _derive(secret)
    return _Key(id=hashlib.sha256(raw).hexdigest()[:8], aead=AESGCM(raw))


class CodeVault:
    """Seals new codes with the current key; opens codes sealed by it or a previous key."""

    def __init__(self, secret: str, previous: Iterable[str] = ()) -> None:
        self._current = _key(secret)
        self._attempts = hashlib.sha256(b"passnum code attempts" + _derive(secret)).digest()
        self._keys = {k.id: k for k in (_key(s) for s in previous)}
        self._keys[self._current.id] = self._current

    @property
    def key_id(self) -> str:
        return self._current.id

    def seal(self, serial: str, code: str) -> str:
        nonce = os.urandom(_NONCE_BYTES)
        sealed = self._current.aead.encrypt(nonce, code.encode(), serial.encode())
        blob = base64.urlsafe_b64encode(nonce + sealed).decode().rstrip("=")
        return f"{_VERSION}.{self._current.id}.{blob}"

    def new_sealed_code(self, serial: str) -> str:
        """A fresh CSPRNG code for `serial`, sealed."""
        return self.seal(serial, new_code())

    def reveal(self, serial: str, sealed: str) -> str:
        """The code sealed for `serial`; ValueError if it does not open (wrong key, tampered,
        sealed for another cheque)."""
        try:
            version, key_id, blob = sealed.split(".", 2)
            key = self._keys[key_id]
            raw = base64.urlsafe_b64decode(blob + "=" * (-len(blob) % 4))
        except (ValueError, KeyError) as exc:
            raise ValueError("unknown sealed code format or key") from exc
        if version != _VERSION:
            raise ValueError(f"unknown sealed code version {version}")
        try:
            plain = key.aead.decrypt(raw[:_NONCE_BYTES], raw[_NONCE_BYTES:], serial.encode())
        except Exception as exc:  # cryptography's InvalidTag: tampered or another cheque's
            raise ValueError("sealed code does not open for this cheque") from exc
        return plain.decode()

    def attempt_id(self, serial: str, code: str) -> str:
        """A keyed fingerprint of a code typed for `serial` (to count distinct wrong codes
        without storing them)."""
        mac = hmac.new(self._attempts, f"{serial}:{code}".encode(), hashlib.sha256)
        return mac.hexdigest()[:32]

    def matches(self, serial: str, sealed: str | None, code: str) -> bool:
        """Whether `code` (canonical) is the cheque's code, in constant time."""
        if not sealed:
            return False
        try:
            expected = self.reveal(serial, sealed)
        except ValueError:
            return False
        return hmac.compare_digest(expected.encode(), code.encode())


def ensure_codes(session: Session, vault: CodeVault, now: datetime) -> int:
    """Give a code to every cheque without one and mark its booklet's slip for reprinting.
    Idempotent; the caller commits. Returns how many cheques got a code."""
    rows = session.exec(
        select(Cheque.serial, Cheque.programme_code, Cheque.booklet_number).where(
            col(Cheque.security_code).is_(None)
        )
    ).all()
    if not rows:
        return 0
    for serial, _, _ in rows:
        session.execute(
            update(Cheque)
            .where(col(Cheque.serial) == serial, col(Cheque.security_code).is_(None))
            .values(security_code=vault.new_sealed_code(serial))
        )
    booklets = {(code, number) for _, code, number in rows}
    for programme_code, booklet_number in booklets:
        session.execute(
            update(BookletAllocation)
            .where(
                col(BookletAllocation.programme_code) == programme_code,
                col(BookletAllocation.booklet_number) == booklet_number,
                col(BookletAllocation.slip_to_reprint_since).is_(None),
            )
            .values(slip_to_reprint_since=now)
        )
    return len(rows)
