"""Recorded journey histories must replay against the current workflow code.

Journeys run for more than a year: a change to `workflows/` that is not patched
(`workflow.patched`) would break every running journey. The histories in
tests/histories/ come from `python -m tests.histories.record`.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer

from worker import sandbox_runner
from workflows.journey import JourneyWorkflow

HISTORIES = sorted((Path(__file__).parent / "histories").glob("*.json"))


def test_histories_are_recorded() -> None:
    assert {p.stem for p in HISTORIES} >= {"completed", "expired"}


def _load(path: Path) -> WorkflowHistory:
    return WorkflowHistory.from_json(f"journey-{path.stem}", path.read_text())


@pytest.mark.parametrize("path", HISTORIES, ids=lambda p: p.stem)
async def test_history_replays(path: Path) -> None:
    history = _load(path)
    assert len(history.events) > 100  # a whole journey, not a stub
    replayer = Replayer(
        workflows=[JourneyWorkflow],
        data_converter=pydantic_data_converter,
        workflow_runner=sandbox_runner(),
    )
    result = await replayer.replay_workflow(history)
    assert result.replay_failure is None
