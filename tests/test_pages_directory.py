"""The administrators' directory pages over HTTP: add a mediation structure (a double submit
adds it once), edit and deactivate it (qualification history shown, audit-logged), refusals
in French next to the field with nothing changed, the import (dry run listing what would
change, confirm, re-import changes nothing, bad rows listed by line and nothing written),
and other roles refused."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
from sqlmodel import col, select

from records import models
from tests.fixtures.api import Stack, csrf_from
from tests.fixtures.database import count
from tests.test_pages_coordination import client_for, field_error, form_id

DATA = Path(__file__).parent / "data"


def epci_id(stack: Stack) -> str:
    with stack.sessions() as s:
        found = s.exec(select(models.Epci.id).order_by(col(models.Epci.id))).first()
        return str(found)


def by_name(stack: Stack, name: str) -> list[models.MediationStructure]:
    with stack.sessions() as s:
        return list(
            s.exec(select(models.MediationStructure).where(models.MediationStructure.name == name))
        )


async def test_add_edit_deactivate_structure(api_stack: Stack) -> None:
    stack = api_stack
    http = await client_for(stack, "admin")
    try:
        page = await http.get("/administration/structures/nouvelle/mediation")
        assert page.status_code == 200 and "Nouvelle structure de médiation" in page.text
        token, key = csrf_from(page.text), form_id(page.text)
        fields = {
            "csrf_token": token,
            "form_id": key,
            "name": "Fab lab de Decazeville",
            "epci_id": epci_id(stack),
            "commune": "Decazeville",
            "postal_code": "123",
            "themes": ["SMARTPHONE", "HEALTH"],
            "capacity": "12",
            "aptic_qualified_from": "01/01/2026",
            "active": "on",
        }
        r = await http.post("/administration/structures/nouvelle/mediation", data=fields)
        assert r.status_code == 422
        assert field_error(r.text, "postal_code")  # French message next to the field
        assert by_name(stack, "Fab lab de Decazeville") == []
        fields["postal_code"] = "12300"
        for _ in range(2):  # a double submit adds it once
            r = await http.post("/administration/structures/nouvelle/mediation", data=fields)
            assert r.status_code == 303
        [row] = by_name(stack, "Fab lab de Decazeville")
        assert row.themes == ["SMARTPHONE", "HEALTH"] and row.active
        shown = await http.get(r.headers["location"])
        assert "La structure est ajoutée à l&#39;annuaire." in shown.text

        url = f"/administration/structures/mediation/{row.id}/fiche"
        page = await http.get(url)
        assert 'value="12300"' in page.text and "Historique de la qualification" in page.text
        edit = {
            **fields,
            "form_id": form_id(page.text),
            "aptic_qualified_until": "2025-12-31",
        }
        r = await http.post(url, data=edit)
        assert r.status_code == 422
        assert field_error(r.text, "aptic_qualified_until") == (
            "La fin de la qualification ne peut pas précéder son début."
        )
        edit["aptic_qualified_until"] = "30/06/2026"
        del edit["active"]  # unticked: deactivated
        r = await http.post(url, data=edit)
        assert r.status_code == 303
        [row] = by_name(stack, "Fab lab de Decazeville")
        assert not row.active and str(row.aptic_qualified_until) == "2026-06-30"
        page = await http.get(url)
        assert "30/06/2026" in page.text  # the history's second period
        listing = await http.get("/administration/structures")
        assert "Désactivée" in listing.text
        with stack.sessions() as s:
            actions = s.exec(
                select(models.AdminAudit.action).where(
                    models.AdminAudit.target == f"mediation_structure:{row.id}"
                )
            ).all()
        assert actions == ["STRUCTURE_CREATED", "STRUCTURE_DEACTIVATED"]
    finally:
        await http.aclose()


async def test_import_dry_run_confirm_and_bad_rows(api_stack: Stack) -> None:
    stack = api_stack
    http = await client_for(stack, "admin")
    content = (DATA / "lieux_mediation_numerique.json").read_bytes()
    try:
        page = await http.get("/administration/structures/import")
        token = csrf_from(page.text)
        before = count(stack.sessions, models.MediationStructure)

        async def upload(data: bytes, name: str) -> httpx.Response:
            return await http.post(
                "/administration/structures/import",
                data={"csrf_token": token},
                files={"fichier": (name, data, "application/json")},
            )

        broken = content.replace(b'"12100"', b'"121"')
        r = await upload(broken, "lieux.json")
        assert r.status_code == 422
        assert "Élément 2, champ « code_postal » : « 121 » n&#39;est pas un code postal" in r.text
        assert "Confirmer l&#39;import" not in r.text

        r = await upload(content, "lieux.json")
        assert r.status_code == 200
        assert "Essai à blanc" in r.text and "Création : lmn-12-0002" in r.text
        assert count(stack.sessions, models.MediationStructure) == before
        encoded = re.search(r'name="contenu" value="([^"]+)"', r.text)
        assert encoded
        confirm = {"csrf_token": token, "format": "json", "contenu": encoded[1]}
        r = await http.post("/administration/structures/import/confirmer", data=confirm)
        assert r.status_code == 200 and "Import terminé" in r.text
        assert count(stack.sessions, models.MediationStructure) == before + 3
        r = await http.post("/administration/structures/import/confirmer", data=confirm)
        assert "0 lieu(x) créé(s), 0 modifié(s), 3 inchangé(s)." in r.text
        assert count(stack.sessions, models.MediationStructure) == before + 3
    finally:
        await http.aclose()


async def test_other_roles_refused(api_stack: Stack) -> None:
    stack = api_stack
    for who in ("sw", "coord_all"):
        http = await client_for(stack, who)
        try:
            for path in (
                "/administration/structures/nouvelle/mediation",
                "/administration/structures/import",
            ):
                assert (await http.get(path)).status_code == 403, (who, path)
        finally:
            await http.aclose()
