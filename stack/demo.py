"""`passnum up --demo`: fill the embedded stack with a simulated programme, so that a
newcomer's first page shows the product.

Each demo journey acts out a plan drawn by the simulator (`simulation.draw_plan`:
the same take-up assumptions as `passnum simulate`), referred between 150 days ago and
today: the steps its plan puts on or before today are sent, in order, over the HTTP API
with the demo accounts' tokens (a referral by the demo social worker, the assessment, the
booklet, an orientation to the demo mediator's structure and its answer, the sessions
paid with the booklet's cheques and their security codes). Everything goes through the
real API, workflows, activities and mail sink; journeys land in every stage.

The engine's clock cannot be moved back: every step happens today. So that the demo also
shows stalled journeys, those whose plan left them waiting longer than their stage's
deadline are referred while the programme's stall deadlines are set to 0 days (their
workflow flags them at once, and mails the reminders); the deadlines are put back before
the other journeys are referred. Only `--demo` does this, on a programme with no journey
yet: a restart with `--demo` finds the journeys there and adds none.
"""

from __future__ import annotations

import asyncio
import random
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
from sqlmodel import col, select

from config import Settings
from domain.policy import JourneyPolicy
from domain.security_codes import display_code
from domain.stages import Stage
from domain.validity import paris_day
from records import accounts
from records.db import begin_write, make_engine, session_factory
from records.models import Account, Cheque, Journey, Programme, ProgrammePolicy
from records.seed import EMAIL_DOMAIN, home_structures
from simulation import Assumptions, PersonPlan, draw_plan

DEMO_JOURNEYS = 240
DEMO_SEED = 2026
REFERRED_WITHIN_DAYS = 150
CONCURRENCY = 6
SOCIAL_WORKER = f"travailleur.social@{EMAIL_DOMAIN}"
MEDIATOR = f"mediateur@{EMAIL_DOMAIN}"
# The stages whose deadline the demo's stalled journeys are referred with at 0 days (never
# the pending orientation's: its deadline is the orientation's expiry).
STALLING = (Stage.REFERRED, Stage.ASSESSED, Stage.BOOKLET_ISSUED, Stage.IN_TRAINING)
FIRST_NAMES = (
    "Josette", "Marcel", "Yvette", "André", "Simone", "Gérard", "Odette", "Roger",
    "Huguette", "Lucien", "Paulette", "Raymond", "Ginette", "Henri", "Jeannine", "Albert",
)  # fmt: skip
LAST_NAMES = (
    "Vidal", "Fabre", "Bousquet", "Carrière", "Delmas", "Espinasse", "Foulquier", "Gaubert",
    "Lacombe", "Marty", "Nayrac", "Pouget", "Rouquette", "Séguret", "Trémolières", "Vabre",
)  # fmt: skip
COMMUNES = ("Rodez", "Onet-le-Château", "Olemps", "Luc-la-Primaube", "Druelle", "Sébazac")


@dataclass(frozen=True)
class Script:
    """What a demo journey does today: its plan's steps up to today."""

    person: dict[str, Any]
    assessed: bool
    booklet: bool
    oriented: bool
    answered: bool
    accepts: bool
    sessions: tuple[int, ...]  # cheques paid at each session
    stalls: bool  # waited past its stage's deadline: referred with 0-day deadlines


@dataclass
class Filled:
    journeys: int = 0
    stalled: int = 0
    sessions: int = 0
    by_stage: dict[str, int] = field(default_factory=dict)
    skipped: bool = False  # the programme already had journeys


def script_of(plan: PersonPlan, today: date, person: dict[str, Any]) -> Script:
    """The steps of `plan` on or before `today`, and whether the journey would be stalled:
    the stage it stops at was entered longer ago than that stage's deadline."""
    deadlines = JourneyPolicy().stage_deadlines

    def done(day: date | None) -> bool:
        return day is not None and day <= today

    assessed, booklet = done(plan.assessed_on), done(plan.booklet_on)
    oriented = booklet and done(plan.oriented_on)
    answered = oriented and done(plan.answered_on)
    accepted = answered and plan.accepts
    sessions: list[int] = []
    spent = 0
    for day, cheques in plan.session_days() if accepted else []:
        if day > today or spent >= 10:
            break
        sessions.append(min(cheques, 10 - spent))
        spent += sessions[-1]
    steps = [
        (Stage.REFERRED, plan.referred_on),
        (Stage.ASSESSED, plan.assessed_on if assessed else None),
        (Stage.BOOKLET_ISSUED, plan.booklet_on if booklet else None),
        (Stage.IN_TRAINING, plan.answered_on if accepted else None),
    ]
    stage, since = [(s, d) for s, d in steps if d is not None][-1]  # steps are cumulative
    if sessions:  # a session is activity: the last one's day
        since = plan.session_days()[len(sessions) - 1][0]
    waiting = oriented and not answered  # the structure's answer is awaited: not stalled
    stalls = (
        not waiting
        and spent < 10
        and (today - since).days >= deadlines[stage].stalled_days
        and not (oriented and answered and not accepted)  # declined: back to the worker
    )
    return Script(
        person, assessed, booklet, oriented, answered, plan.accepts, tuple(sessions), stalls
    )


def scripts(today: date, epci_id: int, n: int, seed: int) -> list[Script]:
    rng = random.Random(seed)
    assumptions = Assumptions()
    out = []
    for i in range(n):
        referred_on = today - timedelta(days=rng.randrange(REFERRED_WITHIN_DAYS))
        plan = draw_plan(assumptions, rng, referred_on, epci_id)
        person = {
            "first_name": FIRST_NAMES[i % len(FIRST_NAMES)],
            "last_name": f"{LAST_NAMES[(i // len(FIRST_NAMES)) % len(LAST_NAMES)]}",
            "birth_year": 1935 + rng.randrange(50),
            "phone": f"05 65 {rng.randrange(100):02d} {rng.randrange(100):02d} {i % 100:02d}",
            "commune": rng.choice(COMMUNES),
            "preferred_channel": rng.choice(("PHONE", "POST", "EMAIL")),
        }
        if person["preferred_channel"] == "EMAIL":
            person["email"] = f"personne.{i}@{EMAIL_DOMAIN}"
        out.append(script_of(plan, today, person))
    return out


class Demo:
    """The demo's accounts, tokens and database, for one fill."""

    def __init__(self, settings: Settings, base_url: str) -> None:
        self.settings = settings
        self.base_url = base_url
        self.engine = make_engine(settings.db_url)
        self.sessions = session_factory(self.engine)
        self.tokens: dict[str, str] = {}
        self.scope: dict[str, Account] = {}
        self.epci_id = 0  # the demo accounts' EPCI

    def prepare(self) -> bool:
        """Issue the demo accounts' tokens; False if the programme already has journeys."""
        code = self.settings.programme_code
        with self.sessions() as session:
            if session.exec(select(Journey.id).where(Journey.programme_code == code)).first():
                return False
            for email in (SOCIAL_WORKER, MEDIATOR):
                account = accounts.get_account_by_email(session, email)
                if account is None:
                    raise RuntimeError(f"demo account {email} missing")
                _, secret = accounts.issue_api_token(
                    session, account, label="démonstration", now=datetime.now(UTC), created_by=None
                )
                self.tokens[email], self.scope[email] = secret, account
            self.epci_id = home_structures(session, code).epci.id or 0
            session.commit()
        return True

    @contextmanager
    def zero_deadlines(self) -> Iterator[None]:
        """The programme's stall deadlines at 0 days while the block runs, then as before."""
        names = [f"{s.value.lower()}_{k}_days" for s in STALLING for k in ("reminder", "stalled")]
        with self.sessions() as session:
            begin_write(session)
            programme = session.exec(
                select(Programme).where(Programme.code == self.settings.programme_code)
            ).one()
            row = session.get(ProgrammePolicy, programme.id)
            assert row is not None, "the programme has no policy row"
            before = {name: getattr(row, name) for name in names}
            for name in names:
                setattr(row, name, 0)
            session.add(row)
            session.commit()
            try:
                yield
            finally:
                begin_write(session)
                for name, value in before.items():
                    setattr(row, name, value)
                session.add(row)
                session.commit()

    def codes(self, serials: list[str]) -> list[str]:
        vault = self.settings.code_vault
        with self.sessions() as session:
            sealed = dict(
                session.exec(
                    select(Cheque.serial, Cheque.security_code).where(
                        col(Cheque.serial).in_(serials)
                    )
                ).all()
            )
        return [display_code(vault.reveal(s, sealed[s] or "")) for s in serials]

    def close(self) -> None:
        self.engine.dispose()


async def act_out(http: httpx.AsyncClient, demo: Demo, script: Script, today: date) -> str:
    """Send a script's steps over the API; the journey's stage at the end."""
    sw = {"Authorization": f"Bearer {demo.tokens[SOCIAL_WORKER]}"}
    med = {"Authorization": f"Bearer {demo.tokens[MEDIATOR]}"}
    reception = demo.scope[SOCIAL_WORKER].reception_structure_id
    mediation = demo.scope[MEDIATOR].mediation_structure_id

    async def post(path: str, body: Any, headers: dict[str, str]) -> dict[str, Any]:
        key = {"Idempotency-Key": str(uuid.uuid4())}
        r = await http.post(path, json=body, headers={**headers, **key})
        if r.status_code >= 300:
            raise RuntimeError(f"{path}: {r.status_code} {r.text[:300]}")
        answer: dict[str, Any] = r.json()
        return answer

    referral = {
        "reception_structure_id": reception,
        "person": script.person,
        "consent": {"given": True},
        "confirm_possible_duplicate": True,
    }
    status = await post("/api/v1/referrals", referral, sw)
    journey = f"/api/v1/journeys/{status['journey_id']}"
    if script.assessed:
        assessment = {"tool": "ABC_DIAG", "autonomy": "BEGINNER", "needs": ["EMAIL", "HEALTH"]}
        status = await post(f"{journey}/assessments", assessment, sw)
    if script.assessed and script.booklet:
        status = await post(f"{journey}/booklet", None, sw)
        serials = [c["serial"] for c in status["cheques"]]
        if script.oriented:
            status = await post(f"{journey}/orientation", {"mediation_structure_id": mediation}, sw)
        if script.oriented and script.answered:
            answer: dict[str, Any] = {"mediation_structure_id": mediation, "accept": script.accepts}
            if not script.accepts:
                answer["decline_reason"] = "PERSON_UNREACHABLE"
            status = await post(f"{journey}/orientation/answer", answer, med)
        spent = 0
        for n in script.sessions:
            paid = serials[spent : spent + n]
            spent += n
            cheques = [
                {"serial": s, "code": c} for s, c in zip(paid, demo.codes(paid), strict=True)
            ]
            session = {
                "mediation_structure_id": mediation,
                "day": today.isoformat(),
                "duration_minutes": 90,
                "kind": "INDIVIDUAL",
                "place": "ON_SITE",
                "themes": ["EMAIL"],
                "equipment": ["OWN_SMARTPHONE"],
                "autonomy_observed": "BEGINNER",
                "cheques": cheques,
            }
            receipt = await post(f"{journey}/sessions", session, med)
            status = receipt["status"]
    return str(status["stage"])


async def fill(
    settings: Settings,
    base_url: str,
    *,
    journeys: int = DEMO_JOURNEYS,
    seed: int = DEMO_SEED,
    progress: Any = print,
) -> Filled:
    """Fill the programme with `journeys` demo journeys (none if it has journeys)."""
    demo = Demo(settings, base_url)
    filled = Filled()
    try:
        if not await asyncio.to_thread(demo.prepare):
            filled.skipped = True
            return filled
        today = paris_day(datetime.now(UTC))
        plans = scripts(today, demo.epci_id, journeys, seed)
        limit = asyncio.Semaphore(CONCURRENCY)
        async with httpx.AsyncClient(base_url=base_url, timeout=60) as http:

            async def one(script: Script) -> None:
                async with limit:
                    stage = await act_out(http, demo, script, today)
                filled.journeys += 1
                filled.stalled += script.stalls
                filled.sessions += len(script.sessions)
                filled.by_stage[stage] = filled.by_stage.get(stage, 0) + 1
                if filled.journeys % 40 == 0:
                    progress(f"Démonstration : {filled.journeys}/{journeys} parcours…")

            stalled = [s for s in plans if s.stalls]
            with demo.zero_deadlines():
                await asyncio.gather(*(one(s) for s in stalled))
            await asyncio.gather(*(one(s) for s in plans if not s.stalls))
    finally:
        demo.close()
    return filled
