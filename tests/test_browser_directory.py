"""In headless Chromium on a 360 px screen: the demo administrator opens the structures
directory from the admin navigation, adds a mediation structure (a bad SIRET and INSEE code
and a missing capacity are refused in French next to their fields, what was typed is kept),
edits its capacity and themes, deactivates it; then imports the sample file of *lieux de
médiation numérique* (dry run, then confirm), re-imports it (nothing would change), is
refused a file with a bad row (its error by line, nothing imported) and exports the places,
checking the records in the database along the way."""

from __future__ import annotations

import asyncio
import csv
import io
import re
from pathlib import Path

from playwright.async_api import Locator, Page, expect
from sqlmodel import col, select

from records import models
from records.seed import DEMO_PASSWORD
from tests.fixtures.api import DEMO_EMAILS, Stack
from tests.fixtures.browser import screenshot
from tests.test_browser_social import fits

SAMPLE = Path(__file__).parent / "data" / "lieux_mediation_numerique.csv"
IMPORTED = {
    "lmn-12-0001": "Espace public numérique de Rodez",
    "lmn-12-0002": "Atelier numérique de Millau",
    "lmn-12-0003": "Médiathèque de Villefranche-de-Rouergue",
}
NEW = "Fab lab de Decazeville"


def mediation_rows(stack: Stack) -> dict[str, models.MediationStructure]:
    """The programme's mediation structures by name, as the database holds them."""
    with stack.sessions() as s:
        return {
            m.name: m
            for m in s.exec(
                select(models.MediationStructure).order_by(col(models.MediationStructure.id))
            )
        }


def row_of(page: Page, name: str) -> Locator:
    """The line of the mediation structures' table that names `name`."""
    table = page.locator("table").first
    return table.locator("tbody tr").filter(has=page.get_by_role("rowheader", name=name))


async def heading(page: Page, text: str) -> None:
    """The page's main heading is `text`, and the page fits the 360 px screen."""
    await expect(page.get_by_role("heading", level=1)).to_have_text(text)
    await fits(page)


async def test_administrator_manages_imports_and_exports_the_directory(
    page: Page, api_stack: Stack
) -> None:
    stack = api_stack
    await page.goto("/connexion")
    await page.get_by_label("Adresse e-mail").fill(DEMO_EMAILS["admin"])
    await page.get_by_label("Mot de passe").fill(DEMO_PASSWORD)
    await page.get_by_role("button", name="Se connecter").click()
    await heading(page, "Administration")

    admin_nav = page.get_by_role("navigation", name="Espace administration")
    await admin_nav.get_by_role("link", name="Structures").click()
    await expect(page).to_have_url(re.compile(r"/administration/structures$"))
    await heading(page, "Structures")
    await expect(admin_nav.get_by_role("link", name="Structures")).to_have_attribute(
        "aria-current", "page"
    )
    before = mediation_rows(stack)
    assert NEW not in before and not set(IMPORTED.values()) & set(before)

    # Add a mediation structure: a bad SIRET and INSEE code are refused next to their fields.
    await page.get_by_role("link", name="Ajouter une structure de médiation").click()
    await heading(page, "Nouvelle structure de médiation")
    await page.get_by_label("Nom").fill(NEW)
    await page.get_by_label("Intercommunalité (EPCI)").select_option(label="Decazeville Communauté")
    await page.get_by_label("Adresse", exact=True).fill("1 rue Cayrade")
    await page.get_by_label("Code postal").fill("12300")
    await page.get_by_label(re.compile(r"^Commune ")).fill("Decazeville")
    await page.get_by_label("Code INSEE de la commune").fill("1208")
    await page.get_by_label("SIRET").fill("1234")
    await page.get_by_role("checkbox", name="Prise en main du smartphone").check()
    await page.get_by_role("checkbox", name="Santé en ligne (Ameli, Doctolib…)").check()
    await page.get_by_label("Qualifiée APTIC à partir du").fill("2026-01-01")
    await expect(page.get_by_role("checkbox", name="Structure active")).to_be_checked()
    await fits(page)
    await page.get_by_role("button", name="Enregistrer").click()

    await heading(page, "Nouvelle structure de médiation")
    summary = page.locator(".error-summary")
    await expect(summary.get_by_role("heading")).to_have_text("Le formulaire contient des erreurs")
    # The summary says which field each message is about, and leads to it.
    await expect(summary.get_by_role("link")).to_have_text(
        [
            "Code INSEE de la commune : Ce format n'est pas accepté.",
            "SIRET : Ce format n'est pas accepté.",
            "Places : Ce champ est obligatoire.",
        ]
    )
    await expect(summary.get_by_role("link", name=re.compile("^SIRET"))).to_have_attribute(
        "href", "#f-siret"
    )
    errors = page.locator(".field-error")
    await expect(errors).to_have_count(3)
    await expect(page.locator("#f-siret-error")).to_contain_text("Ce format n'est pas accepté.")
    await expect(page.locator("#f-insee_code-error")).to_contain_text(
        "Ce format n'est pas accepté."
    )
    await expect(page.locator("#f-capacity-error")).to_contain_text("Ce champ est obligatoire.")
    # Each message is tied to its field, beside the hint saying what is expected.
    siret = page.get_by_label("SIRET")
    await expect(siret).to_have_attribute("aria-invalid", "true")
    await expect(siret).to_have_attribute("aria-describedby", "f-siret-hint f-siret-error")
    await expect(page.locator("#f-siret-hint")).to_have_text("14 chiffres.")
    await expect(page.get_by_label("Code postal")).not_to_have_attribute("aria-invalid", "true")
    # What was typed is kept, the bad values included (to be corrected, not retyped).
    await expect(page.get_by_label("Nom")).to_have_value(NEW)
    await expect(page.get_by_label("SIRET")).to_have_value("1234")
    await expect(page.get_by_label("Code INSEE de la commune")).to_have_value("1208")
    await expect(page.get_by_label("Code postal")).to_have_value("12300")
    await expect(page.get_by_label("Intercommunalité (EPCI)")).to_have_value(re.compile(r"^\d+$"))
    await expect(page.get_by_role("checkbox", name="Prise en main du smartphone")).to_be_checked()
    await expect(page.get_by_role("checkbox", name="Banque et budget en ligne")).not_to_be_checked()
    await screenshot(page, "directory-add-refused")
    assert NEW not in mediation_rows(stack)

    await page.get_by_label("SIRET").fill("44306184100047")
    await page.get_by_label("Code INSEE de la commune").fill("12089")
    await page.get_by_label("Places (personnes suivies en même temps)").fill("12")
    await page.get_by_role("button", name="Enregistrer").click()
    await expect(page).to_have_url(re.compile(r"/administration/structures\?fait=ajoutee$"))
    await heading(page, "Structures")
    await expect(page.get_by_role("status")).to_have_text("La structure est ajoutée à l'annuaire.")
    line = row_of(page, NEW)
    await expect(line).to_have_count(1)
    await expect(line).to_contain_text("Decazeville Communauté")
    await expect(line.locator('[data-label="Places"]')).to_have_text("12")
    await expect(line).not_to_contain_text("Désactivée")
    added = mediation_rows(stack)[NEW]
    assert (added.siret, added.insee_code, added.capacity, added.active) == (
        "44306184100047",
        "12089",
        12,
        True,
    )
    assert added.themes == ["SMARTPHONE", "HEALTH"]

    # Edit: fewer places, one more theme.
    await page.get_by_role("link", name=f"Modifier {NEW}").click()
    await heading(page, "Modifier une structure de médiation")
    await expect(page.get_by_label("SIRET")).to_have_value("44306184100047")
    places = page.get_by_label("Places (personnes suivies en même temps)")
    await expect(places).to_have_value("12")
    await places.fill("8")
    await page.get_by_role("checkbox", name="Messagerie électronique").check()
    await page.get_by_role("button", name="Enregistrer").click()
    await expect(page.get_by_role("status")).to_have_text(
        "La fiche de la structure est enregistrée."
    )
    await heading(page, "Structures")
    await expect(line.locator('[data-label="Places"]')).to_have_text("8")
    edited = mediation_rows(stack)[NEW]
    assert edited.capacity == 8 and edited.active
    assert sorted(edited.themes) == ["EMAIL", "HEALTH", "SMARTPHONE"]

    # Deactivate: untick « Structure active »; the list shows it inactive, nothing lost.
    await page.get_by_role("link", name=f"Modifier {NEW}").click()
    await heading(page, "Modifier une structure de médiation")
    await expect(page.get_by_role("checkbox", name="Messagerie électronique")).to_be_checked()
    await page.get_by_role("checkbox", name="Structure active").uncheck()
    await page.get_by_role("button", name="Enregistrer").click()
    await expect(page.get_by_role("status")).to_have_text(
        "La fiche de la structure est enregistrée."
    )
    await expect(line).to_contain_text("Désactivée")
    await expect(line.locator('[data-label="Places"]')).to_have_text("8")
    await screenshot(page, "directory-deactivated")
    deactivated = mediation_rows(stack)[NEW]
    assert not deactivated.active and deactivated.capacity == 8
    await page.get_by_role("link", name=f"Modifier {NEW}").click()
    await expect(page.get_by_role("checkbox", name="Structure active")).not_to_be_checked()
    await page.get_by_role("link", name="← Structures").click()
    await heading(page, "Structures")

    # Import: upload, the dry run lists what would change, nothing is written before confirm.
    count = len(mediation_rows(stack))
    await page.get_by_role("link", name="Importer un fichier de lieux").click()
    await heading(page, "Importer des lieux de médiation")
    await page.get_by_label("Fichier CSV ou JSON").set_input_files(SAMPLE)
    await page.get_by_role("button", name="Vérifier le fichier (essai à blanc)").click()
    result = page.get_by_role("region", name=re.compile("Essai à blanc"))
    await expect(result).to_contain_text("3 lieu(x) à créer, 0 à modifier, 0 inchangé(s).")
    for ident, name in IMPORTED.items():
        await expect(result).to_contain_text(f"Création : {ident} ({name})")
    await expect(result).to_contain_text("Essai à blanc : rien n'a été écrit.")
    await fits(page)
    await screenshot(page, "directory-import-dry-run")
    assert len(mediation_rows(stack)) == count

    await page.get_by_role("button", name="Confirmer l'import").click()
    await heading(page, "Importer des lieux de médiation")
    done = page.get_by_role("region", name="Import terminé")
    await expect(done).to_contain_text("3 lieu(x) créé(s), 0 modifié(s), 0 inchangé(s).")
    await expect(page.get_by_role("button", name="Confirmer l'import")).to_have_count(0)
    rows = mediation_rows(stack)
    assert len(rows) == count + 3
    assert {rows[name].external_id for name in IMPORTED.values()} == set(IMPORTED)
    assert rows["Atelier numérique de Millau"].capacity == 25
    await page.get_by_role("link", name="← Structures").click()
    await heading(page, "Structures")
    for name in IMPORTED.values():
        await expect(row_of(page, name)).to_have_count(1)
    await expect(row_of(page, "Atelier numérique de Millau")).to_contain_text(
        "Communauté de communes de Millau Grands Causses"
    )
    await expect(
        row_of(page, "Atelier numérique de Millau").locator('[data-label="Places"]')
    ).to_have_text("25")

    # The same file again: the dry run says nothing would change, nothing to confirm.
    await page.get_by_role("link", name="Importer un fichier de lieux").click()
    await page.get_by_label("Fichier CSV ou JSON").set_input_files(SAMPLE)
    await page.get_by_role("button", name="Vérifier le fichier (essai à blanc)").click()
    result = page.get_by_role("region", name=re.compile("Essai à blanc"))
    await expect(result).to_contain_text("0 lieu(x) à créer, 0 à modifier, 3 inchangé(s).")
    await expect(result).not_to_contain_text("Création")
    await expect(page.get_by_role("button", name="Confirmer l'import")).to_have_count(0)
    assert len(mediation_rows(stack)) == count + 3

    # A file with a new place and a bad row: refused by line, in French; nothing imported.
    text = SAMPLE.read_text(encoding="utf-8")
    newcomer = (
        text.splitlines()[3]
        .replace("lmn-12-0003", "lmn-12-0004")
        .replace("Médiathèque de Villefranche-de-Rouergue", "Tiers-lieu de Rieupeyroux")
    )
    broken = text.replace(",12100,", ",121,") + newcomer + "\n"
    await page.get_by_label("Fichier CSV ou JSON").set_input_files(
        {"name": "lieux.csv", "mimeType": "text/csv", "buffer": broken.encode()}
    )
    await page.get_by_role("button", name="Vérifier le fichier (essai à blanc)").click()
    refused = page.get_by_role("region", name="Fichier refusé")
    await expect(refused.get_by_role("alert")).to_contain_text(
        "Fichier refusé : 1 erreur(s), rien n'a été importé."
    )
    await expect(refused).to_contain_text(
        re.compile(r"Ligne 3, champ « code_postal » : « 121 » n'est pas un code postal")
    )
    await expect(page.get_by_role("button", name="Confirmer l'import")).to_have_count(0)
    await expect(page.get_by_label("Fichier CSV ou JSON")).to_be_visible()  # try again
    await fits(page)
    await screenshot(page, "directory-import-refused")
    rows = mediation_rows(stack)
    assert len(rows) == count + 3 and "Tiers-lieu de Rieupeyroux" not in rows
    assert rows["Atelier numérique de Millau"].postal_code == "12100"
    await page.get_by_role("link", name="← Structures").click()
    await heading(page, "Structures")
    await expect(page.get_by_role("heading", level=2, name=re.compile("médiation"))).to_have_text(
        f"Structures de médiation ({count + 3})"
    )
    await expect(row_of(page, "Tiers-lieu de Rieupeyroux")).to_have_count(0)

    # Export: a CSV in the national schema naming the imported places and the new one.
    async with page.expect_download() as csv_download:
        await page.get_by_role("link", name="CSV", exact=True).click()
    download = await csv_download.value
    assert download.suggested_filename == "lieux-mediation-numerique.csv"
    content = await asyncio.to_thread(Path(await download.path()).read_text, encoding="utf-8")
    exported = {row["nom"]: row for row in csv.DictReader(io.StringIO(content))}
    for ident, name in IMPORTED.items():
        assert exported[name]["id"] == ident
    assert exported["Atelier numérique de Millau"]["code_postal"] == "12100"
    assert exported[NEW]["capacite"] == "8" and exported[NEW]["actif"] in {"non", "false", "0"}
    assert "Tiers-lieu de Rieupeyroux" not in exported
    await screenshot(page, "directory-list")
