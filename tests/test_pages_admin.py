"""Administrators' pages over HTTP with real accounts: APTIC qualification dates, accounts
(create, deactivate), API tokens (issue once, revoke); refusals in French next to the field
with what was typed kept, and nothing changed."""

from __future__ import annotations

import re
from datetime import date

import httpx
from sqlmodel import col, select

from records import models
from tests.fixtures.api import DEMO_EMAILS, Stack, csrf_from, login
from tests.fixtures.database import count
from tests.test_pages_coordination import client_for, field_error


def structure(stack: Stack, structure_id: int) -> models.MediationStructure:
    with stack.sessions() as s:
        row = s.get(models.MediationStructure, structure_id)
        assert row is not None
        return row


# What the account form carries unless a test says otherwise.
AGNES = {
    "full_name": "Agnès Roques",
    "role": "SOCIAL_WORKER",
    "email": "agnes.roques@aveyron.example",
    "password": "un mot de passe long",
}


async def post_form(http: httpx.AsyncClient, url: str, token: str, **fields: str) -> httpx.Response:
    return await http.post(url, data={"csrf_token": token, **fields})


async def create_account(http: httpx.AsyncClient, token: str, **changes: str) -> httpx.Response:
    """Posts the account form: AGNES with `changes`."""
    return await post_form(http, "/administration/comptes/nouveau", token, **{**AGNES, **changes})


async def test_aptic_qualification_dates(api_stack: Stack) -> None:
    stack = api_stack
    sid = stack.people["med_other"].mediation_structure_id
    assert sid is not None
    before = structure(stack, sid)
    http = await client_for(stack, "admin")
    url = f"/administration/structures/mediation/{sid}"
    try:
        listing = await http.get("/administration/structures")
        assert listing.status_code == 200 and before.name in listing.text
        assert "Non qualifiée aujourd'hui" in listing.text  # the seed has an ended one
        page = await http.get(url)
        assert page.status_code == 200
        assert f'value="{before.aptic_qualified_from.isoformat()}"' in page.text
        token = csrf_from(page.text)

        r = await post_form(
            http, url, token, qualified_from="2024-06-01", qualified_until="2024-05-31"
        )
        assert r.status_code == 422
        assert field_error(r.text, "qualified_until") == (
            "La fin de la qualification ne peut pas précéder son début."
        )
        assert 'value="2024-05-31"' in r.text  # kept as typed
        r = await http.post(url, data={"csrf_token": token, "qualified_from": "31/02/2024"})
        assert (
            field_error(r.text, "qualified_from") == "Une date au format JJ/MM/AAAA est attendue."
        )
        r = await http.post(url, data={"csrf_token": token, "qualified_until": "2030-01-01"})
        assert field_error(r.text, "qualified_from") == "Ce champ est obligatoire."
        r = await http.post(url, data={"qualified_from": "2024-06-01"})  # no CSRF token
        assert r.status_code == 403
        assert structure(stack, sid) == before  # nothing changed

        # Typed by hand as JJ/MM/AAAA: accepted; an empty end means open-ended.
        r = await http.post(
            url, data={"csrf_token": token, "qualified_from": "01/06/2024", "qualified_until": ""}
        )
        assert r.status_code == 303 and r.headers["location"].startswith(
            "/administration/structures"
        )
        after = structure(stack, sid)
        assert (
            after.aptic_qualified_from == date(2024, 6, 1) and after.aptic_qualified_until is None
        )
        r = await post_form(
            http, url, token, qualified_from="2024-06-01", qualified_until="2025-12-31"
        )
        assert r.status_code == 303
        assert structure(stack, sid).aptic_qualified_until == date(2025, 12, 31)
        shown = await http.get(r.headers["location"])
        assert "La qualification APTIC est enregistrée." in shown.text
        assert "31/12/2025" in shown.text
        assert (await http.get("/administration/structures/mediation/999999")).status_code == 404
    finally:
        await http.aclose()


async def test_accounts_and_api_tokens(api_stack: Stack) -> None:
    stack = api_stack
    http = await client_for(stack, "admin")
    try:
        page = await http.get("/administration/comptes/nouveau")
        assert page.status_code == 200
        token = csrf_from(page.text)
        accounts_before = count(stack.sessions, models.Account)
        reception = stack.people["sw"].reception_structure_id

        # ---- refusals, next to their field ----
        r = await create_account(http, token, password="court")
        assert r.status_code == 422
        assert field_error(r.text, "reception_structure_id") == "Choisissez la structure d'accueil."
        assert "au moins 12 caractères" in field_error(r.text, "password")
        assert 'value="Agnès Roques"' in r.text and 'value="court"' not in r.text
        r = await create_account(
            http, token, reception_structure_id=str(reception), email=DEMO_EMAILS["sw"]
        )
        assert field_error(r.text, "email") == "Un compte existe déjà avec cette adresse e-mail."
        r = await create_account(http, token, full_name="", role="PILOTE", email="x@y.fr")
        assert field_error(r.text, "full_name") == "Ce champ est obligatoire."
        assert field_error(r.text, "role") == (
            "Cette valeur ne fait pas partie de la liste proposée."
        )
        r = await create_account(
            http,
            token,
            full_name="A",
            role="MEDIATOR",
            email="a@b.fr",
            mediation_structure_id="999999",
        )
        assert "n'existe pas" in field_error(r.text, "mediation_structure_id")
        assert count(stack.sessions, models.Account) == accounts_before

        # ---- created: the person logs in with the password given ----
        r = await create_account(
            http,
            token,
            reception_structure_id=str(reception),
            mediation_structure_id="1",  # ignored: not the role's scope
            email="Agnes.Roques@aveyron.example",
        )
        assert r.status_code == 303, r.text
        account_url = r.headers["location"].split("?")[0]
        with stack.sessions() as s:
            created = s.exec(
                select(models.Account).where(models.Account.email == "agnes.roques@aveyron.example")
            ).one()
        assert created.reception_structure_id == reception
        assert created.mediation_structure_id is None
        assert account_url == f"/administration/comptes/{created.id}"
        async with httpx.AsyncClient(base_url=stack.base_url) as agnes:
            assert (await login(agnes, created.email, "un mot de passe long")).status_code == 303

        # ---- a token: its secret shown once, on the page the POST leads to ----
        page = await http.get(account_url)
        assert "Agnès Roques" in page.text and "Aucun jeton." in page.text
        r = await http.post(
            f"{account_url}/jetons", data={"csrf_token": token, "label": "Export mensuel"}
        )
        assert r.status_code == 303
        shown = await http.get(r.headers["location"])
        secret = re.search(r'id="nouveau-jeton">(pn_[^<]+)<', shown.text)
        assert secret, shown.text
        again = await http.get(account_url)
        assert secret[1] not in again.text  # never shown twice
        bearer = {"Authorization": f"Bearer {secret[1]}"}
        async with httpx.AsyncClient(base_url=stack.base_url) as script:
            me = await script.get("/api/v1/me", headers=bearer)
        assert me.status_code == 200 and me.json()["email"] == created.email
        r = await http.post(
            f"{account_url}/jetons", data={"csrf_token": token, "label": "Export mensuel"}
        )
        assert r.status_code == 422 and "porte déjà ce nom" in field_error(r.text, "label")
        assert count(stack.sessions, models.ApiToken, models.ApiToken.account_id == created.id) == 1

        # ---- revoke, then deactivate ----
        with stack.sessions() as s:
            token_id = s.exec(
                select(models.ApiToken.id).where(models.ApiToken.account_id == created.id)
            ).one()
        r = await http.post(
            f"/administration/jetons/{token_id}/revoquer", data={"csrf_token": token}
        )
        assert r.status_code == 303 and r.headers["location"] == f"{account_url}?fait=revoque"
        async with httpx.AsyncClient(base_url=stack.base_url) as fresh:
            assert (await fresh.get("/api/v1/me", headers=bearer)).status_code == 401
        r = await http.post(f"{account_url}/desactiver", data={"csrf_token": token})
        assert r.status_code == 303
        async with httpx.AsyncClient(base_url=stack.base_url) as agnes:
            r = await login(agnes, created.email, "un mot de passe long")
            assert r.status_code == 401
        listing = await http.get("/administration/comptes")
        assert "Désactivé" in listing.text

        # ---- an administrator cannot lock themselves out ----
        own = f"/administration/comptes/{stack.people['admin'].id}"
        assert "Vous ne pouvez pas désactiver votre propre compte" in (await http.get(own)).text
        r = await http.post(f"{own}/desactiver", data={"csrf_token": token})
        assert r.status_code == 409
        assert count(stack.sessions, models.Account, col(models.Account.is_active).is_(False)) == 1
    finally:
        await http.aclose()
