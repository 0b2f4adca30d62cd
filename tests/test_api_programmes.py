"""The programmes API: an administrator creates a programme from a programme file (201
with its summary), a bad file is refused 422 with every error by line and path (nothing
written), a serial prefix already used 409 `programme_code_taken`; other roles 403."""

from __future__ import annotations

from records import models, programmes
from records.programme_file import parse
from tests.fixtures.api import Stack
from tests.fixtures.database import count
from tests.test_programme_file import LOT, large_lot, lot

TABLES = (models.Programme, models.Epci, models.Funder, models.BudgetLine)


def counts(stack: Stack) -> list[int]:
    return [count(stack.sessions, m) for m in TABLES]


async def test_create_list_and_refusals(api_stack: Stack) -> None:
    stack = api_stack
    admin = {**stack.auth("admin"), "Content-Type": "application/json"}
    before = counts(stack)

    r = await stack.http.post(
        "/api/v1/programmes",
        content=lot(('"siren": "200067361"', '"siren": "2000"'), ('"code": 46', '"code": 0')),
        headers=admin,
    )
    assert r.status_code == 422
    error = r.json()["error"]
    assert error["code"] == "invalid_programme_file"
    assert error["message"] == "Fichier de programme refusé : 2 erreur(s), rien n'a été créé."
    assert error["details"] == [
        {"line": 5, "path": "programme.code", "message": "doit valoir au moins 1"},
        {"line": 16, "path": "epci[1].siren", "message": "le SIREN doit compter 9 chiffres"},
    ]
    r = await stack.http.post("/api/v1/programmes", content=b"{\n  oops", headers=admin)
    assert r.status_code == 422 and r.json()["error"]["details"][0]["line"] == 2
    assert counts(stack) == before

    r = await stack.http.post(
        "/api/v1/programmes", content=lot(('"code": 46', '"code": 12')), headers=admin
    )
    assert r.status_code == 409
    assert r.json()["error"]["code"] == "programme_code_taken"
    [detail] = r.json()["error"]["details"]
    assert (detail["line"], detail["path"]) == (5, "programme.code")
    assert (
        "012 est déjà celui du programme « Pass numérique Aveyron »" in r.json()["error"]["message"]
    )
    assert counts(stack) == before

    r = await stack.http.post("/api/v1/programmes", content=LOT.read_bytes(), headers=admin)
    assert r.status_code == 201
    created = r.json()
    assert {k: created[k] for k in ("code", "name", "starts_on", "ends_on", "epci")} == {
        "code": 46,
        "name": "Pass numérique Lot",
        "starts_on": "2027-01-01",
        "ends_on": "2028-12-31",
        "epci": 2,
    }
    assert (created["funders"], created["budget_lines"], created["budget_total_cents"]) == (
        3,
        4,
        20_000_000,
    )
    assert counts(stack) == [before[0] + 1, before[1] + 2, before[2] + 3, before[3] + 4]
    r = await stack.http.post("/api/v1/programmes", content=LOT.read_bytes(), headers=admin)
    assert r.status_code == 409 and counts(stack)[0] == before[0] + 1

    large = large_lot(47, 1000).encode()
    assert len(large) > 80_000  # past the 64 KiB of other bodies
    r = await stack.http.post("/api/v1/programmes", content=large, headers=admin)
    assert r.status_code == 201 and r.json()["reception_structures"] == 1002

    listed = await stack.http.get("/api/v1/programmes", headers=stack.auth("admin"))
    assert listed.status_code == 200
    assert [(p["code"], p["mediation_structures"]) for p in listed.json()] == [
        (12, 17),
        (46, 2),
        (47, 2),
    ]
    # The creator administers the new programmes: the header offers them, a token works there.
    me = (await stack.http.get("/api/v1/me", headers=stack.auth("admin"))).json()
    assert [p["code"] for p in me["programmes"]] == [12, 46, 47]
    r = await stack.http.get(
        "/api/v1/accounts", headers={**stack.auth("admin"), "X-Passnum-Programme": "46"}
    )
    assert r.status_code == 200 and r.json() == []  # no account of its own yet
    # A programme created by the command line is no administrator's: not listed.
    with stack.sessions() as s:
        programmes.create_programme(
            s, parse(large_lot(48, 1).encode()), at=stack.now, account_id=None
        )
        s.commit()
    listed = await stack.http.get("/api/v1/programmes", headers=stack.auth("admin"))
    assert [p["code"] for p in listed.json()] == [12, 46, 47]


async def test_other_roles_refused(api_stack: Stack) -> None:
    stack = api_stack
    for who in ("sw", "med", "coord_all"):
        headers = {**stack.auth(who), "Content-Type": "application/json"}
        r = await stack.http.post("/api/v1/programmes", content=LOT.read_bytes(), headers=headers)
        assert r.status_code == 403, who
        assert (await stack.http.get("/api/v1/programmes", headers=headers)).status_code == 403
    assert count(stack.sessions, models.Programme) == 1
    assert (await stack.http.get("/api/v1/programmes")).status_code == 401
