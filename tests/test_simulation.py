"""The programme simulator (simulation, `passnum simulate`): a hand-computed small
case to the cent, expiry and grace per domain.validity, the millésime by date, budget
runout, reproducibility by seed, and the command's files."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import date
from pathlib import Path

import numpy as np
import pytest

import cli
from domain.ledger import default_rule
from domain.millesimes import ProgrammePeriod
from records.seed import load_programme_file
from simulation import (
    Assumptions,
    AssumptionsError,
    PersonPlan,
    SimProgramme,
    draw_plans,
    programme_from_seed,
    simulate,
    simulate_plans,
)
from simulation.model import DESCRIPTIONS, Epci, Funder

DEP, EPCI_LINE, ETAT = 1, 2, 3


def small_programme(
    dep: int = 30_000, epci: int = 10_000, etat: int = 60_000, grace: int = 1
) -> SimProgramme:
    """Two EPCIs, only the first with a funder line (10 % of its cheques); the
    Département and the State share the rest 1:2."""
    return SimProgramme(
        name="Petit programme",
        cheque_value_cents=1000,
        cheques_per_booklet=10,
        grace_months=grace,
        period=ProgrammePeriod(date(2020, 1, 1), None),
        target_booklets=None,
        funders=(
            Funder(DEP, "Département", dep),
            Funder(EPCI_LINE, "EPCI A", epci),
            Funder(ETAT, "État", etat),
        ),
        rule=default_rule([(DEP, dep), (ETAT, etat)], [(EPCI_LINE, 1, epci)]),
        epcis=(Epci(1, "a", "EPCI A", epci), Epci(2, "b", "EPCI B", 0)),
    )


def plan(
    epci: int,
    referred_on: date = date(2020, 3, 2),
    assessed: int | None = 5,
    booklet: int | None = 0,
    oriented: int | None = 3,
    accepts: bool = True,
    cheques: tuple[int, ...] = (),
    gaps: tuple[int, ...] = (),
    first: int = 5,
    prefers_next: bool = False,
) -> PersonPlan:
    return PersonPlan(
        referred_on=referred_on,
        epci_id=epci,
        assessed_after=assessed,
        booklet_after=booklet,
        prefers_next_millesime=prefers_next,
        oriented_after=oriented,
        answered_after=2,
        accepts=accepts,
        first_session_after=first,
        session_gaps=gaps,
        cheques_per_session=cheques,
    )


def ten_people() -> list[PersonPlan]:
    """Referred 02/03/2020; booklets 07/03, oriented 10/03, accepted 12/03, first session 17/03."""
    return [
        # 1-4, EPCI A: sessions 17/03, 31/03, 14/04 of 2 cheques: 6 spent, 4 expire.
        *(plan(1, cheques=(2, 2, 2), gaps=(14, 14)) for _ in range(4)),
        # 5-6, EPCI B: every 10 days from 17/03, 2 cheques each: the booklet is used up on
        # 26/04 (its fifth session), the sixth (06/05) pays nothing.
        *(plan(2, cheques=(2,) * 6, gaps=(10,) * 5) for _ in range(2)),
        # 7-8, EPCI A: a booklet, never oriented: stalled 27/03, 10 cheques expire.
        *(plan(1, oriented=None) for _ in range(2)),
        # 9, EPCI B: never assessed: stalled 22/03.
        plan(2, assessed=None, booklet=None),
        # 10, EPCI A: oriented 10/03, no answer: the orientation expires 09/04 (stalled).
        plan(1, accepts=False, cheques=(2,)),
    ]


def month_figures(result, name: str) -> dict[tuple[int, int], int]:  # type: ignore[no-untyped-def]
    values = result.per_trial[name][0]
    return {m: int(v) for m, v in zip(result.months, values, strict=True) if v}


def test_hand_computed_small_case() -> None:
    r = simulate_plans(small_programme(), ten_people())
    assert r.months[0] == (2020, 3) and r.months[-1] == (2021, 2)
    assert month_figures(r, "referrals") == {(2020, 3): 10}
    assert month_figures(r, "booklets") == {(2020, 3): 9}
    assert month_figures(r, "spent") == {(2020, 3): 4 * 4 + 2 * 4, (2020, 4): 4 * 2 + 2 * 6}
    # Unspent cheques expire at valid_until(2020, grace 1) = 01/02/2021: February.
    assert month_figures(r, "expired") == {(2021, 2): 4 * 4 + 2 * 10 + 10}
    # Stalls: 7, 8, 9 in March; 10's orientation in April; 1-4 sixty days after 14/04
    # (13/06); 5-6 completed their booklet, never stalled.
    assert month_figures(r, "stalled") == {(2020, 3): 3, (2020, 4): 1, (2020, 6): 4}
    assert float(r.totals["active"].mean) == 6
    assert float(r.totals["spent_share"].mean) == pytest.approx(44 / 90)

    # A cheque of EPCI A: Département 300, EPCI 100, État 600 (cents); of EPCI B (no line
    # of its own): 1 000 × 1/3 and 2/3, the odd cent to the larger remainder: 333 and 667.
    by_id = {f.id: f for f in r.funders}
    spent_a, spent_b = 4 * 6, 2 * 10
    expired_a = 4 * 4 + 2 * 10 + 10
    assert float(by_id[DEP].spent.mean) == spent_a * 300 + spent_b * 333 == 13_860
    assert float(by_id[EPCI_LINE].spent.mean) == spent_a * 100 == 2_400
    assert float(by_id[ETAT].spent.mean) == spent_a * 600 + spent_b * 667 == 27_740
    assert float(by_id[DEP].returned.mean) == expired_a * 300
    assert float(by_id[EPCI_LINE].returned.mean) == expired_a * 100
    assert float(by_id[ETAT].returned.mean) == expired_a * 600
    assert float(by_id[DEP].committed.mean) == 70 * 300 + 20 * 333
    assert float(by_id[DEP].unspent.mean) == 30_000 - 13_860
    assert sum(float(f.spent.mean) for f in r.funders) == 44 * 1000
    assert sum(float(f.returned.mean) for f in r.funders) == 46 * 1000
    # Spending per funder per month adds up to the months' cheques.
    march = r.months.index((2020, 3))
    assert sum(int(r.per_trial["spent_cents"][0, i, march]) for i in range(3)) == 24 * 1000
    assert all(f.runs_out_month is None and f.runs_out_share == 0 for f in r.funders)


@pytest.mark.parametrize(
    ("grace", "expiry_month"), [(0, (2021, 1)), (1, (2021, 2)), (2, (2021, 3))]
)
def test_expiry_follows_grace(grace: int, expiry_month: tuple[int, int]) -> None:
    r = simulate_plans(small_programme(grace=grace), [plan(1, cheques=(1,))])
    assert month_figures(r, "expired") == {expiry_month: 9}


def test_last_valid_day_pays_and_the_next_does_not() -> None:
    # Booklet 07/11/2020 (millésime 2020, grace 1: valid to 31/01/2021 included),
    # accepted 12/11; sessions 31/01/2021 and 01/02/2021.
    late = plan(
        1,
        referred_on=date(2020, 11, 2),
        cheques=(1, 1),
        first=(date(2021, 1, 31) - date(2020, 11, 12)).days,
        gaps=(1,),
    )
    r = simulate_plans(small_programme(), [late])
    assert month_figures(r, "spent") == {(2021, 1): 1}
    assert month_figures(r, "expired") == {(2021, 2): 9}


def test_millesime_by_date() -> None:
    # On 07/12/2020 both 2020 and 2021 are offered: next year's cheques start 01/01/2021
    # (the session waits for it) and expire with their own grace, in February 2022.
    december = plan(1, referred_on=date(2020, 12, 2), cheques=(3,), prefers_next=True)
    r = simulate_plans(small_programme(), [december])
    assert month_figures(r, "spent") == {(2021, 1): 3}
    assert month_figures(r, "expired") == {(2022, 2): 7}
    # This year's: spent in December, the rest expires in February 2021.
    r = simulate_plans(small_programme(), [replace(december, prefers_next_millesime=False)])
    assert month_figures(r, "spent") == {(2020, 12): 3}
    assert month_figures(r, "expired") == {(2021, 2): 7}
    # From 02/01/2021 (30 days before 01/02) a 2020 booklet is no longer handed out.
    january = plan(1, referred_on=date(2020, 12, 28), cheques=(1,))
    r = simulate_plans(small_programme(), [january])
    assert month_figures(r, "expired") == {(2022, 2): 9}


def test_no_booklet_before_the_programme_and_stock_limit() -> None:
    early = plan(1, referred_on=date(2019, 11, 4))
    r = simulate_plans(small_programme(), [early, *ten_people()])
    assert int(r.per_trial["booklets"].sum()) == 9  # the 2019 referral gets none
    limited = replace(small_programme(), target_booklets=5)
    r = simulate_plans(limited, ten_people())
    assert int(r.per_trial["booklets"].sum()) == 5
    # Handed out earliest first (same day: in order): 1-5 get one. 6, 7, 8 and 10 found
    # none left and are flagged stalled 20 days after their assessment (27/03), with 9
    # (never assessed); 1-4 still stall in June.
    assert month_figures(r, "stalled") == {(2020, 3): 4 + 1, (2020, 6): 4}


def test_budget_runout_month() -> None:
    # Same shares, budgets of 80 € in all: EPCI A's line (8 000 cents) is committed 7 000
    # in March, then 1 000 more by a booklet in May: it runs out in May 2020.
    programme = small_programme(dep=24_000, epci=8_000, etat=48_000)
    may = plan(1, referred_on=date(2020, 5, 4), assessed=0, oriented=None)
    r = simulate_plans(programme, [*ten_people(), may])
    by_id = {f.id: f for f in r.funders}
    assert by_id[EPCI_LINE].runs_out(r.months) == ((2020, 5),) * 3
    assert by_id[EPCI_LINE].runs_out_share == 1.0
    # The Département's 240 € are committed in March (27 660 cents of cheques).
    assert by_id[DEP].runs_out(r.months) == ((2020, 3),) * 3


def deterministic() -> Assumptions:
    return Assumptions(
        referrals_per_month={"2020-03": 10},
        assessment_rate=1.0,
        assessment_delay_days=(0, 0),
        booklet_rate=1.0,
        booklet_delay_days=(0, 0),
        orientation_rate=1.0,
        orientation_delay_days=(0, 0),
        acceptance_rate=1.0,
        answer_delay_days=(1, 1),
        first_session_delay_days=(0, 0),
        sessions_planned=(3, 3),
        dropout_per_session=0.0,
        cheques_per_session={2: 1.0},
        session_gap_days=(7, 7),
    )


def test_deterministic_rates_give_exact_figures_in_every_trial() -> None:
    r = simulate(small_programme(), deterministic(), trials=20, seed=3)
    for name, value in (("booklets", 10), ("spent", 60), ("expired", 40), ("stalled", 10)):
        totals = r.per_trial[name].sum(axis=1)
        assert (totals == value).all(), name
    assert month_figures(r, "booklets") == {(2020, 3): 10}
    assert month_figures(r, "expired") == {(2021, 2): 40}
    assert (
        float(r.totals["cheques_per_active"].p10) == float(r.totals["cheques_per_active"].p90) == 6
    )
    # Nobody assessed: everyone stalls 20 days after the referral, nothing is spent.
    r = simulate(small_programme(), replace(deterministic(), assessment_rate=0.0), trials=5)
    assert int(r.per_trial["spent"].sum()) == 0
    assert (r.per_trial["stalled"].sum(axis=1) == 10).all()


def aveyron() -> SimProgramme:
    return programme_from_seed(load_programme_file())


def test_reproducible_by_seed() -> None:
    a = Assumptions(referrals_total=600)
    first = simulate(aveyron(), a, trials=12, seed=7)
    again = simulate(aveyron(), a, trials=12, seed=7)
    other = simulate(aveyron(), a, trials=12, seed=8)
    for name in ("booklets", "spent", "expired", "stalled", "spent_cents", "returned_cents"):
        assert np.array_equal(first.per_trial[name], again.per_trial[name]), name
    assert not np.array_equal(first.per_trial["spent"], other.per_trial["spent"])
    # Trials differ from one another (each has its own stream).
    assert len({int(x) for x in first.per_trial["spent"].sum(axis=1)}) > 1
    # Trial t is the same whatever the number of trials asked for.
    fewer = simulate(aveyron(), a, trials=5, seed=7)
    assert np.array_equal(fewer.per_trial["spent_cents"], first.per_trial["spent_cents"][:5])


def test_aveyron_defaults_match_the_published_figures() -> None:
    r = simulate(aveyron(), Assumptions(), trials=30, seed=1)
    assert 0.15 <= float(r.totals["spent_share"].mean) <= 0.35
    assert 5 <= float(r.totals["cheques_per_active"].mean) <= 8
    assert float(r.totals["booklets"].p90) <= 9000  # the stock
    # Every cheque issued is spent or expired by the end, in cents for every funder.
    per_trial = r.per_trial
    committed = per_trial["committed_cents"].sum(axis=2)
    assert np.array_equal(
        committed, per_trial["spent_cents"].sum(axis=2) + per_trial["returned_cents"].sum(axis=2)
    )


def test_plans_follow_the_same_distributions() -> None:
    a = Assumptions()
    plans = draw_plans(a, aveyron(), seed=5)
    assert plans == draw_plans(a, aveyron(), seed=5)
    assert plans != draw_plans(a, aveyron(), seed=6)
    assert len(plans) == 10_527
    one = simulate_plans(aveyron(), plans)
    many = simulate(aveyron(), a, trials=30, seed=5)
    for name, tolerance in (("spent_share", 0.02), ("cheques_per_active", 0.3)):
        assert float(one.totals[name].mean) == pytest.approx(
            float(many.totals[name].mean), abs=tolerance
        ), name
    person = next(
        p
        for p in plans
        if p.accepts
        and p.cheques_per_session
        and p.oriented_after is not None
        and p.booklet_after is not None
    )
    days = person.session_days()
    assert [c for _, c in days] == list(person.cheques_per_session)
    assert person.booklet_on is not None and days[0][0] > person.booklet_on


def test_assumptions_file() -> None:
    a = Assumptions.from_json(
        {
            "_note": "x",
            "campaign_months": 6,
            "assessment_delay_days": [1, 9],
            "cheques_per_session": {"1": 1, "3": 1},
        }
    )
    assert a.campaign_months == 6 and a.assessment_delay_days == (1, 9)
    assert Assumptions.from_json(a.to_json()) == a
    assert set(DESCRIPTIONS) == set(a.to_json())
    with pytest.raises(AssumptionsError, match="inconnue"):
        Assumptions.from_json({"taux": 1})
    with pytest.raises(AssumptionsError, match="entre 0 et 1"):
        Assumptions.from_json({"acceptance_rate": 1.5})
    with pytest.raises(AssumptionsError, match="AAAA-MM"):
        Assumptions.from_json({"referrals_per_month": {"mars": 3}})


PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def test_command_writes_charts_and_page(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assumptions = tmp_path / "hypotheses.json"
    assumptions.write_text(json.dumps({"referrals_total": 400}), encoding="utf-8")
    out = tmp_path / "dossier"
    code = cli.run(
        [
            "simulate",
            "--assumptions",
            str(assumptions),
            "--trials",
            "20",
            "--seed",
            "2",
            "--campaign-months",
            "3",
            "--out",
            str(out),
        ]
    )
    assert code == 0
    printed = capsys.readouterr().out
    assert "Simulation du programme « Pass numérique Aveyron »" in printed
    assert "Chèques dépensés" in printed and "Épuisement du budget" in printed
    assert "aptic.freshdesk.com" in printed
    pngs = sorted(out.glob("*.png"))
    assert [p.name for p in pngs] == [
        "activite_mensuelle.png",
        "financeurs.png",
        "parcours_bloques.png",
    ]
    for png in pngs:
        assert png.read_bytes().startswith(PNG_SIGNATURE)
    page = (out / "simulation.html").read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>") and '<html lang="fr">' in page
    assert page.count("<table>") == 5 and "<caption>Par mois" in page
    assert "<caption>Dépenses par mois et par financeur" in page
    assert page.count('src="data:image/png;base64,') == 3
    assert 'alt="Diagramme en barres par mois.' in page
    assert '<th scope="row">mars 2020</th>' in page  # the campaign's last month
    assert "campaign_months" in page and "<td>3</td>" in page


def test_command_refuses_bad_assumptions(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"acceptance_rate": 2}), encoding="utf-8")
    assert cli.run(["simulate", "--assumptions", str(bad), "--out", str(tmp_path / "o")]) == 2
    assert "doit être compris entre 0 et 1" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()
    assert cli.run(["simulate", "--print-assumptions", "--dropout", "0.2"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["dropout_per_session"] == 0.2 and "_aide" in printed
