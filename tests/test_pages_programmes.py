"""The administrators' programmes page over HTTP: the list (period, serial prefix, target,
budget), a programme file's dry run listing what would be created, its confirmation (a
double submit creates once), French errors listed by line with nothing written, a prefix
already used refused, and other roles refused."""

from __future__ import annotations

import html
import re
import uuid

import httpx

from records import models
from tests.fixtures.api import Stack, csrf_from
from tests.fixtures.database import count
from tests.test_pages_coordination import client_for, form_id
from tests.test_programme_file import LOT, large_lot, lot


async def test_list_dry_run_confirm_and_errors(api_stack: Stack) -> None:
    stack = api_stack
    http = await client_for(stack, "admin")
    try:
        page = await http.get("/administration/programmes")
        assert page.status_code == 200
        text = html.unescape(page.text)
        assert '<a href="/administration/programmes" aria-current="page">Programmes</a>' in text
        assert "Pass numérique Aveyron" in text and "du 01/01/2020, fin non fixée" in text
        assert "1\u202f064\u202f920,00\u00a0€" in text and "9\u202f000 carnets" in text
        assert '<label for="f-fichier">' in text
        token = csrf_from(page.text)

        async def upload(content: str | bytes) -> httpx.Response:
            return await http.post(
                "/administration/programmes",
                data={"csrf_token": token},
                files={"fichier": ("programme.json", content, "application/json")},
            )

        r = await upload(lot(('"ends_on": "2028-12-31"', '"ends_on": "2026-12-31"')))
        assert r.status_code == 422
        shown = html.unescape(r.text)
        assert "Fichier refusé : 1 erreur(s), rien n'a été créé" in shown
        assert (
            "<li>ligne 10, programme.ends_on : la fin du programme (31/12/2026) précède son "
            "début (01/01/2027)</li>"
        ) in shown
        assert "Créer le programme" not in shown

        r = await upload(lot(('"code": 46', '"code": 12')))
        assert r.status_code == 409
        assert (
            "<li>ligne 5, programme.code : le préfixe de numéro de chèque 012 est déjà celui du "
            "programme « Pass numérique Aveyron » : choisissez-en un autre</li>"
        ) in html.unescape(r.text)

        r = await upload(large_lot(47, 1000))  # past the 64 KiB of other forms
        assert r.status_code == 200 and "1002 structure(s) d&#39;accueil" in r.text

        r = await upload(LOT.read_bytes())
        assert r.status_code == 200
        shown = html.unescape(r.text)
        assert "Essai à blanc : voici ce qui serait créé" in shown
        assert "préfixe de numéro de chèque 046, période 01/01/2027 – 31/12/2028" in shown
        assert count(stack.sessions, models.Programme) == 1
        encoded = re.search(r'name="contenu" value="([^"]+)"', r.text)
        assert encoded
        confirm = {"csrf_token": token, "form_id": form_id(r.text), "contenu": encoded[1]}
        for _ in range(2):  # a double submit creates it once
            r = await http.post("/administration/programmes/confirmer", data=confirm)
            assert r.status_code == 303
        assert count(stack.sessions, models.Programme) == 2
        listed = html.unescape((await http.get(r.headers["location"])).text)
        assert "Le programme est créé." in listed
        assert "Pass numérique Lot" in listed and "du 01/01/2027 au 31/12/2028" in listed
        assert "200\u202f000,00\u00a0€" in listed and "1\u202f500 carnets" in listed

        again = {**confirm, "form_id": str(uuid.uuid4())}  # a fresh form: the prefix is taken
        r = await http.post("/administration/programmes/confirmer", data=again)
        assert r.status_code == 409 and "046 est déjà celui" in html.unescape(r.text)
        assert count(stack.sessions, models.Programme) == 2
    finally:
        await http.aclose()


async def test_other_roles_refused(api_stack: Stack) -> None:
    stack = api_stack
    for who in ("sw", "coord_all"):
        http = await client_for(stack, who)
        try:
            assert (await http.get("/administration/programmes")).status_code == 403, who
        finally:
            await http.aclose()
