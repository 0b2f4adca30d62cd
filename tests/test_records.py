"""Read model: seed, queries and beneficiary registration, on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy.exc import IntegrityError, StatementError
from sqlmodel import func, select

from domain.needs import Theme
from domain.stages import Stage
from records.db import SessionFactory, begin_write
from records.models import (
    Beneficiary,
    BudgetLine,
    Channel,
    Epci,
    Funder,
    FunderKind,
    Journey,
    MediationStructure,
    MediationStructureEpci,
    Programme,
    ReceptionStructure,
)
from records.queries import (
    get_beneficiary,
    get_journey,
    get_mediation_structure,
    get_programme,
    get_reception_structure,
    list_journeys,
    list_mediation_structures,
    list_reception_structures,
    register_beneficiary,
    served_epci_ids,
)
from records.seed import seed_default_programme
from tests.fixtures.database import lock_waits

TODAY = date(2026, 11, 27)
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def count(session, model) -> int:  # type: ignore[no-untyped-def]
    return session.exec(select(func.count()).select_from(model)).one()


def test_seed_loads_the_aveyron_programme(sessions: SessionFactory) -> None:
    with sessions() as s:
        assert seed_default_programme(s) is True
        s.commit()

    with sessions() as s:
        programme = get_programme(s, 12)
        assert programme is not None
        assert programme.name == "Pass numérique Aveyron"
        assert (programme.cheque_value_cents, programme.cheques_per_booklet) == (1000, 10)
        assert programme.grace_months == 1
        assert (programme.starts_on, programme.ends_on) == (date(2020, 1, 1), None)
        assert programme.target_booklets == 9000
        assert programme.budget_total_cents == 106_492_000
        assert count(s, Epci) == 17
        assert count(s, ReceptionStructure) == 61
        assert count(s, MediationStructure) == 17

        lines = s.exec(select(BudgetLine)).all()
        funders = {f.id: f for f in s.exec(select(Funder)).all()}
        assert sum(line.amount_cents for line in lines) == 106_492_000
        by_kind: Counter[str] = Counter()
        for line in lines:
            by_kind[funders[line.funder_id].kind] += line.amount_cents
        assert by_kind == {
            FunderKind.DEPARTEMENT: 30_000_000,
            FunderKind.EPCI: 13_662_000,
            FunderKind.ETAT: 62_830_000,
        }
        epci_funders = [f for f in funders.values() if f.kind == FunderKind.EPCI]
        assert len(epci_funders) == 17 and len({f.epci_id for f in epci_funders}) == 17
        assert sum(f.share_bp for f in funders.values()) == 10_000
        (state,) = [f for f in funders.values() if f.kind == FunderKind.ETAT]
        assert state.share_bp == 5900  # the State pays 59 %

        # Every EPCI has a reception structure and a mediation structure of its own.
        epci_ids = {e.id for e in s.exec(select(Epci)).all()}
        reception = s.exec(select(ReceptionStructure)).all()
        assert {r.epci_id for r in reception} == epci_ids
        mediation = s.exec(select(MediationStructure)).all()
        assert {m.epci_id for m in mediation} == epci_ids

        themes = set(Theme)
        for m in mediation:
            assert m.id is not None
            served = served_epci_ids(s, m.id)
            assert m.epci_id in served and 2 <= len(served) <= 4
            assert 3 <= len(m.themes) <= 6 and set(m.themes) <= themes
            assert 20 <= m.capacity <= 60
        unqualified = [m for m in mediation if not m.is_qualified_on(TODAY)]
        assert len(unqualified) == 1
        assert unqualified[0].aptic_qualified_until == date(2022, 12, 31)
        assert unqualified[0].is_qualified_on(date(2022, 12, 31))


def test_seeding_twice_adds_nothing(sessions: SessionFactory) -> None:
    with sessions() as s:
        assert seed_default_programme(s)
        s.commit()
    with sessions() as s:
        assert seed_default_programme(s) is False
        s.commit()
    with sessions() as s:
        assert count(s, Programme) == 1
        assert count(s, Epci) == 17
        assert count(s, ReceptionStructure) == 61
        assert count(s, MediationStructureEpci) == len(s.exec(select(MediationStructureEpci)).all())
        assert get_programme(s, 12).target_booklets == 9000  # type: ignore[union-attr]


def test_structure_queries(sessions: SessionFactory) -> None:
    with sessions() as s:
        seed_default_programme(s)
        s.commit()
    with sessions() as s:
        rodez = s.exec(select(Epci).where(Epci.name == "Rodez Agglomération")).one()
        assert rodez.id is not None
        receptions = list_reception_structures(s, 12, epci_id=rodez.id)
        assert len(receptions) == 8
        assert all(r.epci_id == rodez.id for r in receptions)
        assert len(list_reception_structures(s, 12)) == 61
        assert list_reception_structures(s, 99) == []

        serving = list_mediation_structures(s, 12, epci_id=rodez.id)
        ids = {m.id for m in serving}
        expected = set(
            s.exec(
                select(MediationStructureEpci.mediation_structure_id).where(
                    MediationStructureEpci.epci_id == rodez.id
                )
            ).all()
        )
        assert ids == expected and len(ids) >= 2
        assert any(m.epci_id != rodez.id for m in serving)  # a neighbour serves Rodez too
        assert len(list_mediation_structures(s, 12)) == 17

        first = receptions[0]
        assert first.id is not None
        assert get_reception_structure(s, first.id) == first
        assert get_mediation_structure(s, serving[0].id).name == serving[0].name  # type: ignore[arg-type,union-attr]
        assert get_reception_structure(s, 10_000) is None


def _journey(jid: str, **kw: object) -> Journey:
    values: dict[str, object] = {
        "id": jid,
        "workflow_id": f"journey-{jid}",
        "programme_code": 12,
        "epci_id": 1,
        "reception_structure_id": 1,
        "referrer_role": "SOCIAL_WORKER",
        "referrer_ref": "sw-1",
        "stage": Stage.REFERRED.value,
        "updated_at": T0,
    }
    values.update(kw)
    return Journey(**values)  # type: ignore[arg-type]


def test_list_journeys_filters_order_and_pages(sessions: SessionFactory) -> None:
    h = timedelta(hours=1)
    with sessions() as s:
        s.add(_journey("a", last_activity_at=T0 + 1 * h))
        s.add(_journey("b", last_activity_at=T0 + 5 * h, stage="ORIENTED", epci_id=2))
        s.add(_journey("c", last_activity_at=T0 + 2 * h, stalled=True, stalled_since=T0))
        s.add(_journey("d", last_activity_at=T0 + 3 * h, stage="IN_TRAINING",
                       mediation_structure_id=7, epci_id=2))  # fmt: skip
        s.add(_journey("e", last_activity_at=None, reception_structure_id=4))
        s.add(_journey("f", last_activity_at=T0, stalled=True, stage="ORIENTED"))
        s.add(_journey("other", last_activity_at=T0 + 9 * h, programme_code=81))
        s.commit()

    with sessions() as s:
        rows, total = list_journeys(s, programme_code=12)
        assert total == 6
        # Stalled first, then most recent activity, journeys without activity last.
        assert [j.id for j in rows] == ["c", "f", "b", "d", "a", "e"]

        page, total = list_journeys(s, programme_code=12, limit=2, offset=2)
        assert ([j.id for j in page], total) == (["b", "d"], 6)
        page, total = list_journeys(s, programme_code=12, limit=4, offset=4)
        assert ([j.id for j in page], total) == (["a", "e"], 6)

        def ids(**filters: object) -> list[str]:
            found, n = list_journeys(s, programme_code=12, **filters)  # type: ignore[arg-type]
            assert n == len(found)
            return [j.id for j in found]

        assert ids(stage="ORIENTED") == ["f", "b"]
        assert ids(stalled=True) == ["c", "f"]
        assert ids(stalled=False) == ["b", "d", "a", "e"]
        assert ids(epci_id=2) == ["b", "d"]
        assert ids(mediation_structure_id=7) == ["d"]
        assert ids(reception_structure_id=4) == ["e"]
        assert ids(stage="ORIENTED", stalled=False) == ["b"]
        assert ids(stage="CLOSED") == []

        journey = get_journey(s, "c")
        assert journey is not None and journey.stalled_since == T0
        assert journey.stalled_since.tzinfo is not None
        assert get_journey(s, "nope") is None


def _register(s, key: str, jid: str, **kw: object):  # type: ignore[no-untyped-def]
    values: dict[str, object] = {
        "first_name": "Josette",
        "last_name": "Fabre",
        "birth_year": 1948,
        "phone": "06 12 34 56 78",
        "email": None,
        "postal_address": "3 rue du Touat, 12000 Rodez",
        "commune": "Rodez",
        "preferred_channel": Channel.POST,
        "consent_given_at": datetime(2026, 3, 2, 10, 15, tzinfo=ZoneInfo("Europe/Paris")),
        "consent_text": "J'accepte que mes données soient utilisées pour mon accompagnement.",
        "consent_recorded_by": "sw-1",
    }
    values.update(kw)
    return register_beneficiary(s, idempotency_key=key, journey_id=jid, **values)  # type: ignore[arg-type]


def test_register_beneficiary_is_idempotent(sessions: SessionFactory) -> None:
    with sessions() as s:
        person, created = _register(s, "key-1", "j-1")
        assert created
        s.commit()

    with sessions() as s:
        again, created = _register(s, "key-1", "j-1", first_name="Autre", phone="07 00 00 00 00")
        assert not created
        assert again.id == person.id
        s.commit()

    with sessions() as s:
        assert count(s, Beneficiary) == 1
        stored = get_beneficiary(s, "j-1")
        assert stored is not None
        assert (stored.first_name, stored.phone) == ("Josette", "06 12 34 56 78")
        assert stored.preferred_channel == "POST"
        # Aware UTC on both databases (10:15 Paris in March is 09:15 UTC).
        assert stored.consent_given_at == datetime(2026, 3, 2, 9, 15, tzinfo=UTC)
        assert stored.consent_given_at.utcoffset() == timedelta(0)


def test_register_beneficiary_race_keeps_the_callers_transaction(
    sessions: SessionFactory,
) -> None:
    """A concurrent request holds the same key, uncommitted, while we register.

    PostgreSQL: our insert waits on the unique index, fails when the other commits, and the
    savepoint keeps the rest of our transaction. SQLite: `begin_write` waits for the other
    writer, then we see its row.
    """
    other = sessions()
    _register(other, "key-race", "j-race")
    other.flush()  # holds the key (and, on SQLite, the write lock) without committing

    outcome: dict[str, object] = {}

    def request() -> None:
        with sessions() as s:
            begin_write(s)
            s.add(_journey("mine"))
            s.flush()
            person, created = _register(s, "key-race", "j-race", first_name="Double")
            outcome.update(created=created, first_name=person.first_name)
            s.commit()

    with lock_waits(sessions) as held:
        thread = threading.Thread(target=request)
        thread.start()
        held()  # the request waits on the lock the other holds
    other.commit()
    other.close()
    thread.join(timeout=30)
    assert not thread.is_alive()
    assert outcome == {"created": False, "first_name": "Josette"}
    with sessions() as s:
        assert get_journey(s, "mine") is not None  # our own work survived the lost race
        assert count(s, Beneficiary) == 1


def test_register_beneficiary_refuses_a_journey_registered_under_another_key(
    sessions: SessionFactory,
) -> None:
    with sessions() as s:
        _register(s, "key-1", "j-1")
        s.commit()
    with sessions() as s, pytest.raises(IntegrityError):
        _register(s, "key-2", "j-1")


def test_naive_datetimes_are_refused(sessions: SessionFactory) -> None:
    with sessions() as s:
        s.add(_journey("naive", last_activity_at=datetime(2026, 3, 2, 9, 0)))
        with pytest.raises(StatementError, match="naive datetime"):
            s.flush()
