"""Cheque security codes: the unguessable part of a cheque, printed beside its serial.

The serial identifies a cheque; serials are sequential, so anyone can compute valid ones.
Only serial + code spends it: the code proves that the person's paper is in the hands of
whoever types it.

A code is 8 characters of Crockford's base 32 (digits and capitals without I, L, O, U,
so nothing reads as another): 7 drawn from the operating system's CSPRNG (35 bits) and a
check character (Luhn mod 32), which catches every single mistyped character and most
swaps of two neighbours. A mistyped code is therefore told apart from a wrong one: only
a code that passes its check but is not the cheque's counts as an attempt, and repeated
attempts lock the booklet (see `records.cheque_codes`). Printed `A7KQ-2MPX`; typed in any
case, with or without separators, O read as 0 and I/L as 1.

A cheque "line" is what a mediator types or scans for one cheque: its 16-digit serial
followed by its code (the booklet's barcode carries exactly that).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from domain.serials import SERIAL_LENGTH, normalise

ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_VALUE = {ch: i for i, ch in enumerate(ALPHABET)}
# Crockford's reading of look-alikes.
_ALIASES = {"O": "0", "I": "1", "L": "1"}
RANDOM_LENGTH = 7
CODE_LENGTH = RANDOM_LENGTH + 1
_BASE = len(ALPHABET)


class CodeError(ValueError):
    """A typed code that cannot be a security code. `code` names the reason."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def check_character(body: str) -> str:
    """Luhn mod 32 over `body` (canonical characters): the character that makes it valid."""
    factor, total = 2, 0
    for ch in reversed(body):
        addend = factor * _VALUE[ch]
        factor = 1 if factor == 2 else 2
        total += addend // _BASE + addend % _BASE
    return ALPHABET[(_BASE - total % _BASE) % _BASE]


def is_valid(code: str) -> bool:
    """Whether a canonical code's last character is the check of the others."""
    return (
        len(code) == CODE_LENGTH
        and all(ch in _VALUE for ch in code)
        and check_character(code[:-1]) == code[-1]
    )


def new_code() -> str:
    """A fresh code from the CSPRNG, canonical form (8 characters, no separator)."""
    body = "".join(secrets.choice(ALPHABET) for _ in range(RANDOM_LENGTH))
    return body + check_character(body)


def canonical(text: str) -> str:
    """Upper case, separators dropped, look-alikes read as Crockford does."""
    return "".join(_ALIASES.get(ch, ch) for ch in normalise(text).upper())


def parse_code(text: str) -> str:
    """The canonical code typed as `text`, or CodeError with a French message."""
    code = canonical(text)
    if not code:
        raise CodeError(
            "code_missing",
            "Saisissez aussi le code de sécurité du chèque, imprimé à côté de son numéro.",
        )
    if len(code) != CODE_LENGTH or any(ch not in _VALUE for ch in code):
        raise CodeError(
            "code_malformed",
            f"Le code de sécurité doit compter {CODE_LENGTH} caractères "
            "(chiffres et lettres, par exemple A7KQ-2MPX).",
        )
    if not is_valid(code):
        raise CodeError(
            "code_mistyped",
            f"Le code de sécurité {display_code(code)} est mal saisi (caractère de contrôle "
            "invalide) : vérifiez-le sur le bordereau.",
        )
    return code


def display_code(code: str) -> str:
    """As printed on the slip: A7KQ-2MPX."""
    return f"{code[:4]}-{code[4:]}" if len(code) == CODE_LENGTH else code


@dataclass(frozen=True)
class ChequeLine:
    """One cheque as typed or scanned: its serial text and its code text (maybe empty)."""

    serial: str
    code: str


def split_line(text: str) -> ChequeLine:
    """Split a typed or scanned line into serial and code.

    The serial is always 16 digits: once separators are dropped, the first 16 characters
    are the serial when they are digits, the rest is the code. Anything else is left whole
    as the serial, so that the serial's parser gives the precise reason.
    """
    compact = normalise(text)
    head = compact[:SERIAL_LENGTH]
    if len(compact) >= SERIAL_LENGTH and head.isascii() and head.isdigit():
        return ChequeLine(serial=head, code=compact[SERIAL_LENGTH:])
    return ChequeLine(serial=text.strip(), code="")


def scan_text(serial_digits: str, code: str) -> str:
    """What the booklet's barcode carries for one cheque: serial then code, no separator."""
    return serial_digits + code
