"""Money display and the table of allowed stage transitions."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.money import format_euros
from domain.stages import OPEN_STAGES, TRANSITIONS, Stage, can_move

NBSP = "\u00a0"  # before the euro sign
NNBSP = "\u202f"  # thousands separator


@pytest.mark.parametrize(
    ("cents", "text"),
    [
        (0, f"0,00{NBSP}€"),
        (5, f"0,05{NBSP}€"),
        (99, f"0,99{NBSP}€"),
        (1000, f"10,00{NBSP}€"),
        (100_000, f"1{NNBSP}000,00{NBSP}€"),
        (30_000_000, f"300{NNBSP}000,00{NBSP}€"),
        (106_492_000, f"1{NNBSP}064{NNBSP}920,00{NBSP}€"),
        (-1050, f"-10,50{NBSP}€"),
    ],
)
def test_format_euros(cents: int, text: str) -> None:
    assert format_euros(cents) == text


@given(st.integers(-(10**12), 10**12))
def test_format_euros_keeps_every_cent(cents: int) -> None:
    text = format_euros(cents)
    assert text.endswith(f"{NBSP}€")
    assert " " not in text  # only no-break spaces: the amount never wraps
    number = text.removesuffix(f"{NBSP}€").replace(NNBSP, "").replace(",", "")
    assert int(number) == cents
    euros = text.removesuffix(f"{NBSP}€").split(",")[0].lstrip("-")
    groups = euros.split(NNBSP)
    assert all(len(g) == 3 for g in groups[1:]) and 1 <= len(groups[0]) <= 3


def test_every_stage_has_a_row_and_a_french_label() -> None:
    assert set(TRANSITIONS) == set(Stage)
    assert all(targets <= set(Stage) for targets in TRANSITIONS.values())
    assert all(stage.label for stage in Stage)


def test_nothing_leaves_anonymised() -> None:
    assert all(not can_move(Stage.ANONYMISED, target) for target in Stage)


def test_closed_only_goes_to_anonymised() -> None:
    assert {t for t in Stage if can_move(Stage.CLOSED, t)} == {Stage.ANONYMISED}


def test_every_open_stage_may_close_and_none_may_anonymise() -> None:
    assert set(Stage) - {Stage.CLOSED, Stage.ANONYMISED} == OPEN_STAGES
    for stage in OPEN_STAGES:
        assert can_move(stage, Stage.CLOSED)
        assert not can_move(stage, Stage.ANONYMISED)


def test_nothing_goes_back_to_referral_or_skips_the_booklet() -> None:
    for current, target in itertools.product(Stage, Stage):
        if target == Stage.REFERRED:
            assert not can_move(current, target)
    # Training needs a booklet: only a booklet holder (oriented or not) may start it.
    assert {s for s in Stage if can_move(s, Stage.IN_TRAINING)} == {
        Stage.BOOKLET_ISSUED,
        Stage.ORIENTED,
        Stage.IN_TRAINING,
    }


def test_main_path_is_allowed() -> None:
    path = [
        Stage.REFERRED,
        Stage.ASSESSED,
        Stage.BOOKLET_ISSUED,
        Stage.ORIENTED,
        Stage.IN_TRAINING,
        Stage.CLOSED,
        Stage.ANONYMISED,
    ]
    assert all(can_move(a, b) for a, b in itertools.pairwise(path))


def test_every_stage_is_reachable_from_referral() -> None:
    seen, todo = {Stage.REFERRED}, [Stage.REFERRED]
    while todo:
        for target in TRANSITIONS[todo.pop()]:
            if target not in seen:
                seen.add(target)
                todo.append(target)
    assert seen == set(Stage)
