"""Coordinators' exports and programme report over HTTP (`/api/v1/reports/exports/...`,
`/api/v1/reports/programme.pdf`, the page `/coordination/exports`): a journey trained over
the API with a session, one in another EPCI, and journeys written as rows for volume.

Each file is opened as its readers would: the CSV parsed back (BOM, `;`, French headers,
dd/mm/yyyy, `10,00`), the XLSX read with openpyxl (typed cells), the PDF's text extracted
with pypdf; and checked against the database. Access: coordinators only, within their EPCI;
the filters choose journeys as the overview does.
"""

from __future__ import annotations

import csv
import io
import re
import uuid
from datetime import date, datetime
from html import unescape
from typing import Any

import httpx
import openpyxl
import pytest_asyncio
from pypdf import PdfReader
from sqlmodel import col, select

from bench.programme_rows import write_programme
from domain.validity import paris_day
from records import models
from records.db import begin_write, make_engine
from records.statements import build_statements
from tests.fixtures.api import Stack, refer_over_api, signed_in_client, train_over_api
from tests.test_pages_booklet_year import CONSENT

JOURNEY_HEADERS = [
    "Parcours",
    "Intercommunalité",
    "Structure d'accueil",
    "Structure de médiation",
    "Étape",
    "Issue",
    "Bloqué",
    "Entrée dans le dispositif",
    "Diagnostic",
    "Carnet remis",
    "Orientation vers un médiateur",
    "Début de la formation",
    "Clôture",
    "Millésime",
    "N° de carnet",
    "Chèques remis",
    "Chèques utilisés",
    "Montant utilisé (€)",
    "Séances",
    "Jours jusqu'à la 1re séance",
    "Autonomie au diagnostic",
    "Autonomie à la sortie",
    "Besoins (diagnostic)",
]
FR_DATE = re.compile(r"^\d{2}/\d{2}/\d{4}$")
SERIAL = re.compile(r"^\d{3}-\d{4}-\d{6}-\d{2}-\d$")
PERSON = {"first_name": "Gisèle", "last_name": "Fabréguettes", "phone": "05 65 12 34 56"}
VOLUME = 150


def parse_csv(body: bytes) -> list[dict[str, str]]:
    assert body.startswith(b"\xef\xbb\xbf"), "UTF-8 BOM first"
    text = body.decode("utf-8")
    assert "\r\n" in text and "\n" not in text.replace("\r\n", "")
    rows = list(csv.reader(io.StringIO(text[1:], newline=""), delimiter=";"))
    header = rows[0]
    assert all(len(r) == len(header) for r in rows)
    return [dict(zip(header, r, strict=True)) for r in rows[1:]]


def fr(day: date | datetime | None) -> str:
    if day is None:
        return ""
    if isinstance(day, datetime):
        day = paris_day(day)
    return day.strftime("%d/%m/%Y")


@pytest_asyncio.fixture
async def programme(api_stack: Stack) -> dict[str, Any]:
    """A trained journey with a session of two cheques (home EPCI), an assessed one in
    another EPCI, and VOLUME journeys written as rows."""
    stack = api_stack
    med = stack.people["med"].mediation_structure_id
    jid = await refer_over_api(stack, PERSON, CONSENT)
    assessment = {"tool": "ABC_DIAG", "autonomy": "BEGINNER", "needs": ["EMAIL", "HEALTH"]}
    _, booklet, _, _ = await train_over_api(stack, jid, med, assessment)
    serials = [c["serial"] for c in booklet["cheques"]]
    r = await stack.http.post(
        f"/api/v1/journeys/{jid}/sessions",
        json={
            "mediation_structure_id": med,
            "day": stack.today.isoformat(),
            "duration_minutes": 90,
            "kind": "COLLECTIVE",
            "themes": ["EMAIL"],
            "cheques": stack.cheques(serials[:2]),
        },
        headers={**stack.auth("med"), "Idempotency-Key": str(uuid.uuid4())},
    )
    assert r.status_code == 201, r.text
    r = await stack.http.post(
        "/api/v1/referrals",
        json={
            "reception_structure_id": stack.people["sw_other"].reception_structure_id,
            "person": {"first_name": "Odile", "last_name": "Serieys"},
            "consent": CONSENT,
        },
        headers={**stack.auth("sw_other"), "Idempotency-Key": str(uuid.uuid4())},
    )
    assert r.status_code == 201, r.text
    other = str(r.json()["journey_id"])
    with stack.sessions() as s:  # this month's statements (before the rows written below: late
        # entries would join them), as the monthly Schedule would
        begin_write(s)
        build_statements(s, month=stack.today.replace(day=1), at=stack.now)
        s.commit()
    engine = make_engine(str(stack.settings.database_url))
    try:
        write_programme(engine, VOLUME, seed=7, first_booklet=500_000)
    finally:
        engine.dispose()
    return {"trained": jid, "other": other, "serials": serials, "booklet": booklet}


async def get(stack: Stack, who: str, path: str, **params: str) -> httpx.Response:
    return await stack.http.get(path, params=params, headers=stack.auth(who))


async def test_csv_exports_read_back(api_stack: Stack, programme: dict[str, Any]) -> None:
    stack, jid = api_stack, programme["trained"]
    r = await get(stack, "coord_all", "/api/v1/reports/exports/journeys.csv")
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/csv")
    assert re.search(
        r'filename="parcours-\d{4}-\d{2}-\d{2}\.csv"', r.headers["content-disposition"]
    )
    rows = parse_csv(r.content)
    assert list(rows[0]) == JOURNEY_HEADERS
    with stack.sessions() as s:
        journeys = {j.id: j for j in s.exec(select(models.Journey)).all()}
        epci_names = {e.id: e.name for e in s.exec(select(models.Epci)).all()}
        cheques = s.exec(select(models.Cheque).where(col(models.Cheque.journey_id) == jid)).all()
        structure = s.get(models.MediationStructure, stack.people["med"].mediation_structure_id)
    assert structure is not None
    assert len(journeys) == VOLUME + 2
    assert sorted(row["Parcours"] for row in rows) == sorted(journeys)
    for row in rows:
        j = journeys[row["Parcours"]]
        assert row["Intercommunalité"] == epci_names[j.epci_id]
        assert row["Entrée dans le dispositif"] == fr(j.referred_at)
        assert row["Carnet remis"] == fr(j.booklet_issued_at)
        assert row["Chèques utilisés"] == str(j.cheques_redeemed)
        assert row["Montant utilisé (€)"] == f"{j.cheques_redeemed * 10},00"
        assert row["Bloqué"] == ("oui" if j.stalled else "non")
        for name in ("Entrée dans le dispositif", "Diagnostic", "Clôture"):
            assert row[name] == "" or FR_DATE.match(row[name])
    trained = next(row for row in rows if row["Parcours"] == jid)
    assert trained["Étape"] == "En formation" and trained["Issue"] == ""
    assert trained["Structure de médiation"] == structure.name
    assert trained["Chèques remis"] == "10" and trained["Chèques utilisés"] == "2"
    assert trained["Montant utilisé (€)"] == "20,00"
    assert trained["Séances"] == "1" and trained["Autonomie au diagnostic"] == "Débutant"
    assert (
        trained["Besoins (diagnostic)"]
        == "Messagerie électronique, Santé en ligne (Ameli, Doctolib…)"
    )
    assert trained["Début de la formation"] == fr(stack.today)
    # No name, phone or other personal data: the files go to funders.
    for path in ("journeys.csv", "cheques.csv", "sessions.csv", "statements.csv", "ledger.csv"):
        body = (await get(stack, "coord_all", f"/api/v1/reports/exports/{path}")).content
        text = body.decode("utf-8")
        for value in PERSON.values():
            assert value not in text, (path, value)

    r = await get(stack, "coord_all", "/api/v1/reports/exports/cheques.csv")
    assert r.status_code == 200
    rows = parse_csv(r.content)
    with stack.sessions() as s:
        assert len(rows) == len(s.exec(select(models.Cheque)).all())
    mine = [row for row in rows if row["Parcours"] == jid]
    assert [row["Chèque"] for row in mine] == [
        f"{c.serial[:3]}-{c.serial[3:7]}-{c.serial[7:13]}-{c.serial[13:15]}-{c.serial[15]}"
        for c in sorted(cheques, key=lambda c: c.serial)
    ]
    assert all(SERIAL.match(row["Chèque"]) for row in rows)
    spent = [row for row in mine if row["État"] == "Encaissé"]
    assert len(spent) == 2
    assert {row["Encaissé le"] for row in spent} == {fr(stack.today)}
    assert {row["Structure de médiation"] for row in spent} == {structure.name}
    millesime = programme["booklet"]["millesime"]
    assert {row["Valable jusqu'au"] for row in mine} == {f"31/01/{millesime + 1}"}
    assert {row["Valeur (€)"] for row in rows} == {"10,00"}
    assert {row["État"] for row in mine if row not in spent} == {"Émis"}

    r = await get(stack, "coord_all", "/api/v1/reports/exports/sessions.csv")
    rows = parse_csv(r.content)
    with stack.sessions() as s:
        assert len(rows) == len(s.exec(select(models.TrainingSession)).all())
    (session,) = [row for row in rows if row["Parcours"] == jid]
    assert session["Date"] == fr(stack.today) and session["Durée (min)"] == "90"
    assert session["Type"] == "Collective" and session["Lieu"] == "Dans la structure"
    assert session["Thèmes"] == "Messagerie électronique"
    assert session["Chèques"] == "2" and session["Valeur des chèques (€)"] == "20,00"
    days = [datetime.strptime(row["Date"], "%d/%m/%Y").date() for row in rows]
    assert days == sorted(days)


async def test_xlsx_exports_read_back(api_stack: Stack, programme: dict[str, Any]) -> None:
    stack, jid = api_stack, programme["trained"]
    for name, sheet_name in (
        ("journeys", "Parcours"),
        ("cheques", "Chèques"),
        ("sessions", "Séances"),
        ("statements", "Relevés de remboursement"),
        ("ledger", "Grand livre des financeurs"),
    ):
        csv_rows = parse_csv(
            (await get(stack, "coord_all", f"/api/v1/reports/exports/{name}.csv")).content
        )
        r = await get(stack, "coord_all", f"/api/v1/reports/exports/{name}.xlsx")
        assert r.status_code == 200, r.text
        assert r.headers["content-type"].startswith(
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
        )
        assert int(r.headers["content-length"]) == len(r.content)
        workbook = openpyxl.load_workbook(io.BytesIO(r.content))
        sheet = workbook[sheet_name]
        assert sheet.freeze_panes == "A2"
        header = [c.value for c in sheet[1]]
        assert header == list(csv_rows[0])
        assert all(c.font.bold for c in sheet[1])
        values = list(sheet.iter_rows(min_row=2))
        assert len(values) == len(csv_rows)
        # Every cell says what its CSV twin says, typed.
        for cells, row in zip(values, csv_rows, strict=True):
            for cell, column in zip(cells, header, strict=True):
                text = row[column]
                if cell.value is None:
                    assert text == "", (name, column)
                elif isinstance(cell.value, datetime):
                    assert cell.number_format == "dd/mm/yyyy"
                    assert cell.value.strftime("%d/%m/%Y") == text
                elif "(€)" in column:
                    assert isinstance(cell.value, (int, float))
                    assert "€" in cell.number_format and "#,##0.00" in cell.number_format
                    assert f"{cell.value:.2f}".replace(".", ",") == text
                elif isinstance(cell.value, (int, float)):
                    assert str(int(cell.value)) == text, (name, column)
                else:
                    assert cell.value == text, (name, column)
    workbook = openpyxl.load_workbook(
        io.BytesIO((await get(stack, "coord_all", "/api/v1/reports/exports/journeys.xlsx")).content)
    )
    sheet = workbook.active
    assert sheet is not None
    header = [c.value for c in sheet[1]]
    (trained,) = [r for r in sheet.iter_rows(min_row=2, values_only=True) if r[0] == jid]
    row = dict(zip(header, trained, strict=True))
    assert row["Montant utilisé (€)"] == 20 and row["Chèques utilisés"] == 2
    assert isinstance(row["Début de la formation"], datetime)
    assert row["Début de la formation"].date() == stack.today


def _text(pdf: bytes) -> str:
    reader = PdfReader(io.BytesIO(pdf))
    text = "\n".join(page.extract_text() for page in reader.pages)
    return re.sub(r"\s+", " ", text)  # cells come one per line; no-break spaces too


async def test_programme_report_pdf(api_stack: Stack, programme: dict[str, Any]) -> None:
    stack = api_stack
    r = await get(stack, "coord_all", "/api/v1/reports/programme.pdf")
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/pdf" and r.content.startswith(b"%PDF")
    assert "rapport-programme-" in r.headers["content-disposition"]
    text = _text(r.content)
    overview = (await get(stack, "coord_all", "/api/v1/reports/overview")).json()
    assert "Rapport du programme Pass numérique Aveyron" in text
    assert "Périmètre : tout le programme" in text
    assert f"Parcours {overview['journeys']} dont en cours" in text, text[:1500]

    def spaced(n: int) -> str:
        return f"{n:,}".replace(",", " ")

    n = overview["cheques_redeemed"]
    assert f"Chèques utilisés {spaced(n)} ({spaced(n * 10)},00 €)" in text
    # The funders' table (the ledger) adds up to the budget and the cheques spent.
    spent = spaced(n * 10)
    assert f"Total 1 064 920,00 € {spent},00 €" in text
    n = overview["cheques_issued"]
    assert f"Chèques remis {spaced(n)} ({spaced(n * 10)},00 €)" in text
    for heading in (
        "Chiffres clés",
        "Parcours : étapes franchies",
        "Chèques remis, utilisés et expirés par mois",
        "Dépense par intercommunalité",
        "Dépense par financeur",
        "Impact : autonomie numérique au diagnostic et à la sortie",
        "Impact : besoins exprimés au diagnostic",
        "Impact : séances par personne",
    ):
        assert heading in text, heading
    assert "Rodez Agglomération" in text and "Messagerie électronique" in text
    assert "sur un objectif de 9 000" in text
    for value in PERSON.values():
        assert value not in text
    # An EPCI's coordinator: their EPCI only, said so.
    r = await get(stack, "coord_epci", "/api/v1/reports/programme.pdf", millesime="0")
    assert r.status_code == 200
    text = _text(r.content)
    epci = (await get(stack, "coord_epci", "/api/v1/reports/overview", millesime="0")).json()
    assert "Périmètre : Rodez Agglomération" in text
    assert "Filtres : parcours sans carnet" in text
    assert f"Parcours {epci['journeys']}" in text
    assert "objectif" not in text


async def test_exports_access(api_stack: Stack, programme: dict[str, Any]) -> None:
    stack = api_stack
    paths = [
        "/api/v1/reports/exports/journeys.csv",
        "/api/v1/reports/exports/cheques.xlsx",
        "/api/v1/reports/exports/sessions.csv",
        "/api/v1/reports/programme.pdf",
    ]
    for path in paths:
        assert (await stack.http.get(path)).status_code == 401, path
        for who in ("sw", "med", "admin"):
            r = await get(stack, who, path)
            assert r.status_code == 403, (who, path)
            assert r.json()["error"]["code"] == "forbidden"
    for bad in ("journeys.pdf", "people.csv", "journeys"):
        r = await get(stack, "coord_all", f"/api/v1/reports/exports/{bad}")
        assert r.status_code in (404, 422), bad
    r = await get(stack, "coord_all", "/api/v1/reports/exports/journeys.csv", du="2026-13")
    assert r.status_code == 422 and r.json()["error"]["details"][0]["field"] == "du"

    # An EPCI's coordinator sees their EPCI's rows only, whatever EPCI they ask for.
    with stack.sessions() as s:
        epci_id = stack.people["coord_epci"].epci_id
        epci = s.get(models.Epci, epci_id)
        assert epci is not None
        theirs = {
            j.id
            for j in s.exec(select(models.Journey).where(col(models.Journey.epci_id) == epci_id))
        }
        their_cheques = s.exec(
            select(models.Cheque)
            .join(models.Journey, col(models.Journey.id) == col(models.Cheque.journey_id))
            .where(col(models.Journey.epci_id) == epci_id)
        ).all()
    other = str(stack.people["coord_other"].epci_id)
    for params in ({}, {"epci": other}):
        rows = parse_csv((await get(stack, "coord_epci", paths[0], **params)).content)
        assert {row["Parcours"] for row in rows} == theirs
        assert {row["Intercommunalité"] for row in rows} == {epci.name}
        assert programme["trained"] in theirs and programme["other"] not in theirs
    rows = parse_csv(
        (await get(stack, "coord_epci", "/api/v1/reports/exports/cheques.csv")).content
    )
    assert len(rows) == len(their_cheques) and {row["Intercommunalité"] for row in rows} == {
        epci.name
    }
    workbook = openpyxl.load_workbook(
        io.BytesIO(
            (await get(stack, "coord_other", "/api/v1/reports/exports/journeys.xlsx")).content
        )
    )
    sheet = workbook.active
    assert sheet is not None
    ids = {r[0] for r in sheet.iter_rows(min_row=2, values_only=True)}
    assert programme["other"] in ids and programme["trained"] not in ids


async def test_exports_follow_the_filters(api_stack: Stack, programme: dict[str, Any]) -> None:
    stack = api_stack
    home = stack.people["sw"].reception_structure_id
    with stack.sessions() as s:
        journeys = s.exec(select(models.Journey)).all()
        home_name = s.get(models.ReceptionStructure, home).name  # type: ignore[union-attr]
    months = sorted({j.referred_month for j in journeys if j.referred_month})
    mid = months[len(months) // 2]

    def month(m: int) -> str:
        return f"{m // 100}-{m % 100:02d}"

    cases: list[tuple[dict[str, str], set[str]]] = [
        ({"millesime": "0"}, {j.id for j in journeys if j.millesime is None}),
        ({"millesime": "2025"}, {j.id for j in journeys if j.millesime == 2025}),
        (
            {"structure": f"accueil-{home}"},
            {j.id for j in journeys if j.reception_structure_id == home},
        ),
        (
            {"epci": str(stack.people["coord_other"].epci_id)},
            {j.id for j in journeys if j.epci_id == stack.people["coord_other"].epci_id},
        ),
        (
            {"du": month(mid), "au": month(months[-1])},
            {j.id for j in journeys if j.referred_month and j.referred_month >= mid},
        ),
        (
            {"au": month(mid)},
            {j.id for j in journeys if j.referred_month and j.referred_month <= mid},
        ),
    ]
    for params, wanted in cases:
        assert wanted, params
        rows = parse_csv(
            (
                await get(stack, "coord_all", "/api/v1/reports/exports/journeys.csv", **params)
            ).content
        )
        assert {row["Parcours"] for row in rows} == wanted, params
        overview = (await get(stack, "coord_all", "/api/v1/reports/overview", **params)).json()
        assert overview["journeys"] == len(rows), params
    rows = parse_csv(
        (
            await get(
                stack,
                "coord_all",
                "/api/v1/reports/exports/journeys.csv",
                structure=f"accueil-{home}",
            )
        ).content
    )
    assert {row["Structure d'accueil"] for row in rows} == {home_name}
    rows = parse_csv(
        (
            await get(stack, "coord_all", "/api/v1/reports/exports/cheques.csv", millesime="0")
        ).content
    )
    assert rows == []  # journeys without a booklet hold no cheque


async def test_exports_page(api_stack: Stack, programme: dict[str, Any]) -> None:
    stack = api_stack
    coord = await signed_in_client(stack, stack.people["coord_all"].email)
    sw = await signed_in_client(stack, stack.people["sw"].email)
    try:
        html = unescape((await coord.get("/coordination")).text)
        assert '<a href="/coordination/exports">Exports et rapport</a>' in html
        r = await coord.get("/coordination/exports", params={"millesime": "2025", "au": "2026-13"})
        assert r.status_code == 200
        html = unescape(r.text)
        assert "Filtre ignoré, illisible : la période (fin)" in html
        assert "Filtres appliqués : carnets du millésime 2025" in html
        links = re.findall(r'href="(/api/v1/reports/[^"]+)"', html)
        names = ("journeys", "cheques", "sessions", "statements", "ledger")
        assert links == [
            *(
                f"/api/v1/reports/exports/{n}.{f}?millesime=2025"
                for n in names
                for f in ("csv", "xlsx")
            ),
            "/api/v1/reports/programme.pdf?millesime=2025",
        ]
        # The links work with the page's session cookie.
        r = await coord.get(links[0])
        assert r.status_code == 200
        rows = parse_csv(r.content)
        with stack.sessions() as s:
            wanted = {
                j.id
                for j in s.exec(select(models.Journey).where(col(models.Journey.millesime) == 2025))
            }
        assert {row["Parcours"] for row in rows} == wanted
        assert (await coord.get(links[-1])).content.startswith(b"%PDF")
        assert (await sw.get("/coordination/exports")).status_code == 403
    finally:
        await coord.aclose()
        await sw.aclose()


async def test_statement_and_ledger_exports(api_stack: Stack, programme: dict[str, Any]) -> None:
    stack, jid = api_stack, programme["trained"]
    med = stack.people["med"].mediation_structure_id
    with stack.sessions() as s:
        statements = s.exec(select(models.Statement)).all()
        structure = s.get(models.MediationStructure, med)
        entries = s.exec(select(models.LedgerEntry)).all()
        funders = {f.id: f.name for f in s.exec(select(models.Funder)).all()}
        epci_id = stack.people["coord_epci"].epci_id
        epci = s.get(models.Epci, epci_id)
    assert structure is not None and epci is not None and statements

    rows = parse_csv(
        (await get(stack, "coord_all", "/api/v1/reports/exports/statements.csv")).content
    )
    assert sorted(row["Relevé"] for row in rows) == sorted(st.number for st in statements)
    (mine,) = [row for row in rows if row["Structure de médiation"] == structure.name]
    assert mine["Chèques"] == "2" and mine["Montant (€)"] == "20,00"
    assert mine["État"] == "Brouillon" and mine["Validé le"] == "" and mine["Payé le"] == ""
    theirs = parse_csv(
        (await get(stack, "coord_epci", "/api/v1/reports/exports/statements.csv")).content
    )
    assert {row["Intercommunalité"] for row in theirs} <= {epci.name}
    assert mine in theirs  # the demo mediator's structure is in the demo EPCI

    rows = parse_csv((await get(stack, "coord_all", "/api/v1/reports/exports/ledger.csv")).content)
    assert len(rows) == len(entries)
    trained = [row for row in rows if row["Parcours"] == jid]
    spent = [row for row in trained if row["Écriture"] == "Dépense (chèque encaissé)"]
    committed = [row for row in trained if row["Écriture"] == "Engagement (chèque émis)"]
    euros = [int(row["Montant (€)"].replace(",", "")) for row in spent]
    assert sum(euros) == 2000  # two cheques spent, shared among the funders to the cent
    assert sum(int(row["Montant (€)"].replace(",", "")) for row in committed) == 10_000
    assert {row["Financeur"] for row in trained} <= set(funders.values())
    assert all(SERIAL.match(row["Chèque"]) and FR_DATE.match(row["Date"]) for row in rows)
    rows = parse_csv((await get(stack, "coord_epci", "/api/v1/reports/exports/ledger.csv")).content)
    assert rows and {row["Intercommunalité"] for row in rows} == {epci.name}
    assert len(rows) == sum(1 for e in entries if e.epci_id == epci_id)
