"""The one clock of the API, its pages and the read model: `now()`.

It is the machine's clock unless a caller froze it for the current context (`frozen_at`):
the API does so per request when an instant is set for the app (tests of a year boundary,
a demo on a chosen day; never in production), so every "today" a request computes agrees.
Workflow code never calls it: it reads `workflow.now()`.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime

_frozen: ContextVar[datetime | None] = ContextVar("passnum_frozen_now", default=None)


def now() -> datetime:
    """The current aware UTC instant: the frozen one if any, else the machine's."""
    frozen = _frozen.get()
    return frozen if frozen is not None else datetime.now(UTC)


@contextmanager
def frozen_at(instant: datetime | None) -> Iterator[None]:
    """Within the block (this task and what it starts), `now()` is `instant` (None: the
    machine's clock)."""
    if instant is not None and instant.tzinfo is None:
        raise ValueError("a frozen instant must be aware")
    token = _frozen.set(instant.astimezone(UTC) if instant is not None else None)
    try:
        yield
    finally:
        _frozen.reset(token)
