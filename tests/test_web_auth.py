"""Login, sessions, CSRF, login throttling and personal API tokens, over real HTTP."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import httpx
import pytest
from pydantic import ValidationError
from sqlmodel import col, func, select

from config import DEV_SECRET_KEY, Settings
from records import accounts, models
from records.seed import DEMO_PASSWORD
from tests.fixtures.api import Stack, csrf_from, login

SW = "travailleur.social@aveyron.example"


def count(stack: Stack, model: type, *where: object) -> int:
    with stack.sessions() as s:
        return int(s.exec(select(func.count()).select_from(model).where(*where)).one())


async def client(stack: Stack) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=stack.base_url, timeout=30)


async def test_login_lands_on_the_role_space_and_logout_ends_the_session(
    api_stack: Stack,
) -> None:
    async with await client(api_stack) as http:
        r = await login(http, SW)
        assert r.status_code == 303 and r.headers["location"] == "/"
        cookie = r.headers["set-cookie"]
        assert "passnum_session=" in cookie and "HttpOnly" in cookie
        assert "SameSite=lax" in cookie or "samesite=lax" in cookie.lower()
        assert "Secure" not in cookie  # plain HTTP here; HTTPS or PASSNUM_COOKIE_SECURE add it
        home = await http.get("/")
        assert home.status_code == 303 and home.headers["location"] == "/accompagnement"
        space = await http.get("/accompagnement")
        assert space.status_code == 200
        assert '<html lang="fr">' in space.text and "Camille" in space.text
        assert 'href="#contenu"' in space.text  # skip link
        # Another role's space: the French 403 page, not the space.
        other = await http.get("/coordination")
        assert other.status_code == 403 and "Accès refusé" in other.text
        session_cookie = http.cookies["passnum_session"]
        assert count(api_stack, models.WebSession) == 1

        r = await http.post("/deconnexion", data={"csrf_token": csrf_from(space.text)})
        assert r.status_code == 303 and r.headers["location"] == "/connexion"
        assert count(api_stack, models.WebSession) == 0
    # The old cookie opens nothing any more.
    async with httpx.AsyncClient(
        base_url=api_stack.base_url, cookies={"passnum_session": session_cookie}
    ) as http:
        assert (await http.get("/api/v1/me")).status_code == 401
        r = await http.get("/accompagnement")
        assert r.status_code == 303
        assert r.headers["location"] == "/connexion?suivant=%2Faccompagnement"


async def test_wrong_password_is_refused_in_french_keeping_the_email(api_stack: Stack) -> None:
    async with await client(api_stack) as http:
        r = await login(http, SW, "not-the-password")
        assert r.status_code == 401
        assert "Adresse e-mail ou mot de passe incorrect." in r.text
        assert f'value="{SW}"' in r.text and "not-the-password" not in r.text
        r = await login(http, "", "")
        assert r.status_code == 422 and "Ce champ est obligatoire." in r.text
        assert (await http.get("/api/v1/me")).status_code == 401
    assert count(api_stack, models.WebSession) == 0


async def test_login_is_throttled_per_account(api_stack: Stack) -> None:
    limit = api_stack.settings.login_max_failures
    async with await client(api_stack) as http:
        for _ in range(limit):
            assert (await login(http, SW, "wrong-password")).status_code == 401
        # Now even the right password is refused, in French, and no session opens.
        r = await login(http, SW, DEMO_PASSWORD)
        assert r.status_code == 429 and "Trop de tentatives" in r.text
        assert count(api_stack, models.WebSession) == 0
        # Another account from the same address is not locked out.
        r = await login(http, "mediateur@aveyron.example", DEMO_PASSWORD)
        assert r.status_code == 303
    failures = count(
        api_stack,
        models.LoginAttempt,
        col(models.LoginAttempt.email) == SW,
        col(models.LoginAttempt.succeeded).is_(False),
    )
    assert failures == limit  # counted in the database: every API replica sees them


async def test_login_is_throttled_per_address(api_stack: Stack) -> None:
    limit = api_stack.settings.login_max_failures_per_address
    async with await client(api_stack) as http:
        for i in range(limit):
            r = await login(http, f"inconnu{i}@aveyron.example", "whatever-password")
            assert r.status_code == 401
        r = await login(http, "mediateur@aveyron.example", DEMO_PASSWORD)
        assert r.status_code == 429 and "Trop de tentatives" in r.text


async def test_forms_without_their_csrf_token_are_refused(api_stack: Stack) -> None:
    async with await client(api_stack) as http:
        # The login form itself.
        await http.get("/connexion")
        r = await http.post("/connexion", data={"email": SW, "password": DEMO_PASSWORD})
        assert r.status_code == 403 and "formulaire a expiré" in r.text
        assert '<html lang="fr">' in r.text
        r = await http.post(
            "/connexion", data={"email": SW, "password": DEMO_PASSWORD, "csrf_token": "forged"}
        )
        assert r.status_code == 403
        assert count(api_stack, models.WebSession) == 0

        assert (await login(http, SW)).status_code == 303
        # Logout without the token: refused, still signed in.
        r = await http.post("/deconnexion", data={})
        assert r.status_code == 403 and "formulaire a expiré" in r.text
        assert (await http.get("/api/v1/me")).status_code == 200

        # JSON changes made with the session cookie need the X-CSRF-Token header.
        me = (await http.get("/api/v1/me")).json()
        body = {
            "reception_structure_id": me["reception_structure_id"],
            "person": {"first_name": "Léa", "last_name": "Puech"},
            "consent": {"given": True, "text": "J'accepte."},
        }
        r = await http.post(
            "/api/v1/referrals", json=body, headers={"Idempotency-Key": str(uuid.uuid4())}
        )
        assert r.status_code == 403 and r.json()["error"]["code"] == "csrf_failed"
        assert count(api_stack, models.Beneficiary) == 0
        r = await http.post(
            "/api/v1/referrals",
            json=body,
            headers={"Idempotency-Key": str(uuid.uuid4()), "X-CSRF-Token": me["csrf_token"]},
        )
        assert r.status_code == 201, r.text
        # Recorded in the signed-in account's name.
        assert r.json()["referrer"] == {"role": "SOCIAL_WORKER", "ref": str(me["id"])}


async def test_administrator_issues_and_revokes_tokens(api_stack: Stack) -> None:
    stack = api_stack
    target = stack.people["coord_epci"].id
    r = await stack.http.post(
        f"/api/v1/accounts/{target}/tokens", json={"label": "Tableur"}, headers=stack.auth("admin")
    )
    assert r.status_code == 201, r.text
    issued = r.json()
    secret = issued["token"]
    bearer = {"Authorization": f"Bearer {secret}"}
    with stack.sessions() as s:
        row = s.get(models.ApiToken, issued["id"])
        assert row is not None and row.token_hash != secret and secret not in row.token_hash
    me = await stack.http.get("/api/v1/me", headers=bearer)
    assert me.status_code == 200 and me.json()["id"] == target
    listed = await stack.http.get(f"/api/v1/accounts/{target}/tokens", headers=stack.auth("admin"))
    assert [t["label"] for t in listed.json()] == ["tests", "Tableur"]
    assert all("token" not in t for t in listed.json())

    for _ in range(2):  # revoking twice changes nothing more
        r = await stack.http.delete(f"/api/v1/tokens/{issued['id']}", headers=stack.auth("admin"))
        assert r.status_code == 204
    r = await stack.http.get("/api/v1/me", headers=bearer)
    assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer"
    # The account's other token still works.
    assert (await stack.http.get("/api/v1/me", headers=stack.auth("coord_epci"))).status_code == 200
    r = await stack.http.get("/api/v1/me", headers={"Authorization": "Bearer pn_made-up"})
    assert r.status_code == 401


async def test_deactivated_accounts_lose_sessions_and_tokens(api_stack: Stack) -> None:
    stack = api_stack
    async with await client(stack) as http:
        assert (await login(http, SW)).status_code == 303
        with stack.sessions() as s:
            account = accounts.get_account_by_email(s, SW)
            assert account is not None
            accounts.deactivate(s, account, now=datetime.now(UTC))
            s.commit()
        assert (await http.get("/api/v1/me")).status_code == 401
        assert (await stack.http.get("/api/v1/me", headers=stack.auth("sw"))).status_code == 401
        assert (await login(http, SW)).status_code == 401


async def test_pages_answer_in_french_and_never_redirect_elsewhere(api_stack: Stack) -> None:
    async with await client(api_stack) as http:
        r = await http.get("/page-qui-n-existe-pas")
        assert r.status_code == 404 and "Page introuvable" in r.text
        assert r.headers["content-type"].startswith("text/html")
        r = await http.get("/api/v1/nope")
        assert r.status_code == 404 and r.json()["error"]["message"] == "Ressource introuvable."
        page = await http.get("/connexion", params={"suivant": "//evil.example/x"})
        r = await http.post(
            "/connexion",
            data={
                "email": SW,
                "password": DEMO_PASSWORD,
                "csrf_token": csrf_from(page.text),
                "suivant": "//evil.example/x",
            },
        )
        assert r.status_code == 303 and r.headers["location"] == "/"
        r = await http.get("/connexion", params={"suivant": "/coordination"})
        assert r.status_code == 303 and r.headers["location"] == "/coordination"


def test_production_refuses_placeholder_secrets() -> None:
    with pytest.raises(ValidationError, match="PASSNUM_SECRET_KEY"):
        Settings(environment="production")
    with pytest.raises(ValidationError, match="PASSNUM_SECRET_KEY"):
        Settings(environment="production", secret_key="short")
    with pytest.raises(ValidationError, match="PASSNUM_SECRET_KEY"):
        Settings(environment="dev", api_host="0.0.0.0")  # the dev key only on loopback
    ok = Settings(environment="production", secret_key="k" * 40, api_host="0.0.0.0")
    assert ok.secret_key.get_secret_value() != DEV_SECRET_KEY
    assert "k" * 40 not in repr(ok)  # SecretStr: never printed
