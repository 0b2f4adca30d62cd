"""The programme's policy as administrators read and change it, for the JSON API
(/api/v1/programme/policy) and the page /administration/regles alike.

A change is checked whole (domain.policy.policy_problems: bounds, each reminder before its
deadline; cheque value and grace fixed once a cheque is issued, records.policy) and refused
with a French message per field, changing nothing; else written with its audit entry in one
unit of work. It reaches journeys referred afterwards only: a journey's workflow keeps the
policy it was started with (it is in its input), so running journeys keep theirs.
Sent again with the same key (API Idempotency-Key, page form id), a change is answered
with the policy in force and changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlmodel import Session

from api import access
from api import programme_reads as reads
from api.auth import User, now_utc
from api.deps import AppState
from api.errors import ApiError
from api.idempotency import claim, fingerprint
from domain import refusals as r
from domain.policy import BOUNDS, Bound, as_values, policy_problems
from domain.rights import AuditAction
from records import audit
from records import policy as stored

RUNNING_JOURNEYS = (
    "Les parcours en cours gardent les règles de leur orientation ; "
    "les nouvelles orientations prennent celles-ci."
)


@dataclass(frozen=True)
class PolicyView:
    values: dict[str, int]
    frozen: tuple[str, ...]  # fields that can no longer change
    bounds: dict[str, Bound]


def read(session: Session, user: User) -> PolicyView:
    access.require_admin(user)
    programme = reads.programme(session, user.programme_code)
    values = as_values(reads.policy_for(session, programme))
    return PolicyView(values, stored.frozen_fields(session, programme), BOUNDS)


async def change(
    state: AppState, user: User, values: dict[str, int], key: str | None
) -> PolicyView:
    """Make `values` the programme's policy for new journeys (422 `policy_refused`, with
    `details` [{field, message}], if any value is refused)."""
    access.require_admin(user)
    asked = {name: values.get(name) for name in BOUNDS}
    request_print = fingerprint(state.settings.secret_key.get_secret_value(), asked)

    def write(session: Session) -> PolicyView:
        programme = reads.programme(session, user.programme_code)
        before = as_values(reads.policy_for(session, programme))
        if key is not None:
            first = claim(
                session, scope=f"policy:{programme.code}", key=key, fingerprint=request_print
            )
            if not first:  # the same request again: the policy in force, nothing written
                return read(session, user)
        problems = policy_problems(values)
        for name in stored.frozen_fields(session, programme):
            if name not in problems and values.get(name) != before[name]:
                problems[name] = r.msg_policy_frozen(BOUNDS[name].label)
        if problems:  # the rollback takes the claim back
            raise ApiError(
                422,
                "policy_refused",
                r.MSG_POLICY_REFUSED,
                [{"field": name, "message": message} for name, message in problems.items()],
            )
        after = {name: values[name] for name in BOUNDS}
        # "10 → 8" per changed value: what the journal page shows
        changed = {n: f"{before[n]} → {after[n]}" for n in BOUNDS if before[n] != after[n]}
        if changed:
            stored.save(session, programme, after)
            audit.record(
                session,
                at=now_utc(),
                programme_code=programme.code,
                account_id=user.id,
                action=AuditAction.POLICY_CHANGED,
                target=f"programme:{programme.code}",
                details=changed,
            )
        return read(session, user)

    return await state.db.run(write, write=True)
