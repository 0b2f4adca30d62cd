"""One concrete person's plan, drawn from the simulator's assumptions with
`random.Random(seed)`: what a later run of real journeys needs to act out (referral day,
whether and when the assessment, the booklet, the orientation and its answer happen,
the sessions and the cheques each one pays).

A plan says what the person and the structures *intend*; the domain's rules decide what
becomes of it (the simulator's accounting in `engine`, or the real workflows): no
booklet outside the programme's period or once the stock is out, no session paid after
the cheques' validity, an orientation unanswered within its expiry expires.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import date, timedelta

from simulation.model import (
    Assumptions,
    SimProgramme,
    epci_weights,
    referral_calendar,
)


@dataclass(frozen=True)
class PersonPlan:
    """Delays in days, each from the step before (None: the step never happens)."""

    referred_on: date
    epci_id: int
    assessed_after: int | None  # from the referral
    booklet_after: int | None  # from the assessment
    prefers_next_millesime: bool  # takes next year's booklet when both are offered
    oriented_after: int | None  # from the booklet
    answered_after: int  # from the orientation (the structure's answer)
    accepts: bool
    first_session_after: int  # from the acceptance (not before the cheques' first day)
    session_gaps: tuple[int, ...]  # between consecutive sessions (one fewer than sessions)
    cheques_per_session: tuple[int, ...]  # one per session the person attends

    @property
    def assessed_on(self) -> date | None:
        if self.assessed_after is None:
            return None
        return self.referred_on + timedelta(days=self.assessed_after)

    @property
    def booklet_on(self) -> date | None:
        if self.assessed_on is None or self.booklet_after is None:
            return None
        return self.assessed_on + timedelta(days=self.booklet_after)

    @property
    def oriented_on(self) -> date | None:
        if self.booklet_on is None or self.oriented_after is None:
            return None
        return self.booklet_on + timedelta(days=self.oriented_after)

    @property
    def answered_on(self) -> date | None:
        if self.oriented_on is None:
            return None
        return self.oriented_on + timedelta(days=self.answered_after)

    def session_days(self, first_valid_day: date | None = None) -> list[tuple[date, int]]:
        """(day, cheques) of each planned session once the orientation is accepted; the
        first is not before `first_valid_day` (the booklet's millésime's 1 January)."""
        answered = self.answered_on
        if answered is None or not self.accepts or not self.cheques_per_session:
            return []
        day = answered + timedelta(days=self.first_session_after)
        if first_valid_day is not None and day < first_valid_day:
            day = first_valid_day
        out = [(day, self.cheques_per_session[0])]
        for gap, cheques in zip(self.session_gaps, self.cheques_per_session[1:], strict=False):
            day += timedelta(days=gap)
            out.append((day, cheques))
        return out


def _delay(rng: random.Random, bounds: tuple[int, int]) -> int:
    return rng.randint(bounds[0], bounds[1])


def draw_plan(a: Assumptions, rng: random.Random, referred_on: date, epci_id: int) -> PersonPlan:
    """One person referred on `referred_on` in EPCI `epci_id`, by the assumptions' rates
    and delays (the same distributions as the simulator's trials)."""
    assessed = rng.random() < a.assessment_rate
    assessed_after = _delay(rng, a.assessment_delay_days)
    gets_booklet = rng.random() < a.booklet_rate
    booklet_after = _delay(rng, a.booklet_delay_days)
    prefers_next = rng.random() < a.next_millesime_share
    oriented = rng.random() < a.orientation_rate
    oriented_after = _delay(rng, a.orientation_delay_days)
    accepts = rng.random() < a.acceptance_rate
    answered_after = _delay(rng, a.answer_delay_days)
    first_after = _delay(rng, a.first_session_delay_days)
    planned = _delay(rng, a.sessions_planned)
    attended = 0
    while attended < planned:
        attended += 1
        if rng.random() < a.dropout_per_session:
            break
    sizes = list(a.cheques_per_session)
    weights = [a.cheques_per_session[k] for k in sizes]
    cheques = tuple(rng.choices(sizes, weights, k=attended))
    gaps = tuple(_delay(rng, a.session_gap_days) for _ in range(max(attended - 1, 0)))
    return PersonPlan(
        referred_on=referred_on,
        epci_id=epci_id,
        assessed_after=assessed_after if assessed else None,
        booklet_after=booklet_after if assessed and gets_booklet else None,
        prefers_next_millesime=prefers_next,
        oriented_after=oriented_after if oriented else None,
        answered_after=answered_after,
        accepts=accepts,
        first_session_after=first_after,
        session_gaps=gaps,
        cheques_per_session=cheques,
    )


def draw_plans(a: Assumptions, programme: SimProgramme, seed: int) -> list[PersonPlan]:
    """Every person of one run of the programme (the referral calendar), in referral
    order: each month's people on days drawn uniformly in it, EPCIs by the weights."""
    rng = random.Random(seed)
    weights = epci_weights(a, programme)
    ids = [e.id for e in programme.epcis]
    plans: list[PersonPlan] = []
    for (year, month), count in sorted(referral_calendar(a, programme).items()):
        first = date(year, month, 1)
        days = (date(year + month // 12, month % 12 + 1, 1) - first).days
        for _ in range(count):
            day = first + timedelta(days=rng.randrange(days))
            epci = rng.choices(ids, weights)[0]
            plans.append(draw_plan(a, rng, day, epci))
    plans.sort(key=lambda p: p.referred_on)
    return plans
