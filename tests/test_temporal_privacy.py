"""Nothing personal in Temporal: a scenario over the API with distinctive names, e-mails,
phones and free texts (a decline's comment, an acceptance's comment, a re-orientation's
reason, a nudge's message, a withdrawal's reason), then every workflow's history exported
two ways (the client's `fetch_history`, and the `temporal` CLI decoding through passnum's
codec endpoint) holds none of them, raw or decoded. The texts are in the records, where
the timeline and the mail read them by id.
"""

from __future__ import annotations

import asyncio
import base64
import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from google.protobuf.message import Message
from sqlmodel import select
from temporalio.api.common.v1 import Payload

from config import Settings
from records import models
from stack.devserver import temporal_binary
from temporal_client import ENCRYPTED_ENCODING, data_converter
from tests.fixtures.api import Stack, refer_over_api

PEOPLE = [
    {
        "first_name": "Zéphyrine",
        "last_name": "Quixotéa-Brabançon",
        "email": "zephyrine.quixotea@courriel-prive.example",
        "phone": "06 98 76 54 31",
        "commune": "Espalion",
    },
    {
        "first_name": "Anatole",
        "last_name": "Wyrzykowski",
        "email": "a.wyrzykowski+pass@boite-perso.example",
        "phone": "+33 7 81 92 63 54",
        "commune": "Rodez",
    },
]
TEXTS = {
    "decline": "Zéphyrine Quixotéa-Brabançon ne vient pas le mardi : TEXTE-REFUS-4Q7",
    "accept": "Anatole Wyrzykowski arrive jeudi, joignable au 07 81 92 63 54 TEXTE-ACCORD-9Z",
    "reorient": "Mme Quixotéa-Brabançon habite trop loin TEXTE-REORIENTATION-2K",
    "nudge": "Rappelez Zéphyrine au 06 98 76 54 31 TEXTE-RELANCE-8M",
    "withdraw": "Zéphyrine déménage (zephyrine.quixotea@courriel-prive.example) TEXTE-SORTIE-5W",
}
CONSENT = {"given": True, "text": "J'accepte que mes données servent à mon parcours."}


def needles() -> list[str]:
    """Every string that must not appear in Temporal, and telling parts of them (the
    phone's digits however typed, a surname alone, the texts' markers)."""
    found: list[str] = []
    for p in PEOPLE:
        found += [p["first_name"], p["last_name"], p["email"], p["phone"]]
        found.append(p["phone"].replace(" ", ""))
        found.append(p["email"].split("@")[0])
    found += ["Wyrzykowski", "Quixot", "0698765431", "781926354"]
    found += list(TEXTS.values())
    found += [t.rsplit(" ", 1)[-1] for t in TEXTS.values()]  # TEXTE-…-XXX markers
    return found


def forms(text: str) -> list[bytes]:
    """A string as it may sit in bytes: UTF-8, JSON-escaped (\\u00e9), and base64 of UTF-8."""
    escaped = json.dumps(text)[1:-1].encode()
    return [text.encode(), escaped, base64.b64encode(text.encode())]


def leaks(blob: bytes) -> list[str]:
    lowered = blob.lower()
    return [n for n in needles() if any(f.lower() in lowered for f in forms(n))]


def payloads_of(message: Message) -> Iterator[Payload]:
    """Every Payload inside a protobuf message (an event), at any depth, but search
    attributes' (never encoded: opaque values, checked apart)."""
    for descriptor, value in message.ListFields():
        if descriptor.message_type is None or descriptor.name == "search_attributes":
            continue
        if isinstance(value, Message):
            items = [value]
        elif descriptor.message_type.GetOptions().map_entry:
            items = list(value.values())  # a map: its values
        else:
            items = list(value)  # a repeated field
        for item in items:
            if isinstance(item, Payload):
                yield item
            elif isinstance(item, Message):
                yield from payloads_of(item)


async def post(
    stack: Stack,
    path: str,
    who: str,
    body: dict[str, Any] | None,
    key: str | None = None,
    status: int = 200,
) -> Any:
    r = await stack.http.post(
        path, json=body, headers={**stack.auth(who), "Idempotency-Key": key or str(uuid.uuid4())}
    )
    assert r.status_code == status, (path, r.text)
    return r.json()


async def scenario(stack: Stack) -> list[str]:
    """Two journeys through the API: one declined, re-oriented, nudged and withdrawn; one
    accepted with a comment. Their ids."""
    mediation = stack.people["med"].mediation_structure_id
    assessment = {"tool": "PIX", "autonomy": "BEGINNER", "needs": ["EMAIL"]}
    ids = []
    for person in PEOPLE:
        jid = await refer_over_api(stack, person, CONSENT)
        base = f"/api/v1/journeys/{jid}"
        await post(stack, f"{base}/assessments", "sw", assessment)
        await post(stack, f"{base}/booklet", "sw", None)
        await post(stack, f"{base}/orientation", "sw", {"mediation_structure_id": mediation})
        ids.append(jid)
    first, second = (f"/api/v1/journeys/{jid}" for jid in ids)
    declined = {
        "mediation_structure_id": mediation,
        "accept": False,
        "decline_reason": "OTHER",
        "comment": TEXTS["decline"],
    }
    await post(stack, f"{first}/orientation/answer", "med", declined)
    reoriented = {"mediation_structure_id": mediation, "reason": TEXTS["reorient"]}
    await post(stack, f"{first}/reorient", "coord_all", reoriented)
    nudge_key = str(uuid.uuid4())
    for _ in range(2):  # sent again with its key: one nudge, one text
        await post(stack, f"{first}/nudge", "coord_all", {"message": TEXTS["nudge"]}, nudge_key)
    await post(stack, f"{first}/withdraw", "coord_all", {"reason": TEXTS["withdraw"]})
    # Refused (the journey is closed): its text is taken back, nothing is kept.
    await post(stack, f"{first}/withdraw", "coord_all", {"reason": "Refusé"}, status=409)
    accepted = {"mediation_structure_id": mediation, "accept": True, "comment": TEXTS["accept"]}
    await post(stack, f"{second}/orientation/answer", "med", accepted)
    return ids


async def cli_history(address: str, workflow_id: str, codec: str, token: str) -> bytes:
    """`temporal workflow show --output json`, decoding through the codec endpoint."""
    proc = await asyncio.create_subprocess_exec(
        str(temporal_binary()),
        "workflow",
        "show",
        "--address",
        address,
        "--namespace",
        "default",
        "--workflow-id",
        workflow_id,
        "--output",
        "json",
        "--codec-endpoint",
        codec,
        "--codec-auth",
        f"Bearer {token}",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), timeout=120)
    assert proc.returncode == 0, err.decode()
    return out


def decoded_data(document: Any) -> Iterator[bytes]:
    """The data of every payload in a history's JSON (base64 `data` beside `metadata`)."""
    if isinstance(document, dict):
        if "data" in document and "metadata" in document and isinstance(document["data"], str):
            yield base64.b64decode(document["data"])
        for value in document.values():
            yield from decoded_data(value)
    elif isinstance(document, list):
        for value in document:
            yield from decoded_data(value)


async def test_no_name_email_phone_or_free_text_reaches_temporal(  # type: ignore[no-untyped-def]
    api_stack, dev_server, tmp_path_factory: pytest.TempPathFactory
) -> None:
    stack: Stack = api_stack
    ids = await scenario(stack)
    client = dev_server.client
    converter = data_converter(Settings())

    # The texts are in the records, and the timeline reads them back by id.
    with stack.sessions() as s:
        held = [t.text for t in s.exec(select(models.FreeText)).all()]
        logged = s.exec(select(models.TransitionLog)).all()
    assert sorted(t or "" for t in held) == sorted(TEXTS.values())  # once each, none refused
    assert not leaks(" ".join(r.reason or "" for r in logged).encode())
    assert sum(r.free_text_id is not None for r in logged) == len(TEXTS)
    r = await stack.http.get(f"/api/v1/journeys/{ids[0]}/timeline", headers=stack.auth("sw"))
    reasons = [e["reason"] for e in r.json()]
    for text in ("decline", "reorient", "nudge", "withdraw"):
        assert TEXTS[text] in reasons

    # Every workflow of the stack's task queue, exported with the client.
    query = f'TaskQueue="{stack.settings.temporal_task_queue}"'
    workflow_ids = [w.id async for w in client.list_workflows(query)]
    assert {f"journey-{jid}" for jid in ids} <= set(workflow_ids)
    decoded_seen = 0
    for workflow_id in workflow_ids:
        history = await client.get_workflow_handle(workflow_id).fetch_history()
        raw = b"".join(e.SerializeToString() for e in history.events)
        assert leaks(raw) == [], workflow_id
        assert leaks(history.to_json().encode()) == [], workflow_id
        # Every payload is encrypted but the SDK's patch markers (written by its core: the
        # patch's id only).
        payloads = [p for e in history.events for p in payloads_of(e)]
        markers = [e for e in history.events if e.HasField("marker_recorded_event_attributes")]
        assert all(
            p.metadata["encoding"] == ENCRYPTED_ENCODING
            for e in history.events
            if not e.HasField("marker_recorded_event_attributes")
            for p in payloads_of(e)
        )
        assert len(payloads) > len(markers)
        assert converter.payload_codec is not None
        for p in await converter.payload_codec.decode(payloads):  # what the codec opens
            assert leaks(p.data) == [], workflow_id
            decoded_seen += ids[0].encode() in p.data
        for e in history.events:  # search attributes: opaque values only
            for field in ("workflow_execution_started", "upsert_workflow_search_attributes"):
                name = f"{field}_event_attributes"
                if e.HasField(name):
                    assert leaks(getattr(e, name).search_attributes.SerializeToString()) == []
    assert decoded_seen > 10  # decoding works: the journey's id is in its payloads

    # The same histories through the CLI, decoded by the codec endpoint (a programme
    # coordinator's token): readable, and still nothing personal.
    address = client.service_client.config.target_host
    codec = f"{stack.base_url}/api/v1/temporal-codec"
    for jid in ids:
        out = await cli_history(address, f"journey-{jid}", codec, stack.people["coord_all"].token)
        assert leaks(out) == []
        data = list(decoded_data(json.loads(out)))
        assert any(jid.encode() in d for d in data)  # decoded, not ciphertext
        assert all(leaks(d) == [] for d in data)

    # Nor the dev server's own database (SQLite file and its write-ahead log).
    files = list(tmp_path_factory.getbasetemp().glob("temporal-dev*/temporal.db*"))
    assert files
    for path in files:
        assert leaks(path.read_bytes()) == [], path.name
