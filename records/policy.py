"""A programme's policy as stored: `programme_policy` (calendar) and the programme's
cheques per booklet, cheque value and grace. `load` builds the domain.policy.JourneyPolicy a
new referral starts its workflow with; `save` writes checked values (flushed, not
committed: the caller's unit of work holds the audit entry too).

Cheque value and grace are read from the programme by the ledger, statements, exports and
pages for cheques already issued: `frozen_fields` says when they can no longer change (the
ledger and statements would otherwise value past cheques at the new amount, and pages show
another validity than the one a journey's workflow enforces).
"""

from __future__ import annotations

from sqlmodel import Session, select

from domain.policy import JourneyPolicy, as_values, from_values
from records.models import Cheque, Journey, JourneyPolicySnapshot, Programme, ProgrammePolicy

# The fields kept on `programme`, not on `programme_policy`.
ON_PROGRAMME = ("grace_months", "cheques_per_booklet", "cheque_value_cents")


def _calendar_fields() -> list[str]:
    return [name for name in ProgrammePolicy.model_fields if name != "programme_id"]


def load(session: Session, programme: Programme) -> JourneyPolicy:
    """The programme's policy (its calendar row, or the defaults without one)."""
    values = as_values(JourneyPolicy())
    row = session.get(ProgrammePolicy, programme.id)
    if row is not None:
        values.update({name: getattr(row, name) for name in _calendar_fields()})
    values.update({name: getattr(programme, name) for name in ON_PROGRAMME})
    return from_values(values)


def default_row(programme_id: int) -> ProgrammePolicy:
    """Today's defaults for a new programme."""
    values = as_values(JourneyPolicy())
    return ProgrammePolicy(
        programme_id=programme_id, **{name: values[name] for name in _calendar_fields()}
    )


def frozen_fields(session: Session, programme: Programme) -> tuple[str, ...]:
    """The values that can no longer change (see the module docstring): the grace once a
    journey exists, the cheque value once a cheque is issued."""
    code = programme.code
    frozen: list[str] = []
    if session.exec(select(Journey.id).where(Journey.programme_code == code)).first():
        frozen.append("grace_months")
    if session.exec(select(Cheque.serial).where(Cheque.programme_code == code)).first():
        frozen.append("cheque_value_cents")
    return tuple(frozen)


def remember(session: Session, journey_id: str, policy: JourneyPolicy) -> None:
    """Keep the policy a journey is referred with (its workflow holds it in its input)."""
    session.add(JourneyPolicySnapshot(journey_id=journey_id, values=as_values(policy)))
    session.flush()


def cheques_per_booklet(session: Session, journey_id: str, programme: Programme) -> int:
    """How many cheques the journey's booklet has (or will have): its referral's policy,
    else (journeys referred before policies were kept) the programme's."""
    row = session.get(JourneyPolicySnapshot, journey_id)
    if row is not None and "cheques_per_booklet" in row.values:
        return int(row.values["cheques_per_booklet"])
    return programme.cheques_per_booklet


def save(session: Session, programme: Programme, values: dict[str, int]) -> None:
    """Write `values` (checked by domain.policy.policy_problems) as the programme's policy."""
    assert programme.id is not None
    row = session.get(ProgrammePolicy, programme.id)
    if row is None:
        row = default_row(programme.id)
    for name in _calendar_fields():
        setattr(row, name, values[name])
    for name in ON_PROGRAMME:
        setattr(programme, name, values[name])
    session.add(row)
    session.add(programme)
    session.flush()
