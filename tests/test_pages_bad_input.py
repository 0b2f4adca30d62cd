"""Out-of-range ids and control characters in the pages' addresses and forms, over HTTP:
the French error page (bad address) or the form with its French field error, never a 5xx,
and nothing changed."""

from __future__ import annotations

import html
import re
import uuid

import httpx

from api.body_limit import MAX_BODY_BYTES
from records import models
from tests.fixtures.api import Stack, csrf_from, refer_over_api
from tests.fixtures.database import count
from tests.test_api_fuzz import in_training
from tests.test_api_journey_http import CONSENT
from tests.test_pages_coordination import client_for, field_error, form_id

HUGE = "99999999999999999999"
BAD_ADDRESS = (
    "L'adresse de cette page contient une valeur non valide : vérifiez le lien suivi, ou "
    "revenez à votre espace."
)
CONTROL = "Ce texte contient des caractères de contrôle, non acceptés."


def error_page(r: httpx.Response, status: int) -> str:
    assert r.status_code == status, (r.status_code, r.text[:500])
    assert r.headers["content-type"].startswith("text/html")
    found = re.search(r'<p class="notice notice-error" role="alert">([^<]+)</p>', r.text)
    assert found, r.text[:500]
    return html.unescape(found[1])


async def referred(stack: Stack) -> str:
    person = {"first_name": "Aimée", "last_name": f"Page-{uuid.uuid4().hex[:10]}"}
    return await refer_over_api(stack, person, CONSENT)


async def post_on_page(http: httpx.AsyncClient, url: str, **fields: str) -> httpx.Response:
    """Posts the form of the page at `url` (its CSRF token and form id) with `fields`."""
    page = await http.get(url)
    assert page.status_code == 200, page.text[:300]
    data = {"csrf_token": csrf_from(page.text), "form_id": form_id(page.text), **fields}
    return await http.post(url, data=data)


async def test_bad_addresses_get_the_french_error_page(api_stack: Stack) -> None:
    stack = api_stack
    clients = {who: await client_for(stack, who) for who in ("admin", "med", "coord_all", "sw")}
    try:
        admin, med, coord, sw = (clients[w] for w in ("admin", "med", "coord_all", "sw"))
        for http, url in (
            (admin, f"/administration/comptes/{HUGE}"),
            (admin, f"/administration/structures/mediation/{HUGE}"),
            (admin, f"/administration/courriels/{HUGE}"),
            (admin, f"/administration/courriels?page={HUGE}"),
            (med, f"/mediation/beneficiaires?page={HUGE}"),
            (med, f"/mediation/parcours/{'a' * 37}/refuser"),
            (coord, "/coordination/parcours/pas%20un%20parcours"),
            (sw, "/accompagnement?nom=Bru%00"),
            (sw, f"/parcours/{uuid.uuid4()}/lettres/{HUGE}"),
        ):
            assert error_page(await http.get(url), 422) == BAD_ADDRESS, url
        page = await admin.get("/administration/comptes")
        r = await admin.post(
            f"/administration/jetons/{HUGE}/revoquer", data={"csrf_token": csrf_from(page.text)}
        )
        assert error_page(r, 422) == BAD_ADDRESS

        # Filters typed in the address are ignored when they cannot be ids ("²" is a digit
        # to str.isdigit).
        for epci in ("²²²", HUGE[:12], "-1"):
            r = await coord.get("/coordination/bloques", params={"epci": epci})
            assert r.status_code == 200, (epci, r.text[:300])

        # Unknown routes and methods: the French page.
        assert error_page(await sw.get("/accompagnement/nulle-part"), 404) == (
            "Cette page n'existe pas, ou vous n'y avez pas accès."
        )
        assert error_page(await sw.put("/accompagnement"), 405) == (
            "Cette action n'est pas possible à cette adresse."
        )
        r = await sw.post(
            "/accompagnement/orienter",
            content=b"csrf_token=x&person.first_name=" + b"x" * MAX_BODY_BYTES,
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
        assert error_page(r, 413) == "Le formulaire envoyé est trop volumineux."
    finally:
        for http in clients.values():
            await http.aclose()


async def test_bad_form_fields_are_refused_on_the_form(api_stack: Stack) -> None:
    stack = api_stack
    journey = await referred(stack)
    accounts_before = count(stack.sessions, models.Account)
    tokens_before = count(stack.sessions, models.ApiToken)
    admin = await client_for(stack, "admin")
    sw = await client_for(stack, "sw")
    coord = await client_for(stack, "coord_all")
    try:
        page = await admin.get("/administration/comptes/nouveau")
        token = csrf_from(page.text)
        fields = {
            "csrf_token": token,
            "full_name": "Nouvelle Coordinatrice",
            "email": "nouvelle@test.example",
            "role": "COORDINATOR",
            "epci_id": HUGE,
            "password": "un mot de passe assez long",
        }
        r = await admin.post("/administration/comptes/nouveau", data=fields)
        assert r.status_code == 422
        assert field_error(r.text, "epci_id") == "La valeur est trop grande."
        r = await admin.post(
            "/administration/comptes/nouveau",
            data={**fields, "epci_id": "", "full_name": "Nouvelle\x00Coordinatrice"},
        )
        assert r.status_code == 422
        assert field_error(r.text, "full_name") == CONTROL

        own = stack.people["admin"].id
        r = await admin.post(
            f"/administration/comptes/{own}/jetons", data={"csrf_token": token, "label": "a\x00b"}
        )
        assert r.status_code == 422
        assert field_error(r.text, "label") == CONTROL
        assert count(stack.sessions, models.Account) == accounts_before
        assert count(stack.sessions, models.ApiToken) == tokens_before

        url = f"/accompagnement/parcours/{journey}/mediation"
        r = await post_on_page(sw, url, mediation_structure_id=HUGE)
        assert r.status_code == 422
        assert field_error(r.text, "mediation_structure_id") == (
            "Choisissez une structure de médiation."
        )

        training = await in_training(stack, stack.people["med"].mediation_structure_id or 0)
        url = f"/coordination/parcours/{training}/reorienter"
        r = await post_on_page(coord, url, mediation_structure_id=HUGE, reason="Plus\x00proche")
        assert r.status_code == 422
        assert field_error(r.text, "mediation_structure_id") == "La valeur est trop grande."
        assert field_error(r.text, "reason") == CONTROL
        for jid, stage in ((journey, "REFERRED"), (training, "IN_TRAINING")):
            live = await stack.http.get(f"/api/v1/journeys/{jid}", headers=stack.auth("sw"))
            assert live.json()["stage"] == stage
    finally:
        for http in (admin, sw, coord):
            await http.aclose()
