"""Recorded journey histories must replay against the current workflow code.

Journeys run for more than a year: a change to `workflows/` that is not patched
(`workflow.patched`) would break every running journey. The histories in
tests/histories/ come from `python -m tests.histories.record`: the plain ones from the
code before the patches of workflows/journey.py, the `_v2` ones from the code with them;
`_notified` from `record_notified` (notice delivery), `expired_v3` and `locked` from
`record_secured` (a change of structure told to the previous one; booklet lock/unlock);
`lost` from `record_lost` (a booklet declared lost and replaced); `erased` from
`record_erased` (the person's data erased on request); `_outbox` from `record_outbox`
(notices sent by the worker's outbox dispatcher, no delivery activity).

All were recorded before the payload codec (plain JSON payloads) and replay with passnum's
converter (temporal_client.data_converter), whose codec passes them through; a history
written with the codec replays too (tests/test_temporal_codec.py). Free texts moved out of
the requests (ids instead of text) without changing any command: no patch, and these
histories, whose requests carried the text, replay unchanged.
"""

from __future__ import annotations

import ast
import base64
import json
import re
from collections import Counter
from pathlib import Path

import pytest
import temporalio.workflow
from temporalio.client import WorkflowHistory
from temporalio.worker import Replayer, WorkflowReplayResult

from config import Settings
from domain.contracts import (
    ACTIVITY_RECORD_EVENT,
    ACTIVITY_RECORD_EVENTS,
    SEARCH_ATTRIBUTES,
    U_DECLARE_BOOKLET_LOST,
    U_ERASE_ON_REQUEST,
    U_LOCK_BOOKLET,
    U_UNLOCK_BOOKLET,
)
from domain.mail import ACTIVITY_DELIVER_NOTICES
from temporal_client import data_converter
from worker import sandbox_runner
from workflows.journey import (
    PATCH_CHANGED_SEARCH_ATTRIBUTES,
    PATCH_DELIVER_FROM_OUTBOX,
    PATCH_DELIVER_NOTICES,
    PATCH_ERASE_ON_REQUEST,
    PATCH_LOST_BOOKLET,
    PATCH_NOTIFY_STRUCTURE_CHANGE,
    PATCH_RECORD_TOGETHER,
    JourneyWorkflow,
)

HERE = Path(__file__).parent / "histories"
HISTORIES = sorted(HERE.glob("*.json"))
SCENARIOS = ("completed", "expired", "calendar", "search_attributes")
# Recorded before the patches: every event with its own record activity, all four search
# attributes upserted on each (search_attributes only: the others run without them).
BEFORE_PATCHES = SCENARIOS
AFTER_PATCHES = tuple(f"{name}_v2" for name in SCENARIOS)
# The scenarios where a step makes several changes at once (closing session, calendar
# jobs due together) or search attributes are upserted: the patches change their commands.
PATCHED_PATHS = ("completed", "calendar", "search_attributes")


def test_histories_are_recorded() -> None:
    assert {p.stem for p in HISTORIES} >= {*BEFORE_PATCHES, *AFTER_PATCHES}


def _load(name: str) -> WorkflowHistory:
    return WorkflowHistory.from_json(f"journey-{name}", (HERE / f"{name}.json").read_text())


async def _replay(name: str) -> WorkflowReplayResult:
    replayer = Replayer(
        workflows=[JourneyWorkflow],
        data_converter=data_converter(Settings()),  # passes plain payloads through
        workflow_runner=sandbox_runner(),
    )
    return await replayer.replay_workflow(_load(name), raise_on_replay_failure=False)


@pytest.mark.parametrize("path", HISTORIES, ids=lambda p: p.stem)
async def test_history_replays(path: Path) -> None:
    assert len(_load(path.stem).events) > 100  # a whole journey, not a stub
    result = await _replay(path.stem)
    assert result.replay_failure is None


def _commands(name: str) -> Counter[str]:
    """Record activities, patch markers (by patch id) and passnum's search attributes
    upserted, in a history."""
    seen: Counter[str] = Counter()
    for event in json.loads((HERE / f"{name}.json").read_text())["events"]:
        kind = event["eventType"]
        if kind == "EVENT_TYPE_ACTIVITY_TASK_SCHEDULED":
            seen[event["activityTaskScheduledEventAttributes"]["activityType"]["name"]] += 1
        elif kind == "EVENT_TYPE_MARKER_RECORDED":
            for payload in event["markerRecordedEventAttributes"]["details"]["patch-data"][
                "payloads"
            ]:
                seen["patch:" + json.loads(base64.b64decode(payload["data"]))["id"]] += 1
        elif kind == "EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES":
            attrs = event["upsertWorkflowSearchAttributesEventAttributes"]["searchAttributes"]
            seen["upserted"] += sum(1 for k in attrs["indexedFields"] if k in SEARCH_ATTRIBUTES)
    return seen


@pytest.mark.parametrize("name", SCENARIOS)
def test_old_histories_take_the_old_paths_and_new_ones_the_new(name: str) -> None:
    old, new = _commands(name), _commands(f"{name}_v2")
    assert old[ACTIVITY_RECORD_EVENTS] == 0
    assert not any(key.startswith("patch:") for key in old)
    # The same journey records the same events, in fewer activity calls where it can.
    events_old = old[ACTIVITY_RECORD_EVENT]
    events_new = new[ACTIVITY_RECORD_EVENT] + new[ACTIVITY_RECORD_EVENTS]
    if name in PATCHED_PATHS:
        assert new[ACTIVITY_RECORD_EVENTS] >= 1
        assert events_new < events_old
        assert new[f"patch:{PATCH_RECORD_TOGETHER}"] == 1
    else:
        assert events_new == events_old  # no step records several events here
    if name == "search_attributes":
        assert new[f"patch:{PATCH_CHANGED_SEARCH_ATTRIBUTES}"] == 1
        assert old["upserted"] == 4 * events_old  # all four on every event
        assert new["upserted"] < old["upserted"] / 2


def test_a_change_of_structure_is_now_told_and_older_journeys_replay_without_it() -> None:
    """`expired` logs a session at another structure than the one awaiting an answer:
    recorded since `notify-structure-change` (expired_v3) it delivers one more notice."""
    old, new = _commands("expired_notified"), _commands("expired_v3")
    assert f"patch:{PATCH_NOTIFY_STRUCTURE_CHANGE}" not in old
    assert new[f"patch:{PATCH_NOTIFY_STRUCTURE_CHANGE}"] == 1
    assert new[ACTIVITY_DELIVER_NOTICES] == old[ACTIVITY_DELIVER_NOTICES] + 1


@pytest.mark.parametrize("name", ["completed", "expired"])
def test_notices_are_now_delivered_and_older_journeys_replay_without_it(name: str) -> None:
    """The same journey recorded since `deliver-notices` (`_notified`) starts one delivery
    activity per event with notices; recorded before it (`_v2`), none."""
    old, new = _commands(f"{name}_v2"), _commands(f"{name}_notified")
    assert f"patch:{PATCH_DELIVER_NOTICES}" not in old and old[ACTIVITY_DELIVER_NOTICES] == 0
    assert new[f"patch:{PATCH_DELIVER_NOTICES}"] == 1
    assert new[ACTIVITY_DELIVER_NOTICES] >= 1
    events_old = old[ACTIVITY_RECORD_EVENT] + old[ACTIVITY_RECORD_EVENTS]
    assert new[ACTIVITY_RECORD_EVENT] + new[ACTIVITY_RECORD_EVENTS] == events_old


@pytest.mark.parametrize(
    ("old_name", "name"),
    [("completed_notified", "completed_outbox"), ("expired_v3", "expired_outbox")],
)
def test_notices_now_leave_through_the_outbox_and_older_journeys_replay_with_activities(
    old_name: str, name: str
) -> None:
    """The same journey recorded since `deliver-from-outbox` starts no delivery activity
    (the worker's dispatcher sends the notices) and records the same events; its history
    is shorter by each delivery's activity and workflow task."""
    old, new = _commands(old_name), _commands(name)
    assert f"patch:{PATCH_DELIVER_FROM_OUTBOX}" not in old and old[ACTIVITY_DELIVER_NOTICES] >= 1
    assert new[f"patch:{PATCH_DELIVER_FROM_OUTBOX}"] == 1
    assert new[ACTIVITY_DELIVER_NOTICES] == 0
    assert f"patch:{PATCH_DELIVER_NOTICES}" not in new
    events_old = old[ACTIVITY_RECORD_EVENT] + old[ACTIVITY_RECORD_EVENTS]
    assert new[ACTIVITY_RECORD_EVENT] + new[ACTIVITY_RECORD_EVENTS] == events_old
    assert len(_load(name).events) < len(_load(old_name).events)


def _updates(name: str) -> Counter[str]:
    seen: Counter[str] = Counter()
    for event in json.loads((HERE / f"{name}.json").read_text())["events"]:
        if event["eventType"] == "EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED":
            attrs = event["workflowExecutionUpdateAcceptedEventAttributes"]
            seen[attrs["acceptedRequest"]["input"]["name"]] += 1
    return seen


def test_the_locked_history_holds_a_lock_and_an_unlock() -> None:
    updates = _updates("locked")
    assert updates[U_LOCK_BOOKLET] == 1 and updates[U_UNLOCK_BOOKLET] == 1
    assert _commands("locked")[f"patch:{PATCH_NOTIFY_STRUCTURE_CHANGE}"] == 1


def test_the_lost_history_replaces_a_booklet_once() -> None:
    assert _updates("lost")[U_DECLARE_BOOKLET_LOST] == 1
    commands = _commands("lost")
    assert commands[f"patch:{PATCH_LOST_BOOKLET}"] == 1
    assert commands["allocate_booklet_number"] == 2  # the booklet, then its replacement
    for name in ("completed_notified", "expired_v3", "locked"):  # recorded before it
        assert f"patch:{PATCH_LOST_BOOKLET}" not in _commands(name)


def test_the_erased_history_erases_once_and_anonymises_without_waiting() -> None:
    assert _updates("erased")[U_ERASE_ON_REQUEST] == 1
    commands = _commands("erased")
    assert commands[f"patch:{PATCH_ERASE_ON_REQUEST}"] == 1
    assert commands["anonymise_beneficiary"] == 1
    events = json.loads((HERE / "erased.json").read_text())["events"]
    assert not any(e["eventType"] == "EVENT_TYPE_TIMER_FIRED" for e in events)  # no retention wait
    for name in ("completed_notified", "expired_v3", "locked", "lost"):  # recorded before it
        assert f"patch:{PATCH_ERASE_ON_REQUEST}" not in _commands(name)


GUARDS = [
    ("completed", PATCH_RECORD_TOGETHER),
    ("calendar", PATCH_RECORD_TOGETHER),
    ("search_attributes", PATCH_RECORD_TOGETHER),
    ("search_attributes", PATCH_CHANGED_SEARCH_ATTRIBUTES),
]
# Older and newer histories of the same journey, by patch (old name, new name).
PAIRS = [
    *((name, f"{name}_v2", patch_id) for name, patch_id in GUARDS),
    ("completed_v2", "completed_notified", PATCH_DELIVER_NOTICES),
    ("expired_v2", "expired_notified", PATCH_DELIVER_NOTICES),
    ("expired_notified", "expired_v3", PATCH_NOTIFY_STRUCTURE_CHANGE),
    ("completed_notified", "completed_outbox", PATCH_DELIVER_FROM_OUTBOX),
    ("expired_v3", "expired_outbox", PATCH_DELIVER_FROM_OUTBOX),
]
# Patches of a new Update only: no older history runs it, so only the new history guards
# them (taking the old branch there fails). The older ones replay as they are (above).
NEW_ONLY = [("lost", PATCH_LOST_BOOKLET), ("erased", PATCH_ERASE_ON_REQUEST)]
# Every patch of the workflow is guarded by at least one pair above.
PATCHES = {
    PATCH_RECORD_TOGETHER,
    PATCH_CHANGED_SEARCH_ATTRIBUTES,
    PATCH_DELIVER_NOTICES,
    PATCH_NOTIFY_STRUCTURE_CHANGE,
    PATCH_LOST_BOOKLET,
    PATCH_ERASE_ON_REQUEST,
    PATCH_DELIVER_FROM_OUTBOX,
}


def _patched_calls() -> list[str]:
    """The argument of every `workflow.patched(...)` call in workflows/, as written."""
    found = []
    for module in sorted((Path(__file__).parent.parent / "workflows").glob("*.py")):
        for node in ast.walk(ast.parse(module.read_text())):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr == "patched"
            ):
                found.append(f"{module.stem}:{ast.unparse(node.args[0])}")
    return found


def test_every_patch_has_a_guard_test() -> None:
    source = (Path(__file__).parent.parent / "workflows" / "journey.py").read_text()
    declared = dict(re.findall(r'^(PATCH_\w+) = "([^"]+)"', source, flags=re.MULTILINE))
    assert set(declared.values()) == PATCHES
    guarded = {patch_id for _, _, patch_id in PAIRS} | {patch_id for _, patch_id in NEW_ONLY}
    assert guarded == PATCHES
    # Every guard in the workflows reads one of these ids (no literal, no other module's
    # patch without histories), and every id guards something.
    calls = _patched_calls()
    assert {f"journey:{name}" for name in declared} == set(calls), calls


@pytest.mark.parametrize(
    ("name", "patch_id", "forced"),
    [
        *((old, patch_id, True) for old, _, patch_id in PAIRS),
        *((new, patch_id, False) for _, new, patch_id in PAIRS),
        *((new, patch_id, False) for new, patch_id in NEW_ONLY),
    ],
)
async def test_each_patch_guards_the_histories(
    monkeypatch: pytest.MonkeyPatch, name: str, patch_id: str, forced: bool
) -> None:
    """Without one guard (its new branch taken on an old history, or its old branch on a
    new history) replay fails: the patches are what keep these journeys running."""
    real = temporalio.workflow.patched

    def patched(id: str) -> bool:
        return forced if id == patch_id else real(id)

    # The sandbox passes temporalio through: the workflow sees this `patched`.
    monkeypatch.setattr(temporalio.workflow, "patched", patched)
    result = await _replay(name)
    assert isinstance(result.replay_failure, temporalio.workflow.NondeterminismError)
