"""In headless Chromium on a 360 px screen: from the journey page, the demo social worker
prints the person's data, corrects their identity and contact, then erases them at their
request after the confirmation step; the records follow."""

from __future__ import annotations

import re

from playwright.async_api import Page, expect
from sqlmodel import select

from records import models
from records.seed import DEMO_PASSWORD
from tests.fixtures.api import DEMO_EMAILS, Stack
from tests.fixtures.browser import screenshot
from tests.test_api_person_rights import _journey_in_training
from tests.test_browser_social import fits


def _person(stack: Stack, jid: str) -> models.Beneficiary:
    with stack.sessions() as s:
        return s.exec(select(models.Beneficiary).where(models.Beneficiary.journey_id == jid)).one()


async def test_social_worker_serves_the_persons_rights(page: Page, api_stack: Stack) -> None:
    stack = api_stack
    jid, _ = await _journey_in_training(stack)

    await page.goto("/connexion")
    await page.get_by_label("Adresse e-mail").fill(DEMO_EMAILS["sw"])
    await page.get_by_label("Mot de passe").fill(DEMO_PASSWORD)
    await page.get_by_role("button", name="Se connecter").click()
    await page.goto(f"/accompagnement/parcours/{jid}")

    # Droit d'accès: the document to print.
    await page.get_by_role("link", name=re.compile("droit d'accès")).click()
    await expect(page.get_by_role("heading", level=1)).to_have_text(
        "Données détenues sur la personne"
    )
    await expect(page.locator("#person-name")).to_have_text("Honorine Cabantous")
    await expect(page.locator("#identity")).to_contain_text("honorine.cabantous@exemple.fr")
    await expect(page.locator("#consent")).to_contain_text("version 1")
    await expect(page.locator("#cheques tbody tr")).to_have_count(10)
    await fits(page)
    await screenshot(page, "rights-access")
    await page.get_by_role("link", name="← Retour au parcours").click()

    # Droit de rectification: a refusal first (no reason), then the correction.
    await page.get_by_role("link", name=re.compile("droit de rectification")).click()
    await expect(page.get_by_label("Nom (obligatoire)", exact=True)).to_have_value("Cabantous")
    await page.get_by_label("Nom (obligatoire)", exact=True).fill("Cabantous-Rey")
    await page.get_by_label("Adresse e-mail").fill("h.rey@exemple.fr")
    await page.get_by_role("button", name="Enregistrer les corrections").click()
    await expect(page.locator(".field-error")).to_contain_text("motif")
    assert _person(stack, jid).last_name == "Cabantous"  # nothing changed
    await expect(page.get_by_label("Nom (obligatoire)", exact=True)).to_have_value(
        "Cabantous-Rey"
    )  # kept
    await page.get_by_label("Motif de la correction (obligatoire)").select_option(
        "CIVIL_STATUS_CHANGED"
    )
    await fits(page)
    await page.get_by_role("button", name="Enregistrer les corrections").click()
    await expect(page.locator("#done")).to_contain_text("Les corrections sont enregistrées")
    person = _person(stack, jid)
    assert (person.last_name, person.email) == ("Cabantous-Rey", "h.rey@exemple.fr")
    with stack.sessions() as s:
        [logged] = s.exec(
            select(models.PersonRectification).where(models.PersonRectification.journey_id == jid)
        ).all()
    assert (logged.fields, logged.reason) == (["last_name", "email"], "CIVIL_STATUS_CHANGED")
    await screenshot(page, "rights-rectified")

    # Droit à l'effacement: the confirmation says what will happen; unchecked, refused.
    await page.goto(f"/accompagnement/parcours/{jid}")
    await page.get_by_role("link", name=re.compile("droit à l'effacement")).click()
    await expect(page.get_by_role("heading", name="Ce qui va se passer")).to_be_visible()
    await expect(page.locator("main")).to_contain_text("ne peut pas être annulée")
    await expect(page.locator("main")).to_contain_text("Les chèques non utilisés sont annulés")
    await fits(page)
    await screenshot(page, "rights-erase-confirm")
    erase = page.get_by_role("button", name="Effacer définitivement les données")
    await erase.click()
    await expect(page.locator(".field-error")).to_contain_text("Cochez la case")
    assert _person(stack, jid).last_name == "Cabantous-Rey"
    await page.get_by_label(re.compile("demande l'effacement de ses données")).check()
    await page.get_by_role("button", name="Effacer définitivement les données").click()
    await expect(page.locator("#erased")).to_contain_text("sont effacées")
    await screenshot(page, "rights-erased")

    person = _person(stack, jid)
    assert (person.first_name, person.last_name, person.email, person.phone) == (
        None,
        None,
        None,
        None,
    )
    with stack.sessions() as s:
        journey = s.get(models.Journey, jid)
        assert journey is not None and (journey.stage, journey.outcome) == (
            "ANONYMISED",
            "WITHDRAWN",
        )
        statuses = s.exec(select(models.Cheque.status).where(models.Cheque.journey_id == jid)).all()
    assert sorted(statuses) == ["CANCELLED"] * 8 + ["REDEEMED"] * 2
    await page.goto(f"/accompagnement/parcours/{jid}")
    await expect(page.get_by_role("link", name=re.compile("droit de rectification"))).to_have_count(
        0
    )
