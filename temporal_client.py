"""How passnum talks to Temporal: clients with passnum's data converter, in one place.

Every process connects through here: the API (`api/app.py`), the worker (`worker.py`), the
embedded stack (`stack/up.py`) and the benchmarks. Payloads are pydantic JSON
(`temporalio.contrib.pydantic.pydantic_data_converter`) for every client; the worker reads
them with the same wire format but builds each type's pydantic adapter once per process
(`worker_client`). This module imports no workflow, activity or mail code: the API loads
only what a client needs.
"""

from __future__ import annotations

import functools
import typing
from typing import Any

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
    DefaultPayloadConverter,
    JSONPlainPayloadConverter,
)

from config import Settings

# The converter of every passnum client (and of test and benchmark environments).
DATA_CONVERTER = pydantic_data_converter


async def connect(settings: Settings) -> Client:
    """A client of the server and namespace the settings name."""
    return await connect_to(settings.temporal_address, namespace=settings.temporal_namespace)


async def connect_to(address: str, *, namespace: str = "default") -> Client:
    """A client of the given server (`host:port`), with passnum's data converter."""
    return await Client.connect(address, namespace=namespace, data_converter=DATA_CONVERTER)


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
    """The same connection, with the shared-adapter converter (same payloads on the wire)."""
    converter = client.data_converter
    if converter.payload_converter_class is not DATA_CONVERTER.payload_converter_class:
        return client  # a caller's own converter: keep it
    config = client.config()
    config["data_converter"] = DataConverter(
        payload_converter_class=SharedAdaptersPayloadConverter,
        payload_codec=converter.payload_codec,
        failure_converter_class=converter.failure_converter_class,
    )
    return Client(**config)
