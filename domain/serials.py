"""Cheque serials: human-typeable digits with a Damm check digit.

Layout (16 digits): PPP YYYY BBBBBB CC K
  PPP    programme code (001-999)
  YYYY   millésime (year the cheque is stamped with)
  BBBBBB booklet number within the programme
  CC     cheque number within the booklet (01-99)
  K      Damm check digit over the 15 digits before it

Damm's quasigroup detects every single-digit error and every transposition of two
adjacent digits, which are the two mistakes people make when typing a number.
Digits only, so a barcode scanner (which types digits then Enter) can enter it.
"""

from __future__ import annotations

from dataclasses import dataclass

# Damm's totally anti-symmetric quasigroup of order 10.
_DAMM = (
    (0, 3, 1, 7, 5, 9, 8, 6, 4, 2),
    (7, 0, 9, 2, 1, 5, 4, 8, 6, 3),
    (4, 2, 0, 6, 8, 7, 1, 3, 5, 9),
    (1, 7, 5, 0, 9, 8, 3, 4, 2, 6),
    (6, 1, 2, 3, 0, 4, 5, 9, 7, 8),
    (3, 6, 7, 4, 2, 0, 9, 5, 8, 1),
    (5, 8, 6, 9, 7, 2, 0, 1, 3, 4),
    (8, 9, 4, 5, 3, 6, 2, 0, 1, 7),
    (9, 4, 3, 8, 6, 1, 7, 2, 0, 5),
    (2, 5, 8, 1, 4, 3, 6, 7, 9, 0),
)

SERIAL_LENGTH = 16
_SEPARATORS = " -.\u00a0\u202f\t"


def damm_digit(digits: str) -> int:
    """The check digit that makes `digits + check` reduce to 0."""
    interim = 0
    for ch in digits:
        interim = _DAMM[interim][int(ch)]
    return interim


def is_damm_valid(digits: str) -> bool:
    return digits.isascii() and digits.isdigit() and damm_digit(digits) == 0


class SerialError(ValueError):
    """A typed serial that cannot be a cheque serial. `code` names the reason."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True, order=True)
class ChequeSerial:
    programme_code: int
    millesime: int
    booklet_number: int
    cheque_number: int

    def __post_init__(self) -> None:
        if not 1 <= self.programme_code <= 999:
            raise ValueError("programme code must be 1..999")
        if not 1000 <= self.millesime <= 9999:
            raise ValueError("millésime must be a four-digit year")
        if not 1 <= self.booklet_number <= 999_999:
            raise ValueError("booklet number must be 1..999999")
        if not 1 <= self.cheque_number <= 99:
            raise ValueError("cheque number must be 1..99")

    @property
    def body(self) -> str:
        return (
            f"{self.programme_code:03d}{self.millesime:04d}"
            f"{self.booklet_number:06d}{self.cheque_number:02d}"
        )

    @property
    def digits(self) -> str:
        """Canonical form, as stored and as a barcode carries it."""
        body = self.body
        return body + str(damm_digit(body))

    @property
    def display(self) -> str:
        """Grouped form printed on the booklet slip: 012-2021-000123-04-7."""
        return _grouped(self.digits)

    def __str__(self) -> str:
        return self.digits


def normalise(text: str) -> str:
    """Drop the separators people and printers put in a serial."""
    return "".join(ch for ch in text.strip() if ch not in _SEPARATORS)


def _grouped(digits: str) -> str:
    """16 digits grouped as printed on the booklet, for messages."""
    return f"{digits[0:3]}-{digits[3:7]}-{digits[7:13]}-{digits[13:15]}-{digits[15]}"


def display_stored(digits: str) -> str:
    """A stored (canonical, already checked) serial as printed on the booklet slip,
    012-2026-000123-04-7, without parsing it again: for long lists (exports)."""
    return _grouped(digits) if len(digits) == SERIAL_LENGTH else digits


def parse_serial(text: str) -> ChequeSerial:
    """Parse a typed serial or raise SerialError with a French message."""
    digits = normalise(text)
    if not digits:
        raise SerialError("serial_empty", "Aucun numéro de chèque n'a été saisi.")
    if not (digits.isascii() and digits.isdigit()):  # "²" is a digit to Python, not here
        raise SerialError(
            "serial_malformed",
            f"« {text.strip()} » n'est pas un numéro de chèque : seuls des chiffres sont attendus.",
        )
    if len(digits) != SERIAL_LENGTH:
        raise SerialError(
            "serial_malformed",
            f"« {text.strip()} » n'est pas un numéro de chèque : il faut {SERIAL_LENGTH} chiffres, "
            f"{len(digits)} ont été saisis.",
        )
    if not is_damm_valid(digits):
        raise SerialError(
            "serial_check_digit",
            f"Le numéro {_grouped(digits)} est erroné (clé de contrôle invalide) : "
            "vérifiez la saisie, un chiffre est sans doute faux ou inversé.",
        )
    try:
        return ChequeSerial(
            programme_code=int(digits[0:3]),
            millesime=int(digits[3:7]),
            booklet_number=int(digits[7:13]),
            cheque_number=int(digits[13:15]),
        )
    except ValueError as exc:
        raise SerialError(
            "serial_malformed", f"Le numéro {digits} ne correspond à aucun chèque possible."
        ) from exc


def booklet_serials(
    programme_code: int, millesime: int, booklet_number: int, count: int
) -> list[ChequeSerial]:
    """The serials of one booklet, numbered 01..count."""
    return [ChequeSerial(programme_code, millesime, booklet_number, n) for n in range(1, count + 1)]
