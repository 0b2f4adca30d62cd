"""Browser hardening: security headers on every response the app sends.

`install(app, production=...)` wraps the whole ASGI stack (outside Starlette's
ServerErrorMiddleware, so even an unhandled error's 500 carries them) in `SecurityHeaders`,
a pure ASGI middleware: it adds headers to the response start message, never touches or
buffers the body (streaming answers stay streaming).

The pages' Content-Security-Policy (`PAGE_POLICY`) allows only the app's own static files:
no inline script or style, no other site, no framing of passnum. A route that needs another
policy sets its own `Content-Security-Policy` (or `X-Frame-Options`) header and the
middleware leaves it alone:

- the sink's mail shown to administrators (`MAIL_POLICY`: the mail's own inline styles, no
  script at all, a sandboxed document framed by passnum only);
- the printable letter (`LETTER_POLICY`: its body is the e-mail's HTML, whose inline styles
  mail clients need; scripts stay 'self');
- the interactive API documentation (`api.docs`: Swagger UI and ReDoc from their CDN, their
  one inline script allowed by its hash).
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Callable, Sequence

from fastapi import FastAPI
from starlette.types import ASGIApp, Message, Receive, Scope, Send

PAGE_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "font-src 'self'; connect-src 'self'; form-action 'self'; frame-src 'self'; "
    "frame-ancestors 'none'; base-uri 'none'"
)
# A mail from the sink, as its HTML part (api.pages.mailbox): framed by the mailbox page,
# sandboxed (unique origin, no script, no form, no navigation), its inline styles only.
MAIL_POLICY = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src data:; form-action 'none'; "
    "frame-ancestors 'self'; base-uri 'none'; sandbox"
)
# A printable letter (api.pages.letters): the e-mail body it carries keeps its inline
# style attributes. Inline CSS runs no code, and with images, fonts and connections
# limited to passnum it cannot send anything elsewhere either.
LETTER_POLICY = PAGE_POLICY.replace("style-src 'self'", "style-src 'self' 'unsafe-inline'")

# Everything a page could ask of the browser and none of passnum's pages uses.
PERMISSIONS_POLICY = ", ".join(
    f"{feature}=()"
    for feature in (
        "accelerometer",
        "autoplay",
        "camera",
        "display-capture",
        "encrypted-media",
        "fullscreen",
        "geolocation",
        "gyroscope",
        "hid",
        "magnetometer",
        "microphone",
        "midi",
        "payment",
        "picture-in-picture",
        "publickey-credentials-get",
        "screen-wake-lock",
        "serial",
        "usb",
        "xr-spatial-tracking",
    )
)
# Two years, every subdomain of the app's host; sent only in production (served over HTTPS).
HSTS = "max-age=63072000; includeSubDomains"


def common_headers(
    *, production: bool, form_origins: Sequence[str] = ()
) -> list[tuple[bytes, bytes]]:
    """The headers every response gets (unless it set its own), in order. `form_origins`:
    other sites a form may end at (Chromium applies form-action to a form's redirects too):
    the OpenID Provider, where logging out ends (api.oidc)."""
    policy = PAGE_POLICY
    if form_origins:
        policy = policy.replace(
            "form-action 'self'", " ".join(["form-action 'self'", *form_origins])
        )
    headers = [
        ("Content-Security-Policy", policy),
        ("X-Frame-Options", "DENY"),
        ("X-Content-Type-Options", "nosniff"),
        # Nothing of a URL (journey ids, search terms) leaves for another site; links
        # within passnum keep their referrer.
        ("Referrer-Policy", "same-origin"),
        ("Cross-Origin-Opener-Policy", "same-origin"),
        ("Cross-Origin-Resource-Policy", "same-origin"),
        ("Permissions-Policy", PERMISSIONS_POLICY),
    ]
    if production:
        headers.append(("Strict-Transport-Security", HSTS))
    return [(name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in headers]


class SecurityHeaders:
    """Pure ASGI middleware adding `headers` to every HTTP response that lacks them."""

    def __init__(self, app: ASGIApp, headers: list[tuple[bytes, bytes]]) -> None:
        self.app = app
        self.headers = headers

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                present = {name.lower() for name, _ in message.get("headers", ())}
                extra = [(n, v) for n, v in self.headers if n not in present]
                if extra:
                    message = {**message, "headers": [*message.get("headers", ()), *extra]}
            await send(message)

        await self.app(scope, receive, send_with_headers)


def install(app: FastAPI, *, production: bool, form_origins: Sequence[str] = ()) -> None:
    """Make `SecurityHeaders` the outermost layer of `app`'s middleware stack."""
    headers = common_headers(production=production, form_origins=form_origins)
    build_inner: Callable[[], ASGIApp] = app.build_middleware_stack

    def build() -> ASGIApp:
        return SecurityHeaders(build_inner(), headers)

    app.build_middleware_stack = build  # type: ignore[method-assign]


# ---- helpers for routes that set their own policy ----

_INLINE_SCRIPT = re.compile(r"<script>(.*?)</script>", re.DOTALL)


def script_hashes(html: str) -> list[str]:
    """CSP source expressions ('sha256-…') allowing the inline scripts of `html`."""
    return [
        "'sha256-" + base64.b64encode(hashlib.sha256(body.encode()).digest()).decode() + "'"
        for body in _INLINE_SCRIPT.findall(html)
    ]
