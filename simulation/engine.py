"""The simulator's trials: people drawn per trial (numpy, vectorised over the people of
a trial: everyone referred the same month follows the same distributions), then the
domain's rules applied to their plans, then monthly figures summed per trial and
summarised across trials (mean, 10th and 90th percentiles).

**The rules applied** (each from the domain module that the real journeys use):

- a booklet takes the millésime `domain.millesimes.millesimes_offered` gives on its day
  (next year's when both are offered and the person prefers it); none outside the
  programme's period, none once the stock (`target_booklets`) is handed out (earliest
  first);
- its cheques are valid from 1 January of the millésime to `domain.validity.valid_until`
  (grace included): a session on or after that day pays nothing, and every cheque still
  unspent then expires, counted in the Europe/Paris month of `valid_until` (as the
  journey's CHEQUES_EXPIRY job dates its EXPIRED entries);
- a journey is flagged stalled (`domain.policy.JourneyPolicy`) when a stage sees no
  activity for its `stalled_days`, and when an orientation stays unanswered for
  `orientation_expiry_days` (it then expires); never after the journey has closed (all
  cheques spent, or their expiry); once per period without activity;
- every cheque is charged to the funders by `FundingRule.split` of its EPCI, as the ledger
  does: committed when its booklet is issued, spent when a session pays it, returned
  when it expires. A funder's budget runs out in the first month its remaining budget
  (budget − committed + returned, `domain.ledger.Balance.remaining`) reaches zero.

Not modelled: withdrawals (cancelled cheques), lost booklets, re-orientations.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np
from numpy.typing import NDArray

from domain.ledger import Month, month_from_index, month_index
from domain.millesimes import millesimes_offered
from domain.stages import Stage
from domain.validity import paris_day, valid_until
from simulation.model import (
    Assumptions,
    SimProgramme,
    epci_weights,
    referral_calendar,
)
from simulation.plans import PersonPlan

IntArray = NDArray[np.int64]
FloatArray = NDArray[np.float64]


# ---- the calendar: days from the first referral month's first day ----


@dataclass(frozen=True)
class _Calendar:
    origin: date
    months: tuple[Month, ...]
    month_of_day: IntArray  # day -> index in `months`
    month_start: IntArray  # month index -> its first day
    default_m: IntArray  # day -> the millésime a booklet takes by default (0: none)
    next_m: IntArray  # day -> next year's millésime when offered beside it (0: none)
    m_base: int
    from_day: IntArray  # millésime - m_base -> its cheques' first valid day
    until_day: IntArray  # millésime - m_base -> the first day they are no longer valid
    expiry_month: IntArray  # millésime - m_base -> month index of their expiry

    @property
    def days(self) -> int:
        return len(self.month_of_day)


def _calendar(programme: SimProgramme, first: Month, last_booklet_day: date) -> _Calendar:
    origin = date(first[0], first[1], 1)
    m_base = origin.year
    m_last = max(last_booklet_day.year + 1, m_base)
    grace = programme.grace_months
    untils = [paris_day(valid_until(m, grace)) for m in range(m_base, m_last + 1)]
    end_month = month_index((max(untils).year, max(untils).month))
    months = tuple(month_from_index(i) for i in range(month_index(first), end_month + 1))
    starts = [(date(y, m, 1) - origin).days for y, m in months]
    end = date(*month_from_index(end_month + 1), 1)
    days = (end - origin).days
    month_of_day = np.repeat(
        np.arange(len(months), dtype=np.int64), np.diff([*starts, days]).astype(np.int64)
    )
    default_m = np.zeros(days, dtype=np.int64)
    next_m = np.zeros(days, dtype=np.int64)
    stop_days = programme.policy.stop_issuing_days_before_expiry
    for d in range(days):
        offered = millesimes_offered(
            origin + timedelta(days=d), programme.period, grace, stop_days
        ).offered
        if offered:
            default_m[d] = offered[0]
        if len(offered) > 1:
            next_m[d] = offered[1]
    from_day = np.array([(date(m, 1, 1) - origin).days for m in range(m_base, m_last + 1)])
    until_day = np.array([(u - origin).days for u in untils], dtype=np.int64)
    return _Calendar(
        origin=origin,
        months=months,
        month_of_day=month_of_day,
        month_start=np.array(starts, dtype=np.int64),
        default_m=default_m,
        next_m=next_m,
        m_base=m_base,
        from_day=from_day.astype(np.int64),
        until_day=until_day,
        expiry_month=month_of_day[until_day],
    )


# ---- the people of one trial, as arrays ----


@dataclass
class _People:
    referred: IntArray  # day
    epci: IntArray  # index in programme.epcis
    assess_delay: IntArray  # -1: never assessed
    booklet_delay: IntArray  # -1: no booklet
    prefers_next: NDArray[np.bool_]
    orient_delay: IntArray  # -1: never oriented
    answer_delay: IntArray
    accepts: NDArray[np.bool_]
    first_delay: IntArray
    # The people who would train if everything before went well (the others' sessions are
    # never drawn: a trial then costs what its trainees do):
    trainees: IntArray  # their rows
    gaps: IntArray  # (trainees, sessions): column 0 is 0, then the gap before each session
    cheques: IntArray  # (trainees, sessions): cheques of each attended session, 0 after


def _draw_people(
    rng: np.random.Generator,
    a: Assumptions,
    cal: _Calendar,
    counts: dict[int, int],  # month index -> referrals
    weights: FloatArray,
) -> _People:
    month_ids = np.array(sorted(counts), dtype=np.int64)
    per_month = np.array([counts[m] for m in month_ids.tolist()], dtype=np.int64)
    n = int(per_month.sum())
    starts = np.repeat(cal.month_start[month_ids], per_month)
    next_starts = np.append(cal.month_start, cal.days)[month_ids + 1]
    lengths = np.repeat(next_starts - cal.month_start[month_ids], per_month)
    # One draw of uniforms per trial (a row per decision), turned into each distribution:
    # far fewer calls than one generator call per decision.
    u = rng.random((12, n), dtype=np.float32)
    referred = starts + (u[0] * lengths).astype(np.int64)
    epci = np.minimum(np.searchsorted(np.cumsum(weights), u[1], side="right"), len(weights) - 1)

    def uniform(row: FloatArray, bounds: tuple[int, int]) -> IntArray:
        return bounds[0] + (row * (bounds[1] - bounds[0] + 1)).astype(np.int64)

    def when(
        happens: FloatArray, rate: float, delay: FloatArray, bounds: tuple[int, int]
    ) -> IntArray:
        return np.where(happens < rate, uniform(delay, bounds), -1)

    assess = when(u[2], a.assessment_rate, u[3], a.assessment_delay_days)
    booklet = np.where(assess >= 0, when(u[4], a.booklet_rate, u[5], a.booklet_delay_days), -1)
    prefers_next = u[6] < a.next_millesime_share
    orient = when(u[7], a.orientation_rate, u[8], a.orientation_delay_days)
    answer = uniform(u[9], a.answer_delay_days)
    accepts = u[10] < a.acceptance_rate
    first = uniform(u[11], a.first_session_delay_days)
    trainees = np.flatnonzero((booklet >= 0) & (orient >= 0) & accepts)
    k = len(trainees)
    width = a.sessions_planned[1]
    v = rng.random((2, k), dtype=np.float32)
    planned = uniform(v[0], a.sessions_planned)
    p = a.dropout_per_session
    if p >= 1:
        attended = np.minimum(planned, 1)
    elif p > 0:  # sessions until the first drop-out: geometric, by its inverse CDF
        attended = np.minimum(planned, np.ceil(np.log1p(-v[1]) / np.log1p(-p))).astype(np.int64)
        attended = np.maximum(attended, np.minimum(planned, 1))
    else:
        attended = planned
    sizes = np.array(sorted(a.cheques_per_session), dtype=np.int64)
    w = np.array([a.cheques_per_session[int(s)] for s in sizes], dtype=np.float64)
    x = rng.random((2, k, width), dtype=np.float32)
    pick = np.minimum(np.searchsorted(np.cumsum(w / w.sum()), x[0], side="right"), len(sizes) - 1)
    cheques = np.where(np.arange(width)[None, :] < attended[:, None], sizes[pick], 0)
    gaps = uniform(x[1], a.session_gap_days)
    if width:
        gaps[:, 0] = 0
    return _People(
        referred,
        epci,
        assess,
        booklet,
        prefers_next,
        orient,
        answer,
        accepts,
        first,
        trainees,
        gaps,
        cheques,
    )


def _people_from_plans(
    plans: Sequence[PersonPlan], cal: _Calendar, epci_index: dict[int, int]
) -> _People:
    width = max((len(p.cheques_per_session) for p in plans), default=0)
    n = len(plans)
    gaps = np.zeros((n, width), dtype=np.int64)
    cheques = np.zeros((n, width), dtype=np.int64)
    for i, p in enumerate(plans):
        cheques[i, : len(p.cheques_per_session)] = p.cheques_per_session
        gaps[i, 1 : 1 + len(p.session_gaps)] = p.session_gaps[: max(width - 1, 0)]

    def col(values: list[int | None]) -> IntArray:
        return np.array([-1 if v is None else v for v in values], dtype=np.int64)

    return _People(
        referred=np.array([(p.referred_on - cal.origin).days for p in plans], dtype=np.int64),
        epci=np.array([epci_index[p.epci_id] for p in plans], dtype=np.int64),
        assess_delay=col([p.assessed_after for p in plans]),
        booklet_delay=col([None if p.assessed_after is None else p.booklet_after for p in plans]),
        prefers_next=np.array([p.prefers_next_millesime for p in plans], dtype=np.bool_),
        orient_delay=col([p.oriented_after for p in plans]),
        answer_delay=col([p.answered_after for p in plans]),
        accepts=np.array([p.accepts for p in plans], dtype=np.bool_),
        first_delay=col([p.first_session_after for p in plans]),
        trainees=np.arange(n, dtype=np.int64),
        gaps=gaps,
        cheques=cheques,
    )


# ---- one trial's figures ----


@dataclass
class _Trial:
    referrals: IntArray  # (months,)
    booklets: IntArray  # (epcis, months)
    spent: IntArray  # cheques, (epcis, months)
    expired: IntArray  # cheques, (epcis, months)
    stalled: IntArray  # (months,)
    active: int  # people who spent at least one cheque


def _account(people: _People, cal: _Calendar, programme: SimProgramme) -> _Trial:
    """Apply the domain's rules to one trial's people (see the module's docstring)."""
    n_months, n_epci = len(cal.months), len(programme.epcis)
    per_booklet = programme.cheques_per_booklet
    policy = programme.policy
    stalled_after = {s: d.stalled_days for s, d in policy.stage_deadlines.items()}
    expiry_days = policy.orientation_expiry_days
    days = cal.days

    def by_month(day: IntArray, weights: IntArray | None = None) -> IntArray:
        return np.bincount(cal.month_of_day[day], weights=weights, minlength=n_months).astype(
            np.int64
        )

    def by_epci_month(epci: IntArray, month: IntArray, weights: IntArray | None = None) -> IntArray:
        flat = np.bincount(epci * n_months + month, weights=weights, minlength=n_epci * n_months)
        return flat.astype(np.int64).reshape(n_epci, n_months)

    referred = people.referred
    assessed = people.assess_delay >= 0
    assessed_day = referred + people.assess_delay
    asks = assessed & (people.booklet_delay >= 0)
    booklet_day = np.where(asks, assessed_day + people.booklet_delay, 0)
    asks &= booklet_day < days
    lookup = np.clip(booklet_day, 0, days - 1)
    next_m, default_m = cal.next_m[lookup], cal.default_m[lookup]
    millesime = np.where(people.prefers_next & (next_m > 0), next_m, default_m)
    has_booklet = asks & (millesime > 0)
    stock = programme.target_booklets
    if stock is not None and int(has_booklet.sum()) > stock:
        holders = np.flatnonzero(has_booklet)
        order = holders[np.argsort(booklet_day[holders], kind="stable")]
        has_booklet[order[stock:]] = False
    m_index = np.where(has_booklet, millesime - cal.m_base, 0)
    until = cal.until_day[m_index]
    first_valid = cal.from_day[m_index]

    orient_day = booklet_day + people.orient_delay
    oriented = has_booklet & (people.orient_delay >= 0) & (orient_day < until)
    in_time = people.accepts & (people.answer_delay < expiry_days)
    accept_day = orient_day + people.answer_delay
    accepted = oriented & in_time & (accept_day < until)

    # Sessions (trainees' rows only): the first not before the cheques' first day, none
    # from `until` on.
    rows_t = people.trainees
    until_t = until[rows_t]
    accept_t = accept_day[rows_t]
    start = np.maximum(accept_t + people.first_delay[rows_t], first_valid[rows_t])
    session_day = start[:, None] + np.cumsum(people.gaps, axis=1)
    paying = accepted[rows_t][:, None] & (people.cheques > 0) & (session_day < until_t[:, None])
    cumulative = np.minimum(np.cumsum(np.where(paying, people.cheques, 0), axis=1), per_booklet)
    spent = np.diff(cumulative, axis=1, prepend=0)
    paying &= spent > 0  # nothing left to pay once the booklet is used up
    total = np.zeros(len(referred), dtype=np.int64)
    if cumulative.shape[1]:
        total[rows_t] = cumulative[:, -1]
    completed = has_booklet & (total == per_booklet)

    # Stall flags (day of each flag), stage by stage.
    flags: list[IntArray] = []
    d = stalled_after[Stage.REFERRED]
    flags.append(referred[~assessed | (people.assess_delay > d)] + d)
    d = stalled_after[Stage.ASSESSED]
    flags.append(assessed_day[assessed & (~has_booklet | (people.booklet_delay > d))] + d)
    d = stalled_after[Stage.BOOKLET_ISSUED]
    waits = has_booklet & ((people.orient_delay < 0) | (people.orient_delay > d))
    flags.append((booklet_day + d)[waits & (booklet_day + d < until)])
    unanswered = oriented & ~in_time & (orient_day + expiry_days < until)
    flags.append(orient_day[unanswered] + expiry_days)
    d = stalled_after[Stage.IN_TRAINING]
    previous = np.concatenate([accept_t[:, None], session_day[:, :-1]], axis=1)
    late = paying & (session_day - previous > d)
    flags.append(previous[late] + d)
    last = accept_day.copy()
    last[rows_t] = np.maximum(np.where(paying, session_day, -1).max(axis=1, initial=-1), accept_t)
    idle = accepted & ~completed & (last + d < until)
    flags.append(last[idle] + d)
    stall_days = np.concatenate(flags)
    stall_days = stall_days[stall_days < days]

    holders = np.flatnonzero(has_booklet)
    rows, cols = np.nonzero(paying)
    session_epci = people.epci[rows_t[rows]]
    return _Trial(
        referrals=by_month(referred),
        booklets=by_epci_month(people.epci[holders], cal.month_of_day[booklet_day[holders]]),
        spent=by_epci_month(
            session_epci, cal.month_of_day[session_day[rows, cols]], spent[rows, cols]
        ),
        expired=by_epci_month(
            people.epci[holders],
            cal.expiry_month[m_index[holders]],
            per_booklet - total[holders],
        ),
        stalled=by_month(stall_days),
        active=int((total > 0).sum()),
    )


# ---- results ----


@dataclass(frozen=True)
class Stats:
    """Across trials: mean, 10th and 90th percentiles (per month, or of a total)."""

    mean: FloatArray
    p10: FloatArray
    p90: FloatArray

    @classmethod
    def of(cls, values: NDArray[np.generic]) -> Stats:
        v = np.asarray(values, dtype=np.float64)
        p10, p90 = np.percentile(v, [10, 90], axis=0)
        return cls(v.mean(axis=0), np.asarray(p10), np.asarray(p90))


@dataclass(frozen=True)
class FunderResult:
    id: int
    name: str
    budget_cents: int
    committed: Stats  # cents, total
    spent: Stats  # cents, total
    returned: Stats  # cents, total: expired cheques' value back to the funder
    unspent: Stats  # cents: budget − spent at the end
    spent_by_month: Stats  # cents per month
    runs_out_share: float  # share of trials in which the budget runs out
    runs_out_month: Stats | None  # month index (trials where it runs out); None: never

    def runs_out(self, months: Sequence[Month]) -> tuple[Month, Month, Month] | None:
        """(10th percentile, mean, 90th percentile) month over the trials in which the
        budget runs out (the mean rounded to a month); None if it never does."""
        if self.runs_out_month is None:
            return None
        pick = lambda x: months[int(round(float(x)))]  # noqa: E731
        return (
            pick(self.runs_out_month.p10),
            pick(self.runs_out_month.mean),
            pick(self.runs_out_month.p90),
        )


@dataclass(frozen=True)
class SimulationResult:
    programme: SimProgramme
    assumptions: Assumptions | None  # None: run from explicit plans
    seed: int
    trials: int
    months: tuple[Month, ...]
    referrals: Stats  # per month
    booklets: Stats
    spent: Stats  # cheques per month
    expired: Stats
    stalled: Stats  # stall flags raised per month
    totals: dict[str, Stats]  # referrals, booklets, cheques, spent, expired, stalled, active, ...
    funders: tuple[FunderResult, ...]
    per_trial: dict[str, IntArray]  # raw figures: (trials, months) or (trials, funders, months)


def _funder_split(programme: SimProgramme) -> IntArray:
    """(epcis, funders): cents of one cheque each funder pays, per EPCI (the ledger's split)."""
    index = {f.id: i for i, f in enumerate(programme.funders)}
    out = np.zeros((len(programme.epcis), len(programme.funders)), dtype=np.int64)
    for e, epci in enumerate(programme.epcis):
        for funder, cents in programme.rule.split(programme.cheque_value_cents, epci.id).items():
            out[e, index[funder]] = cents
    return out


def _summarise(
    programme: SimProgramme,
    assumptions: Assumptions | None,
    seed: int,
    cal: _Calendar,
    trials: list[_Trial],
) -> SimulationResult:
    split = _funder_split(programme)
    per_booklet = programme.cheques_per_booklet
    referrals = np.stack([t.referrals for t in trials])
    booklets_em = np.stack([t.booklets for t in trials])  # (trials, epcis, months)
    spent_em = np.stack([t.spent for t in trials])
    expired_em = np.stack([t.expired for t in trials])
    stalled = np.stack([t.stalled for t in trials])
    active = np.array([t.active for t in trials], dtype=np.int64)
    # The calendar reaches the expiry of every millésime a booklet might take: show the
    # months up to the last one with any figure.
    busy = referrals.any(axis=0) | stalled.any(axis=0)
    for em in (booklets_em, spent_em, expired_em):
        busy |= em.any(axis=(0, 1))
    shown = int(np.flatnonzero(busy).max()) + 1 if busy.any() else 1
    referrals, stalled = referrals[:, :shown], stalled[:, :shown]
    booklets_em, spent_em, expired_em = (
        booklets_em[:, :, :shown],
        spent_em[:, :, :shown],
        expired_em[:, :, :shown],
    )

    def cents(cheques_em: IntArray) -> IntArray:  # (trials, funders, months)
        return np.einsum("tem,ef->tfm", cheques_em, split)

    committed_c = cents(booklets_em * per_booklet)
    spent_c, returned_c = cents(spent_em), cents(expired_em)
    budgets = np.array([f.budget_cents for f in programme.funders], dtype=np.int64)
    net = np.cumsum(committed_c - returned_c, axis=2)
    out_mask = (budgets[None, :, None] - net <= 0) & (net > 0)
    ran_out: NDArray[np.bool_] = np.asarray(out_mask.any(axis=2))
    first_out = np.where(ran_out, out_mask.argmax(axis=2), -1)

    funders: list[FunderResult] = []
    for i, f in enumerate(programme.funders):
        hit = first_out[:, i][ran_out[:, i]]
        funders.append(
            FunderResult(
                id=f.id,
                name=f.name,
                budget_cents=f.budget_cents,
                committed=Stats.of(committed_c[:, i].sum(axis=1)),
                spent=Stats.of(spent_c[:, i].sum(axis=1)),
                returned=Stats.of(returned_c[:, i].sum(axis=1)),
                unspent=Stats.of(f.budget_cents - spent_c[:, i].sum(axis=1)),
                spent_by_month=Stats.of(spent_c[:, i]),
                runs_out_share=float(ran_out[:, i].mean()),
                runs_out_month=Stats.of(hit) if hit.size else None,
            )
        )
    booklets = booklets_em.sum(axis=1)
    spent = spent_em.sum(axis=1)
    expired = expired_em.sum(axis=1)
    issued = booklets.sum(axis=1) * per_booklet
    spent_total = spent.sum(axis=1)
    totals = {
        "referrals": Stats.of(referrals.sum(axis=1)),
        "booklets": Stats.of(booklets.sum(axis=1)),
        "cheques": Stats.of(issued),
        "spent": Stats.of(spent_total),
        "expired": Stats.of(expired.sum(axis=1)),
        "stalled": Stats.of(stalled.sum(axis=1)),
        "active": Stats.of(active),
        "spent_share": Stats.of(np.where(issued > 0, spent_total / np.maximum(issued, 1), 0.0)),
        "cheques_per_active": Stats.of(
            np.where(active > 0, spent_total / np.maximum(active, 1), 0.0)
        ),
        "spent_cents": Stats.of(spent_c.sum(axis=(1, 2))),
        "returned_cents": Stats.of(returned_c.sum(axis=(1, 2))),
    }
    return SimulationResult(
        programme=programme,
        assumptions=assumptions,
        seed=seed,
        trials=len(trials),
        months=cal.months[:shown],
        referrals=Stats.of(referrals),
        booklets=Stats.of(booklets),
        spent=Stats.of(spent),
        expired=Stats.of(expired),
        stalled=Stats.of(stalled),
        totals=totals,
        funders=tuple(funders),
        per_trial={
            "referrals": referrals,
            "booklets": booklets,
            "spent": spent,
            "expired": expired,
            "stalled": stalled,
            "committed_cents": committed_c,
            "spent_cents": spent_c,
            "returned_cents": returned_c,
            "runs_out_month": first_out,
        },
    )


def simulate(
    programme: SimProgramme, assumptions: Assumptions, trials: int = 1000, seed: int = 1
) -> SimulationResult:
    """`trials` seeded trials of the programme under the assumptions. Trial `t` draws from
    `numpy.random.default_rng([seed, t])`: the same seed gives the same figures."""
    if trials < 1:
        raise ValueError("at least one trial")
    calendar = referral_calendar(assumptions, programme)
    if not calendar:
        calendar = {(programme.period.starts_on.year, programme.period.starts_on.month): 0}
    first, last = min(calendar), max(calendar)
    last_day = date(*month_from_index(month_index(last) + 1), 1) - timedelta(days=1)
    reach = last_day + timedelta(
        days=assumptions.assessment_delay_days[1] + assumptions.booklet_delay_days[1]
    )
    cal = _calendar(programme, first, reach)
    counts = {month_index(m) - month_index(first): c for m, c in calendar.items()}
    weights = np.array(epci_weights(assumptions, programme), dtype=np.float64)
    results = [
        _account(
            _draw_people(np.random.default_rng([seed, t]), assumptions, cal, counts, weights),
            cal,
            programme,
        )
        for t in range(trials)
    ]
    return _summarise(programme, assumptions, seed, cal, results)


def simulate_plans(programme: SimProgramme, plans: Sequence[PersonPlan]) -> SimulationResult:
    """One trial from explicit plans (`draw_plans`, or hand-written ones): the same rules
    and accounting as `simulate`."""
    if not plans:
        raise ValueError("no plans")
    first_day = min(p.referred_on for p in plans)
    reach = max(p.booklet_on or p.referred_on for p in plans)
    cal = _calendar(programme, (first_day.year, first_day.month), reach)
    index = {e.id: i for i, e in enumerate(programme.epcis)}
    trial = _account(_people_from_plans(plans, cal, index), cal, programme)
    return _summarise(programme, None, 0, cal, [trial])
