"""AES-256-GCM keys from settings, with key ids for rotation: one helper, two callers.

A secret from the settings (at least 32 random characters outside dev mode) is stretched
into a 32-byte AES key with HKDF-SHA256, under an `info` string naming what it protects, so
one secret never yields the same key for two purposes. Each key has an id (8 hex digits of
the key's own hash): what was sealed says which key opens it, so after a rotation the
former secrets (given as "previous") still open what they sealed while everything new is
sealed with the current one.

Callers: the cheques' security codes at rest (`records.cheque_codes.CodeVault`) and the
Temporal payload codec (`temporal_client.EncryptionCodec`, keys from `config.Settings`).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable
from dataclasses import dataclass

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

NONCE_BYTES = 12


def derive(secret: str, info: bytes) -> bytes:
    """The 32-byte key `secret` gives for the purpose `info`."""
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=info).derive(secret.encode())


@dataclass(frozen=True)
class Key:
    id: str  # 8 hex digits: names the key in what it sealed, never reveals it
    aead: AESGCM


def key_for(secret: str, info: bytes) -> Key:
    raw = derive(secret, info)
    return Key(id=hashlib.sha256(raw).hexdigest()[:8], aead=AESGCM(raw))


class UnknownKey(ValueError):
    """Sealed with a key this keyring does not hold (a secret dropped too early)."""


class Keyring:
    """The current key (seals) and the previous ones (still open), by id."""

    def __init__(self, secret: str, previous: Iterable[str] = (), *, info: bytes) -> None:
        self.current = key_for(secret, info)
        self._keys = {k.id: k for k in (key_for(s, info) for s in previous)}
        self._keys[self.current.id] = self.current

    @property
    def key_id(self) -> str:
        return self.current.id

    @property
    def key_ids(self) -> frozenset[str]:
        return frozenset(self._keys)

    def key(self, key_id: str) -> Key:
        try:
            return self._keys[key_id]
        except KeyError:
            raise UnknownKey(f"no key {key_id!r} in the keyring") from None

    def seal(self, plain: bytes, associated: bytes | None = None) -> bytes:
        """nonce + ciphertext (with its tag), under the current key."""
        nonce = os.urandom(NONCE_BYTES)
        return nonce + self.current.aead.encrypt(nonce, plain, associated)

    def open(self, key_id: str, sealed: bytes, associated: bytes | None = None) -> bytes:
        """What `seal` sealed under key `key_id`; ValueError if it does not open (unknown
        key, tampered, other associated data)."""
        key = self.key(key_id)
        try:
            return key.aead.decrypt(sealed[:NONCE_BYTES], sealed[NONCE_BYTES:], associated)
        except Exception as exc:  # cryptography's InvalidTag
            raise ValueError("sealed data does not open with its key") from exc


def parse_secrets(joined: str | None) -> list[str]:
    """Former secrets from a comma-separated setting, blanks dropped."""
    return [s.strip() for s in (joined or "").split(",") if s.strip()]
