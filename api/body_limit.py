"""A ceiling on request bodies: nothing passnum receives is larger than a few kilobytes
(the longest field, a consent text, is 2 000 characters), so a body over `MAX_BODY_BYTES`
is refused with 413 before it is read whole.

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
    def __init__(self, app: ASGIApp, max_bytes: int = MAX_BODY_BYTES) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        announced = Headers(scope=scope).get("content-length", "")
        too_large = announced.isdigit() and int(announced) > self.max_bytes
        received = 0

        async def limited() -> Message:
            nonlocal received
            if too_large:
                raise BodyTooLarge()
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise BodyTooLarge()
            return message

        await self.app(scope, limited, send)
