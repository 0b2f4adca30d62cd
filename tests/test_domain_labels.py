"""Labelled enums (domain/labels.py): one French label per member, from one table per enum."""

from __future__ import annotations

import pytest

from api.cheque_service import LookupVerdict
from domain import needs, stages
from domain.labels import Labelled, labels
from notifications.categories import Category

LABELLED = [
    stages.Stage,
    stages.Outcome,
    stages.OrientationStatus,
    stages.DeclineReason,
    stages.ChequeStatus,
    stages.Action,
    needs.AssessmentTool,
    needs.AutonomyLevel,
    needs.Theme,
    needs.SessionKind,
    needs.SessionPlace,
    needs.Equipment,
    Category,
    LookupVerdict,
]


@pytest.mark.parametrize("enum", LABELLED, ids=lambda e: e.__name__)
def test_every_member_has_a_french_label_and_keeps_its_value(enum: type[Labelled]) -> None:
    for member in enum:
        assert member.label.strip() and member.label != member.value
        assert isinstance(member, str) and member == member.value
    assert enum.options() == [(m.value, m.label) for m in enum]
    assert enum.table() == dict(enum.options())


def test_labels_are_the_tables_of_record() -> None:
    assert stages.Stage.REFERRED.label == "Orienté vers le dispositif"
    assert needs.SessionPlace.options() == [
        ("ON_SITE", "Dans la structure"),
        ("AT_HOME", "À domicile"),
        ("REMOTE", "À distance"),
    ]
    assert LookupVerdict.NOT_YET_VALID.label == "Pas encore valable"


def test_a_table_missing_a_member_is_refused() -> None:
    class Colour(Labelled):
        RED = "RED"
        BLUE = "BLUE"

    with pytest.raises(ValueError, match="BLUE"):
        labels(Colour, {Colour.RED: "Rouge"})
    labels(Colour, {Colour.RED: "Rouge", Colour.BLUE: "Bleu"})
    assert Colour.BLUE.label == "Bleu"


def test_a_table_of_another_enum_is_refused() -> None:
    class One(Labelled):
        A = "A"

    with pytest.raises(ValueError, match="foreign"):
        labels(One, {One.A: "a", stages.Stage.REFERRED: "b"})  # type: ignore[dict-item]
