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
from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import update
from sqlmodel import Session, col, select

from domain.security_codes import new_code
from records.keyring import Keyring, derive
from records.models import BookletAllocation, Cheque

# Accepted only in dev mode (config.py refuses it in production), like the secret key.
DEV_CHEQUE_CODE_KEY = "dev-only-cheque-code-key-not-for-production-use-passnum"
_INFO = b"passnum cheque security codes"
_VERSION = "v1"


class CodeVault:
    """Seals new codes with the current key; opens codes sealed by it or a previous key
    (records.keyring)."""

    def __init__(self, secret: str, previous: Iterable[str] = ()) -> None:
        self._keys = Keyring(secret, previous, info=_INFO)
        self._attempts = hashlib.sha256(b"passnum code attempts" + derive(secret, _INFO)).digest()

    @property
    def key_id(self) -> str:
        return self._keys.key_id

    def seal(self, serial: str, code: str) -> str:
        sealed = self._keys.seal(code.encode(), serial.encode())
        blob = base64.urlsafe_b64encode(sealed).decode().rstrip("=")
        return f"{_VERSION}.{self._keys.key_id}.{blob}"

    def new_sealed_code(self, serial: str) -> str:
        """A fresh CSPRNG code for `serial`, sealed."""
        return self.seal(serial, new_code())

    def reveal(self, serial: str, sealed: str) -> str:
        """The code sealed for `serial`; ValueError if it does not open (wrong key, tampered,
        sealed for another cheque)."""
        try:
            version, key_id, blob = sealed.split(".", 2)
            raw = base64.urlsafe_b64decode(blob + "=" * (-len(blob) % 4))
        except ValueError as exc:
            raise ValueError("unknown sealed code format or key") from exc
        if version != _VERSION:
            raise ValueError(f"unknown sealed code version {version}")
        try:
            plain = self._keys.open(key_id, raw, serial.encode())
        except ValueError as exc:  # unknown key, tampered or another cheque's
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
