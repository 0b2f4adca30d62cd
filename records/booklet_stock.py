"""Booklet stock: numbered booklets the coordination hands to reception structures, and the
booklet number a new booklet takes.

A millésime is *stock-managed* once a range of its booklets was handed to a structure:
from then on a social worker gives out the lowest free number of their structure's
ranges, and none when their stock is empty (the API refuses before the workflow is
asked). A millésime without ranges numbers booklets after every number in use, as
before stock existed. Booklet numbers stay unique in the programme (the allocation's
unique key), so ranges never overlap, whatever their millésime.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import and_, case, func, or_
from sqlmodel import Session, col, select

from domain import refusals as r
from records.models import BookletAllocation, BookletStockRange, Journey, ReceptionStructure

MAX_RANGE_SIZE = 20_000  # a whole département's year is 9 000 booklets


class StockRefused(Exception):
    """A range that cannot be handed out: `message` says why, in French."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def ranges(
    session: Session, programme_code: int, millesime: int | None = None
) -> list[BookletStockRange]:
    query = select(BookletStockRange).where(BookletStockRange.programme_code == programme_code)
    if millesime is not None:
        query = query.where(BookletStockRange.millesime == millesime)
    return list(session.exec(query.order_by(col(BookletStockRange.first_number))).all())


def hand_out_range(
    session: Session,
    *,
    programme_code: int,
    millesime: int,
    reception_structure_id: int,
    first_number: int,
    last_number: int,
    by: int | None,
    at: datetime,
) -> BookletStockRange:
    """Give booklets `first_number`..`last_number` of `millesime` to a structure; refused
    (nothing written) if they overlap another range or a booklet already given out."""
    if not 1 <= first_number <= last_number:
        raise StockRefused(r.MSG_STOCK_RANGE_ORDER)
    if last_number - first_number + 1 > MAX_RANGE_SIZE:
        raise StockRefused(r.msg_stock_range_too_large(MAX_RANGE_SIZE))
    overlapping = session.exec(
        select(BookletStockRange).where(
            BookletStockRange.programme_code == programme_code,
            BookletStockRange.first_number <= last_number,
            BookletStockRange.last_number >= first_number,
        )
    ).first()
    if overlapping is not None:
        raise StockRefused(
            r.msg_stock_range_overlaps(overlapping.first_number, overlapping.last_number)
        )
    used = session.exec(
        select(func.min(BookletAllocation.booklet_number)).where(
            BookletAllocation.programme_code == programme_code,
            col(BookletAllocation.booklet_number).between(first_number, last_number),
        )
    ).one()
    if used is not None:
        raise StockRefused(r.msg_stock_number_in_use(used))
    row = BookletStockRange(
        programme_code=programme_code,
        millesime=millesime,
        reception_structure_id=reception_structure_id,
        first_number=first_number,
        last_number=last_number,
        allocated_at=at,
        allocated_by=by,
    )
    session.add(row)
    session.flush()
    return row


def is_managed(session: Session, programme_code: int, millesime: int) -> bool:
    return (
        session.exec(
            select(BookletStockRange.id).where(
                BookletStockRange.programme_code == programme_code,
                BookletStockRange.millesime == millesime,
            )
        ).first()
        is not None
    )


def _structure_ranges(
    session: Session, programme_code: int, millesime: int, reception_structure_id: int
) -> list[BookletStockRange]:
    return [
        row
        for row in ranges(session, programme_code, millesime)
        if row.reception_structure_id == reception_structure_id
    ]


def _used_in(session: Session, programme_code: int, rows: Iterable[BookletStockRange]) -> set[int]:
    bounds = [
        col(BookletAllocation.booklet_number).between(row.first_number, row.last_number)
        for row in rows
    ]
    if not bounds:
        return set()
    return set(
        session.exec(
            select(BookletAllocation.booklet_number).where(
                BookletAllocation.programme_code == programme_code, or_(*bounds)
            )
        ).all()
    )


def left_in_stock(
    session: Session, programme_code: int, millesime: int, reception_structure_id: int
) -> int:
    rows = _structure_ranges(session, programme_code, millesime, reception_structure_id)
    size = sum(row.last_number - row.first_number + 1 for row in rows)
    return size - len(_used_in(session, programme_code, rows))


def next_booklet_number(
    session: Session, programme_code: int, millesime: int, reception_structure_id: int | None
) -> int:
    """The number a new booklet takes: the lowest free one of the structure's stock of a
    stock-managed millésime; otherwise (or if that stock ran out meanwhile: two booklets
    given at once for the last one) the next number after every number in use."""
    if reception_structure_id is not None and is_managed(session, programme_code, millesime):
        rows = _structure_ranges(session, programme_code, millesime, reception_structure_id)
        used = _used_in(session, programme_code, rows)
        for row in rows:
            for number in range(row.first_number, row.last_number + 1):
                if number not in used:
                    return number
    highest_given = session.exec(
        select(func.max(BookletAllocation.booklet_number)).where(
            BookletAllocation.programme_code == programme_code
        )
    ).one()
    highest_stocked = session.exec(
        select(func.max(BookletStockRange.last_number)).where(
            BookletStockRange.programme_code == programme_code
        )
    ).one()
    return max(highest_given or 0, highest_stocked or 0) + 1


@dataclass(frozen=True)
class StockLine:
    """One reception structure's booklets of a millésime: in stock (not given out yet),
    handed out, started (a cheque spent) and finished (every cheque spent)."""

    reception_structure_id: int
    name: str
    epci_id: int
    received: int
    in_stock: int
    handed_out: int
    started: int
    finished: int


def stock_lines(
    session: Session, programme_id: int, programme_code: int, millesime: int
) -> list[StockLine]:
    """Per reception structure of the programme, its booklets of `millesime` (those given
    out count for the structure of the journey, in stock or not)."""
    structures = session.exec(
        select(ReceptionStructure)
        .where(ReceptionStructure.programme_id == programme_id)
        .order_by(col(ReceptionStructure.name))
    ).all()
    received: dict[int, int] = {}
    used: dict[int, int] = {}
    stocked = ranges(session, programme_code, millesime)
    numbers = sorted(_used_in(session, programme_code, stocked))
    for row in stocked:
        owner = row.reception_structure_id
        received[owner] = received.get(owner, 0) + row.last_number - row.first_number + 1
        used[owner] = used.get(owner, 0) + (
            bisect_right(numbers, row.last_number) - bisect_left(numbers, row.first_number)
        )
    # Every booklet given out counts as handed out (a lost one and its replacement: two);
    # started and finished say how the booklet the person holds is used.
    held = col(BookletAllocation.lost_at).is_(None)
    given = session.exec(
        select(
            Journey.reception_structure_id,
            func.count(),
            func.sum(case((and_(held, col(Journey.cheques_redeemed) > 0), 1), else_=0)),
            func.sum(
                case(
                    (
                        and_(
                            held,
                            col(Journey.cheques_total) > 0,
                            col(Journey.cheques_redeemed) >= col(Journey.cheques_total),
                        ),
                        1,
                    ),
                    else_=0,
                )
            ),
        )
        .join(BookletAllocation, col(BookletAllocation.journey_id) == col(Journey.id))
        .where(
            BookletAllocation.programme_code == programme_code,
            BookletAllocation.millesime == millesime,
        )
        .group_by(col(Journey.reception_structure_id))
    ).all()
    by_structure = {row[0]: (row[1], row[2] or 0, row[3] or 0) for row in given}
    lines = []
    for structure in structures:
        assert structure.id is not None
        handed, started, finished = by_structure.get(structure.id, (0, 0, 0))
        lines.append(
            StockLine(
                reception_structure_id=structure.id,
                name=structure.name,
                epci_id=structure.epci_id,
                received=received.get(structure.id, 0),
                in_stock=received.get(structure.id, 0) - used.get(structure.id, 0),
                handed_out=handed,
                started=started,
                finished=finished,
            )
        )
    return lines
