"""A whole programme's read model written straight as rows (no workflow): journeys at every
stage, their booklets of cheques, training sessions and assessments, then the overview's
counters recounted. For the exports' benchmark (bench/exports.py), the benchmark of two
programmes side by side (bench/programmes.py) and the tests that need volume
(tests/test_exports_volume.py).

Any seeded programme (`programme`, default Aveyron's 12): its own structures and EPCI; a
second programme in the same database takes another `seed` (the journey ids come from it).

Plausible, deterministic for a seed: referrals from January 2025 to November 2026; each
booklet takes the millésime of its day; one cheque per session; a 2025 booklet is closed
(every cheque spent: COMPLETED; else EXPIRED at the end of 31 January 2026, unspent cheques
EXPIRED; or WITHDRAWN, unspent cheques CANCELLED); a 2026 booklet is in training, or
completed, or withdrawn. The funder ledger's entries are back-filled
(`records.ledger.ensure_ledger`). The rows follow the projection's rules (`cheques_total` counts the
live cheques, `days_to_first_session` in Paris days, `referred_month` YYYYMM in Paris).
"""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import Engine, insert, select, text
from sqlmodel import col

from domain import identity
from domain.needs import AutonomyLevel, SessionKind, SessionPlace, Theme
from domain.serials import booklet_serials
from domain.stages import ChequeStatus, Outcome, Stage
from domain.validity import PARIS, paris_day, paris_month, valid_until
from records import ledger, overview_counts
from records.db import session_factory
from records.models import (
    Assessment,
    Beneficiary,
    Cheque,
    Journey,
    MediationStructure,
    MediationStructureEpci,
    Programme,
    ReceptionStructure,
    TrainingSession,
)

PROGRAMME = 12
FIRST_DAY = date(2025, 1, 6)
LAST_DAY = date(2026, 11, 20)
NOW = datetime(2026, 11, 30, 12, tzinfo=UTC)  # the rows' "today"
LEVELS = list(AutonomyLevel)
THEMES = list(Theme)
BATCH = 5_000
FIRST_NAMES = ["Marie", "Jean", "Paulette", "Henri", "Josiane", "Michel", "Yvette", "Ahmed"]
LAST_NAMES = ["Bras", "Fabre", "Vidal", "Bousquet", "Roques", "Cayla", "Alric", "Lacombe"]


@dataclass
class Written:
    journeys: int = 0
    cheques: int = 0
    sessions: int = 0
    assessments: int = 0
    by_status: dict[str, int] = field(default_factory=dict)


def _at(day: date, hour: int = 10) -> datetime:
    return datetime.combine(day, time(hour), tzinfo=PARIS).astimezone(UTC)


def _insert(engine: Engine, model: Any, rows: list[dict[str, Any]]) -> None:
    """Insert `rows` in one executemany (every row with every key: None where missing)."""
    if rows:
        keys = set().union(*rows)
        with engine.begin() as conn:
            conn.execute(insert(model.__table__), [dict.fromkeys(keys) | r for r in rows])
        rows.clear()


TABLES = (Journey, Cheque, TrainingSession, Assessment, Beneficiary)  # in foreign key order


def _person(journey_id: str, rng: random.Random, referred: datetime) -> dict[str, Any]:
    """A person's row (the duplicate check's name key too: no ORM event on a bulk insert)."""
    first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
    return {
        "journey_id": journey_id,
        "idempotency_key": journey_id,
        "first_name": first,
        "last_name": last,
        "birth_year": rng.randint(1935, 2000),
        "commune": "Rodez",
        "preferred_channel": "POST",
        "consent_given_at": referred,
        "consent_text": "J'accepte.",
        "consent_recorded_by": "1",
        "created_at": referred,
        "name_key": identity.name_key(first, last),
    }


def write_programme(
    engine: Engine,
    journeys: int,
    *,
    seed: int = 10,
    first_booklet: int = 1,
    with_cheques: bool = True,
    with_people: bool = False,
    programme: int = PROGRAMME,
) -> Written:
    """Write `journeys` journeys of programme `programme` (and, `with_cheques`, their
    cheques, sessions and assessments; `with_people`, their people) into a migrated database
    where it is seeded, then recount the overview's counters."""
    rng = random.Random(seed)
    sessions = session_factory(engine)
    with sessions() as s:
        found = s.execute(select(Programme).where(col(Programme.code) == programme)).scalar_one()
        reception = [
            (r.id, r.epci_id)
            for r in s.execute(
                select(ReceptionStructure).where(col(ReceptionStructure.programme_id) == found.id)
            ).scalars()
        ]
        mediation = [
            (m.id, m.epci_id)
            for m in s.execute(
                select(MediationStructure).where(col(MediationStructure.programme_id) == found.id)
            ).scalars()
        ]
        served = {
            (m, e)
            for m, e in s.execute(
                select(
                    col(MediationStructureEpci.mediation_structure_id),
                    col(MediationStructureEpci.epci_id),
                )
            )
        }
    # Most people train near home: a structure of their EPCI or serving it.
    nearby = {
        epci: [m for m, home in mediation if home == epci or (m, epci) in served]
        or [m for m, _ in mediation]
        for _, epci in reception
    }
    per_booklet = found.cheques_per_booklet
    span = (LAST_DAY - FIRST_DAY).days
    out = Written()
    rows: dict[Any, list[dict[str, Any]]] = {
        Journey: [],
        Cheque: [],
        TrainingSession: [],
        Assessment: [],
        Beneficiary: [],
    }
    for n in range(journeys):
        jid = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        reception_id, epci_id = rng.choice(reception)
        referred = FIRST_DAY + timedelta(days=rng.randrange(span))
        reach = rng.random()
        stage = Stage.REFERRED
        j: dict[str, Any] = {
            "id": jid,
            "workflow_id": f"journey-{jid}",
            "programme_code": programme,
            "epci_id": epci_id,
            "reception_structure_id": reception_id,
            "referrer_role": "SOCIAL_WORKER",
            "referrer_ref": "1",
            "referred_at": _at(referred),
            "referred_month": paris_month(_at(referred)),
            "stalled": False,
            "cheques_total": 0,
            "cheques_redeemed": 0,
            "sessions_count": 0,
            "last_seq": 1,
            "updated_at": NOW,
        }
        out.journeys += 1
        if reach > 0.04:
            stage = Stage.ASSESSED
            assessed = referred + timedelta(days=rng.randrange(1, 10))
            entry = rng.choice(LEVELS[:3])
            j["assessed_at"] = _at(assessed)
            j["entry_autonomy"] = entry.value
            if with_cheques:
                rows[Assessment].append(
                    {
                        "journey_id": jid,
                        "kind": "ENTRY",
                        "tool": "ABC_DIAG",
                        "autonomy": entry.value,
                        "needs": [t.value for t in rng.sample(THEMES, rng.randrange(1, 4))],
                        "at": _at(assessed),
                    }
                )
                out.assessments += 1
        if reach > 0.08:
            stage = Stage.BOOKLET_ISSUED
            issued = referred + timedelta(days=rng.randrange(10, 20))
            millesime = issued.year
            until = valid_until(millesime, found.grace_months)
            booklet = first_booklet + n
            j |= {
                "booklet_issued_at": _at(issued),
                "millesime": millesime,
                "booklet_number": booklet,
                "valid_until": until,
            }
            mediation_id = rng.choice(
                nearby[epci_id] if rng.random() < 0.9 else [m for m, _ in mediation]
            )
            planned = 0
            start = issued
            if reach > 0.12:
                stage = Stage.ORIENTED
                j["oriented_at"] = _at(issued + timedelta(days=1))
                j["orientation_status"] = "PENDING"
                j["orientation_structure_id"] = mediation_id
            if reach > 0.16:
                stage = Stage.IN_TRAINING
                start = min(issued + timedelta(days=rng.randrange(3, 25)), paris_day(NOW))
                j["training_started_at"] = _at(start)
                j["orientation_status"] = "ACCEPTED"
                j["mediation_structure_id"] = mediation_id
                planned = per_booklet if rng.random() < 0.45 else rng.randrange(0, per_booklet)
            last_valid = paris_day(until) - timedelta(days=1)
            days: list[date] = []
            day = start
            for _ in range(planned):
                day = day + timedelta(days=rng.randrange(5, 15))
                if day > min(last_valid, paris_day(NOW)):
                    break
                days.append(day)
            spent = len(days)
            withdrawn = stage != Stage.IN_TRAINING and rng.random() < 0.3 or rng.random() < 0.04
            expired = until <= NOW
            outcome: Outcome | None = None
            closed_at: datetime | None = None
            if spent == per_booklet:
                outcome, closed_at = Outcome.COMPLETED, _at(days[-1], 17)
            elif withdrawn:
                outcome = Outcome.WITHDRAWN
                closed_at = _at((days[-1] if days else start) + timedelta(days=20))
                closed_at = min(closed_at, NOW, until - timedelta(hours=1))
            elif expired:
                outcome, closed_at = Outcome.EXPIRED, until
            unspent = {
                None: ChequeStatus.ISSUED,
                Outcome.COMPLETED: ChequeStatus.ISSUED,
                Outcome.WITHDRAWN: ChequeStatus.CANCELLED,
                Outcome.EXPIRED: ChequeStatus.EXPIRED,
            }[outcome]
            live = per_booklet if unspent != ChequeStatus.CANCELLED else spent
            j |= {"cheques_total": live, "cheques_redeemed": spent, "sessions_count": spent}
            if days:
                j["days_to_first_session"] = (days[0] - referred).days
            if outcome is not None:
                stage = Stage.CLOSED
                j |= {"outcome": outcome.value, "closed_at": closed_at}
                if outcome == Outcome.COMPLETED or rng.random() < 0.3:
                    entry_rank = LEVELS.index(AutonomyLevel(j["entry_autonomy"]))
                    exit_level = LEVELS[min(3, max(0, entry_rank + rng.choice((-1, 0, 1, 1, 2))))]
                    j["exit_autonomy"] = exit_level.value
                    if with_cheques:
                        rows[Assessment].append(
                            {
                                "journey_id": jid,
                                "kind": "EXIT",
                                "tool": "ABC_DIAG",
                                "autonomy": exit_level.value,
                                "needs": [],
                                "at": closed_at,
                            }
                        )
                        out.assessments += 1
            elif rng.random() < 0.08:
                j |= {"stalled": True, "stalled_since": NOW - timedelta(days=rng.randrange(40))}
            if with_cheques:
                serials = booklet_serials(programme, millesime, booklet, per_booklet)
                for i, serial in enumerate(serials):
                    session_id = f"{jid[:24]}-{i:02d}" if i < spent else None
                    status = ChequeStatus.REDEEMED if i < spent else unspent
                    out.by_status[status.value] = out.by_status.get(status.value, 0) + 1
                    rows[Cheque].append(
                        {
                            "serial": serial.digits,
                            "journey_id": jid,
                            "programme_code": programme,
                            "millesime": millesime,
                            "booklet_number": booklet,
                            "number": serial.cheque_number,
                            "status": status.value,
                            "session_id": session_id,
                            "redeemed_on": days[i] if i < spent else None,
                            "mediation_structure_id": mediation_id if i < spent else None,
                            "valid_until": until,
                            "updated_at": NOW,
                        }
                    )
                    out.cheques += 1
                    if session_id is not None:
                        rows[TrainingSession].append(
                            {
                                "session_id": session_id,
                                "journey_id": jid,
                                "mediation_structure_id": mediation_id,
                                "day": days[i],
                                "duration_minutes": rng.choice((60, 90, 120)),
                                "kind": rng.choice(list(SessionKind)).value,
                                "place": rng.choice(list(SessionPlace)).value,
                                "themes": [t.value for t in rng.sample(THEMES, 2)],
                                "equipment": [],
                                "autonomy_observed": None,
                                "serials": [serial.digits],
                                "logged_at": _at(days[i], 18),
                            }
                        )
                        out.sessions += 1
        j["stage"] = stage.value
        last = max(
            (v for k, v in j.items() if k.endswith("_at") and k != "updated_at" and v),
            default=None,
        )
        j["last_activity_at"] = last
        rows[Journey].append(j)
        if with_people:
            rows[Beneficiary].append(_person(jid, rng, _at(referred)))
        if len(rows[Journey]) >= BATCH:
            for model in TABLES:
                _insert(engine, model, rows[model])
    for model in TABLES:
        _insert(engine, model, rows[model])
    with sessions() as s:
        overview_counts.rebuild(s)
        ledger.ensure_ledger(s)  # the funder ledger's entries of the cheques written
        if engine.dialect.name == "postgresql":
            # Statistics as autovacuum would soon gather them: without them the planner
            # takes 90,000 rows for a hundred (cursor plans of the exports 10x slower).
            s.execute(text("ANALYZE"))
        s.commit()
    return out


def fill(url: str, journeys: int, **kwargs: Any) -> Written:
    """Migrate `url`, seed the default programme and write the rows."""
    from records.db import make_engine, migrate
    from records.seed import seed_default_programme

    migrate(url)
    engine = make_engine(url)
    try:
        with session_factory(engine)() as s:
            seed_default_programme(s)
            s.commit()
        return write_programme(engine, journeys, **kwargs)
    finally:
        engine.dispose()
