"""In headless Chromium on a 360 px screen: the programme coordinator opens last month's
statement of the demo mediator's structure, validates it, records its payment, and
downloads its CSV and PDF; the cheques are then reimbursed."""

from __future__ import annotations

import asyncio
import csv
import io
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pypdf
from playwright.async_api import Page, expect
from sqlmodel import select

from domain.months import month_label, previous_month
from domain.validity import paris_today
from records import models
from records.db import begin_write
from records.seed import DEMO_PASSWORD
from records.statements import build_statements
from tests.fixtures.api import DEMO_EMAILS, Stack
from tests.fixtures.browser import screenshot
from tests.fixtures.statements import add_redeemed


async def test_coordinator_validates_pays_and_downloads_a_statement(
    page: Page, api_stack: Stack
) -> None:
    stack = api_stack
    month = previous_month(paris_today())
    structure = stack.people["med"].mediation_structure_id
    assert structure is not None
    with stack.sessions() as s:
        begin_write(s)
        serials = add_redeemed(s, structure, [month + timedelta(days=3), month + timedelta(days=7)])
        build_statements(s, month=month, at=datetime.now(UTC) - timedelta(minutes=1))
        s.commit()
        number = s.exec(
            select(models.Statement.number).where(
                models.Statement.mediation_structure_id == structure
            )
        ).one()

    await page.goto("/")
    await page.get_by_label("Adresse e-mail").fill(DEMO_EMAILS["coord_all"])
    await page.get_by_label("Mot de passe").fill(DEMO_PASSWORD)
    await page.keyboard.press("Enter")
    await expect(page).to_have_url(re.compile(r"/coordination$"))

    await page.get_by_role("link", name="Relevés de remboursement").click()
    await expect(page.get_by_role("heading", level=1)).to_have_text("Relevés de remboursement")
    await page.get_by_label("État").select_option(label="Brouillon")
    await page.get_by_role("button", name="Filtrer").click()
    await page.get_by_role("link", name=number).click()
    await expect(page.get_by_role("heading", level=1)).to_have_text(f"Relevé {number}")
    summary = page.locator(".summary-list")
    await expect(summary).to_contain_text(month_label(month))
    await expect(summary).to_contain_text("Brouillon")
    await expect(summary).to_contain_text("20,00")

    await page.get_by_role("button", name="Valider", exact=True).click()
    await expect(page.get_by_role("status")).to_contain_text("Le relevé est validé")
    await expect(summary).to_contain_text("Validé, à payer")

    await page.get_by_label(re.compile("Date du paiement")).fill("99/99/2026")
    await page.get_by_label(re.compile("Référence du paiement")).fill("VIR-2026-118")
    await page.get_by_role("button", name="Enregistrer le paiement").click()
    await expect(page.locator(".error-summary")).to_contain_text("Date du paiement")
    await page.get_by_label(re.compile("Date du paiement")).fill(f"{paris_today():%d/%m/%Y}")
    await page.get_by_role("button", name="Enregistrer le paiement").click()
    await expect(page.get_by_role("status")).to_contain_text("Le paiement est enregistré")
    await expect(summary).to_contain_text("Payé")
    await expect(summary).to_contain_text("VIR-2026-118")
    width = await page.evaluate("document.documentElement.scrollWidth")
    assert width <= 360, width
    await screenshot(page, "coordination-statement-paid")

    async with page.expect_download() as csv_download:
        await page.get_by_role("link", name=re.compile("Télécharger le CSV")).click()
    download = await csv_download.value
    assert download.suggested_filename == f"releve-{number}.csv"
    content = await asyncio.to_thread(Path(await download.path()).read_bytes)
    assert content.startswith("\ufeff".encode())
    rows = list(csv.reader(io.StringIO(content.decode("utf-8-sig")), delimiter=";"))
    assert [row[3].replace("-", "") for row in rows[1:3]] == serials
    assert rows[-1][0] == "Total" and rows[-1][-1] == "20,00"

    async with page.expect_download() as pdf_download:
        await page.get_by_role("link", name="Télécharger le PDF").click()
    download = await pdf_download.value
    assert download.suggested_filename == f"releve-{number}.pdf"
    content = await asyncio.to_thread(Path(await download.path()).read_bytes)
    reader = pypdf.PdfReader(io.BytesIO(content))
    text = "\n".join(p.extract_text() for p in reader.pages)
    assert number in text and "VIR-2026-118" in text and month_label(month) in text

    with stack.sessions() as s:
        statuses = {
            c.serial: c.status
            for c in s.exec(select(models.Cheque).where(models.Cheque.serial.in_(serials)))  # type: ignore[attr-defined]
        }
    assert statuses == dict.fromkeys(serials, "REIMBURSED")
