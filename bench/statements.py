"""Benchmark: building every monthly reimbursement statement of a whole programme.

    python -m bench.statements [--journeys 9000] [--postgres URL]

Fills a fresh records database (SQLite file; with --postgres, that empty database too)
with the default programme (17 mediation structures) and `--journeys` journeys of one
booklet of 10 cheques written straight as rows (90,000 cheques for 9,000 journeys): 90 %
of them redeemed over the 13 months of millésime 2026 (January 2026 to January 2027) by
a structure drawn at random, the rest left unspent. 3 % of the redeemed cheques are *late
entries*: logged only after their month's statement was validated.

Then runs the programme's year as the Schedule and the coordinators would: for each month,
the build (`records.statements.build_statements`, what the monthly activity runs), then
the late entries of that month appear, then every statement of the month is validated and
paid (its cheques REIMBURSED). Prints the time of each month's build (min, median, max
and the total), a second run of every month's build (idempotent: adds nothing), the
validation and payment per statement, and checks that every redeemed cheque is in exactly
one statement and the amounts add up to the cent.
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import time
import uuid
from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from sqlalchemy import func, select, update
from sqlmodel import Session, col

from domain.months import next_month
from domain.serials import booklet_serials
from domain.validity import valid_until
from records.db import begin_write, make_engine, migrate, session_factory
from records.models import Cheque, Journey, MediationStructure, Statement, StatementLine
from records.seed import seed_default_programme
from records.statements import build_statements, record_payment, validate

PROGRAMME = 12
MILLESIME = 2026
FIRST_MONTH = date(2026, 1, 1)
MONTHS = 13  # January 2026 to January 2027 (one month of grace)
CHEQUES = 10
SPENT = 0.9
LATE = 0.03


def _months() -> list[date]:
    out, month = [], FIRST_MONTH
    for _ in range(MONTHS):
        out.append(month)
        month = next_month(month)
    return out


def _fill(url: str, journeys: int) -> tuple[int, dict[date, list[str]]]:
    """The programme's rows; the redeemed count and the late serials by month."""
    migrate(url)
    engine = make_engine(url)
    rng = random.Random(10)
    months = _months()
    at = datetime(2026, 1, 2, tzinfo=UTC)
    late: dict[date, list[str]] = defaultdict(list)
    redeemed = 0
    try:
        with session_factory(engine)() as session:
            seed_default_programme(session)
            session.commit()
            structures = [
                (s.id, s.epci_id)
                for s in session.scalars(select(MediationStructure)).all()
                if s.id is not None
            ]
        journey_rows, cheque_rows = [], []
        for booklet in range(1, journeys + 1):
            jid = str(uuid.uuid4())
            structure, epci = rng.choice(structures)
            journey_rows.append(
                {
                    "id": jid,
                    "workflow_id": f"journey-{jid}",
                    "programme_code": PROGRAMME,
                    "epci_id": epci,
                    "reception_structure_id": 1,
                    "referrer_role": "SOCIAL_WORKER",
                    "referrer_ref": "1",
                    "stage": "IN_TRAINING",
                    "updated_at": at,
                    "stalled": False,
                    "cheques_total": CHEQUES,
                    "cheques_redeemed": 0,
                    "sessions_count": 0,
                    "last_seq": 0,
                    "millesime": MILLESIME,
                    "booklet_number": booklet,
                }
            )
            start = rng.randrange(MONTHS)
            for serial in booklet_serials(PROGRAMME, MILLESIME, booklet, CHEQUES):
                spent = rng.random() < SPENT
                day = None
                status = "ISSUED"
                if spent:
                    month = months[min(MONTHS - 1, start + rng.randrange(3))]
                    day = month + timedelta(days=rng.randrange(28))
                    status = "REDEEMED"
                    redeemed += 1
                    if rng.random() < LATE:
                        late[month].append(serial.digits)
                        status = "ISSUED"  # logged after the month's statement
                cheque_rows.append(
                    {
                        "serial": serial.digits,
                        "journey_id": jid,
                        "programme_code": PROGRAMME,
                        "millesime": MILLESIME,
                        "booklet_number": booklet,
                        "number": serial.cheque_number,
                        "status": status,
                        "session_id": f"s-{booklet}-{serial.cheque_number}" if spent else None,
                        "redeemed_on": day,
                        "mediation_structure_id": structure if spent else None,
                        "valid_until": valid_until(MILLESIME),
                        "updated_at": at,
                    }
                )
        with engine.begin() as conn:
            conn.execute(Journey.__table__.insert(), journey_rows)  # type: ignore[attr-defined]
            for i in range(0, len(cheque_rows), 10_000):
                conn.execute(Cheque.__table__.insert(), cheque_rows[i : i + 10_000])  # type: ignore[attr-defined]
    finally:
        engine.dispose()
    return redeemed, late


def run(url: str, journeys: int) -> None:
    started = time.perf_counter()
    redeemed, late = _fill(url, journeys)
    fill_s = time.perf_counter() - started
    engine = make_engine(url)
    sessions = session_factory(engine)
    builds: list[float] = []
    changes: list[float] = []
    statements = 0
    try:
        for month in _months():
            run_at = datetime.combine(next_month(month), datetime.min.time(), tzinfo=UTC)
            with sessions() as session:
                begin_write(session)
                t0 = time.perf_counter()
                report = build_statements(session, month=month, at=run_at)
                session.commit()
                builds.append(time.perf_counter() - t0)
            statements += report.created
            with sessions() as session:  # the month's late entries are logged now
                begin_write(session)
                session.execute(
                    update(Cheque)
                    .where(Cheque.serial.in_(late[month]))  # type: ignore[attr-defined]
                    .values(status="REDEEMED")
                )
                session.commit()
            with sessions() as session:
                ids = session.scalars(
                    select(col(Statement.id)).where(col(Statement.month) == month)
                ).all()
            paid_at = run_at + timedelta(days=3)
            for statement_id in ids:
                with sessions() as session:
                    begin_write(session)
                    t0 = time.perf_counter()
                    st = session.get(Statement, statement_id)
                    assert st is not None
                    validate(session, st, account_id=1, at=paid_at)
                    record_payment(
                        session,
                        st,
                        paid_on=paid_at.date(),
                        reference=f"VIR-{st.number}",
                        account_id=1,
                        at=paid_at,
                    )
                    session.commit()
                    changes.append(time.perf_counter() - t0)
        # The late entries of the last month wait for the next statement: build it.
        with sessions() as session:
            begin_write(session)
            t0 = time.perf_counter()
            tail = build_statements(session, month=next_month(_months()[-1]), at=datetime.now(UTC))
            session.commit()
            builds.append(time.perf_counter() - t0)
            statements += tail.created

        t0 = time.perf_counter()
        for month in _months():
            with sessions() as session:
                begin_write(session)
                again = build_statements(session, month=month, at=datetime.now(UTC))
                session.commit()
                assert again.cheques == 0, again
        rerun_s = time.perf_counter() - t0

        with sessions() as session:
            lines, distinct, amount = _totals(session)
            totals = session.scalar(select(func.sum(Statement.total_cents)))
            reimbursed = session.scalar(
                select(func.count()).select_from(Cheque).where(col(Cheque.status) == "REIMBURSED")
            )
    finally:
        engine.dispose()
    assert lines == distinct == redeemed, (lines, distinct, redeemed)
    assert amount == totals == redeemed * 1000
    backend = url.split(":", 1)[0]
    print(
        f"{backend}: {journeys} journeys, {journeys * CHEQUES} cheques, {redeemed} redeemed "
        f"({sum(len(v) for v in late.values())} late entries), filled in {fill_s:.1f} s"
    )
    print(
        f"  {len(builds)} monthly builds, {statements} statements, {lines} lines: "
        f"{sum(builds):.2f} s in all; per month min {min(builds) * 1000:.0f} ms, "
        f"median {statistics.median(builds) * 1000:.0f} ms, max {max(builds) * 1000:.0f} ms"
    )
    print(f"  every month built again (idempotent, nothing added): {rerun_s * 1000:.0f} ms")
    print(
        f"  validation + payment: {statistics.mean(changes) * 1000:.1f} ms per statement "
        f"(max {max(changes) * 1000:.0f} ms), {reimbursed} cheques REIMBURSED; "
        f"each redeemed cheque in exactly one statement, {amount / 100:,.2f} EUR to the cent"
    )


def _totals(session: Session) -> tuple[int, int, int]:
    lines = session.scalar(select(func.count()).select_from(StatementLine)) or 0
    distinct = session.scalar(select(func.count(func.distinct(StatementLine.serial)))) or 0
    amount = session.scalar(select(func.sum(StatementLine.amount_cents))) or 0
    return int(lines), int(distinct), int(amount)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--journeys", type=int, default=9_000)
    parser.add_argument("--postgres", help="URL of an empty PostgreSQL database to fill too")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        run(f"sqlite:///{Path(folder) / 'statements.db'}", args.journeys)
    if args.postgres:
        run(args.postgres, args.journeys)
