"""All settings, from environment variables prefixed PASSNUM_ (documented in README.md).

Defaults are the embedded ones: everything on this machine, data under ./.data.
"""

from __future__ import annotations

from functools import cached_property
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from domain.contracts import TASK_QUEUE


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="PASSNUM_", extra="ignore")

    data_dir: Path = Field(default=Path(".data"), description="Embedded mode's data folder")
    database_url: str | None = Field(
        default=None, description="SQLAlchemy URL; default: SQLite file in data_dir"
    )
    temporal_address: str = "127.0.0.1:7233"
    temporal_namespace: str = "default"
    temporal_task_queue: str = TASK_QUEUE
    temporal_ui_port: int = 8233
    api_host: str = "127.0.0.1"
    api_port: int = 8000
    programme_code: int = Field(default=12, description="Programme served by this instance")
    # Search attributes need a Temporal server with visibility; the time-skipping test server
    # has none.
    use_search_attributes: bool = True

    @cached_property
    def db_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'passnum.db').resolve()}"
