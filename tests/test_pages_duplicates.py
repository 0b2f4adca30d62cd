"""The pages over real HTTP: the social worker's referral of a person who may already have
a journey (warning, link when the journey is theirs, nothing of it otherwise, confirmation
box), and a second booklet of a millésime, refused until a coordinator allows it on the
journey page (who and when shown)."""

from __future__ import annotations

import re

import httpx
from sqlmodel import func, select

from records import models
from tests.fixtures.api import Stack, csrf_from
from tests.test_pages_social import fill, hidden, journey_id_of, person, signed_in

WARNING = 'id="duplicate-warning"'


def beneficiaries(stack: Stack) -> int:
    with stack.sessions() as s:
        return int(s.exec(select(func.count()).select_from(models.Beneficiary)).one())


async def test_referral_of_a_possible_duplicate(api_stack: Stack) -> None:
    stack = api_stack
    sw = await signed_in(stack, "sw")
    other_sw = await signed_in(stack, "sw_other")
    try:
        r = await fill(sw, "/accompagnement/orienter", person())
        assert r.status_code == 303, r.text
        first = journey_id_of(r)
        blank = await sw.get("/accompagnement/orienter")
        assert WARNING not in blank.text and "confirm_possible_duplicate" not in blank.text

        # Typed otherwise by the same structure: the warning links the existing journey.
        retyped = person(**{"person.first_name": "JOSETTE", "person.last_name": "vidal"})
        page = await sw.get("/accompagnement/orienter")
        fields = hidden(page.text)
        r = await sw.post("/accompagnement/orienter", data={**fields, **retyped})
        assert r.status_code == 409, r.text
        assert WARNING in r.text
        assert f'href="/accompagnement/parcours/{first}">Josette Vidal</a>' in r.text
        assert "mêmes nom, prénom et année de naissance" in r.text
        assert "même numéro de téléphone" in r.text
        assert 'name="confirm_possible_duplicate"' in r.text
        assert 'value="JOSETTE"' in r.text  # what was typed is kept
        assert beneficiaries(stack) == 1

        # Confirmed: a new journey.
        r = await sw.post(
            "/accompagnement/orienter",
            data={**fields, **retyped, "confirm_possible_duplicate": "on"},
        )
        assert r.status_code == 303, r.text
        assert journey_id_of(r) != first
        assert beneficiaries(stack) == 2

        # Another structure: told there is one elsewhere, shown nothing of it.
        phone = person(**{"person.phone": "+33 5 65 00 00 00", "person.first_name": "Josette"})
        r = await fill(other_sw, "/accompagnement/orienter", phone)
        assert r.status_code == 409 and WARNING in r.text, r.text
        assert "suivi par une autre structure du programme" in r.text
        assert first not in r.text and "/accompagnement/parcours/" not in r.text
        assert "CCAS de Rodez" not in r.text  # the other structure is not named
        assert beneficiaries(stack) == 2
    finally:
        await sw.aclose()
        await other_sw.aclose()


async def assess(client: httpx.AsyncClient, base: str) -> None:
    r = await fill(
        client, f"{base}/diagnostic", {"tool": "ABC_DIAG", "autonomy": "BEGINNER", "needs": "EMAIL"}
    )
    assert r.status_code == 303, r.text


async def test_second_booklet_needs_a_coordinator(api_stack: Stack) -> None:
    stack = api_stack
    sw = await signed_in(stack, "sw")
    other_sw = await signed_in(stack, "sw_other")
    coord = await signed_in(stack, "coord_other")
    everyone = await signed_in(stack, "coord_all")
    try:
        r = await fill(sw, "/accompagnement/orienter", person())
        first = journey_id_of(r)
        await assess(sw, f"/accompagnement/parcours/{first}")
        r = await fill(sw, f"/accompagnement/parcours/{first}/carnet", {})
        assert r.status_code == 303, r.text

        r = await fill(
            other_sw, "/accompagnement/orienter", {**person(), "confirm_possible_duplicate": "on"}
        )
        assert r.status_code == 303, r.text
        second = journey_id_of(r)
        base = f"/accompagnement/parcours/{second}"
        await assess(other_sw, base)
        r = await fill(other_sw, f"{base}/carnet", {})
        assert r.status_code == 409, r.text
        assert "a déjà reçu un carnet du millésime" in r.text
        assert "accord de la" in r.text and first not in r.text

        # The coordinator of the second journey's EPCI: the first journey is out of scope.
        page = await coord.get(f"/coordination/parcours/{second}")
        assert page.status_code == 200, page.text
        assert 'id="second-booklet"' in page.text
        assert "Hors de votre périmètre : 1 parcours." in page.text and first not in page.text
        # The programme's coordinator sees which journey holds it.
        whole = await everyone.get(f"/coordination/parcours/{second}")
        assert f'href="/coordination/parcours/{first}"' in whole.text
        # Nothing to say on the first journey.
        assert (
            'id="second-booklet"'
            not in (await everyone.get(f"/coordination/parcours/{first}")).text
        )

        r = await coord.post(
            f"/coordination/parcours/{second}/second-carnet",
            data={"csrf_token": csrf_from(page.text)},
        )
        assert r.status_code == 303, r.text
        page = await coord.get(r.headers["location"])
        assert "Un second carnet est autorisé" in page.text
        assert re.search(
            r"Second carnet autorisé le \d{2}/\d{2}/\d{4} à \d{2}:\d{2} par coord_other", page.text
        ), page.text
        assert "Autoriser un second carnet</button>" not in page.text

        r = await fill(other_sw, f"{base}/carnet", {})
        assert r.status_code == 303 and r.headers["location"] == f"{base}/bordereau", r.text
    finally:
        for client in (sw, other_sw, coord, everyone):
            await client.aclose()
