"""Freezes `domain.clock` for each request when the app has an instant set.

`app.state.clock_at` starts from `PASSNUM_CLOCK_AT` (dev only: a demo on a chosen day) and
tests change it between requests to walk the pages over a year boundary. Left at None, the
request sees the machine's clock.
"""

from __future__ import annotations

from datetime import datetime

from starlette.types import ASGIApp, Receive, Scope, Send

from domain.clock import frozen_at


class FrozenClock:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        instant: datetime | None = None
        if scope["type"] == "http":
            instant = getattr(scope["app"].state, "clock_at", None)
        with frozen_at(instant):
            await self.app(scope, receive, send)
