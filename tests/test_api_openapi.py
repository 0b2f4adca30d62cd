"""The OpenAPI document declares every refusal and every bound the server enforces
(api/openapi.py, api/constraints.py); the schemathesis run (test_api_fuzz.py) checks the
server against it."""

from __future__ import annotations

from typing import Any

import pytest

from api.app import create_app
from api.constraints import MAX_ID
from config import Settings

ERROR_REF = "#/components/schemas/ErrorBody"


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    return create_app(Settings()).openapi()


def operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method.upper(), path, op)
        for path, item in document["paths"].items()
        for method, op in item.items()
        if path.startswith("/api/")
    ]


def param(op: dict[str, Any], name: str) -> dict[str, Any]:
    found = [p for p in op.get("parameters", []) if p["name"] == name]
    assert found, f"no parameter {name}"
    schema: dict[str, Any] = found[0]["schema"]
    return next((s for s in schema.get("anyOf", []) if s.get("type") != "null"), schema)


def test_every_refusal_is_declared_with_the_error_body(document: dict[str, Any]) -> None:
    for method, path, op in operations(document):
        responses = op["responses"]
        for status, response in responses.items():
            if status[0] in "45":
                schema = response["content"]["application/json"]["schema"]
                assert schema == {"$ref": ERROR_REF}, (method, path, status)
        if path == "/api/v1/health":
            assert set(responses) == {"200"}
            continue
        assert op["security"] == [{"token": []}, {"session": []}], (method, path)
        assert "401" in responses, (method, path)
        if method != "GET":
            assert "403" in responses, (method, path)  # a session's CSRF token
        if op.get("parameters") or "requestBody" in op:
            assert "422" in responses, (method, path)
        if "requestBody" in op:
            assert {"400", "413"} <= set(responses), (method, path)
    assert "HTTPValidationError" not in document["components"]["schemas"]
    body = document["components"]["schemas"]["ErrorInfo"]
    assert body["required"] == ["code", "message"]

    paths = document["paths"]
    referral = set(paths["/api/v1/referrals"]["post"]["responses"])
    assert {"201", "400", "401", "403", "409", "413", "422", "503"} <= referral
    assert set(paths["/api/v1/journeys"]["get"]["responses"]) == {"200", "401", "422"}
    orientation = paths["/api/v1/journeys/{journey_id}/orientation"]["post"]["responses"]
    assert {"404", "409"} <= set(orientation)
    tokens = paths["/api/v1/accounts/{account_id}/tokens"]["post"]["responses"]
    assert {"403", "404", "409"} <= set(tokens)


def test_bounds_are_declared(document: dict[str, Any]) -> None:
    paths = document["paths"]
    journeys = paths["/api/v1/journeys"]["get"]
    for name in ("epci_id", "mediation_structure_id", "reception_structure_id"):
        assert (param(journeys, name)["minimum"], param(journeys, name)["maximum"]) == (
            1,
            MAX_ID,
        )
    assert param(journeys, "offset")["maximum"] == 1_000_000
    assert param(journeys, "limit")["maximum"] == 200
    structures = paths["/api/v1/structures"]["get"]
    assert param(structures, "epci_id")["maximum"] == MAX_ID
    kind = document["components"]["schemas"]["StructureKind"]
    assert kind["enum"] == ["reception", "mediation"]
    assert param(paths["/api/v1/tokens/{token_id}"]["delete"], "token_id")["maximum"] == MAX_ID
    journey_id = param(paths["/api/v1/journeys/{journey_id}"]["get"], "journey_id")
    assert journey_id["maxLength"] == 36 and journey_id["pattern"]
    serial = param(paths["/api/v1/cheques/{serial}"]["get"], "serial")
    assert serial["maxLength"] == 40 and serial["pattern"]

    key = param(paths["/api/v1/referrals"]["post"], "Idempotency-Key")
    assert (key["minLength"], key["maxLength"], key["pattern"]) == (8, 64, "^[!-~]+$")

    schemas = document["components"]["schemas"]
    assert schemas["ReferralIn"]["properties"]["reception_structure_id"]["maximum"] == MAX_ID
    for body in ("OrientIn", "ReorientIn", "AnswerIn", "SessionIn"):
        assert schemas[body]["properties"]["mediation_structure_id"]["maximum"] == MAX_ID, body
    person = schemas["PersonIn"]["properties"]
    assert person["first_name"]["maxLength"] == 100 and person["first_name"]["pattern"]
    consent = schemas["ConsentIn"]["properties"]["text"]  # optional: string or null
    consent = next(x for x in consent["anyOf"] if x.get("type") == "string")
    assert consent["maxLength"] == 2000 and consent["pattern"]
    assert schemas["TokenIn"]["properties"]["label"]["maxLength"] == 100
    assert schemas["TokenIn"]["additionalProperties"] is False
