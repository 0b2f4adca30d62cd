"""The Temporal UI's codec endpoint: decoded histories for a signed-in coordinator.

Every Temporal payload is encrypted (temporal_client.EncryptionCodec): the Temporal UI and
`temporal workflow show` see ciphertext unless they ask this endpoint, which follows
Temporal's codec server protocol: `POST …/decode` (and `…/encode`) with a JSON body
`{"payloads": [{"metadata": {name: base64}, "data": base64}]}` answered in the same form.

Only a coordinator of the whole programme (api.access.require_payload_reader) gets an
answer: with the session cookie (the UI's "Include cross-origin credentials", the cookie
being same-site), or a personal token (the CLI's `--codec-auth "Bearer pn_…"`); anonymous
callers get 401. No CSRF token: decoding changes nothing, and browsers let only the
Temporal UI's origins (`PASSNUM_TEMPORAL_UI_ORIGINS`, `CodecCors`) read the answer.
"""

from __future__ import annotations

import base64
import binascii

from fastapi import APIRouter
from pydantic import BaseModel, Field
from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Receive, Scope, Send

from api import access
from api.auth import ReadingUser
from api.deps import State
from api.errors import ApiError, error_responses
from domain.refusals import MSG_PAYLOAD_NOT_BASE64, MSG_PAYLOAD_UNREADABLE
from temporal_client import Payload, codec

PREFIX = "/api/v1/temporal-codec"
# A history page's payloads in one request: well above the few kilobytes a journey's
# status takes, below Temporal's 2 MB payload limit times a few (api/body_limit.py).
MAX_BODY_BYTES = 8 * 1024 * 1024
MAX_PAYLOADS = 10_000

router = APIRouter(prefix=PREFIX, tags=["temporal"])


class CodecPayload(BaseModel):
    """A Temporal payload in protobuf JSON: metadata values and data in base64."""

    metadata: dict[str, str] = Field(default_factory=dict, max_length=32)
    data: str = ""


class CodecPayloads(BaseModel):
    payloads: list[CodecPayload] = Field(default_factory=list, max_length=MAX_PAYLOADS)


def _b64(text: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise ApiError(422, "invalid_input", MSG_PAYLOAD_NOT_BASE64) from None


def _to_proto(p: CodecPayload) -> Payload:
    return Payload(metadata={k: _b64(v) for k, v in p.metadata.items()}, data=_b64(p.data))


def _to_json(p: Payload) -> CodecPayload:
    return CodecPayload(
        metadata={k: base64.b64encode(v).decode() for k, v in p.metadata.items()},
        data=base64.b64encode(p.data).decode(),
    )


RESPONSES = error_responses(401, 403, 422)


@router.post("/decode", responses=RESPONSES)
async def decode(body: CodecPayloads, state: State, user: ReadingUser) -> CodecPayloads:
    """Payloads decrypted (those never encrypted come back as they are)."""
    access.require_payload_reader(user)
    payloads = [_to_proto(p) for p in body.payloads]
    try:
        decoded = await codec(state.settings).decode(payloads)
    except ValueError:
        raise ApiError(422, "payload_unreadable", MSG_PAYLOAD_UNREADABLE) from None
    return CodecPayloads(payloads=[_to_json(p) for p in decoded])


@router.post("/encode", responses=RESPONSES)
async def encode(body: CodecPayloads, state: State, user: ReadingUser) -> CodecPayloads:
    """Payloads encrypted with the current key (what the UI sends when it signals or starts
    a workflow)."""
    access.require_payload_reader(user)
    encoded = await codec(state.settings).encode([_to_proto(p) for p in body.payloads])
    return CodecPayloads(payloads=[_to_json(p) for p in encoded])


class CodecCors:
    """CORS for the codec endpoint only (Starlette's CORSMiddleware on `PREFIX`): the
    Temporal UI's origins may call it with credentials; every other path keeps the
    same-origin rules of a page."""

    def __init__(self, app: ASGIApp, origins: list[str]) -> None:
        self.app = app
        self.cors = CORSMiddleware(
            app,
            allow_origins=origins,
            allow_credentials=True,
            allow_methods=["POST"],
            allow_headers=["Content-Type", "Authorization", "X-Namespace"],
            max_age=600,
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and str(scope.get("path", "")).startswith(PREFIX + "/"):
            await self.cors(scope, receive, send)
        else:
            await self.app(scope, receive, send)
