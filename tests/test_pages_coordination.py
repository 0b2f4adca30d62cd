"""Coordinators' pages over HTTP with real accounts, a real worker and the dev server:
overview, stalled list and its filters, cheque lookup, journey page, and the three actions
(nudge, re-orient, withdraw) with their refusals in French next to the field."""

from __future__ import annotations

import html
import re
import uuid

import httpx
from sqlmodel import col, func, select
from temporalio.testing import WorkflowEnvironment

from domain.stages import Action, Stage
from records import models
from tests.fixtures.api import DEMO_EMAILS, Stack, csrf_from, signed_in_client
from tests.fixtures.stalled import stalled_journey, wait_recorded


async def client_for(stack: Stack, who: str) -> httpx.AsyncClient:
    return await signed_in_client(stack, DEMO_EMAILS.get(who) or stack.people[who].email)


def form_id(html: str) -> str:
    found = re.search(r'name="form_id" value="([0-9a-f-]{36})"', html)
    assert found, "no form_id in the page"
    return found[1]


def field_error(page: str, field: str) -> str:
    """The French message shown next to `field`."""
    found = re.search(
        rf'id="f-{field}-error"><span class="visually-hidden">Erreur : </span>([^<]+)<', page
    )
    assert found, f"no error next to {field}"
    return html.unescape(found[1])


def log_count(stack: Stack, journey_id: str, action: Action | None = None) -> int:
    with stack.sessions() as s:
        where = [models.TransitionLog.journey_id == journey_id]
        if action is not None:
            where.append(models.TransitionLog.action == action.value)
        return int(
            s.exec(select(func.count()).select_from(models.TransitionLog).where(*where)).one()
        )


async def test_overview_stalled_list_and_cheque_lookup(
    api_stack: Stack, dev_server: WorkflowEnvironment
) -> None:
    stack = api_stack
    own = await stalled_journey(stack, dev_server.client, last_name="Fabre")
    other = await stalled_journey(
        stack, dev_server.client, social_worker="sw_other", last_name="Vidal"
    )
    coord = await client_for(stack, "coord_epci")
    everyone = await client_for(stack, "coord_all")
    try:
        page = await coord.get("/coordination")
        assert page.status_code == 200, page.text
        assert "Rodez Agglomération" in page.text
        # Figures of their EPCI only: one journey, ten cheques of 10,00 €.
        assert re.search(r'stat-value">1</span> <span class="stat-label">parcours', page.text)
        assert "100,00\u00a0€" in page.text or "100,00 €" in page.text
        whole = await everyone.get("/coordination")
        assert "tout le programme" in whole.text
        assert re.search(r'stat-value">2</span> <span class="stat-label">bloqués', whole.text)
        assert "État (Agence nationale de la cohésion des territoires)" in whole.text

        listed = await coord.get("/coordination/bloques")
        assert listed.status_code == 200
        assert f"/coordination/parcours/{own}" in listed.text
        assert other not in listed.text  # another EPCI's journey stays out of scope
        assert "Aucune orientation ni séance" in listed.text  # the reason
        both = await everyone.get("/coordination/bloques")
        assert own in both.text and other in both.text
        with stack.sessions() as s:
            other_epci = s.get(models.Journey, other).epci_id  # type: ignore[union-attr]
        filtered = await everyone.get("/coordination/bloques", params={"epci": other_epci})
        assert other in filtered.text and own not in filtered.text
        by_stage = await everyone.get("/coordination/bloques", params={"etape": "IN_TRAINING"})
        assert (
            own not in by_stage.text and "Aucun parcours bloqué pour ces filtres" in by_stage.text
        )
        reception = stack.people["sw"].reception_structure_id
        by_structure = await everyone.get(
            "/coordination/bloques", params={"structure": f"accueil-{reception}"}
        )
        assert own in by_structure.text and other not in by_structure.text

        with stack.sessions() as s:
            serial = s.exec(
                select(models.Cheque.serial).where(models.Cheque.journey_id == own)
            ).first()
            foreign = s.exec(
                select(models.Cheque.serial).where(models.Cheque.journey_id == other)
            ).first()
        assert serial and foreign
        found = await coord.get("/coordination/cheques", params={"numero": serial})
        assert found.status_code == 200 and "Émis" in found.text
        assert f"/coordination/parcours/{own}" in found.text
        hidden = await coord.get("/coordination/cheques", params={"numero": foreign})
        assert hidden.status_code == 404
        assert "Aucun chèque de votre périmètre" in field_error(hidden.text, "numero")
        typo = serial[:-1] + str((int(serial[-1]) + 1) % 10)
        wrong = await coord.get("/coordination/cheques", params={"numero": typo})
        assert wrong.status_code == 422
        assert field_error(wrong.text, "numero")  # the check digit's French message
        assert f'value="{typo}"' in wrong.text  # what was typed is kept

        journey = await coord.get(f"/coordination/parcours/{own}")
        assert journey.status_code == 200
        assert "Lucienne Fabre" in journey.text and "Parcours signalé bloqué" in journey.text
        assert (await coord.get(f"/coordination/parcours/{other}")).status_code == 404
    finally:
        await coord.aclose()
        await everyone.aclose()


async def test_nudge_reorient_withdraw(api_stack: Stack, dev_server: WorkflowEnvironment) -> None:
    stack = api_stack
    jid = await stalled_journey(stack, dev_server.client)
    http = await client_for(stack, "coord_epci")
    base = f"/coordination/parcours/{jid}"
    try:
        # ---- nudge: once, whatever the double submit ----
        page = await http.get(base)
        fields = {"csrf_token": csrf_from(page.text), "form_id": form_id(page.text)}
        for _ in range(2):
            r = await http.post(f"{base}/relance", data={**fields, "message": "Merci de voir"})
            assert r.status_code == 303 and r.headers["location"] == f"{base}?fait=relance"
        await wait_recorded(stack, jid, lambda row: row.last_seq >= 1)
        assert log_count(stack, jid, Action.NUDGED) == 1

        # ---- re-orient: refusals next to the field, nothing changed ----
        page = await http.get(f"{base}/reorienter")
        assert page.status_code == 200
        fields = {"csrf_token": csrf_from(page.text), "form_id": form_id(page.text)}
        with stack.sessions() as s:
            unqualified = s.exec(
                select(models.MediationStructure.id).where(
                    col(models.MediationStructure.aptic_qualified_until).is_not(None)
                )
            ).first()
        target = stack.people["med_other"].mediation_structure_id
        assert f'value="{target}"' in page.text and f'value="{unqualified}"' not in page.text
        before = log_count(stack, jid)
        r = await http.post(f"{base}/reorienter", data={**fields, "mediation_structure_id": target})
        assert r.status_code == 422
        assert field_error(r.text, "reason") == "Ce champ est obligatoire."
        assert re.search(rf'value="{target}" checked', r.text)  # the choice is kept
        r = await http.post(f"{base}/reorienter", data={**fields, "reason": "Plus proche"})
        assert field_error(r.text, "mediation_structure_id") == "Ce champ est obligatoire."
        assert "Plus proche" in r.text
        r = await http.post(
            f"{base}/reorienter",
            data={**fields, "mediation_structure_id": unqualified, "reason": "Plus proche"},
        )
        assert r.status_code == 422
        assert "qualifiée" in field_error(r.text, "mediation_structure_id")
        r = await http.post(
            f"{base}/reorienter",
            data={**fields, "mediation_structure_id": "999999", "reason": "Plus proche"},
        )
        assert "n'existe pas" in field_error(r.text, "mediation_structure_id")
        r = await http.post(
            f"{base}/reorienter",
            data={**fields, "mediation_structure_id": target, "reason": "x" * 501},
        )
        assert field_error(r.text, "reason") == "Ce texte est trop long."
        assert log_count(stack, jid) == before
        # CSRF: a form posted without its token is refused.
        r = await http.post(
            f"{base}/reorienter",
            data={"form_id": fields["form_id"], "mediation_structure_id": target, "reason": "x"},
        )
        assert r.status_code == 403 and "expiré" in r.text
        # ... then the right form, submitted twice: one re-orientation.
        good = {**fields, "mediation_structure_id": target, "reason": "Plus proche du domicile"}
        for _ in range(2):
            r = await http.post(f"{base}/reorienter", data=good)
            assert r.status_code == 303, r.text
        row = await wait_recorded(stack, jid, lambda row: row.orientation_structure_id == target)
        assert row.stage == Stage.ORIENTED and not row.stalled
        assert log_count(stack, jid, Action.REORIENTED) == 1
        shown = await http.get(r.headers["location"])
        assert "Le parcours est réorienté" in shown.text
        assert "Orientation en attente" in shown.text and "Plus proche du domicile" in shown.text

        # ---- withdraw: a reason is required; then the journey closes ----
        page = await http.get(f"{base}/sortie")
        fields = {"csrf_token": csrf_from(page.text), "form_id": form_id(page.text)}
        r = await http.post(f"{base}/sortie", data={**fields, "reason": "   "})
        assert r.status_code == 422 and field_error(r.text, "reason")
        r = await http.post(f"{base}/sortie", data={**fields, "reason": "A déménagé"})
        assert r.status_code == 303
        row = await wait_recorded(stack, jid, lambda row: row.stage == Stage.CLOSED)
        assert row.outcome == "WITHDRAWN"
        closed = await http.get(r.headers["location"])
        assert "Sortie du dispositif" in closed.text and "Relancer" not in closed.text
        # A closed journey: the workflow refuses, the page says why.
        page = await http.get(base)
        r = await http.post(
            f"{base}/relance",
            data={"csrf_token": csrf_from(page.text), "form_id": str(uuid.uuid4())},
        )
        assert r.status_code == 409 and "clôturé" in r.text
    finally:
        await http.aclose()
