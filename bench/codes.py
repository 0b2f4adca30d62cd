"""Benchmark: logging a session over HTTP before and after the cheques' security codes.

    python -m bench.codes [--before 9b47995] [--journeys 40] [--rounds 4] [--concurrency 8]
                          [--postgres]

In one run, on one Temporal dev server (SQLite file, WAL), two whole stacks side by side:
"before" is the code of commit `--before` (checked out in a temporary git worktree: serials
alone, looked up by the API then the workflow), "after" is this checkout (serial + security
code: each code opened with AES-GCM and compared, then the same workflow checks). Each has
its own records database (SQLite files; with --postgres, throwaway PostgreSQL databases on
127.0.0.1, as in production), worker process and API process, the same demo accounts and
the same mail sink. Journeys are driven to training untimed, then their five sessions of two
cheques are timed; the sides alternate in rounds so that drift hits both alike. Prints
p50/p99 of each side and their ratios (aim: no slower).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from bench.journeys import (
    cpu_seconds,
    free_port,
    percentile,
    run_many,
    slip_of,
    start_dev_server,
)
from bench.pages import drop_pg, pg_database
from domain.validity import paris_day
from notifications.sink import start_sink
from records.db import make_engine, session_factory

ROOT = Path(__file__).resolve().parent.parent

# Run in a side's directory (its own code first on sys.path): migrate, seed the programme
# and the demo accounts with API tokens, print what the driver needs.
PREPARE = """
import json, sys
from datetime import UTC, datetime
from bench.journeys import seed_people
from records.db import make_engine, migrate, session_factory
from records.seed import seed_default_programme
from domain.validity import paris_day
url = sys.argv[1]
migrate(url)
with session_factory(make_engine(url))() as s:
    seed_default_programme(s)
    p = seed_people(s, 12, datetime.now(UTC))
    s.commit()
print(json.dumps(p.__dict__))
"""
API = """
import sys, uvicorn
from api.app import create_app
from config import Settings
uvicorn.run(create_app(Settings()), host="127.0.0.1", port=int(sys.argv[1]), log_level="warning")
"""


@dataclass
class Side:
    name: str
    directory: Path
    db_url: str
    people: dict[str, Any]
    http: httpx.AsyncClient
    codes: bool  # sessions carry security codes
    latencies: list[float]
    processes: list[subprocess.Popen[bytes]]  # worker, API
    cpu: dict[str, float] = field(default_factory=lambda: {"worker": 0.0, "api": 0.0})
    journeys: int = 0

    async def run(self, count: int, concurrency: int) -> None:
        """`count` journeys, with the CPU time its worker and API processes spent on them."""
        pids = {"worker": self.processes[0].pid, "api": self.processes[1].pid}
        before = {name: cpu_seconds(pid) for name, pid in pids.items()}
        await run_many(self.journey, count, concurrency)
        for name, pid in pids.items():
            self.cpu[name] += cpu_seconds(pid) - before[name]
        self.journeys += count

    def headers(self, who: str, key: str | None = None) -> dict[str, str]:
        headers = dict(self.people["social_worker" if who == "sw" else "mediator"])
        if key:
            headers["Idempotency-Key"] = key
        return headers

    async def post(self, path: str, body: dict[str, Any] | None, who: str = "sw") -> Any:
        r = await self.http.post(path, json=body, headers=self.headers(who, str(uuid.uuid4())))
        if r.status_code >= 300:
            raise RuntimeError(f"{self.name} {path}: {r.status_code} {r.text}")
        return r.json()

    async def journey(self) -> None:
        journey = await self.post(
            "/api/v1/referrals",
            {
                "reception_structure_id": self.people["reception"],
                "person": {"first_name": "Banc", "last_name": "Essai"},
                "consent": {"given": True, "text": "Consentement recueilli (banc d'essai)."},
            },
        )
        base = f"/api/v1/journeys/{journey['journey_id']}"
        await self.post(
            f"{base}/assessments", {"tool": "PIX", "autonomy": "BEGINNER", "needs": ["EMAIL"]}
        )
        serials = [c["serial"] for c in (await self.post(f"{base}/booklet", None))["cheques"]]
        mediation = self.people["mediation"]
        await self.post(f"{base}/orientation", {"mediation_structure_id": mediation})
        await self.post(
            f"{base}/orientation/answer",
            {"mediation_structure_id": mediation, "accept": True},
            who="med",
        )
        slip = await asyncio.to_thread(slip_of, self.db_url, serials) if self.codes else []
        today = paris_day(datetime.now(UTC)).isoformat()
        for i in range(0, 10, 2):
            body: dict[str, Any] = {
                "mediation_structure_id": mediation,
                "day": today,
                "duration_minutes": 90,
            }
            if self.codes:
                body["cheques"] = slip[i : i + 2]
            else:
                body["serials"] = serials[i : i + 2]
            started = time.perf_counter()
            await self.post(f"{base}/sessions", body, who="med")
            self.latencies.append(time.perf_counter() - started)


async def start_side(
    name: str, directory: Path, db_url: str, address: str, codes: bool
) -> tuple[Side, Any]:
    prepared = subprocess.run(  # noqa: ASYNC221 (set-up, before anything is timed)
        [sys.executable, "-c", PREPARE, db_url],
        cwd=directory,
        check=True,
        capture_output=True,
        text=True,
    )
    people = json.loads(prepared.stdout.strip().splitlines()[-1])
    smtp_port, api_port = free_port(), free_port()
    sink = start_sink(session_factory(make_engine(db_url)), "127.0.0.1", smtp_port)
    env = {
        **os.environ,
        "PASSNUM_DATABASE_URL": db_url,
        "PASSNUM_TEMPORAL_ADDRESS": address,
        "PASSNUM_TEMPORAL_TASK_QUEUE": f"bench-{name}",
        "PASSNUM_SMTP_PORT": str(smtp_port),
    }
    processes = [  # set-up, before anything is timed
        subprocess.Popen([sys.executable, "worker.py"], cwd=directory, env=env),  # noqa: ASYNC220
        subprocess.Popen([sys.executable, "-c", API, str(api_port)], cwd=directory, env=env),  # noqa: ASYNC220
    ]
    http = httpx.AsyncClient(base_url=f"http://127.0.0.1:{api_port}", timeout=120)
    for _ in range(300):
        try:
            if (await http.get("/api/v1/health")).status_code == 200:
                break
        except httpx.TransportError:
            pass
        await asyncio.sleep(0.1)
    else:
        raise RuntimeError(f"{name}: the API did not start")
    return Side(name, directory, db_url, people, http, codes, [], processes), sink


async def main(before: str, journeys: int, rounds: int, concurrency: int, postgres: bool) -> None:
    tmp = Path(tempfile.mkdtemp(prefix="passnum-bench-codes-"))
    databases: dict[str, str] = {}  # PostgreSQL databases to drop, by side
    worktree = tmp / "before"
    subprocess.run(  # noqa: ASYNC221 (set-up)
        ["git", "worktree", "add", "--detach", str(worktree), before], cwd=ROOT, check=True
    )
    env = await start_dev_server(tmp)
    address = env.client.service_client.config.target_host
    sides: list[Side] = []
    sinks: list[Any] = []
    try:
        for name, directory, codes in (("before", worktree, False), ("after", ROOT, True)):
            if postgres:
                databases[name], db_url = pg_database()
            else:
                db_url = f"sqlite:///{tmp / f'{name}.db'}"
            side, sink = await start_side(name, directory, db_url, address, codes)
            sides.append(side)
            sinks.append(sink)
        for side in sides:  # warm up: worker caches, connections, SQLite pages
            await run_many(side.journey, concurrency, concurrency)
            side.latencies.clear()
        per_round = max(1, journeys // rounds)
        for _ in range(rounds):
            for side in sides:
                await side.run(per_round, concurrency)
        print(
            f"log a session over HTTP (2 cheques), records on "
            f"{'PostgreSQL' if postgres else 'SQLite'}: {per_round * rounds} journeys per side, "
            f"5 sessions each, {rounds} alternating rounds, concurrency {concurrency}"
        )
        figures: dict[str, tuple[float, float]] = {}
        for side in sides:
            p50, p99 = (percentile(side.latencies, p) * 1000 for p in (50, 99))
            figures[side.name] = (p50, p99)
            label = f"{side.name} ({before})" if side.name == "before" else "after (this tree)"
            cpu = "  ".join(
                f"{name} {seconds / side.journeys * 1000:.0f}" for name, seconds in side.cpu.items()
            )
            print(
                f"  {label:<22}: p50 {p50:6.1f} ms  p99 {p99:6.1f} ms   "
                f"CPU ms per journey (whole journey): {cpu}"
            )
        (b50, b99), (a50, a99) = figures["before"], figures["after"]
        print(f"  ratio after/before: p50 {a50 / b50:.2f}x  p99 {a99 / b99:.2f}x (aim: no slower)")
    finally:
        for side in sides:
            await side.http.aclose()
            for proc in side.processes:
                proc.terminate()
                proc.wait(timeout=30)
        for sink in sinks:
            sink.stop()
        await env.shutdown()
        for name in databases.values():
            drop_pg(name)
        subprocess.run(["git", "worktree", "remove", "--force", str(worktree)], cwd=ROOT)  # noqa: ASYNC221


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--before", default="9b47995", help="commit before the security codes")
    parser.add_argument("--journeys", type=int, default=40, help="per side, over all rounds")
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--postgres", action="store_true", help="records on PostgreSQL")
    ns = parser.parse_args()
    asyncio.run(main(ns.before, ns.journeys, ns.rounds, ns.concurrency, ns.postgres))
