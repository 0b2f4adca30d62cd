"""JSON API: the programme's policy (administrators), the same service as
/administration/regles. A change reaches journeys referred afterwards; running journeys
keep the policy they started with."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from api import policy_service
from api.auth import CurrentUser
from api.deps import IdempotencyKey, State
from api.errors import error_responses
from domain.policy import BOUNDS

router = APIRouter(prefix="/api/v1", tags=["programme policy"])


class PolicyIn(BaseModel):
    """Every editable value (bounds: see `bounds` in the answer of GET). Days for the
    deadlines, months for the grace after the millésime, cents for the cheque value."""

    model_config = ConfigDict(extra="forbid")

    referred_reminder_days: int
    referred_stalled_days: int
    assessed_reminder_days: int
    assessed_stalled_days: int
    booklet_issued_reminder_days: int
    booklet_issued_stalled_days: int
    in_training_reminder_days: int
    in_training_stalled_days: int
    orientation_reminder_days: int
    orientation_expiry_days: int
    retention_days: int
    grace_months: int
    cheques_per_booklet: int
    cheque_value_cents: int


class BoundOut(BaseModel):
    label: str
    unit: str
    min: int
    max: int


class PolicyOut(BaseModel):
    values: PolicyIn
    bounds: dict[str, BoundOut]
    frozen: list[str] = Field(description="Values that can no longer change (cheques issued).")
    running_journeys: str = Field(description="What a change does to running journeys.")


def _out(view: policy_service.PolicyView) -> PolicyOut:
    return PolicyOut(
        values=PolicyIn(**view.values),
        bounds={
            name: BoundOut(label=b.label, unit=b.unit, min=b.low, max=b.high)
            for name, b in view.bounds.items()
        },
        frozen=list(view.frozen),
        running_journeys=policy_service.RUNNING_JOURNEYS,
    )


assert set(PolicyIn.model_fields) == set(BOUNDS)


@router.get("/programme/policy", responses=error_responses(401, 403))
async def get_policy(state: State, user: CurrentUser) -> PolicyOut:
    """The policy new journeys of the programme start with (administrators)."""
    return _out(await state.db.run(lambda s: policy_service.read(s, user)))


@router.put("/programme/policy", responses=error_responses(401, 403, 409, 422))
async def put_policy(
    body: PolicyIn, state: State, user: CurrentUser, key: IdempotencyKey = None
) -> PolicyOut:
    """Replace the policy for journeys referred from now on (422 `policy_refused`, a
    French message per refused field in `details`: nothing changes). Running journeys
    keep the policy they started with."""
    return _out(await policy_service.change(state, user, body.model_dump(), key))
