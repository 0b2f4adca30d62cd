"""Enums whose members carry a French label, from one table per enum.

    class Stage(Labelled):
        REFERRED = "REFERRED"
        ...

    STAGE_LABELS = labels(Stage, {Stage.REFERRED: "Orienté vers le dispositif", ...})

`Stage.REFERRED.label` reads the table; `Stage.options()` gives the (value, label) pairs a
form's choices need. `labels` refuses (at import) a table that misses a member, so no
member goes without its French words.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import TypeVar

L = TypeVar("L", bound="Labelled")

_TABLES: dict[type[Labelled], Mapping[Labelled, str]] = {}


class Labelled(StrEnum):
    """A StrEnum with a French `label` per member (registered with `labels`)."""

    @property
    def label(self) -> str:
        return _TABLES[type(self)][self]

    @classmethod
    def options(cls) -> list[tuple[str, str]]:
        """(value, label) of every member, in declaration order."""
        return [(member.value, member.label) for member in cls]

    @classmethod
    def table(cls) -> dict[str, str]:
        """{value: label} of every member, for templates."""
        return dict(cls.options())


def labels(enum: type[L], table: Mapping[L, str]) -> Mapping[L, str]:
    """Register `table` as the labels of `enum` (every member, nothing else) and return it."""
    missing = [m.value for m in enum if m not in table]
    foreign = [k for k in table if not isinstance(k, enum)]
    if missing or foreign:
        raise ValueError(f"{enum.__name__} labels: missing {missing}, foreign {foreign}")
    _TABLES[enum] = table  # type: ignore[assignment]
    return table
