"""The payload codec (temporal_client.EncryptionCodec) and the Temporal UI's codec endpoint.

- round trip: every value comes back; on the wire each payload is `binary/encrypted` with
  its key id and holds none of its plain bytes;
- key rotation: a former key still decrypts, new payloads use the new key's id, a key
  dropped from the settings no longer decrypts; tampering is refused;
- payloads written before the codec (plain JSON) pass through (tests/test_replay.py
  replays the recorded histories with this converter);
- a journey's history written with the codec replays, under its key and after a rotation;
- the endpoint (`/api/v1/temporal-codec/decode`): anonymous 401, other roles and an EPCI's
  coordinator 403, a programme coordinator decodes a real history's payloads (token, or
  the session cookie without CSRF token as the Temporal UI sends it); CORS to the UI's
  origins only.
"""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import SecretStr, ValidationError
from temporalio.api.common.v1 import Payload
from temporalio.worker import Replayer

from config import DEV_PAYLOAD_KEY, Settings
from domain import contracts as c
from domain.stages import Role, Stage
from temporal_client import (
    ENCRYPTED_ENCODING,
    KEY_ID_METADATA,
    PLAIN_CONVERTER,
    codec,
    data_converter,
)
from tests.fixtures.api import Stack, refer_over_api, signed_in_client
from tests.fixtures.temporal import REFERRER, Journeys, entry_assessment
from worker import sandbox_runner
from workflows.journey import JourneyWorkflow

KEY_1 = "the-first-payload-key-of-at-least-32-characters"
KEY_2 = "the-second-payload-key-of-at-least-32-characters"
UI = "http://127.0.0.1:8233"


def settings(key: str, previous: str | None = None) -> Settings:
    return Settings(
        payload_key=SecretStr(key),
        payload_previous_keys=SecretStr(previous) if previous else None,
    )


def status() -> c.JourneyStatus:
    now = datetime(2026, 12, 1, 9, 30, tzinfo=UTC)
    return c.JourneyStatus(
        journey_id="5b1f6a0e-2f6c-4a8e-9d43-0c7e1d2b3a4f",
        programme_code=12,
        epci_id=3,
        reception_structure_id=5,
        referrer=c.Actor(Role.SOCIAL_WORKER, "17"),
        stage=Stage.ASSESSED,
        stage_dates={Stage.REFERRED: now, Stage.ASSESSED: now},
    )


VALUES = [status(), "Relance : texte à chiffrer", 42, None, {"a": [1, 2]}]
TYPES = [c.JourneyStatus, str, int, type(None), dict]


async def test_round_trip_encrypts_every_payload() -> None:
    converter = data_converter(settings(KEY_1))
    payloads = await converter.encode(VALUES)
    plain = await PLAIN_CONVERTER.encode(VALUES)
    key_id = settings(KEY_1).payload_keyring.key_id
    for p, clear in zip(payloads, plain, strict=True):
        assert p.metadata["encoding"] == ENCRYPTED_ENCODING
        assert p.metadata[KEY_ID_METADATA] == key_id.encode()
        assert set(p.metadata) == {"encoding", KEY_ID_METADATA}  # nothing of the original
        assert len(clear.data) < 8 or clear.data not in p.data
    assert b"chiffrer" not in b"".join(p.data for p in payloads)
    assert await converter.decode(payloads, TYPES) == VALUES
    again = await converter.encode(VALUES)
    assert [p.data for p in again] != [p.data for p in payloads]  # a fresh nonce each time


async def test_payloads_written_before_the_codec_pass_through() -> None:
    plain = await PLAIN_CONVERTER.encode(VALUES)
    assert await data_converter(settings(KEY_1)).decode(plain, TYPES) == VALUES
    opened = await codec(settings(KEY_1)).decode(plain)
    assert [p.SerializeToString() for p in opened] == [p.SerializeToString() for p in plain]


async def test_key_rotation() -> None:
    old = await data_converter(settings(KEY_1)).encode(VALUES)
    rotated = settings(KEY_2, previous=f"{KEY_1}, ")
    converter = data_converter(rotated)
    assert await converter.decode(old, TYPES) == VALUES  # the former key still opens
    new = await converter.encode(VALUES)
    new_id = rotated.payload_keyring.key_id.encode()
    assert new_id != settings(KEY_1).payload_keyring.key_id.encode()
    assert {p.metadata[KEY_ID_METADATA] for p in new} == {new_id}
    assert await converter.decode(new, TYPES) == VALUES
    dropped = codec(settings(KEY_2))  # the former key no longer in the settings
    with pytest.raises(ValueError):
        await dropped.decode(old)
    assert await data_converter(settings(KEY_2)).decode(new, TYPES) == VALUES


async def test_tampered_payloads_are_refused() -> None:
    (payload,) = await codec(settings(KEY_1)).encode(await PLAIN_CONVERTER.encode(["x"]))
    tampered = Payload()
    tampered.CopyFrom(payload)
    tampered.data = payload.data[:-1] + bytes([payload.data[-1] ^ 1])
    with pytest.raises(ValueError):
        await codec(settings(KEY_1)).decode([tampered])
    relabelled = Payload()
    relabelled.CopyFrom(payload)
    relabelled.metadata[KEY_ID_METADATA] = b"00000000"
    with pytest.raises(ValueError):
        await codec(settings(KEY_1)).decode([relabelled])


def test_production_refuses_the_dev_or_a_short_payload_key() -> None:
    def production(payload_key: str | None) -> Settings:
        strong = SecretStr("s" * 40)
        if payload_key is None:  # the dev placeholder
            return Settings(environment="production", secret_key=strong, cheque_code_key=strong)
        return Settings(
            environment="production",
            secret_key=strong,
            cheque_code_key=strong,
            payload_key=SecretStr(payload_key),
        )

    for refused in (None, "short"):
        with pytest.raises(ValidationError, match="PASSNUM_PAYLOAD_KEY"):
            production(refused)
    assert production(KEY_1).payload_keyring.key_id
    assert Settings().payload_key.get_secret_value() == DEV_PAYLOAD_KEY  # dev default


async def test_a_history_written_with_the_codec_replays_after_a_rotation(
    journeys: Journeys,
) -> None:
    """The time-skipping environment encrypts with the default (dev) key: its history
    replays with that key, and with a new key that keeps it as a former one."""
    handle, _ = await journeys.start()
    await journeys.update(handle, c.U_ASSESS, entry_assessment())
    await journeys.update(handle, c.U_NUDGE, c.NudgeRequest(c.Actor(Role.COORDINATOR, "9")))
    await journeys.update(handle, c.U_WITHDRAW, c.WithdrawRequest(REFERRER, reason_id="t-1"))
    await journeys.settle(handle)
    history = await handle.fetch_history()
    encrypted = [
        e.activity_task_scheduled_event_attributes.input.payloads[0]
        for e in history.events
        if e.HasField("activity_task_scheduled_event_attributes")
    ]
    assert encrypted and all(p.metadata["encoding"] == ENCRYPTED_ENCODING for p in encrypted)
    for keys in (Settings(), settings(KEY_2, previous=DEV_PAYLOAD_KEY)):
        replayer = Replayer(
            workflows=[JourneyWorkflow],
            data_converter=data_converter(keys),
            workflow_runner=sandbox_runner(),
        )
        result = await replayer.replay_workflow(history, raise_on_replay_failure=False)
        assert result.replay_failure is None


# ---- the endpoint ----


def as_json(payloads: list[Payload]) -> dict[str, list[dict[str, Any]]]:
    return {
        "payloads": [
            {
                "metadata": {k: base64.b64encode(v).decode() for k, v in p.metadata.items()},
                "data": base64.b64encode(p.data).decode(),
            }
            for p in payloads
        ]
    }


async def test_codec_endpoint(api_stack, dev_server) -> None:  # type: ignore[no-untyped-def]
    stack: Stack = api_stack
    decode = "/api/v1/temporal-codec/decode"
    jid = await refer_over_api(
        stack, {"first_name": "Ninon", "last_name": "Codec"}, {"given": True, "text": "Oui."}
    )
    history = await dev_server.client.get_workflow_handle(f"journey-{jid}").fetch_history()
    started = history.events[0].workflow_execution_started_event_attributes
    body = as_json(list(started.input.payloads))
    assert (
        body["payloads"][0]["metadata"]["encoding"] == base64.b64encode(ENCRYPTED_ENCODING).decode()
    )

    # Anonymous: 401 (the UI's origin may read the refusal); other roles: 403.
    r = await stack.http.post(decode, json=body, headers={"Origin": UI})
    assert r.status_code == 401, r.text
    assert r.headers["access-control-allow-origin"] == UI
    assert r.json()["error"]["code"] == "not_authenticated"
    for who in ("sw", "med", "admin", "coord_epci"):
        r = await stack.http.post(decode, json=body, headers=stack.auth(who))
        assert r.status_code == 403, (who, r.text)
        assert "coordination de tout le programme" in r.json()["error"]["message"]

    # A programme coordinator's token: the journey's input, decoded.
    r = await stack.http.post(decode, json=body, headers=stack.auth("coord_all"))
    assert r.status_code == 200, r.text
    (decoded,) = r.json()["payloads"]
    assert base64.b64decode(decoded["metadata"]["encoding"]) == b"json/plain"
    assert jid.encode() in base64.b64decode(decoded["data"])

    # Encode then decode through the endpoint; plain payloads pass through; bad input 422.
    plain = as_json(await PLAIN_CONVERTER.encode(["bonjour"]))
    r = await stack.http.post(
        "/api/v1/temporal-codec/encode", json=plain, headers=stack.auth("coord_all")
    )
    assert r.status_code == 200
    sealed = r.json()
    assert sealed != plain
    r = await stack.http.post(decode, json=sealed, headers=stack.auth("coord_all"))
    assert r.json() == plain
    r = await stack.http.post(decode, json=plain, headers=stack.auth("coord_all"))
    assert r.json() == plain
    broken = {"payloads": [{**sealed["payloads"][0], "data": base64.b64encode(b"x" * 40).decode()}]}
    r = await stack.http.post(decode, json=broken, headers=stack.auth("coord_all"))
    assert r.status_code == 422 and r.json()["error"]["code"] == "payload_unreadable"
    r = await stack.http.post(
        decode, json={"payloads": [{"data": "%%%"}]}, headers=stack.auth("coord_all")
    )
    assert r.status_code == 422

    # The Temporal UI: a preflight from its origin, then the session cookie without any
    # CSRF token. Another origin gets no CORS answer.
    preflight = {
        "Origin": UI,
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "content-type,x-namespace",
    }
    r = await stack.http.options(decode, headers=preflight)
    assert r.status_code == 200
    assert r.headers["access-control-allow-origin"] == UI
    assert r.headers["access-control-allow-credentials"] == "true"
    r = await stack.http.options(decode, headers={**preflight, "Origin": "https://evil.example"})
    assert r.status_code == 400
    assert "access-control-allow-origin" not in r.headers
    browser = await signed_in_client(stack, "coordination@aveyron.example")
    try:
        r = await browser.post(decode, json=body, headers={"Origin": UI, "X-Namespace": "default"})
        assert r.status_code == 200, r.text
        assert r.headers["access-control-allow-origin"] == UI
        assert r.headers["access-control-allow-credentials"] == "true"
        r = await browser.post(decode, json=body, headers={"Origin": "https://evil.example"})
        assert "access-control-allow-origin" not in r.headers  # the browser hides it
    finally:
        await browser.aclose()
    epci = await signed_in_client(stack, "coordination.epci@aveyron.example")
    try:
        assert (await epci.post(decode, json=body)).status_code == 403
    finally:
        await epci.aclose()
    # Elsewhere in the app, no CORS at all.
    r = await stack.http.get("/api/v1/health", headers={"Origin": UI})
    assert "access-control-allow-origin" not in r.headers
