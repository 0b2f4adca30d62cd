"""The funder ledger's pure rules: a cheque's split sums exactly to its value and follows
the rule (an EPCI's line only for its own territory), the default rule from the Aveyron
budget, the entries a status implies, balances, and the exhaustion month."""

from __future__ import annotations

from datetime import date
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.ledger import (
    Balance,
    EntryKind,
    FundingLine,
    FundingRule,
    RuleError,
    default_rule,
    entry_kinds,
    exhaustion_month,
    format_month_fr,
    largest_remainder_bp,
    net_commitments,
    pace,
)
from domain.stages import ChequeStatus

# Aveyron (records/seed/aveyron.json): Département, State, and three of the 17 EPCI.
DEP, ETAT = 1, 19
AVEYRON = default_rule(
    [(DEP, 30_000_000), (ETAT, 62_830_000)],
    [(2, 101, 3_191_800), (3, 102, 1_709_900), (4, 103, 8_760_300)],  # 136 620 € in all
)


@st.composite
def rules(draw: st.DrawFn) -> FundingRule:
    general = draw(st.lists(st.integers(0, 10_000), min_size=1, max_size=3))
    if sum(general) == 0:
        general[0] = 1
    lines = [FundingLine(i + 1, s) for i, s in enumerate(general)]
    epcis = draw(st.lists(st.integers(1, 4), max_size=5))
    used: dict[int, int] = {}
    for n, epci in enumerate(epcis):
        share = draw(st.integers(0, 10_000 - used.get(epci, 0)))
        used[epci] = used.get(epci, 0) + share
        lines.append(FundingLine(100 + n, share, epci))
    order = draw(st.permutations(lines))
    return FundingRule(tuple(order))


@given(rules(), st.integers(0, 100_000), st.one_of(st.none(), st.integers(1, 6)))
def test_a_split_sums_exactly_and_stays_within_a_cent_of_each_share(
    rule: FundingRule, value: int, epci: int | None
) -> None:
    split = rule.split(value, epci)
    assert sum(split.values()) == value
    exact = dict(rule.weights(epci))
    assert sum(exact.values()) == 1
    for funder, amount in split.items():
        assert amount > 0
        assert abs(amount - exact[funder] * value) < 1
    # Only this EPCI's territorial lines and the general lines pay.
    territorial = {ln.funder_id: ln.epci_id for ln in rule.lines if ln.territorial}
    assert all(territorial.get(f, epci) == epci for f in split)
    assert rule.split(value, epci) == split  # deterministic


def test_the_aveyron_default_rule() -> None:
    """State 59,00 %, Département 28,17 %, each EPCI 12,83 % of its own territory's cheques
    (136 620 € of 1 064 920 €); a territory without a line is paid by the other two."""
    shares = {ln.funder_id: (ln.share_bp, ln.epci_id) for ln in AVEYRON.lines}
    assert shares == {
        DEP: (2817, None),
        ETAT: (5900, None),
        2: (1283, 101),
        3: (1283, 102),
        4: (1283, 103),
    }
    assert AVEYRON.split(1000, 101) == {DEP: 282, ETAT: 590, 2: 128}
    assert AVEYRON.split(1000, 103) == {DEP: 282, ETAT: 590, 4: 128}
    assert AVEYRON.split(1000, 999) == {DEP: 323, ETAT: 677}
    # Ties (both remainders equal) go to the earlier line, every time.
    even = FundingRule((FundingLine(7, 5000), FundingLine(8, 5000)))
    assert even.split(1, None) == {7: 1} and even.split(3, None) == {7: 2, 8: 1}


def test_largest_remainder_sums_to_ten_thousand() -> None:
    assert largest_remainder_bp([30_000_000, 62_830_000, 13_662_000]) == [2817, 5900, 1283]
    assert sum(largest_remainder_bp([1, 1, 1])) == 10_000
    with pytest.raises(RuleError):
        largest_remainder_bp([0, 0])


def test_rules_that_cannot_charge_a_cheque_are_refused() -> None:
    with pytest.raises(RuleError, match="aucun financeur général"):
        FundingRule((FundingLine(1, 1000, 5),))
    with pytest.raises(RuleError, match="dépassent 100 %"):
        FundingRule((FundingLine(1, 10), FundingLine(2, 6000, 5), FundingLine(3, 5000, 5)))
    with pytest.raises(RuleError, match="une ligne"):
        FundingRule((FundingLine(1, 10), FundingLine(1, 20)))


def test_entries_each_status_implies() -> None:
    for status in ChequeStatus:  # a new status: decide its entries here
        kinds = entry_kinds(status)
        assert EntryKind.COMMITTED in kinds and len(kinds - {EntryKind.COMMITTED}) <= 1
    assert entry_kinds(ChequeStatus.ISSUED) == {EntryKind.COMMITTED}
    assert entry_kinds("REDEEMED") == {EntryKind.COMMITTED, EntryKind.SPENT}
    # Reimbursing a structure is no funder charge: nothing more than REDEEMED.
    assert entry_kinds(ChequeStatus.REIMBURSED) == entry_kinds(ChequeStatus.REDEEMED)
    assert entry_kinds(ChequeStatus.CANCELLED) == {EntryKind.COMMITTED, EntryKind.CANCELLED}
    assert entry_kinds(ChequeStatus.EXPIRED) == {EntryKind.COMMITTED, EntryKind.EXPIRED}


def test_balance() -> None:
    b = Balance.of(
        100_000,
        {
            EntryKind.COMMITTED: 50_000,
            EntryKind.SPENT: 20_000,
            EntryKind.CANCELLED: 5_000,
            EntryKind.EXPIRED: 10_000,
        },
    )
    assert b.engaged == 15_000  # still usable
    assert b.remaining == 100_000 - 15_000 - 20_000


def test_pace_and_exhaustion_month() -> None:
    today = date(2026, 6, 15)
    monthly = {(2026, 2): 500, (2026, 3): 1_000, (2026, 4): 2_000, (2026, 5): 3_000, (2026, 6): 9}
    measured = pace(monthly, today)
    assert measured is not None
    assert measured.months == ((2026, 3), (2026, 4), (2026, 5))  # the current month is not
    assert measured.per_month == 2_000
    # 12 000 left at 2 000 a month: six months from 15 June, mid-December.
    assert exhaustion_month(12_000, monthly, today) == (2026, 12)
    assert exhaustion_month(0, monthly, today) == (2026, 6)  # nothing left: now
    # One complete month of figures only: that month, not three with two empty ones.
    young = pace({(2026, 5): 300, (2026, 6): 100}, today)
    assert young is not None and young.months == ((2026, 5),) and young.per_month == 300
    assert pace({(2026, 6): 100}, today) is None  # no complete month yet
    assert exhaustion_month(5_000, {(2026, 6): 100}, today) is None
    # A month with more released than committed: no positive pace, no exhaustion foreseen.
    assert exhaustion_month(5_000, {(2026, 5): -100}, today) is None
    assert pace({(2026, 1): 300}, today) is not None  # empty months since count as zero
    assert pace({(2026, 1): 300}, today).per_month == Fraction(0)  # type: ignore[union-attr]
    assert format_month_fr((2026, 12)) == "décembre 2026"


def test_net_commitments_take_cancellations_off() -> None:
    figures = {
        ((2026, 5), EntryKind.COMMITTED): 1_000,
        ((2026, 5), EntryKind.CANCELLED): 300,
        ((2026, 5), EntryKind.SPENT): 700,
        ((2026, 6), EntryKind.EXPIRED): 50,
    }
    assert net_commitments(figures) == {(2026, 5): 700}
