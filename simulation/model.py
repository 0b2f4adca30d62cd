"""What the simulator reads: a programme (`SimProgramme`) and take-up assumptions
(`Assumptions`), with the published figures the defaults come from.

**Assumptions file.** JSON with the English keys of `Assumptions` (the French meaning of
each is `DESCRIPTIONS`, printed with every result): rates are shares in [0, 1], delays
`[min, max]` in whole days drawn uniformly, `cheques_per_session` maps a number of cheques
to its weight. Keys left out keep their default; an unknown key is refused.

**Referrals.** Either an explicit calendar (`referrals_per_month`, "YYYY-MM" → people
referred that month), or one distribution campaign: `referrals_total` people (default: as
many as the programme's booklet stock needs at the assessment and booklet rates) spread
evenly over `campaign_months` months from `campaign_start` (default: the programme's
first day). Each referred person belongs to an EPCI drawn by `epci_weights` (default:
the EPCIs' budgets, which are set by population, as the demand is).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from datetime import date
from typing import Any

from domain.ledger import FundingRule, default_rule
from domain.millesimes import ProgrammePeriod
from domain.money import Cents
from domain.policy import JourneyPolicy
from records.programme_file import GENERAL_KINDS, ProgrammeFile


class AssumptionsError(ValueError):
    """Assumptions or a programme the simulator cannot use (French message)."""


Range = tuple[int, int]

# The published figures the defaults are set from (shown with every result).
SOURCES: tuple[tuple[str, str], ...] = (
    (
        "Part des chèques achetés effectivement dépensés : de l'ordre de 15 à 35 % au niveau "
        "national ; une personne qui suit un accompagnement dépense 5 à 8 chèques. Chiffres "
        "repris de la demande du projet (issue 12) ; la presse rapporte, d'après un rapport "
        "sénatorial, que les pass achetés ont été « peu utilisés ».",
        "https://www.lagazettedescommunes.com/710595/"
        "contre-lillectronisme-le-pass-numerique-donne-acces-a-des-formations/",
    ),
    (
        "Les déploiements courts et bien organisés, d'environ 4 mois, donnent le meilleur taux "
        "d'utilisation ; une tolérance d'un mois après le 31 décembre est accordée (APTIC, "
        "centre d'aide).",
        "https://aptic.freshdesk.com/support/solutions/articles/44002265771",
    ),
)


@dataclass(frozen=True)
class Assumptions:
    """Take-up assumptions; defaults calibrated on the published figures (`SOURCES`)."""

    referrals_per_month: Mapping[str, int] | None = None
    campaign_start: date | None = None
    campaign_months: int = 4
    referrals_total: int | None = None
    assessment_rate: float = 0.9
    assessment_delay_days: Range = (2, 30)
    booklet_rate: float = 0.95
    booklet_delay_days: Range = (0, 10)
    next_millesime_share: float = 0.5
    orientation_rate: float = 0.7
    orientation_delay_days: Range = (0, 30)
    acceptance_rate: float = 0.6
    answer_delay_days: Range = (1, 20)
    first_session_delay_days: Range = (3, 30)
    sessions_planned: Range = (3, 5)
    dropout_per_session: float = 0.08
    cheques_per_session: Mapping[int, float] = field(default_factory=lambda: {1: 0.4, 2: 0.6})
    session_gap_days: Range = (7, 21)
    epci_weights: Mapping[str, float] | None = None

    def __post_init__(self) -> None:
        for name in _RATES:
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise AssumptionsError(f"« {name} » doit être compris entre 0 et 1 ({value}).")
        for name in _RANGES:
            low, high = getattr(self, name)
            if not 0 <= low <= high:
                raise AssumptionsError(
                    f"« {name} » doit être [min, max] avec 0 ≤ min ≤ max ({low}, {high})."
                )
        if self.campaign_months < 1:
            raise AssumptionsError("« campaign_months » doit valoir au moins 1.")
        if self.referrals_total is not None and self.referrals_total < 0:
            raise AssumptionsError("« referrals_total » ne peut pas être négatif.")
        if not self.cheques_per_session or any(
            k < 1 or w < 0 for k, w in self.cheques_per_session.items()
        ):
            raise AssumptionsError(
                "« cheques_per_session » associe un nombre de chèques (≥ 1) à un poids (≥ 0)."
            )
        if sum(self.cheques_per_session.values()) <= 0:
            raise AssumptionsError("Les poids de « cheques_per_session » sont tous nuls.")
        if self.referrals_per_month is not None:
            for key, count in self.referrals_per_month.items():
                _month_key(key)
                if count < 0:
                    raise AssumptionsError(f"Orientations négatives pour {key}.")
        if self.epci_weights is not None and (
            any(w < 0 for w in self.epci_weights.values()) or sum(self.epci_weights.values()) <= 0
        ):
            raise AssumptionsError("« epci_weights » : des poids positifs, pas tous nuls.")

    # ---- JSON ----

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Assumptions:
        """The assumptions of a parsed JSON file (keys starting with '_' are comments)."""
        known = {f.name for f in fields(cls)}
        values: dict[str, Any] = {}
        for key, raw in data.items():
            if key.startswith("_"):
                continue
            if key not in known:
                raise AssumptionsError(f"Hypothèse inconnue : « {key} ».")
            try:
                values[key] = _parse(key, raw)
            except (TypeError, ValueError) as err:
                if isinstance(err, AssumptionsError):
                    raise
                raise AssumptionsError(f"Valeur illisible pour « {key} » : {raw!r}.") from err
        return cls(**values)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, date):
                value = value.isoformat()
            elif isinstance(value, tuple):
                value = list(value)
            elif f.name == "cheques_per_session":
                value = {str(k): w for k, w in value.items()}
            elif isinstance(value, Mapping):
                value = dict(value)
            out[f.name] = value
        return out

    def with_changes(self, **changes: Any) -> Assumptions:
        """A copy with some values changed (the CLI's flags), checked again."""
        return replace(self, **{k: v for k, v in changes.items() if v is not None})


_RATES = (
    "assessment_rate",
    "booklet_rate",
    "next_millesime_share",
    "orientation_rate",
    "acceptance_rate",
    "dropout_per_session",
)
_RANGES = (
    "assessment_delay_days",
    "booklet_delay_days",
    "orientation_delay_days",
    "answer_delay_days",
    "first_session_delay_days",
    "sessions_planned",
    "session_gap_days",
)

# What each key means, in French (the file's documentation and the output's table).
DESCRIPTIONS: dict[str, str] = {
    "referrals_per_month": "Calendrier des orientations : personnes orientées par mois (« AAAA-MM »)",
    "campaign_start": "Début de la campagne de distribution (par défaut : début du programme)",
    "campaign_months": "Durée de la campagne de distribution, en mois",
    "referrals_total": "Personnes orientées sur la campagne (par défaut : de quoi remettre tout le stock de carnets)",
    "assessment_rate": "Part des personnes orientées qui passent le diagnostic",
    "assessment_delay_days": "Délai orientation → diagnostic (jours, min–max)",
    "booklet_rate": "Part des personnes diagnostiquées qui reçoivent un carnet",
    "booklet_delay_days": "Délai diagnostic → remise du carnet (jours, min–max)",
    "next_millesime_share": "Part des carnets remis au millésime suivant quand les deux sont proposés",
    "orientation_rate": "Part des titulaires d'un carnet orientés vers une structure de médiation",
    "orientation_delay_days": "Délai remise du carnet → orientation (jours, min–max)",
    "acceptance_rate": "Part des orientations acceptées",
    "answer_delay_days": "Délai de réponse de la structure (jours, min–max ; au-delà de l'expiration, l'orientation expire)",
    "first_session_delay_days": "Délai acceptation → première séance (jours, min–max)",
    "sessions_planned": "Séances prévues par personne (min–max)",
    "dropout_per_session": "Probabilité d'abandon après chaque séance",
    "cheques_per_session": "Chèques par séance (nombre → poids)",
    "session_gap_days": "Écart entre deux séances (jours, min–max)",
    "epci_weights": "Répartition des orientations entre intercommunalités (par défaut : leurs budgets)",
}


def _month_key(key: str) -> tuple[int, int]:
    try:
        year, month = (int(x) for x in key.split("-"))
    except ValueError as err:
        raise AssumptionsError(f"Mois illisible : « {key} » (attendu AAAA-MM).") from err
    if not 1 <= month <= 12:
        raise AssumptionsError(f"Mois illisible : « {key} » (attendu AAAA-MM).")
    return year, month


def _parse(key: str, raw: Any) -> Any:
    if raw is None:
        return None
    if key == "campaign_start":
        return date.fromisoformat(raw)
    if key in _RANGES:
        low, high = raw
        return (int(low), int(high))
    if key in _RATES:
        return float(raw)
    if key in ("campaign_months", "referrals_total"):
        return int(raw)
    if key == "cheques_per_session":
        return {int(k): float(w) for k, w in raw.items()}
    if key == "referrals_per_month":
        return {str(k): int(v) for k, v in raw.items()}
    if key == "epci_weights":
        return {str(k): float(v) for k, v in raw.items()}
    return raw


# ---- the programme ----


@dataclass(frozen=True)
class Funder:
    id: int
    name: str
    budget_cents: Cents


@dataclass(frozen=True)
class Epci:
    id: int
    key: str
    name: str
    budget_cents: Cents  # its funder line's budget (0 without a line)


@dataclass(frozen=True)
class SimProgramme:
    name: str
    cheque_value_cents: Cents
    cheques_per_booklet: int
    grace_months: int
    period: ProgrammePeriod
    target_booklets: int | None  # the booklet stock; None: no limit
    funders: tuple[Funder, ...]
    rule: FundingRule
    epcis: tuple[Epci, ...]
    policy: JourneyPolicy = field(default_factory=JourneyPolicy)

    def __post_init__(self) -> None:
        if not self.epcis:
            raise AssumptionsError("Le programme n'a aucune intercommunalité.")
        if self.cheques_per_booklet < 1 or self.cheque_value_cents < 0:
            raise AssumptionsError("Un carnet a au moins un chèque, de valeur positive.")


def programme_from_seed(spec: ProgrammeFile, policy: JourneyPolicy | None = None) -> SimProgramme:
    """The programme of a checked programme file (docs/programme-file.md), with the funding
    rule `records.ledger.ensure_rule` derives from its budget lines: funder ids in the file's
    order from 1, EPCI ids from 1; an EPCI's budget is its EPCI funders' (0 without one)."""
    p = spec.programme
    funders = tuple(Funder(i, f.name, f.amount_cents) for i, f in enumerate(spec.funders, start=1))
    epci_ids = {e.key: i for i, e in enumerate(spec.epci, start=1)}
    epci_budget = {
        f.epci: f.amount_cents for f in spec.funders if f.kind == "EPCI" and f.epci is not None
    }
    epcis = tuple(
        Epci(epci_ids[e.key], e.key, e.name, epci_budget.get(e.key, 0)) for e in spec.epci
    )
    general = [
        (i, f.amount_cents) for i, f in enumerate(spec.funders, start=1) if f.kind in GENERAL_KINDS
    ]
    territorial = [
        (i, epci_ids[f.epci], f.amount_cents)
        for i, f in enumerate(spec.funders, start=1)
        if f.kind == "EPCI" and f.epci is not None
    ]
    base = policy or JourneyPolicy()
    return SimProgramme(
        name=p.name,
        cheque_value_cents=p.cheque_value_cents,
        cheques_per_booklet=p.cheques_per_booklet,
        grace_months=p.grace_months,
        period=ProgrammePeriod(p.starts_on, p.ends_on),
        target_booklets=p.target_booklets,
        funders=funders,
        rule=default_rule(general, territorial),
        epcis=epcis,
        policy=replace(
            base,
            grace_months=p.grace_months,
            cheques_per_booklet=p.cheques_per_booklet,
            cheque_value_cents=p.cheque_value_cents,
        ),
    )


def referral_calendar(a: Assumptions, programme: SimProgramme) -> dict[tuple[int, int], int]:
    """People referred per (year, month)."""
    if a.referrals_per_month is not None:
        return {_month_key(k): int(v) for k, v in sorted(a.referrals_per_month.items())}
    start = a.campaign_start or programme.period.starts_on
    total = a.referrals_total
    if total is None:
        take = a.assessment_rate * a.booklet_rate
        target = programme.target_booklets or 0
        total = math.ceil(target / take) if take > 0 else 0
    base, extra = divmod(total, a.campaign_months)
    out: dict[tuple[int, int], int] = {}
    for i in range(a.campaign_months):
        index = start.year * 12 + start.month - 1 + i
        out[(index // 12, index % 12 + 1)] = base + (1 if i < extra else 0)
    return out


def epci_weights(a: Assumptions, programme: SimProgramme) -> list[float]:
    """Each EPCI's share of the referrals, in `programme.epcis` order (summing to 1)."""
    if a.epci_weights is not None:
        unknown = set(a.epci_weights) - {e.key for e in programme.epcis}
        if unknown:
            raise AssumptionsError(f"Intercommunalité inconnue : {', '.join(sorted(unknown))}.")
        raw = [float(a.epci_weights.get(e.key, 0.0)) for e in programme.epcis]
    else:
        raw = [float(e.budget_cents) for e in programme.epcis]
        if sum(raw) <= 0:
            raw = [1.0] * len(programme.epcis)
    total = sum(raw)
    return [w / total for w in raw]
