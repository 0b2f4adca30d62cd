"""How passnum talks to Temporal: clients with passnum's data converter, in one place.

Every process connects through here: the API (`api/app.py`), the worker (`worker.py`), the
embedded stack (`stack/up.py`), the benchmarks and the tests' environments. Payloads are
pydantic JSON (`temporalio.contrib.pydantic.pydantic_data_converter`), then encrypted by
`EncryptionCodec` (AES-256-GCM under `PASSNUM_PAYLOAD_KEY`): workflow inputs, update
arguments and results, activity inputs, queries and failures' details reach the Temporal
server as ciphertext. Payloads written before the codec (plain JSON) are read as they are,
so recorded histories replay. The worker reads payloads with the same wire format but builds
each type's pydantic adapter once per process (`worker_client`). The API's codec endpoint
(`api/routes/codec.py`) lets the Temporal UI show decoded histories to a coordinator.

Workflow ids and search attributes are never encrypted: they hold opaque values only. This
module imports no workflow, activity or mail code: the API loads only what a client needs.
"""

from __future__ import annotations

import dataclasses
import functools
import typing
from collections.abc import Sequence
from typing import Any, Protocol

import temporalio.api.common.v1
from pydantic import TypeAdapter
from temporalio.client import Client
from temporalio.contrib.pydantic import (
    PydanticJSONPlainPayloadConverter,
    pydantic_data_converter,
)
from temporalio.converter import (
    CompositePayloadConverter,
    DataConverter,
    DefaultFailureConverterWithEncodedAttributes,
    DefaultPayloadConverter,
    JSONPlainPayloadConverter,
    PayloadCodec,
)

from config import Settings

# Payloads as JSON, unencrypted: what histories recorded before the codec hold, and the
# benchmark's "without codec" side. Never for a client of a real deployment.
PLAIN_CONVERTER = pydantic_data_converter

Payload = temporalio.api.common.v1.Payload

ENCRYPTED_ENCODING = b"binary/encrypted"
KEY_ID_METADATA = "encryption-key-id"


class Cipher(Protocol):
    """What the codec needs of a keyring (`records.keyring.Keyring`, from the settings)."""

    @property
    def key_id(self) -> str: ...

    def seal(self, plain: bytes, associated: bytes | None = None) -> bytes: ...

    def open(self, key_id: str, sealed: bytes, associated: bytes | None = None) -> bytes: ...


class EncryptionCodec(PayloadCodec):
    """Each payload, whole (metadata and data, as protobuf bytes), encrypted with AES-256-GCM
    under the current key; its metadata says `binary/encrypted` and which key. Decoding
    opens it with that key (the current one or a former one: a rotation keeps histories
    readable) and passes through any payload without that encoding: those written before
    the codec."""

    def __init__(self, cipher: Cipher) -> None:
        self._cipher = cipher

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return [self.encrypt(p) for p in payloads]

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return [self.decrypt(p) for p in payloads]

    def encrypt(self, payload: Payload) -> Payload:
        cipher = self._cipher
        return Payload(
            metadata={
                "encoding": ENCRYPTED_ENCODING,
                KEY_ID_METADATA: cipher.key_id.encode(),
            },
            data=cipher.seal(payload.SerializeToString(), ENCRYPTED_ENCODING),
        )

    def decrypt(self, payload: Payload) -> Payload:
        """The payload as it was before `encrypt`; unchanged if not encrypted; ValueError if
        it does not open (a key not in the keyring, tampered data)."""
        if payload.metadata.get("encoding") != ENCRYPTED_ENCODING:
            return payload
        key_id = payload.metadata.get(KEY_ID_METADATA, b"").decode()
        return Payload.FromString(self._cipher.open(key_id, payload.data, ENCRYPTED_ENCODING))


def codec(settings: Settings) -> EncryptionCodec:
    """The payload codec of the keys the settings name."""
    return EncryptionCodec(settings.payload_keyring)


def data_converter(settings: Settings) -> DataConverter:
    """The converter of every passnum client (and of test and benchmark environments):
    pydantic JSON, encrypted with the settings' payload keys; failures' messages and stack
    traces move into an encrypted payload too (an activity's error may quote data)."""
    return dataclasses.replace(
        PLAIN_CONVERTER,
        payload_codec=codec(settings),
        failure_converter_class=DefaultFailureConverterWithEncodedAttributes,
    )


async def connect(settings: Settings) -> Client:
    """A client of the server and namespace the settings name."""
    return await connect_to(
        settings.temporal_address, namespace=settings.temporal_namespace, settings=settings
    )


async def connect_to(
    address: str, *, namespace: str = "default", settings: Settings | None = None
) -> Client:
    """A client of the given server (`host:port`), with passnum's data converter (the
    payload keys of `settings`, by default the environment's)."""
    return await Client.connect(
        address, namespace=namespace, data_converter=data_converter(settings or Settings())
    )


# ---- the worker's payload converter, with pydantic adapters shared by all workflow runs ----

# Packages whose types are the same objects inside and outside the workflow sandbox (passed
# through by worker.PASSTHROUGH_MODULES, or never sandboxed).
_SHARED_TYPE_PACKAGES = frozenset({"domain", "builtins", "datetime", "typing", "types", "uuid"})


def _shareable(hint: Any) -> bool:
    args = typing.get_args(hint)
    if args:
        return _shareable(typing.get_origin(hint)) and all(_shareable(a) for a in args)
    module = getattr(hint, "__module__", None) or ""
    return module.partition(".")[0] in _SHARED_TYPE_PACKAGES


@functools.lru_cache(maxsize=256)
def _shared_adapter(hint: Any) -> TypeAdapter[Any]:
    return TypeAdapter(hint)


class _SharedAdaptersJSONConverter(PydanticJSONPlainPayloadConverter):
    """The pydantic JSON converter, building each type's TypeAdapter once per process.

    The SDK gives every workflow run a new payload converter, hence a new adapter cache:
    each journey rebuilt the adapters of every update argument it received. Only types of
    passed-through modules are shared: a type defined inside a sandbox must not outlive it.
    """

    def from_payload(
        self, payload: temporalio.api.common.v1.Payload, type_hint: type | None = None
    ) -> Any:
        if type_hint is not None:
            try:
                if _shareable(type_hint):
                    return _shared_adapter(type_hint).validate_json(payload.data)
            except TypeError:  # an unhashable hint: no cache
                pass
        return super().from_payload(payload, type_hint)


class SharedAdaptersPayloadConverter(CompositePayloadConverter):
    """Same wire format as `pydantic_data_converter`'s payload converter."""

    def __init__(self) -> None:
        json_converter = _SharedAdaptersJSONConverter()
        super().__init__(
            *(
                json_converter if isinstance(c, JSONPlainPayloadConverter) else c
                for c in DefaultPayloadConverter.default_encoding_payload_converters
            )
        )


def worker_client(client: Client) -> Client:
    """The same connection, with the shared-adapter converter (same payloads on the wire,
    the client's codec kept)."""
    converter = client.data_converter
    if converter.payload_converter_class is not PLAIN_CONVERTER.payload_converter_class:
        return client  # a caller's own converter: keep it
    config = client.config()
    config["data_converter"] = DataConverter(
        payload_converter_class=SharedAdaptersPayloadConverter,
        payload_codec=converter.payload_codec,
        failure_converter_class=converter.failure_converter_class,
    )
    return Client(**config)
