"""Bounds every input shares, declared once so that the OpenAPI document shows them and
no input can reach the database or the workflow in a shape they cannot take.

- ids are PostgreSQL `integer`s (1..2^31-1): a larger number would overflow SQLite or
  PostgreSQL and answer 500 instead of "not found";
- journey ids are the 36-character UUIDs the API hands out;
- text typed by people has a maximum length and no control character (a NUL byte breaks
  PostgreSQL, a line break in a name would break a mail header); multi-line text
  (reasons, comments, consent, postal address) may hold line breaks and tabs. Constrained
  strings also refuse lone UTF-16 surrogates, which JSON can carry and UTF-8 cannot.

Path and query parameters use `IdPath`, `IdQuery`, `JourneyIdPath`; request bodies use
`Id` and the text types. French messages for these refusals live in api/errors.py.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Path, Query
from pydantic import Field

MAX_ID = 2**31 - 1  # PostgreSQL integer
MAX_OFFSET = 1_000_000  # far beyond any list; keeps LIMIT/OFFSET within the databases' range
MAX_PAGE = 10_000  # page numbers of the pages' lists (25 to 50 rows a page)

# Regular expressions (pydantic's Rust engine and JSON Schema read them alike).
LINE = r"^[^\x00-\x1f\x7f]*$"  # one line: no control character
TEXT = r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f]*$"  # several lines: tab, LF and CR allowed
JOURNEY_ID = r"^[0-9A-Za-z-]+$"

Id = Annotated[int, Field(ge=1, le=MAX_ID, description="Identifiant (1 à 2³¹-1)")]
IdPath = Annotated[int, Path(ge=1, le=MAX_ID, description="Identifiant (1 à 2³¹-1)")]
IdQuery = Annotated[int | None, Query(ge=1, le=MAX_ID, description="Identifiant (1 à 2³¹-1)")]
JourneyIdPath = Annotated[
    str,
    Path(
        min_length=1,
        max_length=36,
        pattern=JOURNEY_ID,
        description="Identifiant du parcours (UUID)",
    ),
]

BookletNumber = Annotated[
    int, Field(ge=1, le=999_999, description="Numéro de carnet (six chiffres du numéro de chèque)")
]
Millesime = Annotated[int, Field(ge=2000, le=2100, description="Millésime (année)")]
ShortText = Annotated[str, Field(min_length=1, max_length=100, pattern=LINE)]
Reason = Annotated[str, Field(min_length=1, max_length=500, pattern=TEXT)]
Comment = Annotated[str, Field(max_length=500, pattern=TEXT)]


def parse_id(text: str | None) -> int | None:
    """An id typed in a URL filter, or None (ASCII digits only: "²".isdigit() is true)."""
    if not text or not (text.isascii() and text.isdigit()):
        return None
    return int(text) if 1 <= int(text) <= MAX_ID else None
