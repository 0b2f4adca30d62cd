"""The funder ledger's rules: who pays what share of a cheque, which entries a cheque's
status implies, a funder's balance, and when a budget runs out at the current pace.

**Funding rule.** A programme charges every cheque to funder lines by an explicit rule
(`FundingRule`, stored per programme in `funding_rule_line`): each line names a funder and
a share in basis points (1/100 %). A *territorial* line (an EPCI's contribution) carries
an EPCI and applies only to cheques of journeys of that EPCI, at its share; the *general*
lines (the State, the Département) share what is left of the cheque in proportion to
their shares. A cheque of an EPCI without a line of its own is paid by the general lines
alone. `split` turns a cheque's value into cents per funder summing exactly to the value
(largest remainder, ties to the earlier line).

**Entries.** A cheque's status implies ledger entries (`entry_kinds`): issued → COMMITTED
(the value is committed on the funders' budgets); redeemed → also SPENT; cancelled → also
CANCELLED (the commitment is released); expired → also EXPIRED (its value returns to the
funders). REIMBURSED is payment to the mediation structure, not a funder charge: it
implies nothing more than REDEEMED. Amounts are positive; the kind gives the direction.

**Balances.** Per funder: budget; engaged (committed, not yet spent, cancelled or
returned); spent; cancelled; returned; remaining = budget − engaged − spent.

**Exhaustion month.** The pace is the funder's net commitments (COMMITTED − CANCELLED, by
Europe/Paris month of the entry) averaged over the last complete months (at most
`PACE_MONTHS`, none before the ledger's first month); the budget runs out on the day
remaining ÷ pace months from today, whose month is returned. No pace measured (no complete
month yet) or none positive: no exhaustion foreseen.

Also here: the Temporal contracts of the end-of-millésime closure (a Schedule starts
`MillesimeCloseWorkflow`, which calls the `close_millesimes` activity).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from fractions import Fraction

from domain.labels import Labelled, labels
from domain.money import Cents
from domain.months import month_label
from domain.stages import ChequeStatus

FULL_BP = 10_000  # 100 % in basis points
PACE_MONTHS = 3  # complete months averaged for the pace
DAYS_PER_MONTH = Fraction(36525, 1200)  # 30.4375: a mean Gregorian month


class EntryKind(Labelled):
    COMMITTED = "COMMITTED"
    SPENT = "SPENT"
    CANCELLED = "CANCELLED"
    EXPIRED = "EXPIRED"


ENTRY_KIND_LABELS = labels(
    EntryKind,
    {
        EntryKind.COMMITTED: "Engagement (chèque émis)",
        EntryKind.SPENT: "Dépense (chèque encaissé)",
        EntryKind.CANCELLED: "Engagement libéré (chèque annulé)",
        EntryKind.EXPIRED: "Restitution (chèque expiré)",
    },
)

_KINDS_BY_STATUS: dict[ChequeStatus, frozenset[EntryKind]] = {
    ChequeStatus.ISSUED: frozenset({EntryKind.COMMITTED}),
    ChequeStatus.REDEEMED: frozenset({EntryKind.COMMITTED, EntryKind.SPENT}),
    ChequeStatus.REIMBURSED: frozenset({EntryKind.COMMITTED, EntryKind.SPENT}),
    ChequeStatus.CANCELLED: frozenset({EntryKind.COMMITTED, EntryKind.CANCELLED}),
    ChequeStatus.EXPIRED: frozenset({EntryKind.COMMITTED, EntryKind.EXPIRED}),
}


def entry_kinds(status: ChequeStatus | str) -> frozenset[EntryKind]:
    """The entries a cheque in `status` has in the ledger (each exactly once). Every
    status is in the table (tests/test_domain_ledger.py checks it); one added without its
    entries would charge nothing rather than stop the projection."""
    return _KINDS_BY_STATUS.get(ChequeStatus(status), frozenset())


# ---- the funding rule ----


class RuleError(ValueError):
    """A funding rule that cannot charge every cheque (French message for coordinators)."""


@dataclass(frozen=True)
class FundingLine:
    funder_id: int
    share_bp: int
    epci_id: int | None = None  # set: territorial, only for cheques of this EPCI's journeys

    @property
    def territorial(self) -> bool:
        return self.epci_id is not None


@dataclass(frozen=True)
class FundingRule:
    """A programme's funder lines, in a fixed order (the tie-break of `split`)."""

    lines: tuple[FundingLine, ...]

    def __post_init__(self) -> None:
        if any(line.share_bp < 0 or line.share_bp > FULL_BP for line in self.lines):
            raise RuleError("Une part doit être comprise entre 0 et 100 %.")
        if len({line.funder_id for line in self.lines}) != len(self.lines):
            raise RuleError("Un financeur n'a qu'une ligne dans la règle de financement.")
        if sum(line.share_bp for line in self.lines if not line.territorial) <= 0:
            raise RuleError("La règle de financement n'a aucun financeur général.")
        territory: dict[int, int] = {}
        for line in self.lines:
            if line.epci_id is not None:
                territory[line.epci_id] = territory.get(line.epci_id, 0) + line.share_bp
        if any(total > FULL_BP for total in territory.values()):
            raise RuleError("Les parts d'une intercommunalité dépassent 100 %.")

    def weights(self, epci_id: int | None) -> list[tuple[int, Fraction]]:
        """(funder id, exact share of a cheque of `epci_id`'s journeys), in line order;
        lines that pay nothing for it are left out. The shares sum to exactly 1."""
        local = [ln for ln in self.lines if ln.epci_id is not None and ln.epci_id == epci_id]
        general = [ln for ln in self.lines if not ln.territorial]
        rest = Fraction(FULL_BP - sum(ln.share_bp for ln in local), FULL_BP)
        general_total = sum(ln.share_bp for ln in general)
        out: list[tuple[int, Fraction]] = []
        for line in self.lines:
            if line in local:
                share = Fraction(line.share_bp, FULL_BP)
            elif not line.territorial:
                share = rest * Fraction(line.share_bp, general_total)
            else:
                continue
            if share:
                out.append((line.funder_id, share))
        return out

    def split(self, value_cents: Cents, epci_id: int | None) -> dict[int, Cents]:
        """The cents each funder pays of a cheque worth `value_cents` of a journey of
        `epci_id`: every amount within a cent of its exact share, summing exactly to the
        value (largest remainder; equal remainders go to the earlier line). Funders paying
        nothing are left out."""
        if value_cents < 0:
            raise ValueError("a cheque's value is not negative")
        weights = self.weights(epci_id)
        exact = [(funder, share * value_cents) for funder, share in weights]
        amounts = [math.floor(x) for _, x in exact]
        left = value_cents - sum(amounts)
        order = sorted(range(len(exact)), key=lambda i: (-(exact[i][1] - amounts[i]), i))
        for i in order[:left]:
            amounts[i] += 1
        return {
            funder: amount for (funder, _), amount in zip(exact, amounts, strict=True) if amount
        }


def largest_remainder_bp(amounts: Sequence[int]) -> list[int]:
    """Shares of a total in basis points, summing to exactly 10 000 (largest remainder,
    ties to the earlier amount)."""
    total = sum(amounts)
    if total <= 0:
        raise RuleError("Le budget total doit être positif.")
    exact = [Fraction(a * FULL_BP, total) for a in amounts]
    shares = [math.floor(x) for x in exact]
    order = sorted(range(len(amounts)), key=lambda i: (-(exact[i] - shares[i]), i))
    for i in order[: FULL_BP - sum(shares)]:
        shares[i] += 1
    return shares


def default_rule(
    general: Sequence[tuple[int, Cents]], territorial: Sequence[tuple[int, int, Cents]]
) -> FundingRule:
    """The rule derived from the budget: `general` (funder id, budget) of the State and the
    Département, `territorial` (funder id, EPCI id, budget) of each EPCI.

    Every EPCI line gets the same share: the EPCIs' budgets taken together over the whole
    budget (Aveyron: 136 620 € of 1 064 920 € = 12,83 %), charged on its own territory's
    cheques only. EPCI budgets are set by population, as the demand is, so each EPCI's
    line is used up at the programme's pace. The general lines keep their budget's share
    of the total (Aveyron: État 59,00 %, Département 28,17 %) and between them pay what the
    EPCI does not (a territory without a line: État 67,69 %, Département 32,31 %).
    """
    budgets = [amount for _, amount in general] + [sum(a for _, _, a in territorial)]
    shares = largest_remainder_bp(budgets)
    epci_share = shares[-1] if territorial else 0
    lines = [FundingLine(f, s) for (f, _), s in zip(general, shares, strict=False)]
    lines += [FundingLine(f, epci_share, epci) for f, epci, _ in territorial]
    return FundingRule(tuple(lines))


# ---- balances ----


@dataclass(frozen=True)
class Balance:
    """A funder line's figures in cents (all kinds summed over the ledger's entries)."""

    budget: Cents
    committed: Cents = 0  # every cheque issued, whatever became of it
    spent: Cents = 0
    cancelled: Cents = 0
    returned: Cents = 0  # expired unspent: back to the funder

    @property
    def engaged(self) -> Cents:
        """Committed on cheques still usable: neither spent, cancelled nor returned."""
        return self.committed - self.spent - self.cancelled - self.returned

    @property
    def remaining(self) -> Cents:
        return self.budget - self.engaged - self.spent

    @classmethod
    def of(cls, budget: Cents, by_kind: Mapping[EntryKind, Cents]) -> Balance:
        def get(kind: EntryKind) -> Cents:
            return int(by_kind.get(kind, 0))

        return cls(
            budget=budget,
            committed=get(EntryKind.COMMITTED),
            spent=get(EntryKind.SPENT),
            cancelled=get(EntryKind.CANCELLED),
            returned=get(EntryKind.EXPIRED),
        )


# ---- pace and exhaustion ----

Month = tuple[int, int]  # (year, month)


def month_of(day: date) -> Month:
    return (day.year, day.month)


def month_index(month: Month) -> int:
    return month[0] * 12 + month[1] - 1


def month_from_index(index: int) -> Month:
    return (index // 12, index % 12 + 1)


def month_key(month: Month) -> int:
    """A month as stored: yyyymm."""
    return month[0] * 100 + month[1]


def month_from_key(key: int) -> Month:
    return (key // 100, key % 100)


def net_commitments(by_month_kind: Mapping[tuple[Month, EntryKind], Cents]) -> dict[Month, Cents]:
    """The pace's monthly figures: COMMITTED − CANCELLED per month."""
    out: dict[Month, Cents] = {}
    for (month, kind), amount in by_month_kind.items():
        if kind == EntryKind.COMMITTED:
            out[month] = out.get(month, 0) + amount
        elif kind == EntryKind.CANCELLED:
            out[month] = out.get(month, 0) - amount
    return out


@dataclass(frozen=True)
class Pace:
    per_month: Fraction  # cents per month
    months: tuple[Month, ...]  # the complete months averaged


def pace(monthly: Mapping[Month, Cents], today: date, window: int = PACE_MONTHS) -> Pace | None:
    """The average of the last `window` complete months before `today`'s, none before the
    first month with figures; None if there is no complete month yet."""
    if not monthly:
        return None
    first = min(month_index(m) for m in monthly)
    current = month_index(month_of(today))
    months = [month_from_index(i) for i in range(max(first, current - window), current)]
    if not months:
        return None
    total = sum(monthly.get(m, 0) for m in months)
    return Pace(Fraction(total, len(months)), tuple(months))


def exhaustion_day(remaining: Cents, measured: Pace | None, today: date) -> date | None:
    """The day the budget runs out at `measured` pace: today if nothing remains; None if
    no positive pace was measured."""
    if remaining <= 0:
        return today
    if measured is None or measured.per_month <= 0:
        return None
    days = math.ceil(Fraction(remaining) / measured.per_month * DAYS_PER_MONTH)
    return today + timedelta(days=days)


def exhaustion_month(remaining: Cents, monthly: Mapping[Month, Cents], today: date) -> Month | None:
    day = exhaustion_day(remaining, pace(monthly, today), today)
    return None if day is None else month_of(day)


def format_month_fr(month: Month) -> str:
    """'mars 2027' (domain.months' French names)."""
    return month_label(date(month[0], month[1], 1))


# ---- end of a millésime (Temporal contracts) ----

CLOSE_WORKFLOW_NAME = "MillesimeCloseWorkflow"
ACTIVITY_CLOSE_MILLESIMES = "close_millesimes"
CLOSE_SCHEDULE_ID = "passnum-millesime-close"
CLOSE_HOUR = 6  # Europe/Paris, every day: closes what ended, re-checks what is pending


@dataclass(frozen=True)
class CloseRun:
    """One round of the closure: `at` is the workflow's time (the Schedule's run)."""

    at: datetime


@dataclass(frozen=True)
class ClosureOutcome:
    programme_code: int
    millesime: int
    status: str  # ClosureStatus
    returned_cents: Cents
    unexpired: int  # unspent cheques not yet EXPIRED (their journeys' timers are late)


@dataclass(frozen=True)
class CloseReport:
    closures: list[ClosureOutcome] = field(default_factory=list)


class ClosureStatus(Labelled):
    CLOSED = "CLOSED"  # every unspent cheque expired, ledger reconciled: final
    PENDING = "PENDING"  # some unspent cheques are not expired yet: checked again daily


CLOSURE_STATUS_LABELS = labels(
    ClosureStatus,
    {
        ClosureStatus.CLOSED: "Clôturé",
        ClosureStatus.PENDING: "En attente (chèques non expirés)",
    },
)


def closable(millesime_valid_until: datetime, at: datetime) -> bool:
    """A millésime is closed once its validity (grace included) has ended."""
    return at >= millesime_valid_until


def sum_by_funder(splits: Iterable[Mapping[int, Cents]]) -> dict[int, Cents]:
    out: dict[int, Cents] = {}
    for split in splits:
        for funder, amount in split.items():
            out[funder] = out.get(funder, 0) + amount
    return out
