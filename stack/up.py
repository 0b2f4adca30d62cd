"""`passnum up`: the whole embedded stack in one asyncio process.

Order at start: data folder, Temporal dev server (unless external), wait until it answers,
database migrations and default programme, then the worker and the API side by side.
Order at stop (Ctrl-C, SIGTERM, or either part failing): API, worker (graceful: running
activities finish), dev server last.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import time
from collections.abc import Callable, Coroutine, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any, TypeVar

import uvicorn
from fastapi import FastAPI
from temporalio.api.operatorservice.v1 import ListSearchAttributesRequest
from temporalio.client import Client

from api.routes.codec import PREFIX as CODEC_PREFIX
from config import LOOPBACK_HOSTS, Settings
from domain.contracts import SEARCH_ATTRIBUTES
from domain.stages import Stage
from domain.validity import paris_day
from stack.devserver import DevServer, StackError, port_in_use, split_address, temporal_binary
from temporal_client import connect

T = TypeVar("T")

TEMPORAL_STARTUP_TIMEOUT_S = 60.0
SHUTDOWN_TIMEOUT_S = 30.0


def prepare_database(settings: Settings) -> bool:
    """Apply migrations, seed the default programme if the database has none.

    Returns whether the programme was seeded now.
    """
    from records.db import make_engine, migrate, session_factory
    from records.seed import seed_default_programme

    if settings.database_url is None:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    migrate(settings.db_url, settings.code_vault)
    engine = make_engine(settings.db_url)
    try:
        with session_factory(engine)() as session:
            seeded = seed_default_programme(session)
            session.commit()
    finally:
        engine.dispose()
    return seeded


def paris_today() -> date:
    return paris_day(datetime.now(UTC))


@dataclass
class MailSink:
    """The embedded SMTP sink and its database engine."""

    controller: Any
    engine: Any


def start_mail_sink(settings: Settings) -> MailSink | None:
    """Start the local SMTP sink (aiosmtpd) on smtp_host:smtp_port when enabled and the host
    is this machine: every mail the demo sends lands in the mailbox table."""
    if not settings.smtp_sink or settings.smtp_host not in LOOPBACK_HOSTS:
        return None
    from notifications.sink import start_sink
    from records.db import is_sqlite, make_engine, session_factory

    if port_in_use(settings.smtp_host, settings.smtp_port):
        raise StackError(
            f"Le port {settings.smtp_port} de la boîte aux lettres locale est déjà utilisé sur "
            f"{settings.smtp_host} : arrêtez le programme qui l'occupe, changez "
            "PASSNUM_SMTP_PORT, ou réglez PASSNUM_SMTP_SINK=false pour un vrai serveur SMTP."
        )
    engine = make_engine(settings.db_url)
    controller = start_sink(
        session_factory(engine),
        settings.smtp_host,
        settings.smtp_port,
        serialise_writes=is_sqlite(settings.db_url),
    )
    return MailSink(controller, engine)


def stop_mail_sink(sink: MailSink | None) -> None:
    if sink is not None:
        sink.controller.stop()
        sink.engine.dispose()


class _Server(uvicorn.Server):
    """uvicorn without its own signal handling: `run_stack` decides when to stop."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


async def connect_when_ready(settings: Settings, dev: DevServer | None) -> Client:
    """Connect to Temporal, retrying while the dev server starts."""
    deadline = time.monotonic() + TEMPORAL_STARTUP_TIMEOUT_S
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        if dev is not None and (code := dev.exited()) is not None:
            raise StackError(
                f"Le serveur Temporal s'est arrêté au démarrage (code {code}). "
                f"Dernières lignes de {dev.log_file} :\n{dev.log_tail()}"
            )
        try:
            return await connect(settings)
        except Exception as exc:  # the server is not listening yet
            last_error = exc
            await asyncio.sleep(0.25)
    where = f" (journal : {dev.log_file})" if dev else ""
    raise StackError(
        f"Temporal ne répond pas sur {settings.temporal_address} après "
        f"{TEMPORAL_STARTUP_TIMEOUT_S:.0f} s{where} : {last_error}"
    )


async def missing_search_attributes(client: Client, namespace: str) -> list[str]:
    resp = await client.operator_service.list_search_attributes(
        ListSearchAttributesRequest(namespace=namespace)
    )
    return [name for name in SEARCH_ATTRIBUTES if name not in resp.custom_attributes]


def codec_endpoint(settings: Settings) -> str:
    """Where the dev server's UI decodes payloads: passnum's codec endpoint, at the URL the
    browser reaches the app by (api/routes/codec.py)."""
    return settings.public_base_url.rstrip("/") + CODEC_PREFIX


def _check_api_port(settings: Settings) -> None:
    if port_in_use(settings.api_host, settings.api_port):
        raise StackError(
            f"Le port {settings.api_port} de l'API est déjà utilisé sur {settings.api_host} : "
            "arrêtez le programme qui l'occupe ou changez PASSNUM_API_PORT."
        )


async def fill_demo(settings: Settings, journeys: int) -> None:
    """`--demo`: the demo journeys, through the API that has just started; a failure is
    told, the stack keeps running."""
    from stack import demo

    base_url = f"http://{settings.api_host}:{settings.api_port}"
    print(f"Démonstration : {journeys} parcours simulés en cours de création…", flush=True)
    try:
        filled = await demo.fill(
            settings, base_url, journeys=journeys, progress=lambda m: print(m, flush=True)
        )
    except Exception as exc:  # the stack stays up: say what failed
        print(f"Démonstration interrompue : {exc}", flush=True)
        return
    if filled.skipped:
        print("Démonstration : le programme a déjà des parcours, rien n'est ajouté.", flush=True)
        return
    stages = ", ".join(f"{Stage(s).label.lower()} {n}" for s, n in sorted(filled.by_stage.items()))
    print(
        f"Démonstration prête : {filled.journeys} parcours ({stages}), dont {filled.stalled} "
        f"bloqués, {filled.sessions} séances.",
        flush=True,
    )


def banner(settings: Settings, dev: DevServer | None, seeded: bool) -> str:
    api = f"http://{settings.api_host}:{settings.api_port}"
    temporal_ui = dev.ui_url if dev else "(serveur Temporal externe)"
    lines = [
        "",
        "passnum est prêt.",
        f"  Pages (connexion)    : {api}/connexion",
        f"  API et documentation : {api}/docs",
        f"  Interface Temporal   : {temporal_ui}",
        *(
            [f"  Courriels envoyés    : {api}/administration/courriels (administrateurs)"]
            if settings.smtp_sink
            else []
        ),
        f"  Données              : {settings.data_dir.resolve()}"
        if settings.database_url is None
        else f"  Base de données      : {settings.database_url.split('@')[-1]}",
        "",
        (
            "Pour commencer : connectez-vous avec le compte de démonstration du travailleur "
            "social et orientez une première personne."
            if settings.environment == "dev"
            else "Premier démarrage : créez un administrateur (passnum create-admin)."
        )
        + (" Le programme par défaut vient d'être créé." if seeded else ""),
        "Arrêt : Ctrl-C. Relancé, passnum retrouve tous les parcours.",
        "",
    ]
    return "\n".join(lines)


async def run_stack(
    settings: Settings, *, external_temporal: bool = False, demo_journeys: int = 0
) -> None:
    """Everything on this machine; `demo_journeys` > 0 (dev mode, `passnum up --demo`): that
    many demo journeys once the API answers, if the programme has none (stack/demo.py)."""
    from api.app import create_app
    from worker import run_worker

    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    signals_seen = 0

    def on_signal() -> None:
        nonlocal signals_seen
        signals_seen += 1
        if signals_seen == 1:
            print("\nArrêt en cours… (Ctrl-C à nouveau pour forcer)", flush=True)
        stop.set()

    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, on_signal)

    settings.data_dir.mkdir(parents=True, exist_ok=True)
    _check_api_port(settings)
    dev: DevServer | None = None
    if not external_temporal:
        host, port = split_address(settings.temporal_address)
        dev = DevServer(
            binary=temporal_binary(),
            data_dir=settings.data_dir.resolve(),
            host=host,
            port=port,
            ui_port=settings.temporal_ui_port,
            namespace=settings.temporal_namespace,
            codec_endpoint=codec_endpoint(settings),
        )
        print(f"Démarrage du serveur Temporal ({dev.db_file})…", flush=True)
        dev.start()
    stack = contextlib.ExitStack()
    try:
        client = await _until_stopped(connect_when_ready(settings, dev), stop)
        if client is None:
            return
        if settings.use_search_attributes and (
            missing := await missing_search_attributes(client, settings.temporal_namespace)
        ):
            raise StackError(
                "Attributs de recherche absents du serveur Temporal : "
                + ", ".join(missing)
                + ". Créez-les avec `temporal operator search-attribute create --name NOM "
                "--type TYPE`, ou réglez PASSNUM_USE_SEARCH_ATTRIBUTES=false."
            )
        seeded = await asyncio.to_thread(prepare_database, settings)
        sink = start_mail_sink(settings)  # before the worker: it mails at once
        stack.callback(stop_mail_sink, sink)
        # Demo accounts (dev mode only: production has no default password).
        if settings.environment == "dev":
            from records.seed import demo_logins_text, seed_demo

            demo = await asyncio.to_thread(
                seed_demo,
                settings.db_url,
                programme_code=settings.programme_code,
                now=datetime.now(UTC),
            )
            pages = f"http://{settings.api_host}:{settings.api_port}/"
            print(demo_logins_text(demo, pages), flush=True)
        await _serve(
            settings,
            client,
            create_app(settings, client),
            run_worker,
            stop,
            dev,
            seeded,
            demo_journeys,
        )
    finally:
        stack.close()  # the mail sink, after the worker and the API
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
        if dev is not None:
            print("Arrêt du serveur Temporal…", flush=True)
            await asyncio.to_thread(dev.stop)


async def _until_stopped(work: Coroutine[Any, Any, T], stop: asyncio.Event) -> T | None:
    """Await `work` unless a stop signal comes first."""
    task = asyncio.ensure_future(work)
    stopper = asyncio.ensure_future(stop.wait())
    await asyncio.wait({task, stopper}, return_when=asyncio.FIRST_COMPLETED)
    stopper.cancel()
    if not task.done():
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        return None
    return task.result()


async def _serve(
    settings: Settings,
    client: Client,
    app: FastAPI,
    run_worker: Callable[[Settings, Client], Coroutine[Any, Any, None]],
    stop: asyncio.Event,
    dev: DevServer | None,
    seeded: bool,
    demo_journeys: int = 0,
) -> None:
    server = _Server(
        uvicorn.Config(
            app,
            host=settings.api_host,
            port=settings.api_port,
            log_level="warning",
            access_log=False,
        )
    )
    filling: asyncio.Task[None] | None = None
    worker_task = asyncio.create_task(run_worker(settings, client), name="worker")
    api_task = asyncio.create_task(server.serve(), name="api")
    stopper = asyncio.create_task(stop.wait(), name="stop")
    try:
        while not server.started and not api_task.done() and not worker_task.done():
            if stop.is_set():
                break
            await asyncio.sleep(0.05)
        if server.started:
            print(banner(settings, dev, seeded), flush=True)
            if demo_journeys:
                filling = asyncio.create_task(fill_demo(settings, demo_journeys), name="demo")
        await asyncio.wait({worker_task, api_task, stopper}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        if filling is not None:
            filling.cancel()
        stopper.cancel()
        server.should_exit = True
        worker_task.cancel()  # Worker.run() shuts down gracefully when cancelled
        done, pending = await asyncio.wait({worker_task, api_task}, timeout=SHUTDOWN_TIMEOUT_S)
        for task in pending:
            server.force_exit = True
            task.cancel()
        failures = [
            t.exception()
            for t in done
            if not t.cancelled() and t.exception() is not None and not stop.is_set()
        ]
    if failures:
        raise StackError(f"Arrêt sur erreur : {failures[0]!r}") from failures[0]
    if not stop.is_set():
        raise StackError("Le worker ou l'API s'est arrêté de façon inattendue.")
