"""Benchmark: the journey lists and the overview of a programme, alone in its database and
then beside a second programme as large (issue 11: two programmes no slower than 1.2x one).

    python -m bench.programmes [--journeys 9000] [--rounds 15] [--passes 3] [--paired]
                               [--backend sqlite|postgresql|both]

Per backend, in one process, on a fresh database (a SQLite file; a throwaway PostgreSQL
database on 127.0.0.1:5432): migrate, seed Aveyron (programme 12) and a second programme,
Hérault (34: the Aveyron reference data adapted in code, other code, names and EPCI
SIREN, through `records.seed.seed_programme`); write `--journeys` journeys of programme 12
straight as rows (bench/programme_rows.py: their cheques, sessions, assessments and
people), then time, warm, the median of `--rounds` requests through the whole app (ASGI,
personal API token, SQL, template or JSON) and of the same number of calls of the
records' queries:

- the journey lists: the social worker's page (one reception structure: all, one stage, a
  name search), the mediator's trainees (one mediation structure), the coordinator's
  (whole programme: GET /api/v1/journeys, all and one stage; the stalled journeys' page)
  and the list queries over the whole programme;
- the overview: the coordinators' page and GET /api/v1/reports/overview, unfiltered, by
  EPCI, by month of referral, by both; `records.coordination.programme_overview` and the
  cheques about to expire.

Then `--journeys` journeys of programme 34 are written and everything is timed again for
programme 12 (and for 34). The table gives, per backend, the times with one programme,
with two, and their ratio (aim: 1.2x at most). Each figure is the least of `--passes`
medians, the rounds going round every label in turn.

On a shared machine the load drifts between the two timings by more than the effect
looked for: `--paired` writes programme 12 alone in one database and 12 then 34 in a
second (the same rows of 12), and times the three side by side, round by round.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack, ExitStack
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import Engine
from sqlmodel import Session

from api.app import create_app
from api.deps import AppState, Database
from bench.pages import drop_pg, pg_database
from bench.programme_rows import NOW, write_programme
from config import Settings
from domain.stages import Role, Stage
from records import accounts, queries
from records.coordination import (
    OverviewFilter,
    StalledFilter,
    expiring_cheques,
    programme_overview,
    stalled_journeys,
)
from records.db import make_engine, migrate, session_factory
from records.models import Programme
from records.programme_file import ProgrammeFile
from records.queries import JourneyScope
from records.seed import (
    DEFAULT_PROGRAMME_FILE,
    home_structures,
    load_programme_file,
    seed_programme,
    slug,
)

AVEYRON, HERAULT = 12, 34
MONTH = "2026-03"  # a month of referral with journeys (bench/programme_rows.py: 2025-2026)
SEARCH = "fabre"  # one of the people's last names (a sixteenth of them or so)
# The intercommunalités of Hérault (2017 map), in place of Aveyron's, in its order.
HERAULT_EPCI = [
    ("Montpellier Méditerranée Métropole", "Montpellier"),
    ("Communauté d'agglomération Béziers Méditerranée", "Béziers"),
    ("Communauté d'agglomération Hérault Méditerranée", "Agde"),
    ("Sète Agglopôle Méditerranée", "Sète"),
    ("Communauté d'agglomération du Pays de l'Or", "Mauguio"),
    ("Communauté de communes du Grand Pic Saint-Loup", "Saint-Mathieu-de-Tréviers"),
    ("Communauté de communes Vallée de l'Hérault", "Gignac"),
    ("Communauté de communes du Clermontais", "Clermont-l'Hérault"),
    ("Communauté de communes Lodévois et Larzac", "Lodève"),
    ("Communauté de communes Grand Orb", "Bédarieux"),
    ("Communauté de communes Minervois au Caroux", "Olonzac"),
    ("Communauté de communes Sud-Hérault", "Capestang"),
    ("Communauté de communes La Domitienne", "Maraussan"),
    ("Communauté de communes Les Avant-Monts", "Magalas"),
    ("Communauté de communes du Pays de Lunel", "Lunel"),
    ("Communauté de communes des Cévennes gangeoises et suménoises", "Ganges"),
    ("Communauté de communes du Haut-Languedoc", "Saint-Pons-de-Thomières"),
]


def herault() -> ProgrammeFile:
    """The Aveyron programme file turned into Hérault's: code 34, its names, its EPCI
    (placeholder SIREN 2434000xx) and their seats as the structures' communes."""
    data: dict[str, Any] = json.loads(DEFAULT_PROGRAMME_FILE.read_text(encoding="utf-8"))
    data["programme"] |= {
        "code": HERAULT,
        "name": "Pass numérique Hérault",
        "territory": "Département de l'Hérault",
        "issuer_name": "Département de l'Hérault (émetteur des chèques)",
    }
    seats: dict[str, str] = {}
    names: dict[str, str] = {}  # Aveyron's EPCI name -> Hérault's
    for i, e in enumerate(data["epci"]):
        name, seat = HERAULT_EPCI[i % len(HERAULT_EPCI)]
        seats[e["key"]] = seat
        names[e["name"]] = name
        e |= {"name": name, "siren": f"2434000{i:02d}"}
    for funder in data["funders"]:
        if funder["kind"] == "DEPARTEMENT":
            funder["name"] = "Département de l'Hérault"
        funder["name"] = names.get(funder["name"], funder["name"])
        for line in funder["budget_lines"]:
            line["label"] = f"Participation : {funder['name']}"
    communes: dict[str, str] = {}  # Aveyron's commune -> Hérault's seat
    for row in [*data["reception_structures"], *data["mediation_structures"]]:
        seat = communes.setdefault(row["commune"], seats[row["epci"]])
        row["name"] = row["name"].replace(row["commune"], seat).replace("Aveyron", "Hérault")
        row["commune"] = seat
        row["email"] = f"{slug(row['name'])}@herault.example"
    return ProgrammeFile.model_validate(data)


@dataclass(frozen=True)
class Programme_:
    """What the timings of one programme need: its row, an EPCI, a mediation structure,
    its API tokens."""

    programme: Programme
    epci_id: int
    mediation_structure_id: int  # the mediator's
    social_worker: str  # token secrets
    mediator: str
    coordinator: str


def prepare(engine: Engine) -> dict[int, Programme_]:
    """Seed both programmes (no journey yet) and an account with a token per role timed."""
    sessions = session_factory(engine)
    now = datetime.now(UTC)
    password_hash = accounts.hash_password("x" * 12)
    out = {}
    with sessions() as s:
        seed_programme(s, load_programme_file())
        seed_programme(s, herault())
        for code in (AVEYRON, HERAULT):
            home = home_structures(s, code)
            programme, epci = home.programme, home.epci
            reception, mediation = home.reception, home.mediation
            assert epci.id is not None and mediation.id is not None  # read from the database
            secrets = {}
            for role, scope in (
                (Role.SOCIAL_WORKER, {"reception_structure_id": reception.id}),
                (Role.MEDIATOR, {"mediation_structure_id": mediation.id}),
                (Role.COORDINATOR, {}),
            ):
                account = accounts.create_account(
                    s,
                    email=f"{role.value.lower()}-{code}@bench.example",
                    full_name=f"Bench {role.value}",
                    role=role,
                    programme_code=code,
                    now=now,
                    password_hash=password_hash,
                    **scope,  # type: ignore[arg-type]
                )
                _, secrets[role] = accounts.issue_api_token(
                    s, account, label="bench", now=now, created_by=None
                )
            out[code] = Programme_(
                programme,
                epci.id,
                mediation.id,
                secrets[Role.SOCIAL_WORKER],
                secrets[Role.MEDIATOR],
                secrets[Role.COORDINATOR],
            )
        s.commit()
    return out


def requests(epci_id: int) -> list[tuple[str, str, str]]:
    """(label, who, path) of every request timed."""
    one_month = f"du={MONTH}&au={MONTH}"
    return [
        ("list, social worker", "social", "/accompagnement"),
        ("list, social worker, stage", "social", f"/accompagnement?etape={Stage.IN_TRAINING}"),
        ("list, social worker, name", "social", f"/accompagnement?nom={SEARCH}"),
        ("list, mediator's trainees", "mediator", "/mediation/beneficiaires"),
        ("list API, coordinator", "coord", "/api/v1/journeys"),
        ("list API, coordinator, stage", "coord", f"/api/v1/journeys?stage={Stage.ASSESSED}"),
        ("stalled list page, coordinator", "coord", "/coordination/bloques"),
        ("overview page", "coord", "/coordination"),
        ("overview page, EPCI", "coord", f"/coordination?epci={epci_id}"),
        ("overview page, month", "coord", f"/coordination?{one_month}"),
        ("overview page, EPCI + month", "coord", f"/coordination?epci={epci_id}&{one_month}"),
        ("overview API", "coord", "/api/v1/reports/overview"),
        ("overview API, EPCI", "coord", f"/api/v1/reports/overview?epci={epci_id}"),
        ("overview API, month", "coord", f"/api/v1/reports/overview?{one_month}"),
        (
            "overview API, EPCI + month",
            "coord",
            f"/api/v1/reports/overview?epci={epci_id}&{one_month}",
        ),
    ]


Timer = Callable[[], Awaitable[object]]


def query_calls(p: Programme_) -> dict[str, Callable[[Session], object]]:
    """The records' list and overview queries over the whole programme, by label."""
    code, everything = p.programme.code, JourneyScope(everything=True)
    month = int(MONTH.replace("-", ""))
    return {
        "query list_journeys": lambda s: queries.list_journeys(
            s, programme_code=code, scope=everything
        ),
        "query list_journeys, stage": lambda s: queries.list_journeys(
            s, programme_code=code, stage=Stage.ASSESSED, scope=everything
        ),
        "query journey_stage_counts": lambda s: queries.journey_stage_counts(
            s, programme_code=code, scope=everything
        ),
        "query journeys_by_person_name": lambda s: queries.journeys_by_person_name(
            s, programme_code=code, text=SEARCH, scope=everything
        ),
        "query mediation_trainees": lambda s: queries.mediation_trainees(
            s, programme_code=code, mediation_structure_id=p.mediation_structure_id
        ),
        "query stalled_journeys": lambda s: stalled_journeys(
            s, programme_code=code, scope=everything, filters=StalledFilter()
        ),
        "query programme_overview": lambda s: programme_overview(s, p.programme, everything),
        "query programme_overview, EPCI+month": lambda s: programme_overview(
            s,
            p.programme,
            everything,
            OverviewFilter(epci_id=p.epci_id, from_month=month, to_month=month),
        ),
        "query expiring_cheques": lambda s: expiring_cheques(s, code, everything, NOW),
    }


@dataclass(frozen=True)
class Target:
    """A programme to time, in a database."""

    url: str
    engine: Engine
    programme: Programme_


async def measure_async(
    targets: dict[str, Target], rounds: int, passes: int
) -> dict[str, dict[str, float]]:
    """Median wall time (ms) of each request (through an app serving the target's
    programme) and query, per target. The rounds go round every label, and for each label
    every target in turn (a burst of load on the machine falls on all of them alike); the
    least of `passes` medians is kept."""
    timers: dict[tuple[str, str], Timer] = {}
    async with AsyncExitStack() as stack:
        for key, t in targets.items():
            p = t.programme
            settings = Settings(database_url=t.url, programme_code=p.programme.code)
            app = create_app(settings)
            app.state.passnum = AppState(
                settings=settings,
                db=Database(session_factory(t.engine)),
                temporal=None,  # type: ignore[arg-type]
            )
            http = await stack.enter_async_context(
                httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://b")
            )
            session = stack.enter_context(session_factory(t.engine)())
            tokens = {"social": p.social_worker, "mediator": p.mediator, "coord": p.coordinator}
            for label, who, path in requests(p.epci_id):
                timers[label, key] = _get(http, path, tokens[who])
            for label, run in query_calls(p).items():
                timers[label, key] = _query(session, run)
        for call in timers.values():
            for _ in range(3):  # warm-up: templates compiled, caches and pages filled
                await call()
        best: dict[str, dict[str, float]] = {key: {} for key in targets}
        for _ in range(passes):
            wall: dict[tuple[str, str], list[float]] = {k: [] for k in timers}
            for _ in range(rounds):
                for k, call in timers.items():
                    t0 = time.perf_counter()
                    await call()
                    wall[k].append(time.perf_counter() - t0)
            for (label, key), times in wall.items():
                ms = statistics.median(times) * 1000
                best[key][label] = min(best[key].get(label, ms), ms)
    return best


def _get(http: httpx.AsyncClient, path: str, token: str) -> Timer:
    headers = {"Authorization": f"Bearer {token}"}

    async def call() -> object:
        r = await http.get(path, headers=headers)
        assert r.status_code == 200, (path, r.status_code, r.text[:500])
        return r

    return call


def _query(session: Session, run: Callable[[Session], object]) -> Timer:
    async def call() -> object:
        try:
            return run(session)
        finally:
            session.rollback()

    return call


def measure(targets: dict[str, Target], rounds: int, passes: int) -> dict[str, dict[str, float]]:
    return asyncio.run(measure_async(targets, rounds, passes))


def fill(engine: Engine, code: int, journeys: int) -> None:
    """Write `journeys` journeys of programme `code` (the same rows whatever the database
    holds besides: the seed is the programme's); on PostgreSQL, VACUUM ANALYZE as
    autovacuum soon would (the visibility map lets counts read the indexes alone)."""
    t0 = time.perf_counter()
    written = write_programme(engine, journeys, seed=code, with_people=True, programme=code)
    print(
        f"  programme {code}: {written.journeys:,} journeys, {written.cheques:,} cheques, "
        f"{written.sessions:,} sessions written in {time.perf_counter() - t0:.1f} s",
        flush=True,
    )
    if engine.dialect.name == "postgresql":
        with engine.connect() as conn:
            conn.execution_options(isolation_level="AUTOCOMMIT").exec_driver_sql("VACUUM ANALYZE")


def run(urls: list[str], journeys: int, rounds: int, passes: int) -> dict[str, dict[str, float]]:
    """{"one": programme 12 alone, "two": 12 beside 34, "other": 34 beside 12}.

    One URL: programme 12 is written and timed, then programme 34 written and both timed.
    Two URLs (`--paired`): 12 alone in the first database, 12 then 34 in the second (the
    same rows of 12), all three timed together, round by round."""
    engines = [make_engine(url) for url in urls]
    try:
        programmes = []
        for url, engine in zip(urls, engines, strict=True):
            migrate(url)
            programmes.append(prepare(engine))
        alone = Target(urls[0], engines[0], programmes[0][AVEYRON])
        beside = [
            Target(urls[-1], engines[-1], programmes[-1][code]) for code in (AVEYRON, HERAULT)
        ]
        fill(engines[0], AVEYRON, journeys)
        if len(urls) == 1:
            out = measure({"one": alone}, rounds, passes)
            fill(engines[0], HERAULT, journeys)
            return out | measure({"two": beside[0], "other": beside[1]}, rounds, passes)
        fill(engines[1], AVEYRON, journeys)
        fill(engines[1], HERAULT, journeys)
        return measure({"one": alone, "two": beside[0], "other": beside[1]}, rounds, passes)
    finally:
        for engine in engines:
            engine.dispose()


def report(backend: str, journeys: int, results: dict[str, dict[str, float]]) -> float:
    """Print the table; return the largest ratio."""
    print(
        f"\n{backend}: median wall time (ms), programme 12 with {journeys:,} journeys, "
        f"alone then beside programme 34 with as many"
    )
    print(
        f"  {'request / query':<40}{'12 alone':>10}{'12 of two':>11}{'ratio':>8}{'34 of two':>11}"
    )
    worst = 0.0
    for label, alone in results["one"].items():
        two, other = results["two"][label], results["other"][label]
        ratio = two / alone
        worst = max(worst, ratio)
        flag = "  > 1.2x" if ratio > 1.2 else ""
        print(f"  {label:<40}{alone:>10.2f}{two:>11.2f}{ratio:>7.2f}x{other:>11.2f}{flag}")
    print(f"  largest ratio: {worst:.2f}x (aim: 1.2x at most)")
    return worst


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--journeys", type=int, default=9_000)
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--passes", type=int, default=3, help="the least median is kept")
    parser.add_argument(
        "--paired",
        action="store_true",
        help="12 alone and 12 beside 34 in two databases, timed together round by round",
    )
    parser.add_argument("--backend", choices=("sqlite", "postgresql", "both"), default="both")
    args = parser.parse_args()
    backends = ["sqlite", "postgresql"] if args.backend == "both" else [args.backend]
    databases = 2 if args.paired else 1
    for backend in backends:
        title = "SQLite" if backend == "sqlite" else "PostgreSQL"
        print(f"{title}:", flush=True)
        with ExitStack() as stack:
            if backend == "sqlite":
                tmp = Path(stack.enter_context(tempfile.TemporaryDirectory()))
                urls = [f"sqlite:///{tmp / f'records{i}.db'}" for i in range(databases)]
            else:
                urls = []
                for _ in range(databases):
                    name, url = pg_database()
                    stack.callback(drop_pg, name)
                    urls.append(url)
            results = run(urls, args.journeys, args.rounds, args.passes)
        report(title, args.journeys, results)


if __name__ == "__main__":
    main()
