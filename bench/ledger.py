"""Benchmark: the funder ledger's cost.

    python -m bench.ledger [--journeys 300] [--programme 9000] [--postgres URL]

1. Writing entries while projecting cheques: the same journeys' events (a booklet of 10
   cheques issued, three sessions of one cheque, then the journey closed: its unspent
   cheques expired) recorded one event per transaction, as the record activity does,
   into two fresh databases, one with the ledger and one without (`ledger.charge`
   turned off), in alternating rounds. Prints milliseconds per event of each kind.
2. A whole programme: `--programme` journeys of 10 cheques (90 000 cheques for 9 000)
   written in bulk with statuses spread over two millésimes and 14 months, then the
   ledger back-filled (`ensure_ledger`, what `passnum migrate` does), and timed: the
   balances (`ledger_view`, whole programme and one EPCI), a page of entries, and the end
   of a millésime (`close_millesimes`, its report over every cheque of it).

On SQLite (a temporary file) and, with `--postgres URL` (an empty database), PostgreSQL.
"""

from __future__ import annotations

import argparse
import copy
import random
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import text

from domain.contracts import Actor, ChequeState, JourneyEvent, JourneyStatus
from domain.serials import booklet_serials
from domain.stages import Action, ChequeStatus, Outcome, Role, Stage
from records import ledger, projection
from records.db import SessionFactory, begin_write, make_engine, migrate, session_factory
from records.models import Cheque, Journey
from records.queries import get_programme
from records.seed import seed_default_programme

PROGRAMME = 12
ACTOR = Actor(Role.SOCIAL_WORKER, "bench")
T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


# ---- 1. projection with and without the ledger ----


def journey_events(number: int, rng: random.Random) -> list[JourneyEvent]:
    jid = str(uuid.UUID(int=number + (7 << 64)))
    status = JourneyStatus(
        journey_id=jid,
        programme_code=PROGRAMME,
        epci_id=rng.randint(1, 17),
        reception_structure_id=1,
        referrer=ACTOR,
        stage=Stage.BOOKLET_ISSUED,
        stage_dates={Stage.REFERRED: T0},
        last_activity_at=T0,
        millesime=2026,
        booklet_number=number,
    )
    status.cheques = [
        ChequeState(s.digits, s.cheque_number, ChequeStatus.ISSUED)
        for s in booklet_serials(PROGRAMME, 2026, number, 10)
    ]
    events: list[JourneyEvent] = []
    at = T0

    def emit(action: Action) -> None:
        nonlocal at
        at += timedelta(days=7)
        status.seq += 1
        status.last_activity_at = at
        events.append(
            JourneyEvent(
                jid, status.seq, at, ACTOR, action, None, status.stage, copy.deepcopy(status)
            )
        )

    emit(Action.BOOKLET_ISSUED)
    status.stage = Stage.IN_TRAINING
    for cheque in status.cheques[:3]:
        cheque.status = ChequeStatus.REDEEMED
        cheque.redeemed_on = at.date()
        cheque.session_id = str(uuid.uuid4())
        cheque.mediation_structure_id = 1
        emit(Action.SESSION_LOGGED)
    for cheque in status.cheques[3:]:
        cheque.status = ChequeStatus.EXPIRED
    status.stage, status.outcome, status.closed_at = Stage.CLOSED, Outcome.EXPIRED, at
    emit(Action.CLOSED)
    return events


@contextmanager
def ledger_off() -> Iterator[None]:
    saved = projection.ledger.charge
    projection.ledger.charge = lambda session, cheques: 0  # type: ignore[assignment]
    try:
        yield
    finally:
        projection.ledger.charge = saved  # type: ignore[assignment]


def record_all(sessions: SessionFactory, events: list[JourneyEvent]) -> dict[str, list[float]]:
    times: dict[str, list[float]] = {}
    for event in events:
        started = time.perf_counter()
        with sessions() as s:
            begin_write(s)
            projection.record_journey_event(s, event)
            s.commit()
        times.setdefault(str(event.action), []).append(time.perf_counter() - started)
    return times


def fresh(url_for: Callable[[str], str], name: str) -> tuple[Any, SessionFactory]:
    url = url_for(name)
    migrate(url)
    engine = make_engine(url)
    sessions = session_factory(engine)
    with sessions() as s:
        seed_default_programme(s)
        s.commit()
    return engine, sessions


def projection_cost(url_for: Callable[[str], str], journeys: int, backend: str) -> None:
    rng = random.Random(3)
    events = [journey_events(n, rng) for n in range(1, journeys + 1)]
    with_engine, with_ledger = fresh(url_for, "with")
    without_engine, without_ledger = fresh(url_for, "without")
    results: dict[bool, dict[str, list[float]]] = {True: {}, False: {}}
    try:
        rounds = 4
        size = max(1, journeys // rounds)
        for r in range(rounds):
            chunk = [e for story in events[r * size : (r + 1) * size] for e in story]
            for on in (True, False) if r % 2 == 0 else (False, True):
                if on:
                    got = record_all(with_ledger, chunk)
                else:
                    with ledger_off():
                        got = record_all(without_ledger, chunk)
                for k, v in got.items():
                    results[on].setdefault(k, []).extend(v)
        with with_ledger() as s:
            entries = s.execute(text("SELECT count(*) FROM ledger_entry")).scalar()
    finally:
        with_engine.dispose()
        without_engine.dispose()
    print(
        f"{backend}: recording events one per transaction ({journeys} journeys, {entries} entries)"
    )
    for kind in (Action.BOOKLET_ISSUED, Action.SESSION_LOGGED, Action.CLOSED):
        ms_on = statistics.mean(results[True][kind.value]) * 1000
        ms_off = statistics.mean(results[False][kind.value]) * 1000
        print(
            f"  {kind.value:<15} with ledger {ms_on:6.2f} ms, without {ms_off:6.2f} ms"
            f" ({ms_on - ms_off:+.2f} ms per event)"
        )


# ---- 2. a whole programme ----

STATUS_WEIGHTS = {
    2025: [("REDEEMED", 25), ("REIMBURSED", 40), ("EXPIRED", 28), ("CANCELLED", 7)],
    2026: [("ISSUED", 45), ("REDEEMED", 20), ("REIMBURSED", 30), ("CANCELLED", 5)],
}


def fill_programme(sessions: SessionFactory, journeys: int) -> int:
    rng = random.Random(9)
    rows_j: list[dict[str, Any]] = []
    rows_c: list[dict[str, Any]] = []
    for n in range(1, journeys + 1):
        millesime = 2025 if n % 2 else 2026
        issued = datetime(millesime, 1, 10, 9, tzinfo=UTC) + timedelta(days=rng.randrange(330))
        jid = str(uuid.UUID(int=n + (9 << 64)))
        rows_j.append(
            {
                "id": jid,
                "workflow_id": f"journey-{jid}",
                "programme_code": PROGRAMME,
                "epci_id": rng.randint(1, 17),
                "reception_structure_id": 1,
                "referrer_role": "SOCIAL_WORKER",
                "referrer_ref": "1",
                "stage": "IN_TRAINING",
                "booklet_issued_at": issued,
                "updated_at": issued,
                "stalled": False,
                "cheques_total": 10,
                "cheques_redeemed": 0,
                "sessions_count": 0,
                "last_seq": 1,
                "millesime": millesime,
            }
        )
        statuses, weights = zip(*STATUS_WEIGHTS[millesime], strict=True)
        for serial in booklet_serials(PROGRAMME, millesime, 100_000 + n, 10):
            status = rng.choices(statuses, weights)[0]
            rows_c.append(
                {
                    "serial": serial.digits,
                    "journey_id": jid,
                    "programme_code": PROGRAMME,
                    "millesime": millesime,
                    "booklet_number": 100_000 + n,
                    "number": serial.cheque_number,
                    "status": status,
                    "updated_at": issued + timedelta(days=rng.randrange(1, 120)),
                }
            )
    with sessions() as s:
        s.execute(Journey.__table__.insert(), rows_j)  # type: ignore[attr-defined]
        for i in range(0, len(rows_c), 10_000):
            s.execute(Cheque.__table__.insert(), rows_c[i : i + 10_000])  # type: ignore[attr-defined]
        s.commit()
    return len(rows_c)


def timed(fn: Callable[[], object], repeat: int = 5) -> float:
    """Median milliseconds of `repeat` calls."""
    runs = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        runs.append(time.perf_counter() - started)
    return statistics.median(runs) * 1000


def whole_programme(url_for: Callable[[str], str], journeys: int, backend: str) -> None:
    engine, sessions = fresh(url_for, "programme")
    try:
        cheques = fill_programme(sessions, journeys)
        started = time.perf_counter()
        with sessions() as s:
            begin_write(s)
            written = ledger.ensure_ledger(s)
            s.commit()
        backfill = time.perf_counter() - started
        with sessions() as s:  # fresh statistics, as autovacuum would have them
            for table in ("cheque", "journey", "ledger_entry", "ledger_month"):
                s.execute(text(f"ANALYZE {table}"))
            s.commit()
        started = time.perf_counter()
        with sessions() as s:  # every later `passnum migrate`: nothing left to write
            begin_write(s)
            assert ledger.ensure_ledger(s) == 0
            s.commit()
        recheck = time.perf_counter() - started
        with sessions() as s:
            programme = get_programme(s, PROGRAMME)
            assert programme is not None
            today = date(2026, 6, 15)
            state = s.execute(text("SELECT id FROM funder WHERE kind = 'ETAT'")).scalar()
            whole = timed(lambda: ledger.ledger_view(s, programme, epci_id=None, today=today))
            one = timed(lambda: ledger.ledger_view(s, programme, epci_id=1, today=today))
            page = timed(
                lambda: ledger.list_entries(s, programme_code=PROGRAMME, funder_id=state, limit=50)
            )
            months = s.execute(text("SELECT count(*) FROM ledger_month")).scalar()
            s.rollback()

            def close() -> None:  # the report of millésime 2025, not kept
                ledger.close_millesimes(s, datetime(2026, 3, 1, tzinfo=UTC))
                s.rollback()

            closing = timed(close, repeat=3)
    finally:
        engine.dispose()
    print(
        f"{backend}: whole programme, {journeys} journeys, {cheques} cheques, {written} entries,"
        f" {months} monthly rows"
    )
    print(f"  back-fill (ensure_ledger)        {backfill:8.2f} s")
    print(f"  ensure_ledger again, nothing new {recheck:8.2f} s")
    print(f"  balances, whole programme        {whole:8.2f} ms")
    print(f"  balances, one EPCI               {one:8.2f} ms")
    print(f"  a page of 50 entries (the State) {page:8.2f} ms")
    print(f"  end of millésime 2025 (report)   {closing:8.2f} ms")


def run(url_for: Callable[[str], str], backend: str, journeys: int, programme: int) -> None:
    projection_cost(url_for, journeys, backend)
    whole_programme(url_for, programme, backend)


def postgres_url_for(base: str) -> Callable[[str], str]:
    """Each database a fresh schema of the given (empty) PostgreSQL database, dropped at
    exit (`drop_schemas`)."""
    import psycopg
    from sqlalchemy.engine import make_url

    def url_for(name: str) -> str:
        url = make_url(base)
        dsn = f"host={url.host} port={url.port or 5432} user={url.username} dbname={url.database}"
        schema = f"bench_ledger_{name}"
        _SCHEMAS.append((dsn, schema))
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
            conn.execute(f"CREATE SCHEMA {schema}")
        return url.update_query_dict({"options": f"-csearch_path={schema}"}).render_as_string(
            hide_password=False
        )

    return url_for


_SCHEMAS: list[tuple[str, str]] = []


def drop_schemas() -> None:
    import psycopg

    for dsn, schema in _SCHEMAS:
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--journeys", type=int, default=300, help="journeys recorded event by event"
    )
    parser.add_argument(
        "--programme", type=int, default=9_000, help="journeys of the whole programme"
    )
    parser.add_argument("--postgres", help="URL of an empty PostgreSQL database to use too")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        run(
            lambda name: f"sqlite:///{Path(folder) / name}.db",
            "sqlite",
            args.journeys,
            args.programme,
        )
    if args.postgres:
        try:
            run(postgres_url_for(args.postgres), "postgresql", args.journeys, args.programme)
        finally:
            drop_schemas()
