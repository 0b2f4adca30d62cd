"""Security headers (api.security_headers) on every kind of answer, over real HTTP: a page,
the JSON API, a static file, 404s, the redirect to the login page, an error page, an
unhandled error's 500; HSTS in production only; the routes with their own policy (the API
documentation, a mail of the local sink)."""

from __future__ import annotations

import re
from collections.abc import Iterator

import httpx
import pytest
from fastapi import FastAPI

from api.app import create_app
from api.docs import REDOC_POLICY
from api.security_headers import MAIL_POLICY, PAGE_POLICY, PERMISSIONS_POLICY, script_hashes
from config import Settings
from tests.fixtures.api import DEMO_EMAILS, Stack, login

SHARED = {
    "x-content-type-options": "nosniff",
    "referrer-policy": "same-origin",
    "cross-origin-opener-policy": "same-origin",
    "cross-origin-resource-policy": "same-origin",
    "permissions-policy": PERMISSIONS_POLICY,
}
STRICT = SHARED | {"content-security-policy": PAGE_POLICY, "x-frame-options": "DENY"}


def assert_headers(response: httpx.Response, expected: dict[str, str] = STRICT) -> None:
    for name, value in expected.items():
        assert response.headers.get_list(name) == [value], (response.url, name)
    assert "strict-transport-security" not in response.headers  # dev mode, plain HTTP


def test_the_page_policy_allows_only_passnum_itself() -> None:
    directives = dict(d.split(" ", 1) for d in PAGE_POLICY.split("; "))
    assert directives["default-src"] == "'none'"
    for name in ("script-src", "style-src", "font-src", "connect-src", "form-action"):
        assert directives[name] == "'self'", name
    assert directives["img-src"] == "'self' data:"  # barcodes drawn as data: URLs
    assert directives["frame-ancestors"] == "'none'" and directives["base-uri"] == "'none'"
    assert "unsafe" not in PAGE_POLICY
    for feature in ("camera", "microphone", "geolocation", "payment", "usb"):
        assert f"{feature}=()" in PERMISSIONS_POLICY


async def test_every_kind_of_answer_carries_the_headers(api_stack: Stack) -> None:
    async with httpx.AsyncClient(base_url=api_stack.base_url, timeout=30) as http:
        page = await http.get("/connexion")  # a page
        assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
        assert_headers(page)
        api = await http.get("/api/v1/health")  # the JSON API
        assert api.status_code == 200 and api.json() == {"status": "ok"}
        assert_headers(api)
        refused = await http.get("/api/v1/journeys")  # an API refusal
        assert refused.status_code == 401 and refused.json()["error"]["code"]
        assert_headers(refused)
        static = await http.get("/static/passnum.css")  # a static file
        assert static.status_code == 200 and static.headers["content-type"].startswith("text/css")
        assert_headers(static)
        missing = await http.get("/nulle-part")  # the French 404 page
        assert missing.status_code == 404 and "Page introuvable" in missing.text
        assert_headers(missing)
        missing_api = await http.get("/api/v1/nulle-part")
        assert missing_api.status_code == 404 and missing_api.json()["error"]
        assert_headers(missing_api)
        missing_static = await http.get("/static/absent.css")
        assert missing_static.status_code == 404
        assert_headers(missing_static)
        to_login = await http.get("/accompagnement")  # the redirect to the login page
        assert to_login.status_code == 303
        assert to_login.headers["location"] == "/connexion?suivant=%2Faccompagnement"
        assert_headers(to_login)
        openapi = await http.get("/openapi.json")
        assert openapi.status_code == 200 and openapi.json()["info"]["title"] == "passnum"
        assert_headers(openapi)

        assert (await login(http, DEMO_EMAILS["sw"])).status_code == 303
        forbidden = await http.get("/coordination")  # an error page
        assert forbidden.status_code == 403 and "Accès refusé" in forbidden.text
        assert_headers(forbidden)
        space = await http.get("/accompagnement")
        assert space.status_code == 200 and "<script>" not in space.text
        assert "style=" not in space.text
        assert_headers(space)


async def test_the_api_documentation_has_a_policy_of_its_own(api_stack: Stack) -> None:
    async with httpx.AsyncClient(base_url=api_stack.base_url, timeout=30) as http:
        swagger = await http.get("/docs")
        assert swagger.status_code == 200 and "SwaggerUIBundle" in swagger.text
        policy = swagger.headers["content-security-policy"]
        (inline,) = script_hashes(swagger.text)  # its one inline script, by hash
        script_src = re.search(r"script-src ([^;]+)", policy)
        assert script_src is not None
        assert script_src[1].split() == ["'self'", "https://cdn.jsdelivr.net", inline]
        assert "frame-ancestors 'none'" in policy and "connect-src 'self'" in policy
        assert "unsafe" not in policy
        assert_headers(swagger, SHARED | {"x-frame-options": "DENY"})
        redoc = await http.get("/redoc")
        assert redoc.status_code == 200 and "<redoc spec-url=" in redoc.text
        assert redoc.headers["content-security-policy"] == REDOC_POLICY
        assert "'unsafe-inline'" not in REDOC_POLICY.split("script-src")[1].split(";")[0]


@pytest.fixture
def bare_app() -> Iterator[FastAPI]:
    """The app without its lifespan (no Temporal needed) and one route that fails."""
    app = create_app(Settings(), client=None)

    @app.get("/api/v1/boom")
    async def boom() -> None:
        raise RuntimeError("a bug")

    yield app


async def test_an_unhandled_error_answers_500_with_the_headers(bare_app: FastAPI) -> None:
    transport = httpx.ASGITransport(app=bare_app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://passnum.test") as http:
        r = await http.get("/api/v1/boom")
        assert r.status_code == 500
        assert_headers(r)


async def test_production_adds_strict_transport_security() -> None:
    settings = Settings(
        environment="production",
        secret_key="s" * 40,  # type: ignore[arg-type]
        cheque_code_key="c" * 40,  # ignored by Settings that do not know it
        payload_key="p" * 40,  # likewise
    )
    app = create_app(settings, client=None)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="https://passnum.test") as http:
        for path in ("/api/v1/health", "/static/passnum.css", "/api/v1/nulle-part"):
            r = await http.get(path)
            assert r.headers["strict-transport-security"] == "max-age=63072000; includeSubDomains"
            assert r.headers["content-security-policy"] == PAGE_POLICY


def test_the_mail_policy_runs_nothing_and_lets_only_passnum_frame_it() -> None:
    directives = dict((d.split(" ", 1) + [""])[:2] for d in MAIL_POLICY.split("; "))
    assert directives["default-src"] == "'none'" and "script-src" not in directives
    assert directives["frame-ancestors"] == "'self'" and "sandbox" in directives
