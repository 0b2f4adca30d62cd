"""Benchmark: whole journeys through the HTTP API against the engine's own floor.

    python -m bench.journeys [--journeys 120] [--rounds 4] [--concurrency 12] [--open 2000]
                             [--no-search-attributes]

In one process, on one Temporal dev server (SQLite file, WAL), prints:
(a) journeys/s for full journeys (referral → assessment → booklet → orientation →
    acceptance → 5 sessions of 2 cheques → completion) driven over HTTP, with the real
    worker (`worker.py`, a subprocess) and its real activities on SQLite;
(b) journeys/s for a bare workflow taking the same number of Updates, each running a
    no-op activity (`bench/bare.py`, also a subprocess worker): the engine's floor;
their ratio; p50/p99 of logging a session over HTTP against a bare Update round trip;
and the journey worker's resident memory as 2,000 journeys are opened.

Both sides are warmed up, run at the same concurrency and alternate in rounds, so that a
slower machine moment (other jobs, the server's growing database) hits both. Under each
rate, the CPU time each process spent per journey: on a shared 2-core machine the rates
move with the load, the CPU per journey much less. About 2 minutes with the defaults.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from sqlmodel import Session, func, select
from temporalio.client import Client, WithStartWorkflowOperation
from temporalio.common import WorkflowIDConflictPolicy
from temporalio.testing import WorkflowEnvironment

from api.app import create_app
from bench.bare import BARE_WORKFLOW
from bench.sink import wait_listening
from config import Settings
from domain.validity import paris_day
from notifications.outbox_dispatch import mail_to_send
from records.db import make_engine, migrate, session_factory
from records.models import NotificationOutbox
from records.seed import seed_default_programme
from stack.devserver import WAL_PRAGMAS, search_attribute_keys
from stack.topology import People, cpu_seconds, free_port, launch, seed_people, slip_of
from temporal_client import data_converter
from worker import MAX_CACHED_WORKFLOWS

ROOT = Path(__file__).resolve().parent.parent
UPDATES_PER_JOURNEY = 10  # referral, assessment, booklet, orientation, answer, 5 sessions


async def start_dev_server(folder: Path) -> WorkflowEnvironment:
    """The Temporal dev server on a SQLite file in WAL mode, with passnum's search
    attributes, as `passnum up` runs it (stack/devserver.py)."""
    return await WorkflowEnvironment.start_local(
        dev_server_existing_path=binary("temporal"),
        dev_server_database_filename=str(folder / "temporal.db"),
        dev_server_extra_args=list(WAL_PRAGMAS),
        search_attributes=search_attribute_keys(),
        data_converter=data_converter(Settings()),
    )


def binary(name: str) -> str:
    return str(Path(sys.executable).parent / name)


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def child_pid(name: str) -> int | None:
    """A direct child of this process whose command line mentions `name`."""
    me = str(os.getpid())
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            stat = (proc / "stat").read_text().rsplit(")", 1)[1].split()
            cmd = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if stat[1] == me and name in cmd:
            return int(proc.name)
    return None


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


class AppDriver:
    def __init__(self, http: httpx.AsyncClient, people: People, db_url: str) -> None:
        self.http = http
        self.db_url = db_url
        self.people = people
        self.reception = people.reception
        self.mediator = people.mediation
        self.session_latencies: list[float] = []
        self.closing_latencies: list[float] = []  # the 5th session, which closes the journey

    async def post(
        self, path: str, body: dict | None = None, key: str | None = None, mediator: bool = False
    ) -> dict:
        headers = dict(self.people.mediator if mediator else self.people.social_worker)
        if key:
            headers["Idempotency-Key"] = key
        r = await self.http.post(path, json=body, headers=headers)
        if r.status_code >= 300:
            raise RuntimeError(f"{path}: {r.status_code} {r.text}")
        return r.json()

    async def refer(self) -> str:
        journey = await self.post(
            "/api/v1/referrals",
            {
                "reception_structure_id": self.reception,
                "person": {"first_name": "Banc", "last_name": "Essai", "preferred_channel": "POST"},
                "consent": {"given": True, "text": "Consentement recueilli (banc d'essai)."},
            },
            key=str(uuid.uuid4()),
        )
        return str(journey["journey_id"])

    async def journey(self) -> None:
        jid = await self.refer()
        base = f"/api/v1/journeys/{jid}"
        await self.post(
            f"{base}/assessments", {"tool": "PIX", "autonomy": "BEGINNER", "needs": ["EMAIL"]}
        )
        booklet = await self.post(f"{base}/booklet")
        serials = [c["serial"] for c in booklet["cheques"]]
        slip = await asyncio.to_thread(slip_of, self.db_url, serials)  # what the person shows
        await self.post(f"{base}/orientation", {"mediation_structure_id": self.mediator})
        await self.post(
            f"{base}/orientation/answer",
            {"mediation_structure_id": self.mediator, "accept": True},
            mediator=True,
        )
        today = paris_day(datetime.now(UTC)).isoformat()
        for i in range(0, 10, 2):
            started = time.perf_counter()
            receipt = await self.post(
                f"{base}/sessions",
                {
                    "mediation_structure_id": self.mediator,
                    "day": today,
                    "duration_minutes": 90,
                    "cheques": slip[i : i + 2],
                },
                key=str(uuid.uuid4()),
                mediator=True,
            )
            elapsed = time.perf_counter() - started
            self.session_latencies.append(elapsed)
            if i == 8:
                self.closing_latencies.append(elapsed)
        if receipt["status"]["outcome"] != "COMPLETED":
            raise RuntimeError(f"journey {jid} did not complete")

    async def mailed(self, within: float = 300) -> None:
        """Until every notice of the journeys is sent (the worker sends them after the
        answers: their cost belongs to the app's phase, not to the next bare one)."""
        deadline = time.monotonic() + within
        while await asyncio.to_thread(unsent_notices, self.db_url):
            if time.monotonic() > deadline:
                raise RuntimeError(f"notices still unsent after {within} s")
            await asyncio.sleep(0.1)


def unsent_notices(db_url: str) -> int:
    engine = _engines.get(db_url) or _engines.setdefault(db_url, make_engine(db_url))
    with Session(engine) as session:
        return session.exec(
            select(func.count()).select_from(NotificationOutbox).where(mail_to_send())
        ).one()


_engines: dict[str, Any] = {}


class BareDriver:
    def __init__(self, client: Client, task_queue: str) -> None:
        self.client = client
        self.task_queue = task_queue
        self.update_latencies: list[float] = []

    async def journey(self) -> None:
        wid = f"bare-{uuid.uuid4()}"
        start: WithStartWorkflowOperation[Any, Any] = WithStartWorkflowOperation(
            BARE_WORKFLOW,
            UPDATES_PER_JOURNEY,
            id=wid,
            task_queue=self.task_queue,
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        )
        await self.client.execute_update_with_start_workflow(
            "step", 1, start_workflow_operation=start, result_type=int
        )
        handle = self.client.get_workflow_handle(wid)
        for n in range(2, UPDATES_PER_JOURNEY + 1):
            started = time.perf_counter()
            await handle.execute_update("step", n, result_type=int)
            self.update_latencies.append(time.perf_counter() - started)


async def run_many(make, count: int, concurrency: int) -> float:  # type: ignore[no-untyped-def]
    """Run `count` journeys, `concurrency` at a time; return the seconds it took."""
    gate = asyncio.Semaphore(concurrency)

    async def one() -> None:
        async with gate:
            await make()

    started = time.perf_counter()
    await asyncio.gather(*(one() for _ in range(count)))
    return time.perf_counter() - started


class Phase:
    """Wall time and per-process CPU time of one side (app or bare) over its rounds."""

    def __init__(self, pids: dict[str, int]) -> None:
        self.pids = pids
        self.journeys = 0
        self.seconds = 0.0
        self.cpu = dict.fromkeys(pids, 0.0)
        self.rates: list[float] = []

    async def run(self, make, count: int, concurrency: int, settle=None) -> None:  # type: ignore[no-untyped-def]
        """`count` journeys; then `settle()` (the app's mails sent), in the phase's time."""
        before = {name: cpu_seconds(pid) for name, pid in self.pids.items()}
        started = time.perf_counter()
        await run_many(make, count, concurrency)
        if settle is not None:
            await settle()
        seconds = time.perf_counter() - started
        for name, pid in self.pids.items():
            self.cpu[name] += cpu_seconds(pid) - before[name]
        self.journeys += count
        self.seconds += seconds
        self.rates.append(count / seconds)

    @property
    def rate(self) -> float:
        return self.journeys / self.seconds

    def cpu_line(self) -> str:
        per = {name: t / self.journeys * 1000 for name, t in self.cpu.items() if t > 0.05}
        busy = sum(self.cpu.values()) / self.seconds
        parts = "  ".join(f"{name} {ms:.0f}" for name, ms in per.items())
        return f"CPU ms/journey: {parts}  (all: {sum(per.values()):.0f}; {busy:.2f} cores busy)"


def start_worker(args: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
    return launch([sys.executable, *args], env)


async def main(
    journeys: int,
    concurrency: int,
    rounds: int,
    open_journeys: int,
    search_attributes: bool,
) -> None:
    tmp = Path(tempfile.mkdtemp(prefix="passnum-bench-"))
    db_url = f"sqlite:///{tmp / 'passnum.db'}"
    migrate(db_url)
    engine = make_engine(db_url)
    with session_factory(engine)() as session:
        seed_default_programme(session)
        people = seed_people(session, Settings().programme_code, datetime.now(UTC))
        session.commit()
    env = await start_dev_server(tmp)
    address = env.client.service_client.config.target_host
    settings = Settings(
        database_url=db_url,
        temporal_address=address,
        temporal_task_queue="bench-app",
        use_search_attributes=search_attributes,
    )
    # The journey's notices are mailed by the worker: give it the local sink, in its own
    # process (its CPU counted apart, its writes off the bench's event loop).
    smtp_port = free_port()
    sink = start_worker(["-m", "bench.sink", db_url, str(smtp_port)], {})
    wait_listening(smtp_port)
    app_worker = start_worker(
        ["worker.py"],
        {
            "PASSNUM_SMTP_PORT": str(smtp_port),
            "PASSNUM_DATABASE_URL": db_url,
            "PASSNUM_TEMPORAL_ADDRESS": address,
            "PASSNUM_TEMPORAL_TASK_QUEUE": "bench-app",
        },
    )
    bare_worker = start_worker(["-m", "bench.bare", address, "bench-bare"], {})
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(settings, env.client), host="127.0.0.1", port=0, log_level="warning"
        )
    )
    serving = asyncio.create_task(server.serve())
    try:
        while not server.started:
            await asyncio.sleep(0.05)
        port = server.servers[0].sockets[0].getsockname()[1]
        pids = {
            "server": child_pid("temporal") or 0,
            "bench+api": os.getpid(),
            "app worker": app_worker.pid,
            "bare worker": bare_worker.pid,
            "sink": sink.pid,
        }
        pids = {name: pid for name, pid in pids.items() if pid}
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=120) as http:
            app = AppDriver(http, people, db_url)
            bare = BareDriver(env.client, "bench-bare")
            # Warm up both paths (worker caches, connections, SQLite pages).
            await run_many(app.journey, concurrency * 2, concurrency)
            await run_many(bare.journey, concurrency * 2, concurrency)
            app.session_latencies.clear()
            app.closing_latencies.clear()
            bare.update_latencies.clear()

            # Alternate the two sides so that drift (a growing history database, other load
            # on the machine) hits both alike.
            app_phase, bare_phase = Phase(pids), Phase(pids)
            per_round = max(1, journeys // rounds)
            for _ in range(rounds):
                await app_phase.run(app.journey, per_round, concurrency, app.mailed)
                await bare_phase.run(bare.journey, per_round, concurrency)
            app_rate, bare_rate = app_phase.rate, bare_phase.rate
            print(
                f"journeys: {per_round * rounds} per side in {rounds} alternating rounds, "
                f"concurrency: {concurrency}, {UPDATES_PER_JOURNEY} updates each"
            )
            print(
                f"(a) app, full journeys over HTTP : {app_rate:6.2f} journeys/s  "
                f"(rounds: {', '.join(f'{r:.2f}' for r in app_phase.rates)})"
            )
            print(f"    {app_phase.cpu_line()}")
            print(
                f"(b) bare workflow, no-op activity: {bare_rate:6.2f} journeys/s  "
                f"(rounds: {', '.join(f'{r:.2f}' for r in bare_phase.rates)})"
            )
            print(f"    {bare_phase.cpu_line()}")
            print(f"    ratio app/bare: {app_rate / bare_rate:.0%} (aim: 50 % or better)")
            s50, s99 = (percentile(app.session_latencies, p) * 1000 for p in (50, 99))
            b50, b99 = (percentile(bare.update_latencies, p) * 1000 for p in (50, 99))
            print(f"log a session over HTTP : p50 {s50:6.1f} ms  p99 {s99:6.1f} ms")
            print(f"bare Update round trip  : p50 {b50:6.1f} ms  p99 {b99:6.1f} ms")
            print(f"    ratio p50 {s50 / b50:.2f}x  p99 {s99 / b99:.2f}x (aim: 2x or less)")
            c50, c99 = (percentile(app.closing_latencies, p) * 1000 for p in (50, 99))
            print(
                f"    of which the 5th session (session and closure recorded by one activity): "
                f"p50 {c50:6.1f} ms  p99 {c99:6.1f} ms"
            )

            # Memory: open journeys (referred, then waiting for weeks), in steps. The worker
            # keeps at most MAX_CACHED_WORKFLOWS runs in memory; the journeys above (warm-up
            # and measured, waiting for their anonymisation) are already among them.
            before = rss_mib(app_worker.pid)
            steps: list[tuple[int, float]] = []
            opened, seconds = 0, 0.0
            for step in (250, 500, 1000, 2000, open_journeys):
                count = min(step, open_journeys) - opened
                if count > 0:
                    seconds += await run_many(app.refer, count, concurrency * 2)
                    opened += count
                    steps.append((opened, rss_mib(app_worker.pid)))
            await asyncio.sleep(2)
            after = rss_mib(app_worker.pid)
            first_n, first_rss = steps[0]
            print(
                f"worker RSS: {before:.0f} MiB before, {after:.0f} MiB with {opened} more open "
                f"journeys ({(after - before) * 1024 / opened:.1f} KiB each; "
                f"opened at {opened / seconds:.1f}/s)"
            )
            print(
                f"    after N opened: {', '.join(f'{n}: {m:.0f} MiB' for n, m in steps)}; "
                f"{(first_rss - before) * 1024 / first_n:.0f} KiB per journey while the cache "
                f"fills (max_cached_workflows={MAX_CACHED_WORKFLOWS})"
            )
    finally:
        server.should_exit = True
        await serving
        for proc in (app_worker, bare_worker, sink):
            proc.terminate()
            proc.wait(timeout=30)
        await env.shutdown()
        engine.dispose()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--journeys", type=int, default=120, help="per side, over all rounds")
    parser.add_argument("--concurrency", type=int, default=12)
    parser.add_argument("--rounds", type=int, default=4, help="app and bare alternate")
    parser.add_argument(
        "--no-search-attributes",
        action="store_false",
        dest="search_attributes",
        help="journeys without search attributes (to see what upserting them costs)",
    )
    parser.add_argument("--open", type=int, default=2000, dest="open_journeys")
    ns = parser.parse_args()
    asyncio.run(
        main(
            ns.journeys,
            ns.concurrency,
            ns.rounds,
            ns.open_journeys,
            ns.search_attributes,
        )
    )
