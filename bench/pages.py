"""Benchmark: render time of the coordinators' overview and stalled list as the records grow.

    python -m bench.pages [--sizes 9000 90000] [--rounds 15] [--postgres | --postgres-only]

For each size, a fresh database (SQLite file; with --postgres also a throwaway PostgreSQL
database on 127.0.0.1:5432) is migrated, seeded with the Aveyron programme and filled in
bulk with a realistic read model: journeys across stages and the 17 EPCI (weighted by
their budget), their people, booklets of 10 cheques, training sessions and transition
logs; about 9 % of journeys stalled. No workflow runs: pages read the records only (the
overview's counters, which the projection keeps with each event, are recounted once after
the bulk insert, as migration 0006 back-fills them).

Each page is then requested through the whole app (ASGI, authentication by personal API
token, SQL, template) `--rounds` times after a warm-up, for the programme coordinator
(whole programme) and the demo EPCI coordinator; the median is printed, then the ratio of
the largest size to the smallest (aim: under 3x for ten times the data).
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import psycopg
from psycopg import sql
from sqlalchemy import Engine, insert, text
from sqlmodel import Session, col, select

from api.app import create_app
from api.deps import AppState, Database
from config import Settings
from domain.serials import ChequeSerial
from domain.stages import Action, ChequeStatus, Outcome, Stage
from domain.validity import paris_today
from records import accounts, overview_counts
from records.db import is_sqlite, make_engine, migrate, session_factory
from records.models import (
    Beneficiary,
    Cheque,
    Epci,
    Journey,
    MediationStructure,
    MediationStructureEpci,
    Programme,
    ReceptionStructure,
    TrainingSession,
    TransitionLog,
)
from records.seed import seed_default_programme, seed_demo_accounts

PROGRAMME = 12
BATCH = 5_000
PG_ADMIN_DSN = "host=127.0.0.1 port=5432 user=postgres dbname=postgres"
PAGES = {
    "vue d'ensemble": "/coordination",
    "parcours bloqués": "/coordination/bloques",
    "bloqués, page 5": "/coordination/bloques?page=5",
}
# (stage, outcome, share): a programme two years in.
MIX: list[tuple[Stage, Outcome | None, float]] = [
    (Stage.REFERRED, None, 0.04),
    (Stage.ASSESSED, None, 0.04),
    (Stage.BOOKLET_ISSUED, None, 0.07),
    (Stage.ORIENTED, None, 0.06),
    (Stage.IN_TRAINING, None, 0.29),
    (Stage.CLOSED, Outcome.COMPLETED, 0.30),
    (Stage.CLOSED, Outcome.EXPIRED, 0.10),
    (Stage.CLOSED, Outcome.WITHDRAWN, 0.10),
]
STALL_SHARE = {
    Stage.REFERRED: 0.3,
    Stage.ASSESSED: 0.3,
    Stage.BOOKLET_ISSUED: 0.3,
    Stage.ORIENTED: 0.3,
    Stage.IN_TRAINING: 0.1,
}
STALL_REASON = {
    Stage.REFERRED: "Aucun diagnostic 20 jours après l'orientation",
    Stage.ASSESSED: "Aucun carnet remis 20 jours après le diagnostic",
    Stage.BOOKLET_ISSUED: "Aucune orientation ni séance 20 jours après la dernière action",
    Stage.ORIENTED: "Orientation restée sans réponse 30 jours",
    Stage.IN_TRAINING: "Aucune séance depuis 60 jours",
}
ORDER = [Stage.REFERRED, Stage.ASSESSED, Stage.BOOKLET_ISSUED, Stage.ORIENTED, Stage.IN_TRAINING]
FIRST_NAMES = ["Marie", "Jean", "Paulette", "Henri", "Josiane", "Michel", "Yvette", "Ahmed"]
LAST_NAMES = ["Bras", "Fabre", "Vidal", "Bousquet", "Roques", "Cayla", "Alric", "Lacombe"]


# ---- data ----


class Reference:
    def __init__(self, session: Session) -> None:
        session.exec(select(Programme).where(Programme.code == PROGRAMME)).one()  # seeded
        self.millesime = paris_today().year
        self.epci = [e.id for e in session.exec(select(Epci).order_by(col(Epci.id))) if e.id]
        budgets = dict(
            session.execute(
                text(
                    "SELECT epci_id, amount_cents FROM budget_line JOIN funder ON funder.id = budget_line.funder_id WHERE funder.epci_id IS NOT NULL"
                )
            ).all()  # noqa: E501
        )
        self.weights = [budgets.get(e, 1) for e in self.epci]
        self.reception: dict[int, list[int]] = {}
        for r in session.exec(select(ReceptionStructure)):
            self.reception.setdefault(r.epci_id, []).append(r.id)  # type: ignore[arg-type]
        self.mediation: dict[int, list[int]] = {}
        for link in session.exec(select(MediationStructureEpci)):
            self.mediation.setdefault(link.epci_id, []).append(link.mediation_structure_id)
        qualified = {
            m.id
            for m in session.exec(select(MediationStructure))
            if m.aptic_qualified_until is None
        }
        for e, ids in self.mediation.items():
            self.mediation[e] = [i for i in ids if i in qualified] or ids


def journeys_rows(
    ref: Reference, n: int, rng: random.Random, now: datetime
) -> Iterator[dict[str, list[dict[str, Any]]]]:
    """Rows per table, in batches of BATCH journeys."""
    stages = [m[:2] for m in MIX]
    shares = [m[2] for m in MIX]
    booklet = 0
    for start in range(0, n, BATCH):
        out: dict[str, list[dict[str, Any]]] = {
            "journey": [],
            "beneficiary": [],
            "cheque": [],
            "session": [],
            "log": [],
        }
        for _ in range(min(BATCH, n - start)):
            jid = str(uuid.uuid4())
            stage, outcome = rng.choices(stages, shares)[0]
            epci = rng.choices(ref.epci, ref.weights)[0]
            reception = rng.choice(ref.reception[epci])
            mediation = rng.choice(ref.mediation.get(epci) or [1])
            referred = now - timedelta(days=rng.uniform(1, 700))
            reached = ORDER.index(stage) if stage in ORDER else len(ORDER) - 1
            dates: dict[Stage, datetime] = {}
            at = referred
            for s in ORDER[: reached + 1]:
                dates[s] = at
                at = at + timedelta(days=rng.uniform(1, 15))
            last = max(dates.values())
            closed_at = None
            if stage == Stage.CLOSED:
                closed_at = min(now, last + timedelta(days=rng.uniform(20, 200)))
                last = closed_at
            has_booklet = Stage.BOOKLET_ISSUED in dates
            trained = Stage.IN_TRAINING in dates and outcome != Outcome.WITHDRAWN
            sessions = 0
            if trained:
                sessions = 10 if outcome == Outcome.COMPLETED else rng.randint(1, 6)
            redeemed = sessions if has_booklet else 0
            stalled = stage in STALL_SHARE and rng.random() < STALL_SHARE[stage]
            stalled_since = min(now, last + timedelta(days=20)) if stalled else None
            booklet += 1 if has_booklet else 0
            cheques_total = 0
            if has_booklet:
                cheques_total = (
                    redeemed if outcome in (Outcome.COMPLETED, Outcome.WITHDRAWN) else 10
                )
                statuses = [ChequeStatus.REDEEMED] * redeemed + [
                    ChequeStatus.EXPIRED
                    if outcome == Outcome.EXPIRED
                    else ChequeStatus.CANCELLED
                    if outcome is not None
                    else ChequeStatus.ISSUED
                ] * (10 - redeemed)
                for number, status in enumerate(statuses, start=1):
                    out["cheque"].append(
                        {
                            "serial": ChequeSerial(
                                PROGRAMME, ref.millesime, booklet, number
                            ).digits,
                            "journey_id": jid,
                            "programme_code": PROGRAMME,
                            "millesime": ref.millesime,
                            "booklet_number": booklet,
                            "number": number,
                            "status": status.value,
                            "session_id": None,
                            "redeemed_on": None,
                            "mediation_structure_id": mediation
                            if status == ChequeStatus.REDEEMED
                            else None,
                            "valid_until": None,
                            "updated_at": last,
                        }
                    )
            first_session = None
            for k in range(sessions):
                day = (dates[Stage.IN_TRAINING] + timedelta(days=3 + 7 * k)).date()
                first_session = first_session or day
                out["session"].append(
                    {
                        "session_id": str(uuid.uuid4()),
                        "journey_id": jid,
                        "mediation_structure_id": mediation,
                        "day": day,
                        "duration_minutes": 120,
                        "kind": "INDIVIDUAL",
                        "place": "ON_SITE",
                        "themes": ["EMAIL"],
                        "equipment": [],
                        "autonomy_observed": None,
                        "serials": [],
                        "logged_at": last,
                    }
                )
            log = [(s, dates[s]) for s in ORDER[: reached + 1]]
            if closed_at is not None:
                log.append((Stage.CLOSED, closed_at))
            previous = None
            for seq, (s, when) in enumerate(log, start=1):
                out["log"].append(
                    {
                        "journey_id": jid,
                        "seq": seq,
                        "at": when,
                        "actor_role": "SOCIAL_WORKER",
                        "actor_ref": "1",
                        "action": (
                            Action.CLOSED
                            if s == Stage.CLOSED
                            else Action(
                                s.value if s != Stage.IN_TRAINING else "ORIENTATION_ACCEPTED"
                            )
                        ).value,
                        "from_stage": previous,
                        "to_stage": s.value,
                        "reason": None,
                        "detail": {},
                    }
                )
                previous = s.value
            oriented = Stage.ORIENTED in dates
            out["journey"].append(
                {
                    "id": jid,
                    "workflow_id": f"journey-{jid}",
                    "programme_code": PROGRAMME,
                    "epci_id": epci,
                    "reception_structure_id": reception,
                    "referrer_role": "SOCIAL_WORKER",
                    "referrer_ref": "1",
                    "stage": stage.value,
                    "outcome": outcome.value if outcome else None,
                    "referred_at": dates.get(Stage.REFERRED),
                    "assessed_at": dates.get(Stage.ASSESSED),
                    "booklet_issued_at": dates.get(Stage.BOOKLET_ISSUED),
                    "oriented_at": dates.get(Stage.ORIENTED),
                    "training_started_at": dates.get(Stage.IN_TRAINING),
                    "closed_at": closed_at,
                    "anonymised_at": None,
                    "last_activity_at": last,
                    "mediation_structure_id": mediation if Stage.IN_TRAINING in dates else None,
                    "orientation_status": ("PENDING" if stage == Stage.ORIENTED else "ACCEPTED")
                    if oriented
                    else None,
                    "orientation_structure_id": mediation if oriented else None,
                    "stalled": stalled,
                    "stalled_since": stalled_since,
                    "stalled_reason": STALL_REASON[stage] if stalled else None,
                    "millesime": ref.millesime if has_booklet else None,
                    "booklet_number": booklet if has_booklet else None,
                    "valid_until": None,
                    "cheques_total": cheques_total,
                    "cheques_redeemed": redeemed,
                    "sessions_count": sessions,
                    "days_to_first_session": (first_session - referred.date()).days
                    if first_session
                    else None,
                    "entry_autonomy": None,
                    "exit_autonomy": None,
                    "last_seq": len(log),
                    "updated_at": last,
                }
            )
            out["beneficiary"].append(
                {
                    "journey_id": jid,
                    "idempotency_key": jid,
                    "first_name": rng.choice(FIRST_NAMES),
                    "last_name": rng.choice(LAST_NAMES),
                    "birth_year": rng.randint(1935, 2000),
                    "phone": None,
                    "email": None,
                    "postal_address": None,
                    "commune": "Rodez",
                    "preferred_channel": "POST",
                    "consent_given_at": referred,
                    "consent_text": "J'accepte.",
                    "consent_recorded_by": "1",
                    "created_at": referred,
                    "anonymised_at": None,
                }
            )
        yield out


def fill(engine: Engine, n: int, seed: int = 12) -> dict[str, int]:
    sessions = session_factory(engine)
    with sessions() as s:
        ref = Reference(s)
    counts = {"journey": 0, "cheque": 0, "session": 0, "log": 0}
    tables = {
        "journey": Journey,
        "beneficiary": Beneficiary,
        "cheque": Cheque,
        "session": TrainingSession,
        "log": TransitionLog,
    }
    rng = random.Random(seed)
    now = datetime.now(UTC)
    with engine.begin() as conn:
        for batch in journeys_rows(ref, n, rng, now):
            for name in ("journey", "beneficiary", "cheque", "session", "log"):
                if batch[name]:
                    conn.execute(insert(tables[name].__table__), batch[name])  # type: ignore[attr-defined]
                    if name in counts:
                        counts[name] += len(batch[name])
    with sessions() as s:  # the overview's counters, as the projection would have kept them
        overview_counts.rebuild(s)
        s.commit()
    with engine.connect() as conn:  # fresh statistics, as a live database would have
        if is_sqlite(str(engine.url)):
            conn.exec_driver_sql("ANALYZE")
        else:
            conn.execution_options(isolation_level="AUTOCOMMIT").exec_driver_sql("VACUUM ANALYZE")
    return counts


# ---- timing ----


def tokens(engine: Engine) -> dict[str, str]:
    sessions = session_factory(engine)
    now = datetime.now(UTC)
    out = {}
    with sessions() as s:
        demo = seed_demo_accounts(
            s, programme_code=PROGRAMME, now=now, password_hash=accounts.hash_password("x" * 12)
        )
        for d in demo:
            if d.role.value == "COORDINATOR":
                account = accounts.get_account_by_email(s, d.email)
                assert account is not None
                _, secret = accounts.issue_api_token(
                    s, account, label="bench", now=now, created_by=None
                )
                out["programme" if account.epci_id is None else "EPCI"] = secret
        s.commit()
    return out


async def time_pages(
    url: str, engine: Engine, secrets: dict[str, str], rounds: int
) -> dict[str, float]:
    settings = Settings(database_url=url)
    app = create_app(settings)
    app.state.passnum = AppState(
        settings=settings,
        db=Database(session_factory(engine)),
        temporal=None,  # type: ignore[arg-type]
    )
    out: dict[str, float] = {}
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://bench") as http:
        for who, secret in sorted(secrets.items(), reverse=True):
            headers = {"Authorization": f"Bearer {secret}"}
            for label, path in PAGES.items():
                for _ in range(3):  # warm-up: templates compiled, caches filled
                    r = await http.get(path, headers=headers)
                    assert r.status_code == 200, (path, r.status_code, r.text[:500])
                wall, cpu = [], []
                for _ in range(rounds):
                    t0, c0 = time.perf_counter(), time.process_time()
                    r = await http.get(path, headers=headers)
                    wall.append(time.perf_counter() - t0)
                    cpu.append(time.process_time() - c0)
                    assert r.status_code == 200
                out[f"{label} ({who})"] = statistics.median(wall) * 1000
                out[f"{label} ({who}) CPU"] = statistics.median(cpu) * 1000
    return out


def pg_database() -> tuple[str, str]:
    name = f"passnum_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(PG_ADMIN_DSN, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return name, f"postgresql://postgres@127.0.0.1:5432/{name}"


def drop_pg(name: str) -> None:
    with psycopg.connect(PG_ADMIN_DSN, autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )


def run(url: str, n: int, rounds: int) -> dict[str, float]:
    migrate(url)
    engine = make_engine(url)
    try:
        with session_factory(engine)() as s:
            seed_default_programme(s)
            s.commit()
        secrets = tokens(engine)
        t0 = time.perf_counter()
        counts = fill(engine, n)
        print(
            f"  {n:>7,} journeys: {counts['cheque']:,} cheques, {counts['session']:,} sessions, "
            f"{counts['log']:,} log rows inserted in {time.perf_counter() - t0:.1f} s",
            flush=True,
        )
        return asyncio.run(time_pages(url, engine, secrets, rounds))
    finally:
        engine.dispose()


def report(backend: str, results: dict[int, dict[str, float]]) -> None:
    sizes = sorted(results)
    small, large = sizes[0], sizes[-1]
    for kind, title in (("", "wall time"), (" CPU", "CPU time of the process")):
        print(f"\n{backend}: median render time (ms), {title}, request through the whole app")
        head = f"  {'page (coordinator)':<36}" + "".join(f"{n:>12,}" for n in sizes)
        print(head + f"{'ratio':>9}")
        for key in results[small]:
            if key.endswith(" CPU") != bool(kind):
                continue
            row = "".join(f"{results[n][key]:>12.1f}" for n in sizes)
            name = key.removesuffix(" CPU")
            print(f"  {name:<36}{row}{results[large][key] / results[small][key]:>8.2f}x")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", type=int, nargs="+", default=[9_000, 90_000])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--postgres", action="store_true", help="also on PostgreSQL (127.0.0.1)")
    parser.add_argument("--postgres-only", action="store_true", help="on PostgreSQL only")
    args = parser.parse_args()
    backends = [] if args.postgres_only else ["SQLite"]
    backends += ["PostgreSQL"] if args.postgres or args.postgres_only else []
    for backend in backends:
        print(f"{backend}:", flush=True)
        results: dict[int, dict[str, float]] = {}
        for n in args.sizes:
            if backend == "SQLite":
                with tempfile.TemporaryDirectory() as tmp:
                    results[n] = run(f"sqlite:///{Path(tmp) / 'records.db'}", n, args.rounds)
            else:
                name, url = pg_database()
                try:
                    results[n] = run(url, n, args.rounds)
                finally:
                    drop_pg(name)
        report(backend, results)
    sys.stdout.flush()


if __name__ == "__main__":
    main()
