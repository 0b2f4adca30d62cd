"""The embedded stack's dev server: persistence across restarts, search attributes, leftovers."""

from __future__ import annotations

import os
import signal
import socket
import uuid
from pathlib import Path

import pytest
from temporalio.api.operatorservice.v1 import ListSearchAttributesRequest
from temporalio.client import WorkflowExecutionStatus

from config import Settings
from domain.contracts import SEARCH_ATTRIBUTES
from stack.devserver import DevServer, StackError, _alive, temporal_binary
from stack.up import connect_when_ready, missing_search_attributes


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def make_server(data_dir: Path) -> DevServer:
    return DevServer(
        binary=temporal_binary(),
        data_dir=data_dir,
        host="127.0.0.1",
        port=free_port(),
        ui_port=free_port(),
        namespace="passnum-test",
    )


def settings_for(dev: DevServer) -> Settings:
    return Settings(
        data_dir=dev.data_dir,
        temporal_address=f"{dev.host}:{dev.port}",
        temporal_namespace=dev.namespace,
    )


async def test_restart_keeps_workflows_and_search_attributes(tmp_path: Path) -> None:
    dev = make_server(tmp_path)
    dev.start()
    try:
        client = await connect_when_ready(settings_for(dev), dev)
        assert await missing_search_attributes(client, dev.namespace) == []
        workflow_id = f"persist-{uuid.uuid4()}"
        # No worker polls this queue: the workflow simply stays open, in the database.
        await client.start_workflow("Nobody", id=workflow_id, task_queue="nobody-polls")
        assert (tmp_path / "temporal.pid").read_text() == str(dev.process.pid)  # type: ignore[union-attr]
    finally:
        dev.stop()
    assert not (tmp_path / "temporal.pid").exists()

    # Same data folder, same search attributes given again: starts, and remembers.
    dev = make_server(tmp_path)
    dev.start()
    try:
        client = await connect_when_ready(settings_for(dev), dev)
        assert await missing_search_attributes(client, dev.namespace) == []
        described = await client.get_workflow_handle(workflow_id).describe()
        assert described.status == WorkflowExecutionStatus.RUNNING
        custom = await client.operator_service.list_search_attributes(
            ListSearchAttributesRequest(namespace=dev.namespace)
        )
        assert set(SEARCH_ATTRIBUTES) <= set(custom.custom_attributes)
    finally:
        dev.stop()


async def test_leftover_server_of_a_killed_run_is_stopped(tmp_path: Path) -> None:
    first = make_server(tmp_path)
    first.start()
    leftover_pid = first.process.pid  # type: ignore[union-attr]
    # Simulate a hard-killed `passnum up`: its dev server still runs, its pid file remains.
    first.process = None
    second = make_server(tmp_path)
    try:
        second.start()
        assert not _alive(leftover_pid)
        await connect_when_ready(settings_for(second), second)
    finally:
        second.stop()
        if _alive(leftover_pid):  # only if the test failed: do not leak the process
            os.kill(leftover_pid, signal.SIGKILL)


async def test_busy_port_is_a_clear_error(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        dev = make_server(tmp_path)
        dev.port = busy.getsockname()[1]
        with pytest.raises(StackError, match="déjà utilisé"):
            dev.start()
    assert dev.process is None


async def test_unreachable_temporal_is_a_clear_error(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr("stack.up.TEMPORAL_STARTUP_TIMEOUT_S", 1.0)
    settings = Settings(data_dir=tmp_path, temporal_address=f"127.0.0.1:{free_port()}")
    with pytest.raises(StackError, match="ne répond pas"):
        await connect_when_ready(settings, None)
