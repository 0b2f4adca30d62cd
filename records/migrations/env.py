"""Alembic environment: the URL comes from `-x url=`, the caller, PASSNUM_DATABASE_URL or Settings."""

from __future__ import annotations

import os
from typing import Any, Literal

from alembic import context
from sqlalchemy import String
from sqlmodel.sql.sqltypes import AutoString

from records import models  # noqa: F401  (registers every table)
from records.db import is_sqlite, make_engine, normalise_url
from records.models import Base
from records.types import UTCDateTime

config = context.config
target_metadata = Base.metadata


def database_url() -> str:
    url = context.get_x_argument(as_dictionary=True).get("url") or config.attributes.get("url")
    url = url or os.environ.get("PASSNUM_DATABASE_URL")
    if not url:
        from config import Settings

        url = Settings().db_url
    return normalise_url(url)


def render_item(type_: str, obj: Any, autogen_context: Any) -> str | Literal[False]:
    """Render our column types as plain SQLAlchemy ones: migrations must not import models."""
    if type_ == "type" and isinstance(obj, UTCDateTime):
        return "sa.DateTime(timezone=True)"
    if type_ == "type" and isinstance(obj, AutoString | String) and type(obj) is not String:
        length = getattr(obj, "length", None)
        return f"sa.String(length={length})" if length else "sa.String()"
    return False


def run_migrations_offline() -> None:
    url = database_url()
    context.configure(
        url=url,
        target_metadata=target_metadata,
        literal_binds=True,
        render_item=render_item,
        render_as_batch=is_sqlite(url),
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    url = database_url()
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            context.configure(
                connection=connection,
                target_metadata=target_metadata,
                render_item=render_item,
                # SQLite alters tables by copying them.
                render_as_batch=is_sqlite(url),
                compare_type=True,
            )
            with context.begin_transaction():
                context.run_migrations()
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
