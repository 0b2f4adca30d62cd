"""Out-of-range and malformed input to the JSON API, over HTTP: a French structured error
(`{"error": {"code", "message", "details"}}`), never a 5xx, and nothing changed. Found from
outside: any integer past SQLite's range answered 500."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx

from api.body_limit import MAX_BODY_BYTES
from records import models
from tests.fixtures.api import Stack
from tests.fixtures.database import count
from tests.test_api_journey_http import CONSENT

HUGE = "99999999999999999999"  # past SQLite's and PostgreSQL's integers
JOURNEY = str(uuid.uuid4())  # the body is refused before the journey is looked for


def error_of(r: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert r.status_code == status, (r.status_code, r.text)
    assert r.headers["content-type"].startswith("application/json")
    error: dict[str, Any] = r.json()["error"]
    assert error["code"] == code, error
    return error


def field_message(error: dict[str, Any], field: str) -> str:
    found = [d["message"] for d in error["details"] if d["field"] == field]
    assert found, (field, error)
    return str(found[0])


async def test_integers_out_of_range_are_refused_in_french(api_stack: Stack) -> None:
    stack = api_stack
    http = stack.http
    sw, med, coord, admin = (stack.auth(w) for w in ("sw", "med", "coord_all", "admin"))
    journeys_before = count(stack.sessions, models.Journey)

    for name in ("epci_id", "mediation_structure_id", "reception_structure_id", "offset"):
        r = await http.get("/api/v1/journeys", params={name: HUGE}, headers=coord)
        error = error_of(r, 422, "invalid_input")
        assert error["message"] == "La requête contient des erreurs de saisie."
        assert field_message(error, name) == "La valeur est trop grande."
    r = await http.get("/api/v1/journeys", params={"epci_id": "0"}, headers=coord)
    assert field_message(error_of(r, 422, "invalid_input"), "epci_id") == (
        "La valeur est trop petite."
    )
    r = await http.get("/api/v1/journeys", params={"epci_id": "2147483647"}, headers=coord)
    assert r.status_code == 200 and r.json()["page"]["total"] == 0  # the largest id: none

    r = await http.get("/api/v1/structures", params={"epci_id": str(2**31)}, headers=sw)
    assert field_message(error_of(r, 422, "invalid_input"), "epci_id") == (
        "La valeur est trop grande."
    )
    r = await http.get("/api/v1/structures", params={"kind": "hospital"}, headers=sw)
    assert field_message(error_of(r, 422, "invalid_input"), "kind") == (
        "Cette valeur ne fait pas partie de la liste proposée."
    )

    for method, path in (
        ("GET", f"/api/v1/accounts/{HUGE}/tokens"),
        ("POST", f"/api/v1/accounts/{HUGE}/tokens"),
        ("DELETE", f"/api/v1/tokens/{HUGE}"),
    ):
        body = {"label": "essai"} if method == "POST" else None
        r = await http.request(method, path, json=body, headers=admin)
        error = error_of(r, 422, "invalid_input")
        assert error["details"][0]["message"] == "La valeur est trop grande.", (method, path)

    big = int(HUGE)
    person = {"first_name": "Marcel", "last_name": "Bru"}
    bodies: list[tuple[str, dict[str, Any], dict[str, str], str]] = [
        (
            "/api/v1/referrals",
            {"reception_structure_id": big, "person": person, "consent": CONSENT},
            {**sw, "Idempotency-Key": str(uuid.uuid4())},
            "reception_structure_id",
        ),
        (
            f"/api/v1/journeys/{JOURNEY}/orientation",
            {"mediation_structure_id": big},
            sw,
            "mediation_structure_id",
        ),
        (
            f"/api/v1/journeys/{JOURNEY}/reorient",
            {"mediation_structure_id": big, "reason": "Plus proche"},
            coord,
            "mediation_structure_id",
        ),
        (
            f"/api/v1/journeys/{JOURNEY}/orientation/answer",
            {"mediation_structure_id": big, "accept": True},
            med,
            "mediation_structure_id",
        ),
        (
            f"/api/v1/journeys/{JOURNEY}/sessions",
            {
                "mediation_structure_id": big,
                "day": "2025-03-01",
                "duration_minutes": 60,
                "cheques": [{"serial": "012-2025-000001-01-5", "code": "AAAA-BBBB"}],
            },
            med,
            "mediation_structure_id",
        ),
    ]
    for path, body, headers, field in bodies:
        r = await http.post(path, json=body, headers=headers)
        error = error_of(r, 422, "invalid_input")
        assert field_message(error, field) == "La valeur est trop grande.", path
    assert count(stack.sessions, models.Journey) == journeys_before


async def test_malformed_requests_are_refused_in_french(api_stack: Stack) -> None:
    stack = api_stack
    http = stack.http
    sw = stack.auth("sw")
    referral = f"/api/v1/journeys/{JOURNEY}/orientation"
    json_headers = {**sw, "Content-Type": "application/json"}

    r = await http.post(referral, content=b'{"mediation_structure_id": 1', headers=json_headers)
    error = error_of(r, 422, "invalid_input")
    assert error["details"] == [
        {"field": "", "message": "Le corps de la requête n'est pas du JSON valide."}
    ]
    r = await http.post(referral, content=b'{"a": "\xff\xfe"}', headers=json_headers)
    assert error_of(r, 400, "invalid_body")["message"] == (
        "Le corps de la requête est illisible : du JSON encodé en UTF-8 est attendu."
    )
    r = await http.post(
        referral,
        content=b'{"mediation_structure_id": 1}',
        headers={**sw, "Content-Type": "text/plain"},
    )
    assert error_of(r, 422, "invalid_input")["details"][0]["message"] == (
        "Un objet JSON est attendu (en-tête Content-Type: application/json)."
    )
    r = await http.post(referral, headers=sw)
    assert error_of(r, 422, "invalid_input")["details"] == [
        {"field": "", "message": "Le corps de la requête (JSON) est obligatoire."}
    ]

    r = await http.put("/api/v1/journeys", headers=sw)
    error = error_of(r, 405, "method_not_allowed")
    assert error["message"].startswith("Méthode PUT non autorisée à cette adresse")
    assert r.headers["allow"] == "GET"
    r = await http.get("/api/v1/nowhere", headers=sw)
    assert error_of(r, 404, "not_found")["message"].startswith("Ressource introuvable")
    r = await http.get("/api/v1/journeys/not%20an%20id", headers=sw)
    assert field_message(error_of(r, 422, "invalid_input"), "journey_id") == (
        "Ce format n'est pas accepté."
    )
    r = await http.get(f"/api/v1/journeys/{'a' * 37}", headers=sw)
    assert field_message(error_of(r, 422, "invalid_input"), "journey_id") == (
        "Ce texte est trop long."
    )

    # Too large: announced (Content-Length) or streamed (chunked), refused before it is read.
    too_large = b'{"reason": "' + b"x" * MAX_BODY_BYTES + b'"}'
    r = await http.post(referral, content=too_large, headers=json_headers)
    assert error_of(r, 413, "too_large")["message"] == "La requête est trop volumineuse."

    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(MAX_BODY_BYTES // 1024 + 2):
            yield b" " * 1024

    r = await http.post(referral, content=chunks(), headers=json_headers)
    assert "content-length" not in r.request.headers
    error_of(r, 413, "too_large")

    # Text with control characters or lone surrogates, which PostgreSQL and mails refuse.
    journeys_before = count(stack.sessions, models.Journey)
    key = {"Idempotency-Key": str(uuid.uuid4())}
    reception = stack.people["sw"].reception_structure_id
    assert reception is not None
    for first_name, message in (
        ("Mar\x00cel", "Ce texte doit tenir sur une ligne, sans caractère de contrôle."),
        ("Mar\ncel", "Ce texte doit tenir sur une ligne, sans caractère de contrôle."),
    ):
        body = {
            "reception_structure_id": reception,
            "person": {"first_name": first_name, "last_name": "Bru"},
            "consent": CONSENT,
        }
        r = await http.post("/api/v1/referrals", json=body, headers={**sw, **key})
        assert field_message(error_of(r, 422, "invalid_input"), "person.first_name") == message
    surrogate = (
        b'{"reception_structure_id": %d, "person": {"first_name": "Marcel", "last_name": '
        b'"Bru\\ud800"}, "consent": {"given": true, "text": "Oui"}}' % reception
    )
    r = await http.post("/api/v1/referrals", content=surrogate, headers={**json_headers, **key})
    assert field_message(error_of(r, 422, "invalid_input"), "person.last_name") == (
        "Ce texte contient des caractères non valides."
    )
    r = await http.post(
        "/api/v1/referrals",
        json={
            "reception_structure_id": reception,
            "person": {"first_name": "A", "last_name": "B"},
            "consent": CONSENT,
        },
        headers={**sw, "Idempotency-Key": "k" * 65},
    )
    assert field_message(error_of(r, 422, "invalid_input"), "Idempotency-Key") == (
        "Ce texte est trop long."
    )
    assert count(stack.sessions, models.Journey) == journeys_before
