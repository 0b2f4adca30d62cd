"""Who might be the same person: the normalised keys the duplicate check compares.

A social worker types names and contact details as they come: "Jean-Pierre DUPRÉ",
"jean pierre dupre" and "Jean Pierre Dupre" are the same person, and so are the phone
numbers "+33 6 12 34 56 78", "06.12.34.56.78" and "0033 (0)6 12 34 56 78". These keys fold
those differences away; the records keep them beside the typed values (records.models
Beneficiary.name_key, email_key, phone_key) so that the check is one indexed query.

Two people match when they share (records.duplicates):
- the same first and last names (in either order: "NOM Prénom" forms swap them) and the
  same birth year;
- or the same e-mail address (case-insensitive);
- or the same phone number.
"""

from __future__ import annotations

import unicodedata

# Letters NFKD does not decompose into a base letter and a mark.
_LIGATURES = str.maketrans({"œ": "oe", "Œ": "oe", "æ": "ae", "Æ": "ae", "ß": "ss"})
_MIN_PHONE_DIGITS = 8  # shorter: a typing slip or a short number, never an identity
_FRANCE = "33"


def fold(text: str | None) -> str:
    """Lower case, accents removed, only letters and digits kept ("Jean-Pierre" ->
    "jeanpierre"): hyphens, spaces, apostrophes and dots fold away."""
    if not text:
        return ""
    decomposed = unicodedata.normalize("NFKD", text.translate(_LIGATURES))
    bare = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return "".join(ch for ch in bare.casefold() if ch.isalnum())


def name_key(first_name: str | None, last_name: str | None) -> str | None:
    """`first|last`, folded; None unless both names are known."""
    first, last = fold(first_name), fold(last_name)
    return f"{first}|{last}" if first and last else None


def name_keys(first_name: str | None, last_name: str | None) -> list[str]:
    """The keys a person with these names matches: as typed, and first and last swapped."""
    first, last = fold(first_name), fold(last_name)
    if not (first and last):
        return []
    return list(dict.fromkeys([f"{first}|{last}", f"{last}|{first}"]))


def email_key(email: str | None) -> str | None:
    """The address, trimmed and lower-cased; None if it is not one."""
    if not email:
        return None
    address = email.strip().lower()
    return address if "@" in address.strip("@") else None


def phone_key(phone: str | None) -> str | None:
    """French numbers as their 10 national digits (`0612345678`), from `06 12 34 56 78`,
    `06.12.34.56.78`, `+33 6 12 34 56 78`, `+33 (0)6…` or `0033 6…`; other countries'
    as `+` and their digits. None for fewer than 8 digits."""
    if not phone:
        return None
    text = phone.strip()
    digits = "".join(ch for ch in text if ch.isdigit())
    international = text.startswith("+") or digits.startswith("00")
    if international:
        digits = digits[2:] if digits.startswith("00") else digits
    elif len(digits) == 11 and digits.startswith(_FRANCE):  # "33 6 12…" typed without +
        international = True
    if international:
        if not digits.startswith(_FRANCE):
            return f"+{digits}" if len(digits) >= _MIN_PHONE_DIGITS else None
        national = digits[len(_FRANCE) :]
        digits = national if national.startswith("0") else f"0{national}"  # "+33 (0)6…"
    return digits if len(digits) >= _MIN_PHONE_DIGITS else None
