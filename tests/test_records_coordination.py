"""The coordinators' overview and stalled list, computed in SQL on SQLite and PostgreSQL:
figures per stage and EPCI, cheques, funders' shares, the median delay to a first session
(odd and even counts), scope, filters and order of the stalled list."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlmodel import Session, col, select

from records import coordination, overview_counts, queries
from records.db import SessionFactory
from records.models import Epci, Journey, ReceptionStructure
from records.queries import JourneyScope
from records.seed import seed_default_programme

NOW = datetime(2026, 3, 1, 12, tzinfo=UTC)


def journey(epci: int, reception: int, stage: str, **extra: Any) -> Journey:
    return Journey(
        id=str(uuid.uuid4()),
        workflow_id=f"journey-{uuid.uuid4()}",
        programme_code=12,
        epci_id=epci,
        reception_structure_id=reception,
        referrer_role="SOCIAL_WORKER",
        referrer_ref="1",
        stage=stage,
        referred_at=NOW - timedelta(days=60),
        updated_at=NOW,
        **extra,
    )


def stalled(days: int, reason: str) -> dict[str, Any]:
    """A journey stalled for `days` days."""
    return {
        "stalled": True,
        "stalled_since": NOW - timedelta(days=days),
        "stalled_reason": reason,
    }


def trained(sessions: int, days_to_first_session: int) -> dict[str, Any]:
    """A journey of 10 cheques, `sessions` sessions each redeeming one."""
    return {
        "cheques_total": 10,
        "cheques_redeemed": sessions,
        "sessions_count": sessions,
        "days_to_first_session": days_to_first_session,
    }


def seed(session: Session) -> tuple[int, int, int, int, dict[str, str]]:
    programme = seed_default_programme(session)
    e1, e2 = session.exec(select(Epci.id).order_by(col(Epci.id))).all()[:2]
    r1 = session.exec(select(ReceptionStructure.id).where(ReceptionStructure.epci_id == e1)).first()
    r2 = session.exec(select(ReceptionStructure.id).where(ReceptionStructure.epci_id == e2)).first()
    assert e1 and e2 and r1 and r2 and programme
    ids: dict[str, str] = {}
    rows = {
        "old_stall": journey(e1, r1, "BOOKLET_ISSUED", **stalled(30, "a"), cheques_total=10),
        "new_stall": journey(e1, r1, "REFERRED", **stalled(2, "b")),
        "training": journey(e1, r1, "IN_TRAINING", **trained(3, 10), mediation_structure_id=1),
        "completed": journey(e2, r2, "CLOSED", outcome="COMPLETED", **trained(10, 20)),
        "expired": journey(e2, r2, "CLOSED", outcome="EXPIRED", **trained(4, 40)),
        "other_stall": journey(
            e2,
            r2,
            "ORIENTED",
            **stalled(10, "c"),
            orientation_structure_id=5,
            orientation_status="PENDING",
        ),
    }
    for name, row in rows.items():
        session.add(row)
        ids[name] = row.id
    session.commit()
    # Rows written outside the projection: counted as migration 0006 back-fills them.
    overview_counts.rebuild(session)
    session.commit()
    return 12, e1, e2, r1, ids


def test_overview_figures_and_stalled_list(sessions: SessionFactory) -> None:
    with sessions() as s:
        code, e1, e2, r1, ids = seed(s)
        programme = queries.get_programme(s, code)
        assert programme is not None
        everything = coordination.programme_overview(s, programme, JourneyScope(everything=True))
        assert everything.total == 6 and everything.stalled == 3
        assert everything.by_stage == {
            "BOOKLET_ISSUED": 1,
            "REFERRED": 1,
            "IN_TRAINING": 1,
            "CLOSED": 2,
            "ORIENTED": 1,
        }
        assert [e.epci_id for e in everything.epci] == sorted(
            [e1, e2], key=lambda i: {x.epci_id: x.name for x in everything.epci}[i]
        )
        assert everything.cheques_issued == 40 and everything.cheques_redeemed == 17
        assert everything.cheques_expired == 6 and everything.cheques_outstanding == 17
        assert everything.cents(everything.cheques_issued) == 40_000
        assert everything.median_days_to_first_session == 20  # 10, 20, 40
        assert everything.journeys_with_session == 3
        # Funders' figures come from the ledger (records/ledger.py): these journey rows,
        # written without their cheques, charged nothing.
        state = next(f for f in everything.funders if f.kind_label == "État")
        assert state.share_bp == 5900 and state.issued_cents == 0
        assert state.left_cents == state.budget_cents == 62_830_000
        assert sum(f.budget_cents or 0 for f in everything.funders) == (
            programme.budget_total_cents
        )
        own_funders = coordination.programme_overview(s, programme, JourneyScope(epci_id=e1))
        # The Département, their own EPCI (its budget: theirs), the State.
        assert [f.budget_cents is not None for f in own_funders.funders] == [False, True, False]

        own = coordination.programme_overview(s, programme, JourneyScope(epci_id=e1))
        assert own.total == 3 and own.stalled == 2 and [e.epci_id for e in own.epci] == [e1]
        assert own.median_days_to_first_session == 10 and own.cheques_issued == 20
        other = coordination.programme_overview(s, programme, JourneyScope(epci_id=e2))
        assert other.median_days_to_first_session == 30  # 20 and 40: the mean of the two

        none = coordination.StalledFilter()
        rows, total = coordination.stalled_journeys(
            s, programme_code=code, scope=JourneyScope(everything=True), filters=none
        )
        assert total == 3
        assert [r.id for r in rows] == [ids["old_stall"], ids["other_stall"], ids["new_stall"]]
        rows, total = coordination.stalled_journeys(
            s,
            programme_code=code,
            scope=JourneyScope(epci_id=e1),
            filters=none,
            limit=1,
            offset=1,
        )
        assert total == 2 and [r.id for r in rows] == [ids["new_stall"]]
        for filters, expected in (
            (coordination.StalledFilter(stage="ORIENTED"), {"other_stall"}),
            (coordination.StalledFilter(epci_id=e2), {"other_stall"}),
            (coordination.StalledFilter(reception_structure_id=r1), {"old_stall", "new_stall"}),
            (coordination.StalledFilter(mediation_structure_id=5), {"other_stall"}),
            (coordination.StalledFilter(mediation_structure_id=1), set()),  # not stalled
        ):
            rows, total = coordination.stalled_journeys(
                s, programme_code=code, scope=JourneyScope(everything=True), filters=filters
            )
            assert {r.id for r in rows} == {ids[n] for n in expected} and total == len(expected)
