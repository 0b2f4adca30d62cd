"""Booklet stock for coordinators, one service for the page and the JSON API: what each
reception structure holds, and handing a range of booklets to one (records.booklet_stock).

The programme's coordination hands stock out; an EPCI's coordinators see their EPCI's
structures. A request sent again with the same key (a page form's id, an API
Idempotency-Key) hands out once; the same key with another range is refused.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlmodel import Session, select

from api import access, idempotency
from api import programme_reads as reads
from api.auth import User
from api.deps import AppState
from api.errors import ApiError
from api.idempotency import fingerprint
from domain import clock
from domain.stages import Role
from domain.validity import paris_today
from records import booklet_stock, models


@dataclass(frozen=True)
class EpciStock:
    name: str
    lines: list[booklet_stock.StockLine]

    def total(self, what: str) -> int:
        return sum(getattr(line, what) for line in self.lines)


@dataclass(frozen=True)
class StockPage:
    millesime: int
    millesimes: list[int]
    epci: list[EpciStock]
    ranges: list[tuple[models.BookletStockRange, str]]
    structures: list[tuple[int, str]]


def _read(session: Session, user: User, millesime: int | None) -> StockPage:
    programme = reads.programme(session, user.programme_code)
    assert programme.id is not None
    offered = reads.millesimes_today(programme).offered
    year = millesime or (offered[0] if offered else paris_today().year)
    lines = booklet_stock.stock_lines(session, programme.id, programme.code, year)
    if user.epci_id is not None:
        lines = [line for line in lines if line.epci_id == user.epci_id]
    names = dict(
        session.exec(
            select(models.Epci.id, models.Epci.name).where(models.Epci.programme_id == programme.id)
        ).all()
    )
    by_epci: dict[int, list[booklet_stock.StockLine]] = {}
    for line in lines:
        by_epci.setdefault(line.epci_id, []).append(line)
    structures = {line.reception_structure_id: line.name for line in lines}
    known = sorted({r.millesime for r in booklet_stock.ranges(session, programme.code)})
    return StockPage(
        millesime=year,
        millesimes=sorted({*known, *offered, year}),
        epci=sorted(
            (
                EpciStock(names.get(e, f"Intercommunalité n° {e}"), rows)
                for e, rows in by_epci.items()
            ),
            key=lambda e: e.name,
        ),
        ranges=[
            (r, structures[r.reception_structure_id])
            for r in booklet_stock.ranges(session, programme.code, year)
            if r.reception_structure_id in structures
        ],
        structures=sorted(structures.items(), key=lambda item: item[1]),
    )


def read(session: Session, user: User, millesime: int | None) -> StockPage:
    """The stock of `millesime` (default: the one handed out today) in the user's scope."""
    access.require_role(user, Role.COORDINATOR)
    return _read(session, user, millesime)


async def hand_out(
    state: AppState,
    user: User,
    *,
    millesime: int,
    reception_structure_id: int,
    first_number: int,
    last_number: int,
    key: str | None,
) -> models.BookletStockRange:
    """Hand booklets `first_number`..`last_number` to a structure (409 if refused); sent
    again with the same key, the range handed out the first time."""
    access.require_stock_manager(user)
    asked = {
        "millesime": millesime,
        "reception_structure_id": reception_structure_id,
        "first_number": first_number,
        "last_number": last_number,
    }
    request_print = fingerprint(state.settings.secret_key.get_secret_value(), asked)

    def write(session: Session) -> models.BookletStockRange:
        programme = reads.programme(session, user.programme_code)
        structure = session.get(models.ReceptionStructure, reception_structure_id)
        if structure is None or structure.programme_id != programme.id:
            raise ApiError(
                422,
                "unknown_structure",
                "Cette structure d'accueil n'existe pas dans le programme.",
            )
        if key is not None:
            first = idempotency.claim(
                session, scope=f"stock:{programme.code}", key=key, fingerprint=request_print
            )
            if not first:  # the same request again: the range it handed out
                return session.exec(
                    select(models.BookletStockRange).where(
                        models.BookletStockRange.programme_code == programme.code,
                        models.BookletStockRange.first_number == first_number,
                    )
                ).one()
        try:
            return booklet_stock.hand_out_range(
                session,
                programme_code=programme.code,
                millesime=millesime,
                reception_structure_id=reception_structure_id,
                first_number=first_number,
                last_number=last_number,
                by=user.id,
                at=clock.now(),
            )
        except booklet_stock.StockRefused as refused:
            raise ApiError(409, "stock_refused", refused.message) from None

    return await state.db.run(write, write=True)
