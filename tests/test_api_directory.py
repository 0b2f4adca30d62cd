"""The structures directory over the JSON API: create (Idempotency-Key), edit, deactivate
(no longer offered for orientation, still listed), qualification history, import of the
sample file (dry run, import, idempotent re-import, bad rows: 422 and nothing written),
export round trip; administrators only, each change audit-logged."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlmodel import col, select

from records import models
from tests.fixtures.api import Stack, refer_over_api
from tests.fixtures.database import count
from tests.test_api_journey_http import CONSENT, person

DATA = Path(__file__).parent / "data"
NEW_PLACE: dict[str, Any] = {
    "structure_kind": "mediation",
    "name": "Fab lab de Decazeville",
    "commune": "Decazeville",
    "address": "3 rue Cayrade",
    "postal_code": "12300",
    "insee_code": "12089",
    "siret": "12345678901234",
    "phone": "05 65 00 00 09",
    "opening_hours": "We 14:00-18:00",
    "themes": ["SMARTPHONE", "EMAIL"],
    "capacity": 12,
    "aptic_qualified_from": "2026-01-01",
}


def epci_id(stack: Stack) -> int:
    with stack.sessions() as s:
        found = s.exec(select(models.Epci.id).order_by(col(models.Epci.id))).first()
        assert found is not None
        return found


async def test_create_edit_deactivate_and_history(api_stack: Stack) -> None:
    stack = api_stack
    admin = stack.auth("admin")
    body = {**NEW_PLACE, "epci_id": epci_id(stack)}
    for who in ("sw", "med", "coord_all"):
        r = await stack.http.post("/api/v1/structures", json=body, headers=stack.auth(who))
        assert r.status_code == 403, who
    before = count(stack.sessions, models.MediationStructure)

    key = {**admin, "Idempotency-Key": "create-fablab-1"}
    r = await stack.http.post("/api/v1/structures", json=body, headers=key)
    assert r.status_code == 201, r.text
    created = r.json()
    sid = created["id"]
    assert created["fields"]["themes"] == ["SMARTPHONE", "EMAIL"]
    again = await stack.http.post("/api/v1/structures", json=body, headers=key)
    assert again.status_code == 200 and again.json()["id"] == sid  # retried, not duplicated
    other = await stack.http.post("/api/v1/structures", json={**body, "capacity": 13}, headers=key)
    assert other.status_code == 409
    assert count(stack.sessions, models.MediationStructure) == before + 1

    bad = await stack.http.post(
        "/api/v1/structures",
        json={**body, "aptic_qualified_until": "2025-01-01"},
        headers=admin,
    )
    assert bad.status_code == 422
    assert bad.json()["error"]["message"] == (
        "La fin de la qualification ne peut pas précéder son début."
    )
    missing = await stack.http.post(
        "/api/v1/structures", json={**body, "capacity": None}, headers=admin
    )
    assert missing.status_code == 422 and "capacity" in missing.json()["error"]["message"]
    assert count(stack.sessions, models.MediationStructure) == before + 1

    url = f"/api/v1/structures/mediation/{sid}"
    r = await stack.http.patch(
        url, json={"capacity": 20, "aptic_qualified_until": "2026-06-30"}, headers=admin
    )
    assert r.status_code == 200 and r.json()["changed"] == ["aptic_qualified_until", "capacity"]
    r = await stack.http.patch(url, json={"capacity": 20}, headers=admin)
    assert r.json()["changed"] == []
    assert (
        await stack.http.patch(url, json={"capacity": 1}, headers=stack.auth("coord_all"))
    ).status_code == 403
    history = await stack.http.get(f"/api/v1/structures/{sid}/qualifications", headers=admin)
    assert [(h["qualified_until"], h["source"]) for h in history.json()] == [
        (None, "api"),
        ("2026-06-30", "api"),
    ]

    r = await stack.http.patch(url, json={"active": False}, headers=admin)
    assert r.json()["changed"] == ["active"]
    listed = await stack.http.get("/api/v1/structures?kind=mediation", headers=admin)
    assert {x["id"]: x["active"] for x in listed.json()}[sid] is False  # kept for history
    with stack.sessions() as s:
        actions = [
            a.action
            for a in s.exec(
                select(models.AdminAudit).where(
                    models.AdminAudit.target == f"mediation_structure:{sid}"
                )
            ).all()
        ]
    assert actions == ["STRUCTURE_CREATED", "STRUCTURE_UPDATED", "STRUCTURE_DEACTIVATED"]

    reception = await stack.http.post(
        "/api/v1/structures",
        json={
            "structure_kind": "reception",
            "name": "CCAS de Decazeville",
            "kind": "CCAS",
            "commune": "Decazeville",
            "epci_id": epci_id(stack),
        },
        headers=admin,
    )
    assert reception.status_code == 201
    rid = reception.json()["id"]
    r = await stack.http.patch(
        f"/api/v1/structures/reception/{rid}", json={"phone": "05 65 00 00 10"}, headers=admin
    )
    assert r.json()["changed"] == ["phone"]
    assert (
        await stack.http.patch("/api/v1/structures/reception/999999", json={}, headers=admin)
    ).status_code == 404


async def test_deactivated_structure_refused_for_orientation(api_stack: Stack) -> None:
    stack = api_stack
    sid = stack.people["med_other"].mediation_structure_id
    r = await stack.http.patch(
        f"/api/v1/structures/mediation/{sid}", json={"active": False}, headers=stack.auth("admin")
    )
    assert r.status_code == 200
    journey_id = await refer_over_api(stack, person(), CONSENT)
    sw = stack.auth("sw")
    base = f"/api/v1/journeys/{journey_id}"
    listed = await stack.http.get("/api/v1/structures?kind=mediation", headers=sw)
    assert sid in [x["id"] for x in listed.json()]
    r = await stack.http.post(
        f"{base}/orientation", json={"mediation_structure_id": sid}, headers=sw
    )
    assert r.status_code == 422 and r.json()["error"]["code"] == "structure_inactive"


async def test_import_and_export_over_api(api_stack: Stack) -> None:
    stack = api_stack
    admin = stack.auth("admin")
    content = (DATA / "lieux_mediation_numerique.csv").read_bytes()
    url = "/api/v1/structures/import"
    r = await stack.http.post(url, content=content, headers=stack.auth("coord_all"))
    assert r.status_code == 403
    before = count(stack.sessions, models.MediationStructure)

    dry = await stack.http.post(f"{url}?dry_run=true", content=content, headers=admin)
    assert dry.status_code == 200, dry.text
    assert dry.json()["created"] == ["lmn-12-0001", "lmn-12-0002", "lmn-12-0003"]
    assert dry.json()["applied"] is False
    assert count(stack.sessions, models.MediationStructure) == before

    done = await stack.http.post(url, content=content, headers=admin)
    assert done.json()["applied"] is True and len(done.json()["created"]) == 3
    assert count(stack.sessions, models.MediationStructure) == before + 3
    again = await stack.http.post(url, content=content, headers=admin)
    assert again.json()["created"] == [] and again.json()["updated"] == {}

    broken = content.decode().replace("12100", "121").encode()
    r = await stack.http.post(url, content=broken.replace(b"Rodez", b"Rodez\xff"), headers=admin)
    assert r.status_code == 422
    r = await stack.http.post(url, content=broken, headers=admin)
    assert r.status_code == 422
    assert r.json()["error"]["details"] == [
        "Ligne 3, champ « code_postal » : « 121 » n'est pas un code postal (5 chiffres)."
    ]

    for fmt in ("csv", "json"):
        exported = await stack.http.get(
            f"/api/v1/structures/export?format={fmt}", headers=stack.auth("sw")
        )
        assert exported.status_code == 200
        assert "attachment" in exported.headers["content-disposition"]
        r = await stack.http.post(
            f"{url}?format={fmt}&dry_run=true", content=exported.content, headers=admin
        )
        assert r.status_code == 200, r.text
        assert r.json()["created"] == [] and r.json()["updated"] == {}
        assert r.json()["unchanged"] == before + 3


async def test_deactivated_reception_structure_refers_nobody(api_stack: Stack) -> None:
    stack = api_stack
    rid = stack.people["sw"].reception_structure_id
    before = count(stack.sessions, models.Beneficiary)
    r = await stack.http.patch(
        f"/api/v1/structures/reception/{rid}", json={"active": False}, headers=stack.auth("admin")
    )
    assert r.json()["changed"] == ["active"]
    r = await stack.http.post(
        "/api/v1/referrals",
        json={"reception_structure_id": rid, "person": person(), "consent": CONSENT},
        headers={**stack.auth("sw"), "Idempotency-Key": "referral-inactive-1"},
    )
    assert r.status_code == 422 and r.json()["error"]["code"] == "structure_inactive"
    assert count(stack.sessions, models.Beneficiary) == before
