"""Reimbursement statements over HTTP: who sees which statement (JSON API and pages, every
role), validation and payment with idempotency keys and form ids, French refusals that
change nothing, and the CSV and PDF read back (BOM and `;`, text extracted)."""

from __future__ import annotations

import csv
import html
import io
import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pypdf
from sqlmodel import col, select

from domain.months import month_label, previous_month
from domain.validity import paris_day, paris_today
from records import models
from records.db import begin_write
from records.statements import build_statements
from tests.fixtures.access import ANON, headers, settle
from tests.fixtures.api import Stack
from tests.fixtures.statements import add_redeemed
from tests.test_api_journey_http import qualified_and_not, session_body, to_training


def _prepare(stack: Stack) -> tuple[date, dict[str, int], dict[str, list[str]]]:
    """Last month's statements of the demo mediator's structure (2 cheques) and of
    med_other's (1): their ids and serials, by owner."""
    month = previous_month(paris_today())
    owners = {"med": stack.people["med"], "med_other": stack.people["med_other"]}
    serials: dict[str, list[str]] = {}
    with stack.sessions() as s:
        begin_write(s)
        for who, person in owners.items():
            assert person.mediation_structure_id is not None
            days = [month + timedelta(days=2), month + timedelta(days=9)][
                : 2 if who == "med" else 1
            ]
            serials[who] = add_redeemed(s, person.mediation_structure_id, days)
        build_statements(s, month=month, at=datetime.now(UTC) - timedelta(minutes=5))
        s.commit()
        ids = {
            who: s.exec(
                select(models.Statement.id).where(
                    models.Statement.mediation_structure_id == person.mediation_structure_id
                )
            ).one()
            for who, person in owners.items()
        }
    return month, {k: v for k, v in ids.items() if v is not None}, serials


def _state(stack: Stack) -> list[tuple[Any, ...]]:
    with stack.sessions() as s:
        rows = s.exec(select(models.Statement).order_by(col(models.Statement.id))).all()
        cheques = s.exec(select(models.Cheque.serial, models.Cheque.status)).all()
        return [(r.id, r.status, r.validated_at, r.paid_on) for r in rows] + sorted(cheques)


def _epci_of(stack: Stack, structure_id: int) -> int:
    with stack.sessions() as s:
        found = s.get(models.MediationStructure, structure_id)
        assert found is not None
        return found.epci_id


async def test_api_access_per_role(api_stack: Stack) -> None:
    stack = api_stack
    month, ids, _ = _prepare(stack)
    mine, other = ids["med"], ids["med_other"]
    epci_mine = _epci_of(stack, stack.people["med"].mediation_structure_id or 0)
    epci_other = _epci_of(stack, stack.people["med_other"].mediation_structure_id or 0)

    def visible(who: str) -> set[int]:
        person = stack.people[who]
        return {
            sid
            for sid, epci in ((mine, epci_mine), (other, epci_other))
            if who == "coord_all"
            or (who.startswith("med") and sid == ids.get(who))
            or (who.startswith("coord") and person.epci_id == epci)
        }

    for who in ("med", "med_other", "coord_epci", "coord_other", "coord_all"):
        r = await stack.http.get("/api/v1/statements", headers=stack.auth(who))
        assert r.status_code == 200, (who, r.text)
        body = r.json()
        assert {i["id"] for i in body["items"]} == visible(who), who
        assert body["page"]["total"] == len(visible(who))
        for sid in (mine, other):
            for suffix in ("", ".csv", ".pdf"):
                got = await stack.http.get(
                    f"/api/v1/statements/{sid}{suffix}", headers=stack.auth(who)
                )
                assert got.status_code == (200 if sid in visible(who) else 404), (who, sid, suffix)
    for who in ("sw", "admin"):
        r = await stack.http.get("/api/v1/statements", headers=stack.auth(who))
        assert r.status_code == 403 and "réservés" in r.json()["error"]["message"]
        r = await stack.http.get(f"/api/v1/statements/{mine}", headers=stack.auth(who))
        assert r.status_code == 403
    assert (await stack.http.get("/api/v1/statements")).status_code == 401

    listed = (
        await stack.http.get(
            f"/api/v1/statements?month={month:%Y-%m}&status=DRAFT", headers=stack.auth("coord_all")
        )
    ).json()
    assert {i["id"] for i in listed["items"]} == {mine, other}
    assert listed["items"][0]["month_label"] == month_label(month)
    bad = await stack.http.get("/api/v1/statements?month=2026-13", headers=stack.auth("coord_all"))
    assert bad.status_code == 422

    detail = (await stack.http.get(f"/api/v1/statements/{mine}", headers=stack.auth("med"))).json()
    assert (
        detail["status"],
        detail["status_label"],
        detail["cheque_count"],
        detail["total_cents"],
    ) == (
        "DRAFT",
        "Brouillon",
        2,
        2000,
    )
    assert [line["session_day"] for line in detail["lines"]] == [
        f"{month + timedelta(days=2)}",
        f"{month + timedelta(days=9)}",
    ]

    # Changes: the coordination of the whole programme only; nothing changes otherwise.
    before = _state(stack)
    pay = {"paid_on": f"{paris_today()}", "reference": "VIR-1"}
    for who in ("sw", "med", "coord_epci", "coord_other", "admin"):
        for path, body in ((f"{mine}/validate", None), (f"{mine}/payment", pay)):
            r = await stack.http.post(
                f"/api/v1/statements/{path}",
                json=body,
                headers={**stack.auth(who), "Idempotency-Key": str(uuid.uuid4())},
            )
            assert r.status_code == 403, (who, path, r.text)
    missing = await stack.http.post(
        "/api/v1/statements/999999/validate", headers=stack.auth("coord_all")
    )
    assert (
        missing.status_code == 404
        and missing.json()["error"]["message"] == "Relevé de remboursement introuvable."
    )
    assert _state(stack) == before


async def test_validate_and_pay_with_idempotency_keys(api_stack: Stack) -> None:
    stack = api_stack
    month, ids, serials = _prepare(stack)
    sid = ids["med"]
    auth = stack.auth("coord_all")
    url = f"/api/v1/statements/{sid}"

    # The statement changed since the coordinator looked: refused, and the key is free again.
    key = str(uuid.uuid4())
    changed = await stack.http.post(
        f"{url}/validate",
        json={"expected_cheque_count": 1},
        headers={**auth, "Idempotency-Key": key},
    )
    assert changed.status_code == 409 and changed.json()["error"]["code"] == "statement_changed"
    body = {"expected_cheque_count": 2, "expected_total_cents": 2000}
    first = await stack.http.post(
        f"{url}/validate", json=body, headers={**auth, "Idempotency-Key": key}
    )
    assert first.status_code == 200, first.text
    assert (
        first.json()["status"] == "ISSUED"
        and first.json()["validated_by"] == stack.people["coord_all"].id
    )
    again = await stack.http.post(
        f"{url}/validate", json=body, headers={**auth, "Idempotency-Key": key}
    )
    assert again.status_code == 200 and again.json() == first.json()
    reused = await stack.http.post(
        f"{url}/validate", json={}, headers={**auth, "Idempotency-Key": key}
    )
    assert reused.status_code == 409 and reused.json()["error"]["code"] == "idempotency_key_reused"
    twice = await stack.http.post(
        f"{url}/validate", headers={**auth, "Idempotency-Key": str(uuid.uuid4())}
    )
    assert (
        twice.status_code == 409 and "n'est plus un brouillon" in twice.json()["error"]["message"]
    )

    before = _state(stack)
    tomorrow = paris_today() + timedelta(days=1)
    refused: tuple[tuple[dict[str, str], str], ...] = (
        ({"paid_on": f"{tomorrow}", "reference": "VIR-1"}, "paid_on"),
        ({"paid_on": f"{paris_today()}", "reference": ""}, "reference"),
        ({"paid_on": "2026-02-30", "reference": "VIR-1"}, "paid_on"),
    )
    for wrong, field in refused:
        r = await stack.http.post(
            f"{url}/payment", json=wrong, headers={**auth, "Idempotency-Key": str(uuid.uuid4())}
        )
        assert r.status_code == 422, r.text
        assert [d["field"] for d in r.json()["error"]["details"]] == [field]
    assert _state(stack) == before

    key = str(uuid.uuid4())
    payment = {"paid_on": f"{paris_today()}", "reference": "VIR-2026-118"}
    paid = await stack.http.post(
        f"{url}/payment", json=payment, headers={**auth, "Idempotency-Key": key}
    )
    assert paid.status_code == 200, paid.text
    assert (paid.json()["status"], paid.json()["payment_reference"]) == ("PAID", "VIR-2026-118")
    retried = await stack.http.post(
        f"{url}/payment", json=payment, headers={**auth, "Idempotency-Key": key}
    )
    assert retried.status_code == 200 and retried.json() == paid.json()
    with stack.sessions() as s:
        statuses = dict(s.exec(select(models.Cheque.serial, models.Cheque.status)).all())
    assert [statuses[x] for x in serials["med"]] == ["REIMBURSED", "REIMBURSED"]
    assert statuses[serials["med_other"][0]] == "REDEEMED"
    again = await stack.http.post(
        f"{url}/payment", json=payment, headers={**auth, "Idempotency-Key": str(uuid.uuid4())}
    )
    assert again.status_code == 409

    # The documents, read back as a spreadsheet and a PDF reader would.
    r = await stack.http.get(f"{url}.csv", headers=stack.auth("med"))
    assert r.headers["content-type"].startswith("text/csv")
    assert r.headers["content-disposition"].startswith("attachment;")
    number = paid.json()["number"]
    assert f"releve-{number}.csv" in r.headers["content-disposition"]
    assert r.content.startswith("\ufeff".encode())
    rows = list(csv.reader(io.StringIO(r.content.decode("utf-8-sig")), delimiter=";"))
    assert rows[0] == [
        "Relevé",
        "Structure de médiation",
        "Mois",
        "Chèque",
        "Date de la séance",
        "Montant (€)",
    ]
    assert [row[4] for row in rows[1:3]] == [
        f"{month + timedelta(days=2):%d/%m/%Y}",
        f"{month + timedelta(days=9):%d/%m/%Y}",
    ]
    assert {row[0] for row in rows[1:3]} == {number} and {row[2] for row in rows[1:3]} == {
        month_label(month)
    }
    assert [row[3].replace("-", "") for row in rows[1:3]] == serials["med"]
    assert [row[5] for row in rows[1:]] == ["10,00", "10,00", "20,00"]
    assert rows[3][:4] == ["Total", "", "", "2 chèques"]

    r = await stack.http.get(f"{url}.pdf", headers=stack.auth("coord_epci"))
    assert r.headers["content-type"] == "application/pdf" and r.content.startswith(b"%PDF")
    text = "\n".join(p.extract_text() for p in pypdf.PdfReader(io.BytesIO(r.content)).pages)
    text = text.replace("\u00a0", " ")
    for expected in (
        f"Relevé de remboursement n° {number}",
        month_label(month),
        "Payé le",
        "VIR-2026-118",
        "20,00 €",
        "Total : 2 chèques",
        f"{month + timedelta(days=9):%d/%m/%Y}",
    ):
        assert expected in text, (expected, text)
    with stack.sessions() as s:
        issuer = s.exec(select(models.Programme.issuer_name)).one()
    assert issuer in text


async def test_pages_per_role_and_forms(api_stack: Stack) -> None:
    stack = api_stack
    month, ids, _ = _prepare(stack)
    mine, other = ids["med"], ids["med_other"]

    async def get(who: str, path: str) -> Any:
        return await stack.http.get(path, headers=headers(stack, who))

    for who, status in {"sw": 403, "admin": 403, "coord_all": 403, ANON: 303}.items():
        assert (await get(who, "/mediation/releves")).status_code == status, who
    for who, status in {"sw": 403, "med": 403, "admin": 403, ANON: 303}.items():
        assert (await get(who, "/coordination/releves")).status_code == status, who
    listed = await get("med", "/mediation/releves")
    assert listed.status_code == 200 and f"/mediation/releves/{mine}" in listed.text
    assert f"/mediation/releves/{other}" not in listed.text
    assert (await get("med", f"/mediation/releves/{other}")).status_code == 404
    page = await get("med", f"/mediation/releves/{mine}")
    assert page.status_code == 200 and "Brouillon" in page.text and "Valider" not in page.text
    assert (await get("med", f"/mediation/releves/{mine}.csv")).status_code == 200

    everything = await get("coord_all", f"/coordination/releves?mois={month:%Y-%m}&etat=DRAFT")
    assert (
        f"/coordination/releves/{mine}" in everything.text
        and f"/coordination/releves/{other}" in everything.text
    )
    epci = await get("coord_epci", "/coordination/releves")
    assert f"/coordination/releves/{mine}" in epci.text
    readonly = await get("coord_epci", f"/coordination/releves/{mine}")
    assert readonly.status_code == 200 and "Valider" not in readonly.text

    form = {"form_id": str(uuid.uuid4()), "cheque_count": "2", "total_cents": "2000"}
    before = _state(stack)
    for who in ("med", "coord_epci", "sw"):
        r = await stack.http.post(
            f"/coordination/releves/{mine}/valider", data=form, headers=headers(stack, who)
        )
        assert r.status_code == 403, who
    assert _state(stack) == before

    coord = headers(stack, "coord_all")
    page = await stack.http.get(f"/coordination/releves/{mine}", headers=coord)
    assert "Valider" in page.text and "Mettre à jour le brouillon" in page.text
    refreshed = await stack.http.post(f"/coordination/releves/{mine}/actualiser", headers=coord)
    assert refreshed.status_code == 303 and refreshed.headers["location"].endswith("fait=inchange")
    stale = {**form, "cheque_count": "1"}
    r = await stack.http.post(f"/coordination/releves/{mine}/valider", data=stale, headers=coord)
    assert r.status_code == 409 and "mis à jour depuis son affichage" in r.text
    for _ in range(2):  # a double click: the same form twice
        r = await stack.http.post(f"/coordination/releves/{mine}/valider", data=form, headers=coord)
        assert (
            r.status_code == 303
            and r.headers["location"] == f"/coordination/releves/{mine}?fait=valide"
        )
    done = await stack.http.get(r.headers["location"], headers=coord)
    assert "Le relevé est validé" in done.text and "Enregistrer le paiement" in done.text

    payment = {"form_id": str(uuid.uuid4()), "paid_on": "31/02/2026", "payment_reference": "VIR-9"}
    r = await stack.http.post(f"/coordination/releves/{mine}/paiement", data=payment, headers=coord)
    assert r.status_code == 422 and "Une date au format JJ/MM/AAAA est attendue." in r.text
    tomorrow = paris_today() + timedelta(days=1)
    payment["paid_on"] = f"{tomorrow:%d/%m/%Y}"
    r = await stack.http.post(f"/coordination/releves/{mine}/paiement", data=payment, headers=coord)
    assert r.status_code == 422 and "ne peut pas être dans le futur" in r.text
    payment = {
        **payment,
        "form_id": str(uuid.uuid4()),
        "paid_on": f"{paris_day(datetime.now(UTC)):%d/%m/%Y}",
    }
    r = await stack.http.post(f"/coordination/releves/{mine}/paiement", data=payment, headers=coord)
    assert r.status_code == 303, r.text
    paid = await stack.http.get(r.headers["location"], headers=coord)
    assert (
        "Payé le" in paid.text
        and "VIR-9" in paid.text
        and "Enregistrer le paiement" not in paid.text
    )
    r = await stack.http.post(f"/coordination/releves/{mine}/actualiser", headers=coord)
    assert r.status_code == 409 and "n'est plus un brouillon" in html.unescape(r.text)


async def test_a_real_journey_reimbursed_keeps_its_cheques_reimbursed(api_stack: Stack) -> None:
    """Through the journey workflow: a session's cheque, its statement validated and paid;
    a later session of the same journey (the projection rewrites its cheque rows) leaves
    the paid cheque REIMBURSED."""
    stack = api_stack
    mediator, _ = await qualified_and_not(stack)
    journey = await to_training(stack, str(uuid.uuid4()), mediator)
    jid = journey["journey_id"]
    serials = [c["serial"] for c in journey["cheques"]]
    r = await stack.http.post(
        f"/api/v1/journeys/{jid}/sessions",
        json=session_body(mediator, stack.cheques(serials[:1])),
        headers=stack.auth("med"),
    )
    assert r.status_code == 201, r.text
    await settle(stack, jid)
    with stack.sessions() as s:
        begin_write(s)
        build_statements(s, month=paris_today().replace(day=1), at=datetime.now(UTC))
        s.commit()
    listed = await stack.http.get("/api/v1/statements", headers=stack.auth("med"))
    (statement,) = listed.json()["items"]
    assert statement["cheque_count"] == 1
    auth = stack.auth("coord_all")
    url = f"/api/v1/statements/{statement['id']}"
    assert (await stack.http.post(f"{url}/validate", headers=auth)).status_code == 200
    payment = {"paid_on": f"{paris_today()}", "reference": "VIR-77"}
    assert (await stack.http.post(f"{url}/payment", json=payment, headers=auth)).status_code == 200

    r = await stack.http.post(
        f"/api/v1/journeys/{jid}/sessions",
        json=session_body(mediator, stack.cheques(serials[1:2])),
        headers=stack.auth("med"),
    )
    assert r.status_code == 201, r.text
    await settle(stack, jid)
    with stack.sessions() as s:
        statuses = dict(s.exec(select(models.Cheque.serial, models.Cheque.status)).all())
        row = s.get(models.Journey, jid)
        assert row is not None and row.cheques_redeemed == 2
    digits = [x.replace("-", "") for x in serials[:2]]
    assert [statuses[d] for d in digits] == ["REIMBURSED", "REDEEMED"]
    live = (await stack.http.get(f"/api/v1/journeys/{jid}", headers=stack.auth("med"))).json()
    assert [c["status"] for c in live["cheques"][:2]] == ["REDEEMED", "REDEEMED"]  # the workflow's
    verdict = (
        await stack.http.get(f"/api/v1/cheques/{serials[0]}", headers=stack.auth("med"))
    ).json()
    assert verdict["verdict"] == "spent"


async def test_bad_addresses_and_fields_on_the_pages(api_stack: Stack) -> None:
    stack = api_stack
    _, ids, _ = _prepare(stack)
    mine = ids["med"]
    coord = headers(stack, "coord_all")
    for path in (
        "/coordination/releves/99999999999999999999",
        "/coordination/releves/0.pdf",
        "/coordination/releves/un-releve.csv",
        "/mediation/releves/2147483648",
    ):
        who = coord if path.startswith("/coordination") else headers(stack, "med")
        r = await stack.http.get(path, headers=who)
        assert r.status_code == 422, (path, r.status_code)
        assert "L'adresse de cette page contient une valeur non valide" in html.unescape(r.text)
    # Filters typed by hand: ignored when they make no sense, never an error.
    r = await stack.http.get(
        "/coordination/releves?mois=0000-13&structure=²&etat=PAYE&page=-1", headers=coord
    )
    assert r.status_code == 200 and f"/coordination/releves/{mine}" in r.text

    validated = await stack.http.post(
        f"/coordination/releves/{mine}/valider",
        data={"form_id": str(uuid.uuid4()), "cheque_count": "2", "total_cents": "2000"},
        headers=coord,
    )
    assert validated.status_code == 303
    before = _state(stack)
    payment = {
        "form_id": str(uuid.uuid4()),
        "paid_on": f"{paris_today():%d/%m/%Y}",
        "payment_reference": "VIR\x00-1",
    }
    r = await stack.http.post(f"/coordination/releves/{mine}/paiement", data=payment, headers=coord)
    assert r.status_code == 422
    assert "caractères de contrôle" in html.unescape(r.text)
    assert _state(stack) == before  # still ISSUED, no cheque reimbursed
