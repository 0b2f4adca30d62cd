"""Engine, sessions and migrations for SQLite (embedded) and PostgreSQL (production)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import sessionmaker
from sqlmodel import Session

from records.cheque_codes import CodeVault, ensure_codes
from records.ledger import ensure_ledger

RECORDS_DIR = Path(__file__).resolve().parent
ALEMBIC_INI = RECORDS_DIR / "alembic.ini"
SQLITE_BUSY_TIMEOUT_MS = 30_000

# Execution option read by the SQLite `begin` hook: take the write lock at BEGIN.
_WRITE = "passnum_write"

SessionFactory = Callable[[], Session]


def normalise_url(url: str) -> str:
    """Use psycopg 3 for PostgreSQL whatever the URL says."""
    for prefix in ("postgresql://", "postgres://", "postgresql+psycopg2://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def is_sqlite(url: str) -> bool:
    return make_url(normalise_url(url)).get_backend_name() == "sqlite"


def make_engine(url: str, **kwargs: Any) -> Engine:
    url = normalise_url(url)
    if not is_sqlite(url):
        return create_engine(url, pool_pre_ping=True, **kwargs)

    engine = create_engine(url, connect_args={"check_same_thread": False}, **kwargs)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # SQLAlchemy emits BEGIN itself (below): sqlite3's legacy mode would leave SELECTs
        # and SAVEPOINTs outside the transaction.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        # A transaction that reads then writes must hold the write lock from the start:
        # upgrading a WAL read snapshot fails at once (SQLITE_BUSY) if another connection
        # committed meanwhile, without waiting for busy_timeout.
        immediate = conn.get_execution_options().get(_WRITE, False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine


def session_factory(engine: Engine) -> SessionFactory:
    """`with factory() as session:`. Objects stay readable after commit."""
    return sessionmaker(engine, class_=Session, expire_on_commit=False)


def begin_write(session: Session) -> None:
    """Start the session's transaction as a writer (SQLite: BEGIN IMMEDIATE).

    Call first thing in a unit of work that reads before it writes. A no-op on PostgreSQL,
    and if the session's transaction has already begun.
    """
    session.connection(execution_options={_WRITE: True})


def alembic_config(url: str | None = None) -> Config:
    cfg = Config(str(ALEMBIC_INI))
    cfg.set_main_option("script_location", str(RECORDS_DIR / "migrations"))
    if url is not None:
        cfg.attributes["url"] = url
    return cfg


def migrate(url: str, codes: CodeVault | None = None) -> None:
    """`alembic upgrade head` on the database at `url`; then write the funder ledger's
    default rule and missing entries (`records.ledger.ensure_ledger`: cheques issued
    before migration 0012); with `codes`, give a security code to every cheque still
    without one (issued before migration 0007)."""
    command.upgrade(alembic_config(url), "head")
    engine = make_engine(url)
    try:
        with Session(engine) as session:
            begin_write(session)
            ensure_ledger(session)
            if codes is not None:
                ensure_codes(session, codes, datetime.now(UTC))
            session.commit()
    finally:
        engine.dispose()
