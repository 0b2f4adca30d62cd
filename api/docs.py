"""The interactive API documentation (/docs: Swagger UI, /redoc: ReDoc), each with its own
Content-Security-Policy.

FastAPI's pages load Swagger UI and ReDoc from a CDN and start Swagger UI with an inline
script; the pages' strict policy (api.security_headers.PAGE_POLICY) would block both. These
routes serve the same HTML as FastAPI's built-in ones (the app is created with
`docs_url=None, redoc_url=None`) with a policy that allows exactly that: the CDN's scripts
and styles, the inline script by its SHA-256 hash (never 'unsafe-inline' for scripts), the
API itself for "Try it out". Without Internet access (the embedded stack) the CDN is out of
reach and the pages stay blank; /openapi.json is always there.

Checked with the real bundles (swagger-ui-dist 5.35, redoc 2.5) in headless Chromium: every
operation and model unfolded, "Try it out" executed, no violation; Swagger UI needs no
inline style, ReDoc does (styled-components).
"""

from __future__ import annotations

from fastapi import APIRouter, FastAPI, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse

from api.security_headers import script_hashes

CDN = "https://cdn.jsdelivr.net"
FAVICON_HOST = "https://fastapi.tiangolo.com"


def swagger_policy(html: str) -> str:
    scripts = " ".join([CDN, *script_hashes(html)])
    return (
        f"default-src 'none'; script-src 'self' {scripts}; "
        f"style-src 'self' {CDN}; img-src 'self' data: {FAVICON_HOST}; "
        f"font-src 'self' data: {CDN}; connect-src 'self'; form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'"
    )


# ReDoc styles itself with injected <style> elements, fetches Google Fonts, and runs its
# search in a worker made from a blob.
REDOC_POLICY = (
    f"default-src 'none'; script-src 'self' {CDN}; "
    "style-src 'self' 'unsafe-inline' https://fonts.googleapis.com; "
    f"img-src 'self' data: {FAVICON_HOST} https://cdn.redoc.ly; "
    "font-src 'self' https://fonts.gstatic.com; "
    "connect-src 'self'; worker-src blob:; form-action 'self'; frame-ancestors 'none'; "
    "base-uri 'none'"
)


def router_for(app: FastAPI) -> APIRouter:
    """The two documentation routes, reading `app`'s title and OpenAPI URL."""
    router = APIRouter(include_in_schema=False)
    openapi_url = app.openapi_url or "/openapi.json"

    @router.get("/docs")
    async def swagger_ui(request: Request) -> HTMLResponse:
        root_path = request.scope.get("root_path", "").rstrip("/")
        page = get_swagger_ui_html(
            openapi_url=root_path + openapi_url,
            title=f"{app.title} - Swagger UI",
            swagger_ui_parameters=app.swagger_ui_parameters,
        )
        page.headers["Content-Security-Policy"] = swagger_policy(bytes(page.body).decode())
        return page

    @router.get("/redoc")
    async def redoc(request: Request) -> HTMLResponse:
        root_path = request.scope.get("root_path", "").rstrip("/")
        page = get_redoc_html(openapi_url=root_path + openapi_url, title=f"{app.title} - ReDoc")
        page.headers["Content-Security-Policy"] = REDOC_POLICY
        return page

    return router
