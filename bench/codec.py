"""Benchmark: the cost of encrypting every Temporal payload (temporal_client.EncryptionCodec).

    python -m bench.codec [--journeys 48] [--rounds 4] [--concurrency 8]

In one run, on one Temporal dev server (SQLite file, WAL), two whole stacks of this tree
side by side, the same code but for their Temporal clients' converter: "plain" (pydantic
JSON, as before the codec) and "codec" (the same, each payload encrypted with AES-256-GCM).
Each side has its own records database (SQLite), worker process and API process (each
connected with its side's converter), the same demo accounts and a mail sink. Full
journeys (referral → assessment → booklet → orientation → acceptance → 5 sessions of 2
cheques → completion) are driven over HTTP as in `bench.journeys`, the sides alternating in
rounds so that drift hits both alike. Prints, for each side: journeys/s, p50/p99 of logging
a session over HTTP, CPU per journey of its worker and API; and the codec's ratios (aim:
session logging at most 10 % slower). First, the codec alone: microseconds to encrypt and
decrypt one payload of a session's receipt (a journey's whole status), a figure the
machine's load barely moves.
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
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from bench.journeys import (
    AppDriver,
    Phase,
    child_pid,
    free_port,
    percentile,
    run_many,
    seed_people,
    start_dev_server,
)
from config import Settings
from domain import contracts as c
from domain.stages import ChequeStatus, Role, Stage
from notifications.sink import start_sink
from records.db import make_engine, migrate, session_factory
from records.seed import seed_default_programme
from temporal_client import PLAIN_CONVERTER, codec

ROOT = Path(__file__).resolve().parent.parent

# A side's client: the plain converter or passnum's (with the codec). argv: side, then the
# API's port for the API.
CONNECT = """
import asyncio, sys
from temporalio.client import Client
from config import Settings
from temporal_client import PLAIN_CONVERTER, data_converter

def converter(settings):
    return PLAIN_CONVERTER if sys.argv[1] == "plain" else data_converter(settings)

async def client(settings):
    return await Client.connect(
        settings.temporal_address,
        namespace=settings.temporal_namespace,
        data_converter=converter(settings),
    )
"""
WORKER = (
    CONNECT
    + """
from worker import run_worker

async def main():
    settings = Settings()
    await run_worker(settings, await client(settings))

asyncio.run(main())
"""
)
API = (
    CONNECT
    + """
import uvicorn
from api.app import create_app

async def main():
    settings = Settings()
    app = create_app(settings, await client(settings))
    config = uvicorn.Config(app, host="127.0.0.1", port=int(sys.argv[2]), log_level="warning")
    await uvicorn.Server(config).serve()

asyncio.run(main())
"""
)


@dataclass
class Side:
    name: str
    driver: AppDriver
    phase: Phase
    processes: list[subprocess.Popen[bytes]]
    sink: Any


async def start_side(name: str, tmp: Path, address: str) -> Side:
    db_url = f"sqlite:///{tmp / f'{name}.db'}"
    migrate(db_url)
    engine = make_engine(db_url)
    with session_factory(engine)() as session:
        seed_default_programme(session)
        people = seed_people(session, Settings().programme_code, datetime.now(UTC))
        session.commit()
    smtp_port, api_port = free_port(), free_port()
    sink = start_sink(session_factory(engine), "127.0.0.1", smtp_port)
    env = {
        **os.environ,
        "PASSNUM_DATABASE_URL": db_url,
        "PASSNUM_TEMPORAL_ADDRESS": address,
        "PASSNUM_TEMPORAL_TASK_QUEUE": f"bench-{name}",
        "PASSNUM_SMTP_PORT": str(smtp_port),
    }
    processes = [  # set-up, before anything is timed
        subprocess.Popen([sys.executable, "-c", WORKER, name], cwd=ROOT, env=env),  # noqa: ASYNC220
        subprocess.Popen([sys.executable, "-c", API, name, str(api_port)], cwd=ROOT, env=env),  # noqa: ASYNC220
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
    pids = {"worker": processes[0].pid, "api": processes[1].pid}
    server = child_pid("temporal")
    if server:
        pids["server"] = server
    return Side(name, AppDriver(http, people, db_url), Phase(pids), processes, sink)


async def codec_alone(count: int = 20_000) -> None:
    """Encrypt then decrypt one typical payload `count` times: µs each, and its size."""
    receipt = c.SessionReceipt(
        session_id=str(uuid.uuid4()),
        verdicts=[],
        status=c.JourneyStatus(
            journey_id=str(uuid.uuid4()),
            programme_code=12,
            epci_id=3,
            reception_structure_id=5,
            referrer=c.Actor(Role.SOCIAL_WORKER, "17"),
            stage=Stage.IN_TRAINING,
            cheques=[
                c.ChequeState(serial=f"01220260000{n:02d}047", number=n, status=ChequeStatus.ISSUED)
                for n in range(1, 11)
            ],
        ),
    )
    (plain,) = await PLAIN_CONVERTER.encode([receipt])
    sealing = codec(Settings())
    started = time.perf_counter()
    for _ in range(count):
        sealed = sealing.encrypt(plain)
    encrypt_us = (time.perf_counter() - started) / count * 1e6
    started = time.perf_counter()
    for _ in range(count):
        sealing.decrypt(sealed)
    decrypt_us = (time.perf_counter() - started) / count * 1e6
    print(
        f"codec alone, a session receipt ({len(plain.SerializeToString())} bytes, "
        f"{len(sealed.SerializeToString())} encrypted): encrypt {encrypt_us:.1f} µs, "
        f"decrypt {decrypt_us:.1f} µs per payload"
    )


async def main(journeys: int, rounds: int, concurrency: int) -> None:
    await codec_alone()
    tmp = Path(tempfile.mkdtemp(prefix="passnum-bench-codec-"))
    env = await start_dev_server(tmp)
    address = env.client.service_client.config.target_host
    sides: list[Side] = []
    try:
        for name in ("plain", "codec"):
            sides.append(await start_side(name, tmp, address))
        for side in sides:  # warm up: worker caches, connections, SQLite pages
            await run_many(side.driver.journey, concurrency, concurrency)
            side.driver.session_latencies.clear()
        per_round = max(1, journeys // rounds)
        for _ in range(rounds):
            for side in sides:
                await side.phase.run(side.driver.journey, per_round, concurrency)
        print(
            f"full journeys over HTTP (10 updates, 5 sessions of 2 cheques each): "
            f"{per_round * rounds} per side, {rounds} alternating rounds, "
            f"concurrency {concurrency}; records on SQLite"
        )
        figures: dict[str, tuple[float, float, float]] = {}
        for side in sides:
            lat = side.driver.session_latencies
            p50, p99 = (percentile(lat, p) * 1000 for p in (50, 99))
            rate = side.phase.rate
            figures[side.name] = (rate, p50, p99)
            rounds_seen = ", ".join(f"{r:.2f}" for r in side.phase.rates)
            print(
                f"  {side.name:<6}: {rate:5.2f} journeys/s (rounds: {rounds_seen}); "
                f"log a session: p50 {p50:6.1f} ms  p99 {p99:6.1f} ms"
            )
            print(f"          {side.phase.cpu_line()}")
        (r0, a50, a99), (r1, b50, b99) = figures["plain"], figures["codec"]
        print(
            f"  codec/plain: journeys/s {r1 / r0:.2f}x; session p50 {b50 / a50:.2f}x, "
            f"p99 {b99 / a99:.2f}x (aim: at most 1.10x)"
        )
    finally:
        for side in sides:
            await side.driver.http.aclose()
            for proc in side.processes:
                proc.terminate()
                proc.wait(timeout=30)
            side.sink.stop()
        await env.shutdown()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--journeys", type=int, default=48, help="per side, over all rounds")
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--concurrency", type=int, default=8)
    ns = parser.parse_args()
    asyncio.run(main(ns.journeys, ns.rounds, ns.concurrency))
