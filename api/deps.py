"""Typed dependencies so routes stay a few lines."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from typing import Annotated, TypeVar

import anyio.to_thread
from fastapi import Depends, Header, Request
from sqlmodel import Session
from temporalio.client import Client

from config import Settings
from records.db import begin_write

T = TypeVar("T")


class Database:
    """Runs blocking SQLModel work in a worker thread; commits once per call or rolls back."""

    def __init__(self, sessions: Callable[[], Session]) -> None:
        self._sessions = sessions

    def _run(self, fn: Callable[[Session], T], write: bool) -> T:
        with self._sessions() as session:
            try:
                if write:
                    begin_write(session)  # SQLite: take the write lock before reading
                result = fn(session)
                session.commit()
                return result
            except BaseException:
                session.rollback()
                raise

    async def run(self, fn: Callable[[Session], T], *, write: bool = False) -> T:
        return await anyio.to_thread.run_sync(self._run, fn, write)

    async def stream(self, produce: Callable[[Session], Iterator[T]]) -> AsyncIterator[T]:
        """The items of `produce(session)` as they come, each pulled in a worker thread,
        from one read-only session held for the whole iteration (one query fetched in
        batches: a download of any size in flat memory) and rolled back at its end, or
        as soon as the consumer stops (a client that went away)."""
        session = self._sessions()
        items: Iterator[T] | None = None
        try:
            items = await anyio.to_thread.run_sync(produce, session)
            while True:
                item = await anyio.to_thread.run_sync(next, items, _END)
                if item is _END:
                    return
                yield item  # type: ignore[misc]
        finally:
            with anyio.CancelScope(shield=True):
                await anyio.to_thread.run_sync(_close, items, session)


_END = object()


def _close(items: Iterator[object] | None, session: Session) -> None:
    try:
        close = getattr(items, "close", None)
        if close is not None:
            close()  # a generator's `finally` (and its cursor) runs now, not at GC
    finally:
        session.rollback()
        session.close()


@dataclass(frozen=True)
class AppState:
    settings: Settings
    db: Database
    temporal: Client


# The dependencies below are `async def` though they never await: FastAPI runs a plain
# `def` dependency in its thread pool, a thread round trip per dependency and request.
async def get_state(request: Request) -> AppState:
    state: AppState = request.app.state.passnum
    return state


State = Annotated[AppState, Depends(get_state)]


# Who calls: `api.auth.CurrentUser` (session cookie or personal API token); what they may
# see and change: `api.access`.

IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        min_length=8,
        max_length=64,  # records.models.Beneficiary.idempotency_key
        pattern=r"^[!-~]+$",  # visible ASCII characters, no space
        description="A UUID chosen by the caller (8 to 64 visible ASCII characters); a "
        "retried request with the same key is answered with the first result and changes "
        "nothing.",
    ),
]
