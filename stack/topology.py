"""The production topology on one machine, for tests and benchmarks.

`Topology` starts, each as its own process: one Temporal dev server (fixed ports and a
database file, so that it can be killed and started again with its state), PostgreSQL
records (a private instance, `initdb` into a temporary folder, when Debian's PostgreSQL
binaries are there: it can really be restarted; otherwise a scratch database on the
machine's server, whose "restart" terminates every backend of that database), the SMTP
sink (`python -m bench.sink`), N workers (`passnum worker`) and M API processes
(`passnum api`, one port each). Any of them can be killed with SIGKILL and restarted.

`Driver` runs full journeys over HTTP (referral → assessment → booklet → orientation →
acceptance → 5 sessions spending all 10 cheques), requests spread over the API processes,
each with an Idempotency-Key kept across its retries (connection errors and 5xx are
retried with the same key on the next API: a retry never does anything twice).

`check` compares afterwards: every journey completed with its read-model row, the overview
counters against a recount, each cheque spent once, each mail once by Message-ID, the read
model against each workflow's own status, and no deadlock in any process's log.
"""

from __future__ import annotations

import asyncio
import contextlib
import glob
import os
import random
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

import httpx
from sqlalchemy import Engine, func
from sqlalchemy import select as sa_select
from sqlmodel import Session, col, select
from temporalio.client import Client

from config import Settings
from domain import contracts as c
from domain.security_codes import display_code
from domain.stages import ChequeStatus, Role
from domain.stages import Outcome as JourneyOutcome
from domain.validity import paris_day
from records import accounts
from records.db import make_engine, migrate, session_factory
from records.models import (
    Cheque,
    Journey,
    MailboxMessage,
    MailDelivery,
    NotificationOutbox,
    TrainingSession,
)
from stack.devserver import DevServer, _die_with_parent, temporal_binary
from temporal_client import connect_to

ROOT = Path(__file__).resolve().parent.parent
PG_ADMIN_DSN = "host=127.0.0.1 port=5432 user=postgres dbname=postgres"
SESSIONS = 5  # of 2 cheques each: the whole booklet
# What a log shows when a transaction or a workflow deadlocked.
FOLDED_MARK = "déjà reçu (même Message-ID)"  # the sink's log line for a mail sent again
DEADLOCK_MARKS = ("deadlock detected", "DeadlockError", "TMPRL1101", "Potential deadlock")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def launch(
    argv: list[str], env: dict[str, str], log: IO[bytes] | None = None
) -> subprocess.Popen[bytes]:
    """A passnum process (worker, API, sink…) from the repository root, with `env` over this
    process's environment; it dies with its parent (no process left over by a killed test)."""
    return subprocess.Popen(
        argv,
        cwd=ROOT,
        # This checkout's code, whatever the virtualenv's editable install points at.
        env={**os.environ, "PYTHONPATH": str(ROOT), **env},
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=subprocess.STDOUT if log is not None else None,
        preexec_fn=_die_with_parent,
    )


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def console_script(name: str) -> str:
    return str(Path(sys.executable).parent / name)


# ---- people and slips ----


@dataclass(frozen=True)
class People:
    """The demo social worker and mediator, each with an API token."""

    social_worker: dict[str, str]
    mediator: dict[str, str]
    reception: int
    mediation: int


def seed_people(session: Session, programme_code: int, now: datetime) -> People:
    from records.seed import seed_demo_accounts

    demos = seed_demo_accounts(
        session,
        programme_code=programme_code,
        now=now,
        password_hash=accounts.hash_password(secrets.token_urlsafe(16)),
    )
    found: dict[Role, tuple[dict[str, str], int]] = {}
    for demo in demos:
        row = accounts.get_account_by_email(session, demo.email)
        assert row is not None
        if demo.role in (Role.SOCIAL_WORKER, Role.MEDIATOR) and demo.role not in found:
            _, token = accounts.issue_api_token(
                session, row, label="bench", now=now, created_by=None
            )
            structure = row.reception_structure_id or row.mediation_structure_id
            assert structure is not None
            found[demo.role] = ({"Authorization": f"Bearer {token}"}, structure)
    (sw, reception), (med, mediation) = found[Role.SOCIAL_WORKER], found[Role.MEDIATOR]
    return People(sw, med, reception, mediation)


_SLIP_ENGINES: dict[str, Engine] = {}  # one per database: reading a slip stays cheap


def slip_of(db_url: str, serials: list[str]) -> list[dict[str, str]]:
    """The cheques as the person's slip shows them (serial and security code, read from
    the records with the default code key, as the worker sealed them)."""
    vault = Settings().code_vault
    engine = _SLIP_ENGINES.get(db_url) or _SLIP_ENGINES.setdefault(db_url, make_engine(db_url))
    with session_factory(engine)() as s:
        sealed = dict(
            s.exec(
                select(Cheque.serial, Cheque.security_code).where(col(Cheque.serial).in_(serials))
            ).all()
        )
    return [{"serial": x, "code": display_code(vault.reveal(x, sealed[x] or ""))} for x in serials]


# ---- PostgreSQL ----


def _initdb() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    return Path(found[-1]) if found else None


class PrivatePostgres:
    """A PostgreSQL instance of its own (initdb into a temporary folder, a free port):
    `restart()` stops it the hard way (`pg_ctl stop -m immediate`: no checkpoint, crash
    recovery at the next start, every connection cut) and starts it again."""

    name = "postgresql (private instance)"

    def __init__(self) -> None:
        initdb = _initdb()
        assert initdb is not None
        self.bin = initdb.parent
        # Its own temporary folder: the server's user must reach it (a test's tmp_path is
        # private to root).
        self.folder = Path(tempfile.mkdtemp(prefix="passnum-pg-"))
        self.data = self.folder / "pgdata"
        self.port = free_port()
        self.url = f"postgresql://postgres@127.0.0.1:{self.port}/passnum"
        # PostgreSQL refuses to run as root: as root, run it as the postgres user.
        self.as_user = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []

    def _run(self, *argv: str) -> None:
        done = subprocess.run([*self.as_user, *argv], capture_output=True, text=True, cwd="/")
        if done.returncode:
            raise subprocess.CalledProcessError(done.returncode, argv, done.stdout, done.stderr)

    def start(self) -> None:
        if not self.data.exists():
            if self.as_user:
                shutil.chown(self.folder, "postgres")
            self._run(str(self.bin / "initdb"), "-D", str(self.data), "-A", "trust",
                      "-U", "postgres", "--no-sync", "-E", "UTF8")  # fmt: skip
        self._run(
            str(self.bin / "pg_ctl"), "-D", str(self.data), "-l", str(self.folder / "pg.log"),
            "-w", "-o", f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1 "
            "-c max_connections=300 -c fsync=off", "start",
        )  # fmt: skip
        with contextlib.suppress(subprocess.CalledProcessError):
            self._run(str(self.bin / "createdb"), "-h", "127.0.0.1", "-p", str(self.port),
                      "-U", "postgres", "passnum")  # fmt: skip

    def restart(self) -> None:
        self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w", "stop")
        self.start()

    def stop(self) -> None:
        with contextlib.suppress(subprocess.CalledProcessError):
            self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop")
        shutil.rmtree(self.folder, ignore_errors=True)

    def log_text(self) -> str:
        with contextlib.suppress(OSError):
            return (self.folder / "pg.log").read_text(errors="replace")
        return ""


class SharedPostgres:
    """A scratch database on the machine's PostgreSQL (127.0.0.1:5432, trust). That server
    cannot be restarted under other jobs: `restart()` terminates every backend of the
    scratch database instead (each process's connections are cut as by a restart)."""

    name = "postgresql (backends terminated)"

    def __init__(self) -> None:
        self.db = f"passnum_topo_{uuid.uuid4().hex[:8]}"
        self.url = f"postgresql://postgres@127.0.0.1:5432/{self.db}"

    def _admin(self, statement: str, *args: Any) -> None:
        import psycopg

        with psycopg.connect(PG_ADMIN_DSN, autocommit=True) as conn:
            conn.execute(statement, args or None)  # type: ignore[arg-type]

    def start(self) -> None:
        self._admin(f'CREATE DATABASE "{self.db}"')

    def restart(self) -> None:
        self._admin(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s",
            self.db,
        )

    def stop(self) -> None:
        self._admin(f'DROP DATABASE IF EXISTS "{self.db}" WITH (FORCE)')

    def log_text(self) -> str:
        return ""


# ---- the processes ----


@dataclass
class Proc:
    """One process of the topology, which can be killed and started again."""

    name: str
    argv: list[str]
    env: dict[str, str]
    log: Path
    process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log.open("ab") as out:
            self.process = launch(self.argv, self.env, out)

    def kill(self) -> None:
        if self.process is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.process.pid, signal.SIGKILL)
            self.process.wait(10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.kill()

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid


class Topology:
    """Temporal dev server, PostgreSQL, SMTP sink, `workers` workers and `apis` API
    processes on this machine. Use `async with Topology(folder, workers=2, apis=2) as t:`."""

    def __init__(
        self, folder: Path, *, workers: int = 2, apis: int = 2, private_postgres: bool = True
    ) -> None:
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        self.pg: PrivatePostgres | SharedPostgres = (
            PrivatePostgres() if private_postgres and _initdb() is not None else SharedPostgres()
        )
        self.db_url = self.pg.url
        temporal_port = free_port()
        self.temporal = DevServer(
            binary=temporal_binary(),
            data_dir=folder / "temporal",
            host="127.0.0.1",
            port=temporal_port,
            ui_port=free_port(),
            namespace="default",
        )
        self.address = f"127.0.0.1:{temporal_port}"
        self.smtp_port = free_port()
        self.api_ports = [free_port() for _ in range(apis)]
        env = {
            "PASSNUM_DATABASE_URL": self.db_url,
            "PASSNUM_TEMPORAL_ADDRESS": self.address,
            "PASSNUM_SMTP_HOST": "127.0.0.1",
            "PASSNUM_SMTP_PORT": str(self.smtp_port),
            "PASSNUM_SMTP_SINK": "false",
            "PYTHONUNBUFFERED": "1",
        }
        self.env = env
        self.procs: dict[str, Proc] = {}
        self.procs["sink"] = Proc(
            "sink",
            [sys.executable, "-m", "bench.sink", self.db_url, str(self.smtp_port)],
            env,
            folder / "sink.log",
        )
        for n in range(1, workers + 1):
            self.procs[f"worker-{n}"] = Proc(
                f"worker-{n}",
                [console_script("passnum"), "worker"],
                env,
                folder / f"worker-{n}.log",
            )
        for n, port in enumerate(self.api_ports, 1):
            self.procs[f"api-{n}"] = Proc(
                f"api-{n}",
                [console_script("passnum"), "api"],
                {**env, "PASSNUM_API_PORT": str(port)},
                folder / f"api-{n}.log",
            )
        self.client: Client | None = None
        self.people: People | None = None
        self.engine: Engine | None = None

    @property
    def api_urls(self) -> list[str]:
        return [f"http://127.0.0.1:{port}" for port in self.api_ports]

    @property
    def workers(self) -> list[str]:
        return [name for name in self.procs if name.startswith("worker-")]

    @property
    def apis(self) -> list[str]:
        return [name for name in self.procs if name.startswith("api-")]

    async def __aenter__(self) -> Topology:
        try:
            await self.start()
        except BaseException:
            await self.stop()
            raise
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.stop()

    async def start(self) -> None:
        await asyncio.to_thread(self.pg.start)
        await asyncio.to_thread(self.prepare_database)
        self.temporal.start()  # from this thread: the server dies with it
        self.client = await self.wait_temporal()
        self.procs["sink"].start()
        await self.wait_port(self.smtp_port)
        for name in self.workers:
            self.procs[name].start()
        for name in self.apis:
            self.procs[name].start()
        for name in self.apis:
            await self.wait_api(name)

    def prepare_database(self) -> None:
        """`passnum migrate`, the default programme and the demo accounts with API tokens."""
        from records.seed import seed_default_programme

        settings = Settings()
        migrate(self.db_url, settings.code_vault)
        self.engine = make_engine(self.db_url)
        with session_factory(self.engine)() as session:
            seed_default_programme(session)
            self.people = seed_people(session, settings.programme_code, datetime.now(UTC))
            session.commit()

    async def stop(self) -> None:
        for name in [*self.apis, *self.workers, "sink"]:
            await asyncio.to_thread(self.procs[name].stop)
        await asyncio.to_thread(self.temporal.stop)
        if self.engine is not None:
            self.engine.dispose()
        for engine in _SLIP_ENGINES.values():
            engine.dispose()
        _SLIP_ENGINES.clear()
        await asyncio.to_thread(self.pg.stop)

    # -- waiting until a part answers --

    async def wait_temporal(self, within: float = 60) -> Client:
        deadline = time.monotonic() + within
        while True:
            try:
                client = await connect_to(self.address)
                await client.count_workflows()
                return client
            except Exception:
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.2)

    async def wait_port(self, port: int, within: float = 30) -> None:
        deadline = time.monotonic() + within
        while True:
            with socket.socket() as sock:
                if sock.connect_ex(("127.0.0.1", port)) == 0:
                    return
            if time.monotonic() > deadline:
                raise RuntimeError(f"nothing listens on port {port}")
            await asyncio.sleep(0.1)

    async def wait_api(self, name: str, within: float = 60) -> None:
        proc = self.procs[name]
        url = f"http://127.0.0.1:{proc.env['PASSNUM_API_PORT']}/api/v1/health"
        deadline = time.monotonic() + within
        async with httpx.AsyncClient(timeout=2) as http:
            while True:
                assert proc.process is not None
                if proc.process.poll() is not None:
                    raise RuntimeError(f"{name} exited: {proc.log.read_text()[-2000:]}")
                with contextlib.suppress(httpx.TransportError):
                    if (await http.get(url)).status_code == 200:
                        return
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{name} does not answer: {proc.log.read_text()[-2000:]}")
                await asyncio.sleep(0.1)

    # -- faults --

    async def kill(self, name: str) -> None:
        """kill -9 of one part ("temporal", "sink", "worker-N", "api-N"); "postgresql" is
        restarted (see the classes above)."""
        if name == "temporal":
            assert self.temporal.process is not None
            os.kill(self.temporal.process.pid, signal.SIGKILL)
            await asyncio.to_thread(self.temporal.process.wait, 10)
        elif name == "postgresql":
            await asyncio.to_thread(self.pg.restart)
        else:
            await asyncio.to_thread(self.procs[name].kill)

    async def restart(self, name: str) -> None:
        """Start a killed part again (the dev server on the same ports and database file)."""
        if name == "temporal":
            self.temporal.process = None
            self.temporal.start()
            self.client = await self.wait_temporal()
        elif name == "postgresql":
            return  # restarted by kill()
        else:
            self.procs[name].start()
            if name == "sink":
                await self.wait_port(self.smtp_port)
            elif name.startswith("api-"):
                await self.wait_api(name)

    def logs(self) -> dict[str, str]:
        out = {name: proc.log.read_text(errors="replace") for name, proc in self.procs.items()}
        out["temporal"] = self.temporal.log_tail(100_000)
        out["postgresql"] = self.pg.log_text()
        return out


# ---- the load ----


class Gone(RuntimeError):
    """A request that kept failing until its deadline."""


@dataclass
class JourneyRun:
    key: str
    journey_id: str | None = None
    completed: bool = False
    error: str | None = None


@dataclass
class Driver:
    """Full journeys over HTTP, spread over the API processes, retried with their keys."""

    api_urls: list[str]
    people: People
    db_url: str
    request_deadline_s: float = 180.0
    runs: list[JourneyRun] = field(default_factory=list)
    retries: Counter[str] = field(default_factory=Counter)
    _turn: int = 0
    _http: httpx.AsyncClient | None = None

    async def __aenter__(self) -> Driver:
        self._http = httpx.AsyncClient(timeout=60, limits=httpx.Limits(max_connections=200))
        return self

    async def __aexit__(self, *_: object) -> None:
        assert self._http is not None
        await self._http.aclose()

    async def post(self, path: str, body: dict[str, Any] | None, *, mediator: bool = False) -> Any:
        """POST with one Idempotency-Key for all attempts; connection errors, timeouts and
        5xx are tried again on the next API process until the deadline."""
        assert self._http is not None
        key = str(uuid.uuid4())
        headers = {**(self.people.mediator if mediator else self.people.social_worker)}
        headers["Idempotency-Key"] = key
        self._turn += 1
        turn = self._turn
        deadline = time.monotonic() + self.request_deadline_s
        delay = 0.1
        while True:
            url = self.api_urls[turn % len(self.api_urls)] + path
            try:
                r = await self._http.post(url, json=body, headers=headers)
                if r.status_code < 300:
                    return r.json()
                if r.status_code < 500 and r.status_code != 429:
                    raise RuntimeError(f"{path}: {r.status_code} {r.text[:500]}")
                self.retries[f"HTTP {r.status_code}"] += 1
            except httpx.TransportError as exc:
                self.retries[type(exc).__name__] += 1
            if time.monotonic() > deadline:
                raise Gone(f"{path}: no answer within {self.request_deadline_s:.0f} s")
            turn += 1
            await asyncio.sleep(delay)
            delay = min(delay * 2, 2.0)

    async def journey(self) -> None:
        run = JourneyRun(key=uuid.uuid4().hex)
        self.runs.append(run)
        try:
            await self._journey(run)
        except Exception as exc:
            run.error = f"{type(exc).__name__}: {exc}"

    async def _journey(self, run: JourneyRun) -> None:
        people = self.people
        journey = await self.post(
            "/api/v1/referrals",
            {
                "reception_structure_id": people.reception,
                "person": {
                    "first_name": "Charge",
                    "last_name": "Topologie",
                    "email": f"personne.{run.key[:12]}@exemple.fr",
                    "preferred_channel": "EMAIL",
                },
                "consent": {"given": True, "text": "Consentement recueilli (essai de charge)."},
            },
        )
        run.journey_id = str(journey["journey_id"])
        base = f"/api/v1/journeys/{run.journey_id}"
        await self.post(
            f"{base}/assessments", {"tool": "PIX", "autonomy": "BEGINNER", "needs": ["EMAIL"]}
        )
        booklet = await self.post(f"{base}/booklet", None)
        serials = [x["serial"] for x in booklet["cheques"]]
        slip = await asyncio.to_thread(self._slip, serials)
        await self.post(f"{base}/orientation", {"mediation_structure_id": people.mediation})
        await self.post(
            f"{base}/orientation/answer",
            {"mediation_structure_id": people.mediation, "accept": True},
            mediator=True,
        )
        today = paris_day(datetime.now(UTC)).isoformat()
        per = len(slip) // SESSIONS
        receipt: dict[str, Any] = {}
        for i in range(0, len(slip), per):
            receipt = await self.post(
                f"{base}/sessions",
                {
                    "mediation_structure_id": people.mediation,
                    "day": today,
                    "duration_minutes": 90,
                    "cheques": slip[i : i + per],
                },
                mediator=True,
            )
        run.completed = receipt["status"]["outcome"] == "COMPLETED"
        if not run.completed:
            run.error = f"outcome {receipt['status']['outcome']}"

    def _slip(self, serials: list[str]) -> list[dict[str, str]]:
        deadline = time.monotonic() + self.request_deadline_s
        while True:  # the database may be restarting
            try:
                return slip_of(self.db_url, serials)
            except Exception:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.5)

    async def run(self, count: int, concurrency: int, until: asyncio.Event | None = None) -> float:
        """`count` journeys, `concurrency` at a time, and more until `until` is set (the
        faults all done, whatever the machine's speed); the seconds it took."""
        started_journeys = 0

        async def lane() -> None:
            nonlocal started_journeys
            while started_journeys < count or (until is not None and not until.is_set()):
                started_journeys += 1
                await self.journey()

        started = time.perf_counter()
        await asyncio.gather(*(lane() for _ in range(concurrency)))
        return time.perf_counter() - started


# ---- faults at random moments ----

# In turn: a worker, an API process, the Temporal dev server, the SMTP sink, PostgreSQL.
FAULT_COMPONENTS = ("worker", "api", "temporal", "sink", "postgresql")


@dataclass
class Fault:
    at_s: float  # seconds into the run
    when: datetime  # wall clock (UTC), to match with what the logs and the mailbox show
    component: str
    down_s: float = 0.0  # from the kill until the part answered again
    journeys_done: int = 0  # journeys completed when it was killed


async def inject_faults(
    topology: Topology,
    driver: Driver,
    load: asyncio.Task[Any],
    *,
    components: list[str],
    rounds: int,
    seed: int,
    gap_s: tuple[float, float] = (2.0, 6.0),
) -> list[Fault]:
    """While `load` runs: `rounds` times, each component in turn (order shuffled per round,
    seeded; "worker" and "api" stand for each of them in turn, round by round), after a random pause, killed
    (PostgreSQL: restarted) then started again."""
    rng = random.Random(seed)
    faults: list[Fault] = []
    started = time.monotonic()
    several = {"worker": topology.workers, "api": topology.apis}
    for round_ in range(rounds):
        order = list(components)
        rng.shuffle(order)
        for kind in order:
            name = several[kind][round_ % len(several[kind])] if kind in several else kind
            await asyncio.wait({load}, timeout=rng.uniform(*gap_s))
            if load.done():
                return faults
            fault = Fault(
                at_s=time.monotonic() - started,
                when=datetime.now(UTC),
                component=name,
                journeys_done=sum(r.completed for r in driver.runs),
            )
            t0 = time.monotonic()
            await topology.kill(name)
            await topology.restart(name)
            fault.down_s = time.monotonic() - t0
            faults.append(fault)
    return faults


# ---- the checks ----


@dataclass
class Outcome:
    journeys: int = 0
    completed: int = 0
    lost: list[str] = field(default_factory=list)  # keys or ids, with why
    # The driver's last request got an error, yet the journey did all it was asked (its
    # workflow completed with every cheque spent): not lost, but a retry answered wrongly.
    done_but_refused: list[str] = field(default_factory=list)
    counter_mismatches: list[str] = field(default_factory=list)
    cheques_spent_twice: int = 0
    cheques_redeemed: int = 0
    mails: int = 0
    mails_sent_twice: int = 0  # filed twice in the mailbox
    mails_resent: int = 0  # sent again by a worker, folded by the mailbox (Message-ID)
    mails_failed: int = 0  # deliveries recorded as failed for good
    mail_copies: list[str] = field(default_factory=list)  # Message-ID: when each copy came
    read_model_mismatches: list[str] = field(default_factory=list)
    deadlocks: dict[str, int] = field(default_factory=dict)
    unsettled: str = ""  # journeys still at work after the settling time, and why
    events: list[int] = field(default_factory=list)  # history length of each journey
    history_bytes: list[int] = field(default_factory=list)  # its size (encrypted payloads)

    @property
    def ok(self) -> bool:
        return not (
            self.unsettled
            or self.lost
            or self.counter_mismatches
            or self.cheques_spent_twice
            or self.mails_sent_twice
            or self.mails_failed
            or self.read_model_mismatches
            or any(self.deadlocks.values())
        )

    def lines(self) -> list[str]:
        events = sorted(self.events)
        ev = (
            f"{sum(events) / len(events):.1f} mean, {events[len(events) // 2]} median, "
            f"{events[0]}–{events[-1]}"
            if events
            else "-"
        )
        return [
            f"journeys driven: {self.journeys}, completed: {self.completed}, lost: {len(self.lost)}",
            *([self.unsettled] if self.unsettled else []),
            *(f"  lost {x}" for x in self.lost[:10]),
            f"journeys done whose last retry was answered with an error: "
            f"{len(self.done_but_refused)}",
            *(f"  done but refused {x}" for x in self.done_but_refused[:10]),
            f"overview counters ≠ recount: {len(self.counter_mismatches)}",
            f"cheques redeemed: {self.cheques_redeemed}, spent twice: {self.cheques_spent_twice}",
            f"mails in the sink: {self.mails}, sent twice (same Message-ID): "
            f"{self.mails_sent_twice}, failed: {self.mails_failed}; sent again by a worker "
            f"killed between the relay's acceptance and its record, folded by Message-ID: "
            f"{self.mails_resent}",
            *(f"  copies of {x}" for x in self.mail_copies),
            f"read model ≠ workflow status: {len(self.read_model_mismatches)}",
            f"deadlocks in logs: {sum(self.deadlocks.values())} {self.deadlocks or ''}".rstrip(),
            f"events per journey history: {ev}",
            *(
                [
                    f"history size per journey: {sum(self.history_bytes) / len(self.history_bytes) / 1024:.0f} KiB mean, "
                    f"{max(self.history_bytes) / 1024:.0f} KiB max"
                ]
                if self.history_bytes
                else []
            ),
        ]


async def settle(topology: Topology, journey_ids: list[str], within: float = 300) -> None:
    """Until every journey has done all it would do by now: no activity pending, its last
    event recorded in its row, no notice left to send. After faults this takes a while: a
    delivery cut by a kill waits for its lease (90 s) and Temporal's retry backoff."""
    assert topology.client is not None and topology.engine is not None
    client = topology.client
    sessions = session_factory(topology.engine)
    deadline = time.monotonic() + within
    pending = list(journey_ids)
    gate = asyncio.Semaphore(16)

    async def busy_with(jid: str) -> str:
        """What the journey still does ("" when nothing)."""
        async with gate:
            handle = client.get_workflow_handle(c.workflow_id_for(jid))
            description = await handle.describe()
            activities = description.raw_description.pending_activities
            if activities:
                return "; ".join(
                    f"activity {a.activity_type.name} attempt {a.attempt} state {a.state}"
                    for a in activities
                )
            status = await handle.query("status", result_type=c.JourneyStatus)
        with sessions() as s:
            row = s.get(Journey, jid)
            outbox = s.exec(
                select(func.count())
                .select_from(NotificationOutbox)
                .where(
                    NotificationOutbox.journey_id == jid,
                    NotificationOutbox.status == "PENDING",
                )
            ).one()
        if row is None or row.last_seq != status.seq:
            return f"row seq {row.last_seq if row else None} ≠ workflow seq {status.seq}"
        return f"{outbox} notices pending" if outbox else ""

    while pending:
        results = await asyncio.gather(*(busy_with(j) for j in pending), return_exceptions=True)
        busy = {j: why for j, why in zip(pending, results, strict=True) if why != ""}
        if not busy:
            return
        if time.monotonic() > deadline:
            reasons = "\n".join(f"  {j}: {why!r}" for j, why in list(busy.items())[:10])
            raise AssertionError(f"{len(busy)} journeys still at work after {within} s:\n{reasons}")
        pending = list(busy)
        await asyncio.sleep(0.5)


async def check(topology: Topology, driver: Driver, *, histories: bool = True) -> Outcome:
    """Everything that must hold after a run (see the module's docstring)."""
    from records.overview_counts import (
        COUNT_SUMS,
        LEVELS,
        first_session_recount_query,
        recount_query,
    )

    assert topology.client is not None and topology.engine is not None
    out = Outcome(journeys=len(driver.runs), completed=sum(r.completed for r in driver.runs))
    ids = [r.journey_id for r in driver.runs if r.journey_id]
    unfinished: dict[str, str] = {}  # journey id -> the driver's last error
    for r in driver.runs:
        if not r.completed and r.journey_id:
            unfinished[r.journey_id] = f"{r.journey_id}: {r.error}"
        elif not r.completed:
            out.lost.append(f"{r.key}: {r.error}")
    try:
        await settle(topology, ids)
    except AssertionError as exc:  # reported with the rest, not instead of it
        out.unsettled = str(exc)
    sessions = session_factory(topology.engine)
    client = topology.client
    with sessions() as s:
        rows = {j.id: j for j in s.exec(select(Journey)).all()}
        # Counters: each table equals the GROUP BY of the journey rows (zero rows stay).
        for level in LEVELS:
            for table, key, sums, recount_of in (
                (level.counts, level.count_key, COUNT_SUMS, recount_query),
                (level.first_sessions, level.first_session_key, ("journeys",),
                 first_session_recount_query),
            ):  # fmt: skip
                columns = [table.c[name] for name in (*key, *sums)]
                kept = {
                    tuple(row[: len(key)]): tuple(row[len(key) :])
                    for row in s.execute(sa_select(*columns)).all()
                    if any(row[len(key) :])
                }
                recount = {
                    tuple(row[: len(key)]): tuple(row[len(key) :])
                    for row in s.execute(recount_of(level)).all()
                }
                for k in kept.keys() | recount.keys():
                    if kept.get(k) != recount.get(k):
                        out.counter_mismatches.append(
                            f"{table.name} {k}: {kept.get(k)} ≠ {recount.get(k)}"
                        )
        # Cheques: a serial in two recorded sessions was spent twice.
        spent = Counter(
            serial
            for serials in s.exec(select(TrainingSession.serials)).all()
            for serial in serials
        )
        out.cheques_spent_twice = sum(1 for n in spent.values() if n > 1)
        out.cheques_redeemed = s.exec(
            select(func.count())
            .select_from(Cheque)
            .where(Cheque.status == ChequeStatus.REDEEMED.value)
        ).one()
        # Mails: one row per mail the sink accepted.
        out.mails = s.exec(select(func.count()).select_from(MailboxMessage)).one()
        out.mails_failed = s.exec(
            select(func.count()).select_from(MailDelivery).where(MailDelivery.status == "FAILED")
        ).one()
        twice = s.execute(
            select(MailboxMessage.message_id, func.count())
            .group_by(MailboxMessage.message_id)
            .having(func.count() > 1)
        ).all()
        out.mails_sent_twice = sum(n - 1 for _, n in twice)
        for message_id, _ in twice:
            received = s.exec(
                select(MailboxMessage.received_at).where(MailboxMessage.message_id == message_id)
            ).all()
            out.mail_copies.append(
                f"{message_id}: " + ", ".join(f"{t:%H:%M:%S.%f}" for t in sorted(received))
            )
        sessions_of = Counter(
            s.exec(select(TrainingSession.journey_id)).all()  # type: ignore[call-overload]
        )
    # Read model against each workflow's own status.
    gate = asyncio.Semaphore(16)

    async def compare(jid: str) -> None:
        row = rows.get(jid)
        if row is None:
            out.lost.append(f"{jid}: no journey row")
            return
        async with gate:
            handle = client.get_workflow_handle(c.workflow_id_for(jid))
            status = await handle.query("status", result_type=c.JourneyStatus)
            if histories:
                history = await handle.fetch_history()
                out.events.append(len(history.events))
                out.history_bytes.append(sum(e.ByteSize() for e in history.events))
        redeemed = sum(x.status == ChequeStatus.REDEEMED for x in status.cheques)
        if jid in unfinished:
            done = (
                status.outcome == JourneyOutcome.COMPLETED and redeemed == len(status.cheques) > 0
            )
            (out.done_but_refused if done else out.lost).append(unfinished[jid])
        pairs = {
            "stage": (row.stage, status.stage.value),
            "outcome": (row.outcome, status.outcome.value if status.outcome else None),
            "stalled": (row.stalled, status.stalled),
            "cheques_total": (row.cheques_total, len(status.cheques)),
            "cheques_redeemed": (row.cheques_redeemed, redeemed),
            "sessions": (sessions_of.get(jid, 0), len(status.sessions)),
            "seq": (row.last_seq, status.seq),
        }
        for name, (model, workflow) in pairs.items():
            if model != workflow:
                out.read_model_mismatches.append(f"{jid} {name}: {model} ≠ {workflow}")

    await asyncio.gather(*(compare(j) for j in ids))
    out.mails_resent = topology.procs["sink"].log.read_text(errors="replace").count(FOLDED_MARK)
    for name, log in topology.logs().items():
        found = sum(log.count(mark) for mark in DEADLOCK_MARKS)
        if found:
            out.deadlocks[name] = found
    return out


def fault_table(faults: list[Fault]) -> list[str]:
    lines = [
        f"{'#':>3} {'at (s)':>7} {'UTC':>15}  {'component':<12} {'down (s)':>8}  journeys done"
    ]
    for n, f in enumerate(faults, 1):
        lines.append(
            f"{n:>3} {f.at_s:7.1f} {f.when:%H:%M:%S.%f}"[:-3]
            + f"  {f.component:<12} {f.down_s:8.2f}  {f.journeys_done}"
        )
    per = Counter(f.component for f in faults)
    lines.append("faults per component: " + ", ".join(f"{k} {v}" for k, v in sorted(per.items())))
    return lines


async def run_load(
    topology: Topology,
    journeys: int,
    concurrency: int,
    during: Callable[[Driver, asyncio.Task[float]], Awaitable[Any]] | None = None,
) -> tuple[Driver, float, Any]:
    """Drive `journeys` journeys; `during(driver, load)` runs meanwhile (the faults), and
    the load goes on until it returns."""
    assert topology.people is not None
    async with Driver(topology.api_urls, topology.people, topology.db_url) as driver:
        done = asyncio.Event() if during is not None else None
        load = asyncio.create_task(driver.run(journeys, concurrency, done))
        extra = None
        if during is not None and done is not None:
            try:
                extra = await during(driver, load)
            finally:
                done.set()
        seconds = await load
    return driver, seconds, extra
