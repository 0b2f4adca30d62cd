"""A ceiling on request bodies: nothing passnum receives is larger than a few kilobytes
(the longest field, a consent text, is 2 000 characters), so a body over `MAX_BODY_BYTES`
is refused with 413 before it is read whole.

One path has more room (`larger`): the Temporal UI's codec endpoint receives a history's
payloads (api/routes/codec.py).

A pure ASGI middleware: it only watches the bytes the app reads. A body announced too
large (Content-Length) or streamed too large makes the read raise an HTTP 413, which the
app's error handlers answer like any refusal (structured JSON under /api, the French error
page elsewhere). A route that never reads its body is not concerned.
"""

from __future__ import annotations

from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

MAX_BODY_BYTES = 64 * 1024


class BodyTooLarge(HTTPException):
    def __init__(self) -> None:
        super().__init__(status_code=413)


class BodyLimit:
    def __init__(
        self,
        app: ASGIApp,
        max_bytes: int = MAX_BODY_BYTES,
        larger: dict[str, int] | None = None,
    ) -> None:
        """`larger`: path prefix -> its own ceiling."""
        self.app = app
        self.max_bytes = max_bytes
        self.larger = dict(larger or {})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = str(scope.get("path", ""))
        ceiling = next(
            (n for prefix, n in self.larger.items() if path.startswith(prefix)), self.max_bytes
        )
        announced = Headers(scope=scope).get("content-length", "")
        too_large = announced.isdigit() and int(announced) > ceiling
        received = 0

        async def limited() -> Message:
            nonlocal received
            if too_large:
                raise BodyTooLarge()
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > ceiling:
                    raise BodyTooLarge()
            return message

        await self.app(scope, limited, send)
