"""The FastAPI application: JSON API under /api/v1, French pages everywhere else, static
files under /static. Both authenticate with api.auth and authorise with api.access; the
Temporal client comes from temporal_client (the API never loads the worker's code)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles
from temporalio.client import Client

from api import docs, oidc, openapi, security_headers
from api.body_limit import BodyLimit
from api.clock import FrozenClock
from api.deps import AppState, Database
from api.error_handlers import install_error_handlers
from api.pages import (
    account,
    admin,
    coordination,
    letters,
    mailbox,
    mediation,
    rights,
    social,
    stock,
)
from api.pages import account_links as account_link_pages
from api.pages import auth as auth_pages
from api.pages import directory as directory_pages
from api.pages import exports as export_pages
from api.pages import ledger as ledger_pages
from api.pages import policy as policy_pages
from api.pages import programmes as programme_pages
from api.pages import statements as statement_pages
from api.routes import accounts, audit, cheques, codec, journeys, person, reports, statements
from api.routes import directory as directory_routes
from api.routes import ledger as ledger_routes
from api.routes import policy as policy_routes
from api.routes import programmes as programme_routes
from api.routes import stock as stock_routes
from api.web import STATIC_DIR
from config import Settings
from records.db import make_engine, session_factory
from temporal_client import connect


def create_app(settings: Settings | None = None, client: Client | None = None) -> FastAPI:
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        temporal = client or await connect(settings)
        engine = make_engine(settings.db_url)
        app.state.passnum = AppState(
            settings=settings, db=Database(session_factory(engine)), temporal=temporal
        )
        try:
            yield
        finally:
            engine.dispose()

    app = FastAPI(
        title="passnum",
        description="Parcours Pass numérique : orientation, diagnostic, carnet de chèques APTIC, "
        'formation et clôture. Erreurs : `{"error": {"code", "message", "details"}}`.',
        version="0.1.0",
        lifespan=lifespan,
        docs_url=None,  # served by api.docs, with their own Content-Security-Policy
        redoc_url=None,
    )
    provider_origin = oidc.issuer_origin(settings)
    security_headers.install(
        app,
        production=settings.environment == "production",
        form_origins=[provider_origin] if provider_origin else [],
    )
    install_error_handlers(app)
    # 413 past a few kilobytes (the codec endpoint: a history's payloads)
    app.add_middleware(
        BodyLimit,
        larger={
            codec.PREFIX: codec.MAX_BODY_BYTES,
            directory_routes.IMPORT_PATH: directory_routes.MAX_IMPORT_BYTES,
            directory_pages.IMPORT_PREFIX: directory_routes.MAX_IMPORT_BYTES * 2,  # base64
            programme_routes.PATH: programme_routes.MAX_BODY_BYTES,
            programme_pages.PREFIX: programme_pages.MAX_FORM_BYTES,
        },
    )
    app.add_middleware(codec.CodecCors, origins=settings.temporal_ui_origin_list)
    app.state.clock_at = settings.clock_at
    app.add_middleware(FrozenClock)  # one "today" per request, settable in dev and tests
    openapi.install(app)  # declares the refusals every route shares
    app.include_router(docs.router_for(app))
    app.include_router(journeys.router)
    # Before the accounts' routes: fuzzing them revokes tokens (tests/test_api_fuzz.py).
    app.include_router(person.router)
    app.include_router(cheques.router)
    app.include_router(accounts.router)
    app.include_router(stock_routes.router)
    app.include_router(reports.router)
    app.include_router(statements.router)
    app.include_router(codec.router)
    app.include_router(ledger_routes.router)
    app.include_router(audit.router)
    app.include_router(policy_routes.router)
    app.include_router(programme_routes.router)
    # Last: fuzzing it as an administrator may deactivate the structures that the other
    # operations' journeys are oriented to (tests/test_api_fuzz.py).
    app.include_router(directory_routes.router)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    for pages in (
        auth_pages,
        account_link_pages,
        social,
        mediation,
        coordination,
        stock,
        statement_pages,
        ledger_pages,
        export_pages,
        directory_pages,
        admin,
        policy_pages,
        programme_pages,
        mailbox,
        letters,
        rights,
        account,
    ):
        app.include_router(pages.router)

    @app.get("/api/v1/health", tags=["ops"])
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    return app
