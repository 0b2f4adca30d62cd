"""Login, sessions, CSRF, login throttling and personal API tokens, over real HTTP."""

from __future__ import annotations

import asyncio
import re
import uuid
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from pydantic import ValidationError
from sqlmodel import col

from config import DEV_SECRET_KEY, Settings
from records import accounts, models
from records.seed import DEMO_PASSWORD
from tests.fixtures.api import Stack, csrf_from, login
from tests.fixtures.database import count

SW = "travailleur.social@aveyron.example"


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
        assert count(api_stack.sessions, models.WebSession) == 1

        r = await http.post("/deconnexion", data={"csrf_token": csrf_from(space.text)})
        assert r.status_code == 303 and r.headers["location"] == "/connexion"
        assert count(api_stack.sessions, models.WebSession) == 0
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
    assert count(api_stack.sessions, models.WebSession) == 0


def client_from(stack: Stack, address: str) -> httpx.AsyncClient:
    """A client whose connections leave from `address`, another loopback address than
    127.0.0.1 (Linux routes all of 127.0.0.0/8 to lo): the API sees it as the client's
    address, as it would a distinct machine's (X-Forwarded-For is not trusted)."""
    return httpx.AsyncClient(
        base_url=stack.base_url,
        timeout=30,
        transport=httpx.AsyncHTTPTransport(local_address=address),
    )


def add_failures(stack: Stack, email: str, addresses: list[str], *, seconds_ago: int) -> None:
    """History: one failed login for `email` from each of `addresses`, the last one
    `seconds_ago`, the others a second apart before it."""
    now = datetime.now(UTC)
    with stack.sessions() as s:
        for i, address in enumerate(reversed(addresses)):
            at = now - timedelta(seconds=seconds_ago + i)
            s.add(models.LoginAttempt(at=at, email=email, address=address, succeeded=False))
        s.commit()


def failures(stack: Stack, email: str, address: str) -> int:
    return count(
        stack.sessions,
        models.LoginAttempt,
        col(models.LoginAttempt.email) == email,
        col(models.LoginAttempt.address) == address,
        col(models.LoginAttempt.succeeded).is_(False),
    )


async def test_guessing_from_one_address_slows_it_and_never_locks_the_owner_out(
    api_stack: Stack,
) -> None:
    free = api_stack.settings.login_pair_free_failures
    owner = client_from(api_stack, "127.0.0.2")
    attacker = client_from(api_stack, "127.0.0.1")
    async with owner, attacker:
        # The owner usually signs in from 127.0.0.2.
        assert (await login(owner, SW)).status_code == 303
        owner.cookies.clear()

        for _ in range(free):
            assert (await login(attacker, SW, "wrong-password")).status_code == 401
        # Now every attempt from there waits, the right password included: 429, in French,
        # with when to try again; nothing is checked, nothing counted, no session opens.
        r = await login(attacker, SW, DEMO_PASSWORD)
        # (2 s after the last failure: 1 s left if this machine is slow)
        assert r.status_code == 429 and r.headers["retry-after"] in ("2", "1")
        assert "Trop de tentatives de connexion à ce compte depuis cette adresse" in r.text
        assert re.search(
            r"réessayez dans (2 secondes|1 seconde) \(à partir de \d\d:\d\d:\d\d\)", r.text
        )
        assert "passnum_session" not in attacker.cookies
        assert failures(api_stack, SW, "127.0.0.1") == free

        # Meanwhile the owner signs in from their own address.
        assert (await login(owner, SW)).status_code == 303
        owner.cookies.clear()

        # Once the delay is over, one more guess, then twice as long to wait. (What is tested
        # is time itself: the 2 s delay must really pass, on the machine's clock.)
        await asyncio.sleep(2.1)
        assert (await login(attacker, SW, "wrong-password")).status_code == 401
        r = await login(attacker, SW, "wrong-password")
        assert r.status_code == 429 and r.headers["retry-after"] in ("4", "3")
        assert failures(api_stack, SW, "127.0.0.1") == free + 1

        # A long attack from that address (history of many failures): the wait is capped
        # (15 minutes), the owner is still not locked out; from the attacker's address,
        # every account that never signed in there waits too.
        add_failures(api_stack, SW, ["127.0.0.1"] * 60, seconds_ago=1)
        r = await login(attacker, SW, DEMO_PASSWORD)
        cap = api_stack.settings.login_max_delay_seconds
        assert r.status_code == 429 and cap - 5 <= int(r.headers["retry-after"]) <= cap
        assert "réessayez dans 15 minutes (à partir de " in r.text
        assert (await login(owner, SW)).status_code == 303
        r = await login(attacker, "mediateur@aveyron.example")
        assert r.status_code == 429 and "depuis votre adresse réseau" in r.text


async def test_one_address_trying_many_accounts_is_slowed_then_capped(api_stack: Stack) -> None:
    settings = api_stack.settings
    async with client_from(api_stack, "127.0.0.1") as http:
        # The mediator signs in from here: this address is known for their account.
        assert (await login(http, "mediateur@aveyron.example")).status_code == 303
        http.cookies.clear()
        for i in range(settings.login_address_free_failures):
            r = await login(http, f"inconnu{i}@aveyron.example", "whatever-password")
            assert r.status_code == 401
        r = await login(http, SW, DEMO_PASSWORD)
        assert r.status_code == 429 and r.headers["retry-after"] in ("2", "1")
        assert "Trop de tentatives de connexion depuis votre adresse réseau" in r.text
        # The hard cap: past it, the address waits until its oldest failure is a window old.
        add_failures(
            api_stack,
            "robot@aveyron.example",
            ["127.0.0.1"] * settings.login_address_max_failures,
            seconds_ago=3 * 3600,
        )
        r = await login(http, SW, DEMO_PASSWORD)
        assert r.status_code == 429
        wait = int(r.headers["retry-after"])
        assert (
            settings.login_window_minutes * 60 - 4 * 3600
            < wait
            < settings.login_window_minutes * 60
        )
        # An account already known at this address still signs in.
        assert (await login(http, "mediateur@aveyron.example")).status_code == 303
    # From elsewhere, the social worker signs in.
    async with client_from(api_stack, "127.0.0.2") as elsewhere:
        assert (await login(elsewhere, SW)).status_code == 303


async def test_a_distributed_attack_on_an_account_slows_strangers_not_its_usual_address(
    api_stack: Stack,
) -> None:
    async with client_from(api_stack, "127.0.0.2") as usual:
        assert (await login(usual, SW)).status_code == 303
        usual.cookies.clear()
        # Failures from many addresses (a botnet), each below its own pair's threshold.
        strangers = [f"198.51.100.{i}" for i in range(1, 31)]
        add_failures(api_stack, SW, strangers, seconds_ago=5)
        async with client_from(api_stack, "127.0.0.3") as stranger:
            r = await login(stranger, SW, DEMO_PASSWORD)
            assert r.status_code == 429
            assert "à ce compte depuis des adresses inhabituelles" in r.text
            assert 0 < int(r.headers["retry-after"]) <= api_stack.settings.login_max_delay_seconds
        # The owner, from the address they usually sign in from, is not slowed.
        assert (await login(usual, SW)).status_code == 303
        # Nor is another account from a new address.
        async with client_from(api_stack, "127.0.0.4") as other:
            assert (await login(other, "mediateur@aveyron.example")).status_code == 303


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
        assert count(api_stack.sessions, models.WebSession) == 0

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
        assert count(api_stack.sessions, models.Beneficiary) == 0
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
    # The cheques' code key too: the dev placeholder or a short one never seals real codes.
    with pytest.raises(ValidationError, match="PASSNUM_CHEQUE_CODE_KEY"):
        Settings(environment="production", secret_key="k" * 40)
    with pytest.raises(ValidationError, match="PASSNUM_CHEQUE_CODE_KEY"):
        Settings(environment="production", secret_key="k" * 40, cheque_code_key="short")
    # And the Temporal payload key (temporal_client.EncryptionCodec).
    with pytest.raises(ValidationError, match="PASSNUM_PAYLOAD_KEY"):
        Settings(environment="production", secret_key="k" * 40, cheque_code_key="c" * 40)
    ok = Settings(
        environment="production",
        secret_key="k" * 40,
        cheque_code_key="c" * 40,
        payload_key="p" * 40,
        api_host="0.0.0.0",
    )
    assert ok.secret_key.get_secret_value() != DEV_SECRET_KEY
    assert "k" * 40 not in repr(ok) and "c" * 40 not in repr(ok)  # SecretStr: never printed
    assert "p" * 40 not in repr(ok)
