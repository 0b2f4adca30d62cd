"""Booklet stock on SQLite and PostgreSQL: ranges handed to structures, the number a new
booklet takes, what each structure holds."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlmodel import Session, col, select

from records import booklet_stock
from records.models import BookletAllocation, Programme, ReceptionStructure
from records.seed import seed_default_programme

NOW = datetime(2026, 12, 1, 9, tzinfo=UTC)
CODE = 12


def seeded(session: Session) -> tuple[Programme, list[int]]:
    seed_default_programme(session)
    programme = session.exec(select(Programme)).one()
    ids = [
        s.id
        for s in session.exec(select(ReceptionStructure).order_by(col(ReceptionStructure.id)))
        if s.id
    ]
    return programme, ids


def hand(session: Session, structure: int, first: int, last: int, millesime: int = 2026) -> None:
    booklet_stock.hand_out_range(
        session,
        programme_code=CODE,
        millesime=millesime,
        reception_structure_id=structure,
        first_number=first,
        last_number=last,
        by=None,
        at=NOW,
    )


def give(session: Session, journey: str, number: int, millesime: int = 2026) -> None:
    session.add(
        BookletAllocation(
            journey_id=journey, programme_code=CODE, millesime=millesime, booklet_number=number
        )
    )
    session.flush()


def test_a_new_booklet_takes_the_lowest_free_number_of_its_structures_stock(sessions) -> None:  # type: ignore[no-untyped-def]
    with sessions() as s:
        _, (a, b, *_) = seeded(s)
        # Not stock-managed yet: numbers follow each other.
        assert not booklet_stock.is_managed(s, CODE, 2026)
        assert booklet_stock.next_booklet_number(s, CODE, 2026, a) == 1
        give(s, "j1", 1)
        hand(s, a, 100, 102)
        hand(s, b, 200, 299)
        assert booklet_stock.is_managed(s, CODE, 2026)
        assert booklet_stock.next_booklet_number(s, CODE, 2026, a) == 100
        give(s, "j2", 100)
        give(s, "j3", 102)
        assert booklet_stock.next_booklet_number(s, CODE, 2026, a) == 101
        assert booklet_stock.left_in_stock(s, CODE, 2026, a) == 1
        assert booklet_stock.left_in_stock(s, CODE, 2026, b) == 100
        give(s, "j4", 101)
        assert booklet_stock.left_in_stock(s, CODE, 2026, a) == 0
        # Stock run out under a race: a number after every one in use, never a taken one.
        assert booklet_stock.next_booklet_number(s, CODE, 2026, a) == 300
        # Another millésime without ranges: after every number in use or stocked.
        assert not booklet_stock.is_managed(s, CODE, 2027)
        assert booklet_stock.next_booklet_number(s, CODE, 2027, a) == 300


@pytest.mark.parametrize(
    ("first", "last", "message"),
    [
        (5, 4, "premier numéro"),
        (0, 4, "premier numéro"),
        (1, 30_000, "20\u202f000 carnets"),
        (150, 160, "n° 100 à 199"),  # overlaps a range of any millésime
        (90, 100, "n° 100 à 199"),
        (7, 9, "carnet n° 7"),  # given out before stock existed
    ],
)
def test_ranges_that_cannot_be_handed_out_are_refused_in_french(  # type: ignore[no-untyped-def]
    sessions, first: int, last: int, message: str
) -> None:
    with sessions() as s:
        _, (a, b, *_) = seeded(s)
        hand(s, a, 100, 199, millesime=2027)
        give(s, "old", 7)
        with pytest.raises(booklet_stock.StockRefused) as refused:
            hand(s, b, first, last)
        assert message in refused.value.message
        assert len(booklet_stock.ranges(s, CODE)) == 1


def test_stock_lines_per_structure(sessions) -> None:  # type: ignore[no-untyped-def]
    from records.models import Journey

    with sessions() as s:
        programme, (a, b, *_) = seeded(s)
        assert programme.id is not None
        hand(s, a, 1, 10)
        hand(s, a, 21, 25)
        structure = s.get(ReceptionStructure, a)
        assert structure is not None
        for n, (total, spent) in enumerate([(10, 0), (10, 3), (10, 10)], start=1):
            s.add(
                Journey(
                    id=f"j{n}",
                    workflow_id=f"w{n}",
                    programme_code=CODE,
                    epci_id=structure.epci_id,
                    reception_structure_id=a,
                    referrer_role="SOCIAL_WORKER",
                    referrer_ref="x",
                    stage="IN_TRAINING",
                    millesime=2026,
                    booklet_number=n,
                    cheques_total=total,
                    cheques_redeemed=spent,
                    updated_at=NOW,
                )
            )
            give(s, f"j{n}", n)
        lines = {
            line.reception_structure_id: line
            for line in booklet_stock.stock_lines(s, programme.id, CODE, 2026)
        }
        mine = lines[a]
        assert (mine.received, mine.in_stock, mine.handed_out) == (15, 12, 3)
        assert (mine.started, mine.finished) == (2, 1)
        other = lines[b]
        assert (other.received, other.in_stock, other.handed_out, other.started) == (0, 0, 0, 0)
        assert len(lines) == 61
        # Another millésime: nothing.
        assert booklet_stock.stock_lines(s, programme.id, CODE, 2027)[0].received == 0


def test_a_replaced_booklet_counts_as_handed_out_and_only_the_held_one_as_started(  # type: ignore[no-untyped-def]
    sessions,
) -> None:
    """A lost booklet and its replacement are two booklets out of the structure's stock;
    whether it is started or finished is said of the one the person holds."""
    from records.models import Journey

    with sessions() as s:
        programme, (a, *_) = seeded(s)
        assert programme.id is not None
        hand(s, a, 1, 10)
        structure = s.get(ReceptionStructure, a)
        assert structure is not None
        s.add(
            Journey(
                id="j1",
                workflow_id="w1",
                programme_code=CODE,
                epci_id=structure.epci_id,
                reception_structure_id=a,
                referrer_role="SOCIAL_WORKER",
                referrer_ref="x",
                stage="IN_TRAINING",
                millesime=2026,
                booklet_number=2,
                cheques_total=10,
                cheques_redeemed=4,
                updated_at=NOW,
            )
        )
        give(s, "j1", 1)
        lost = s.exec(select(BookletAllocation)).one()
        lost.lost_at = NOW
        s.add(
            BookletAllocation(
                journey_id="j1",
                sequence=2,
                programme_code=CODE,
                millesime=2026,
                booklet_number=booklet_stock.next_booklet_number(s, CODE, 2026, a),
                replaces_booklet_number=1,
            )
        )
        s.flush()
        (line,) = [
            x
            for x in booklet_stock.stock_lines(s, programme.id, CODE, 2026)
            if x.reception_structure_id == a
        ]
        assert (line.received, line.in_stock, line.handed_out) == (10, 8, 2)
        assert (line.started, line.finished) == (1, 0)
