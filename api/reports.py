"""The coordinators' overview, one service for the page and `/api/v1/reports/overview`:
the figures of the caller's scope under the filters they chose (period of referral,
millésime, EPCI, structure), the booklets against the programme's target, the cheques
about to expire.

Filters arrive as typed in a URL: whatever does not parse is left out (and said so), never
an error page; an EPCI's coordinators cannot look outside their EPCI (the scope wins).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from sqlmodel import Session

from api import access
from api import programme_reads as reads
from api.auth import User
from api.constraints import parse_id
from domain import clock
from domain.stages import Role
from records import coordination, models

_MONTH = re.compile(r"^(\d{4})-(\d{2})$")


def _month(text: str | None) -> int | None:
    """YYYY-MM (an `<input type="month">`) as YYYYMM, or None."""
    found = _MONTH.match(text or "")
    if not found or not 1 <= int(found[2]) <= 12 or not 2000 <= int(found[1]) <= 2100:
        return None
    return int(found[1]) * 100 + int(found[2])


@dataclass(frozen=True)
class Filters:
    """What the caller asked, as typed (to show it back), and what is applied."""

    typed: dict[str, str]
    applied: coordination.OverviewFilter
    ignored: list[str] = field(default_factory=list)  # French names of unreadable filters


def parse_filters(
    user: User,
    *,
    epci: str | None = None,
    structure: str | None = None,
    millesime: str | None = None,
    du: str | None = None,
    au: str | None = None,
) -> Filters:
    """The overview's filters from a URL: `structure` is `accueil-ID` or `mediation-ID`,
    `du`/`au` months of referral (YYYY-MM), `millesime` a year (0: no booklet yet)."""
    typed = {
        "epci": epci or "",
        "structure": structure or "",
        "millesime": millesime or "",
        "du": du or "",
        "au": au or "",
    }
    ignored: list[str] = []
    kind, _, structure_id = (structure or "").partition("-")
    year = millesime if millesime and millesime.isascii() and millesime.isdigit() else None
    applied = coordination.OverviewFilter(
        epci_id=parse_id(epci) if user.epci_id is None else None,
        reception_structure_id=parse_id(structure_id) if kind == "accueil" else None,
        mediation_structure_id=parse_id(structure_id) if kind == "mediation" else None,
        millesime=int(year) if year is not None and len(year) <= 4 else None,
        from_month=_month(du),
        to_month=_month(au),
    )
    for name, text, value in (
        ("la période (début)", du, applied.from_month),
        ("la période (fin)", au, applied.to_month),
        ("le millésime", millesime, applied.millesime),
    ):
        if text and value is None:
            ignored.append(name)
    return Filters(typed, applied, ignored)


@dataclass(frozen=True)
class OverviewReport:
    programme: models.Programme
    scope_label: str
    figures: coordination.Overview
    expiring: coordination.Expiring
    names: coordination.ReferenceNames
    millesimes: list[int]  # of the programme, to filter on


def overview(session: Session, user: User, filters: coordination.OverviewFilter) -> OverviewReport:
    access.require_role(user, Role.COORDINATOR)
    scope = access.journey_scope(user)
    programme = reads.programme(session, user.programme_code)
    assert programme.id is not None
    label = "tout le programme"
    if user.epci_id is not None:
        epci = session.get(models.Epci, user.epci_id)
        label = epci.name if epci else "intercommunalité inconnue"
    last_year = max(reads.millesimes_today(programme).offered, default=programme.starts_on.year)
    end = programme.ends_on.year if programme.ends_on else last_year
    return OverviewReport(
        programme=programme,
        scope_label=label,
        figures=coordination.programme_overview(session, programme, scope, filters),
        expiring=coordination.expiring_cheques(session, programme.code, scope, clock.now()),
        names=coordination.reference_names(session, programme.id),
        millesimes=list(range(programme.starts_on.year, max(end, last_year) + 1)),
    )


def query_of(filters: coordination.OverviewFilter) -> dict[str, str]:
    """The URL parameters that `parse_filters` reads back as `filters` (links that carry
    the filters applied: the exports', the report's)."""
    params: dict[str, str] = {}
    if filters.epci_id is not None:
        params["epci"] = str(filters.epci_id)
    if filters.reception_structure_id is not None:
        params["structure"] = f"accueil-{filters.reception_structure_id}"
    elif filters.mediation_structure_id is not None:
        params["structure"] = f"mediation-{filters.mediation_structure_id}"
    if filters.millesime is not None:
        params["millesime"] = str(filters.millesime)
    for name, month in (("du", filters.from_month), ("au", filters.to_month)):
        if month is not None:
            params[name] = f"{month // 100:04d}-{month % 100:02d}"
    return params
