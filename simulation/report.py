"""What `passnum simulate` shows: a French summary for the terminal, PNG charts and one
self-contained HTML page (charts embedded as data URIs, every figure also in a table).

The numbers come from `simulation`; this module only formats and draws them.
Charts use matplotlib's Agg backend (no display needed).
"""

from __future__ import annotations

import base64
import io
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import SupportsFloat

import numpy as np
from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from domain.ledger import Month, format_month_fr
from domain.money import format_count, format_euros
from simulation.engine import FunderResult, SimulationResult, Stats
from simulation.model import DESCRIPTIONS, SOURCES

SHORT_MONTHS = (
    "janv.",
    "févr.",
    "mars",
    "avr.",
    "mai",
    "juin",
    "juil.",
    "août",
    "sept.",
    "oct.",
    "nov.",
    "déc.",
)


def short_month(month: Month) -> str:
    return f"{SHORT_MONTHS[month[1] - 1]} {month[0]}"


def count(x: SupportsFloat) -> str:
    return format_count(int(round(float(x))))


def euros(x: SupportsFloat) -> str:
    return format_euros(int(round(float(x))))


def percent(x: SupportsFloat) -> str:
    return f"{float(x) * 100:.1f}".replace(".", ",") + " %"


def spread(stats: Stats, i: int | None = None, fmt=count) -> str:  # type: ignore[no-untyped-def]
    """'mean [p10 – p90]' of a total (i None) or of month i."""
    pick = (lambda a: a) if i is None else (lambda a: a[i])
    mean, low, high = pick(stats.mean), pick(stats.p10), pick(stats.p90)
    if round(float(low), 6) == round(float(high), 6):
        return fmt(mean)
    return f"{fmt(mean)} [{fmt(low)} – {fmt(high)}]"


# ---- the figures as rows (shared by the terminal, the page and the tests) ----


@dataclass(frozen=True)
class Table:
    caption: str
    headers: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    numeric: bool = True  # cells after the first are figures (right-aligned)


def monthly_table(r: SimulationResult) -> Table:
    rows = tuple(
        (
            format_month_fr(m),
            spread(r.referrals, i),
            spread(r.booklets, i),
            spread(r.spent, i),
            spread(r.expired, i),
            spread(r.stalled, i),
        )
        for i, m in enumerate(r.months)
    )
    return Table(
        "Par mois : moyenne sur les tirages [10e centile – 90e centile]",
        (
            "Mois",
            "Personnes orientées",
            "Carnets remis",
            "Chèques dépensés",
            "Chèques expirés",
            "Parcours signalés bloqués",
        ),
        rows,
    )


def totals_table(r: SimulationResult) -> Table:
    t = r.totals
    rows = (
        ("Personnes orientées", spread(t["referrals"])),
        ("Carnets remis", spread(t["booklets"])),
        ("Chèques émis", spread(t["cheques"])),
        ("Chèques dépensés", spread(t["spent"])),
        ("Part des chèques dépensés", spread(t["spent_share"], fmt=percent)),
        ("Chèques expirés (restitués aux financeurs)", spread(t["expired"])),
        ("Personnes ayant dépensé au moins un chèque", spread(t["active"])),
        ("Chèques dépensés par personne active", spread(t["cheques_per_active"], fmt=_one_decimal)),
        ("Montant dépensé", spread(t["spent_cents"], fmt=euros)),
        ("Montant restitué (chèques expirés)", spread(t["returned_cents"], fmt=euros)),
        ("Signalements « parcours bloqué »", spread(t["stalled"])),
    )
    return Table("Sur tout le programme", ("Indicateur", "Moyenne [10e – 90e centile]"), rows)


def _one_decimal(x: SupportsFloat) -> str:
    return f"{float(x):.1f}".replace(".", ",")


def runs_out_text(r: SimulationResult, i: int) -> str:
    f = r.funders[i]
    months = f.runs_out(r.months)
    if months is None:
        return "Non épuisé"
    low, mid, high = months
    share = percent(f.runs_out_share)
    if low == high:
        return f"{format_month_fr(mid)} ({share} des tirages)"
    return f"{format_month_fr(mid)} [{format_month_fr(low)} – {format_month_fr(high)}] ({share} des tirages)"


def funders_table(r: SimulationResult) -> Table:
    rows = tuple(
        (
            f.name,
            euros(f.budget_cents),
            spread(f.committed, fmt=euros),
            spread(f.spent, fmt=euros),
            spread(f.returned, fmt=euros),
            spread(f.unspent, fmt=euros),
            runs_out_text(r, i),
        )
        for i, f in enumerate(r.funders)
    )
    return Table(
        "Par financeur (répartition de chaque chèque par la règle de financement, comme le grand livre)",
        (
            "Financeur",
            "Budget",
            "Engagé (carnets remis)",
            "Dépensé",
            "Restitué à l'expiration",
            "Budget non dépensé",
            "Épuisement du budget",
        ),
        rows,
    )


def funders_by_month_table(r: SimulationResult) -> Table:
    """Spending per month of the general funders (no EPCI of their own) one by one and of
    the EPCIs' lines together: means over the trials."""
    general = [f for f in r.funders if f.id not in _territorial_ids(r)]
    local = [f for f in r.funders if f.id in _territorial_ids(r)]
    rows = []
    for i, m in enumerate(r.months):
        cells = [euros(f.spent_by_month.mean[i]) for f in general]
        if local:
            cells.append(euros(sum(float(f.spent_by_month.mean[i]) for f in local)))
        rows.append((format_month_fr(m), *cells))
    headers = ["Mois", *(f.name for f in general)]
    if local:
        headers.append(f"Intercommunalités ({len(local)} lignes)")
    return Table(
        "Dépenses par mois et par financeur (moyenne des tirages)", tuple(headers), tuple(rows)
    )


def _territorial_ids(r: SimulationResult) -> set[int]:
    return {line.funder_id for line in r.programme.rule.lines if line.territorial}


def funders_text_table(r: SimulationResult) -> Table:
    """The funders' table for a terminal: means only (the page has the percentiles)."""
    rows = tuple(
        (
            f.name if len(f.name) <= 40 else f.name[:39] + "…",
            euros(f.budget_cents),
            euros(f.spent.mean),
            euros(f.returned.mean),
            euros(f.unspent.mean),
            runs_out_text(r, i),
        )
        for i, f in enumerate(r.funders)
    )
    return Table(
        "Par financeur, en moyenne (répartition de chaque chèque comme au grand livre)",
        ("Financeur", "Budget", "Dépensé", "Restitué", "Non dépensé", "Épuisement du budget"),
        rows,
    )


def assumptions_table(r: SimulationResult) -> Table:
    values = r.assumptions.to_json() if r.assumptions is not None else {}
    rows = tuple((key, DESCRIPTIONS[key], _value_text(value)) for key, value in values.items())
    return Table("Hypothèses de la simulation", ("Clé", "Signification", "Valeur"), rows, False)


def _value_text(value: object) -> str:
    if value is None:
        return "(par défaut)"
    if isinstance(value, list):
        return " – ".join(str(v) for v in value)
    if isinstance(value, dict):
        return ", ".join(f"{k} : {v}" for k, v in value.items())
    if isinstance(value, float):
        return str(value).replace(".", ",")
    return str(value)


def title(r: SimulationResult) -> str:
    p = r.programme
    return f"Simulation du programme « {p.name} »"


def subtitle(r: SimulationResult) -> str:
    p = r.programme
    stock = "sans limite" if p.target_booklets is None else format_count(p.target_booklets)
    return (
        f"{format_count(r.trials)} tirages, graine {r.seed} ; chèques de "
        f"{format_euros(p.cheque_value_cents)}, {p.cheques_per_booklet} par carnet, "
        f"{p.grace_months} mois de grâce ; stock de carnets : {stock}."
    )


# ---- terminal ----


def text_summary(r: SimulationResult) -> str:
    lines = [title(r), subtitle(r), ""]
    for table in (
        totals_table(r),
        monthly_table(r),
        funders_by_month_table(r),
        funders_text_table(r),
    ):
        lines += [table.caption, *_text_table(table), ""]
    lines.append("Valeurs par défaut des hypothèses, d'après les chiffres publiés :")
    lines += [f"- {text} ({url})" for text, url in SOURCES]
    return "\n".join(lines)


def _text_table(table: Table) -> list[str]:
    grid = [table.headers, *table.rows]
    widths = [max(len(row[c]) for row in grid) for c in range(len(table.headers))]

    def line(row: Sequence[str]) -> str:
        cells = [
            row[0].ljust(widths[0]),
            *(v.rjust(w) for v, w in zip(row[1:], widths[1:], strict=True)),
        ]
        return "  ".join(cells).rstrip()

    return [line(table.headers), "  ".join("-" * w for w in widths), *(line(r) for r in table.rows)]


# ---- charts ----


@dataclass(frozen=True)
class Chart:
    file_name: str
    title: str
    alt: str
    png: bytes


def _figure():  # type: ignore[no-untyped-def]
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _png(fig) -> bytes:  # type: ignore[no-untyped-def]
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110, bbox_inches="tight", metadata={"Software": None})
    _figure().close(fig)
    return buffer.getvalue()


def charts(r: SimulationResult) -> list[Chart]:
    plt = _figure()
    labels = [short_month(m) for m in r.months]
    x = list(range(len(labels)))
    out: list[Chart] = []

    fig, (top, bottom) = plt.subplots(
        2, 1, figsize=(10, 6.4), sharex=True, gridspec_kw={"height_ratios": [2, 1]}
    )
    width = 0.38
    for axis, shift, stats, name, colour in (
        (top, -width / 2, r.booklets, "Carnets remis", "#1f4e9b"),
        (top, width / 2, r.spent, "Chèques dépensés", "#2e8540"),
        (bottom, 0.0, r.expired, "Chèques expirés", "#c0392b"),
    ):
        # A skewed month's mean may lie outside its percentiles: no negative bar.
        errors = [np.maximum(stats.mean - stats.p10, 0), np.maximum(stats.p90 - stats.mean, 0)]
        axis.bar(
            [i + shift for i in x],
            stats.mean,
            width,
            yerr=errors,
            label=name,
            color=colour,
            capsize=2,
        )
    for axis in (top, bottom):
        axis.legend(loc="upper left" if axis is bottom else "upper right")
        axis.grid(axis="y", alpha=0.3)
    top.set_ylabel("Nombre par mois")
    bottom.set_ylabel("Nombre par mois")
    bottom.set_xticks(x, labels, rotation=45, ha="right")
    top.set_title(
        "Carnets remis, chèques dépensés et expirés par mois\n"
        "(moyenne des tirages ; traits : 10e – 90e centile)"
    )
    peak = int(max(range(len(x)), key=lambda i: float(r.spent.mean[i])))
    out.append(
        Chart(
            "activite_mensuelle.png",
            "Carnets remis, chèques dépensés et expirés par mois",
            "Diagramme en barres par mois. Carnets remis au total : "
            f"{count(r.totals['booklets'].mean)} ; chèques dépensés : "
            f"{count(r.totals['spent'].mean)}, le plus en {format_month_fr(r.months[peak])} ; "
            f"chèques expirés : {count(r.totals['expired'].mean)}. "
            "Les chiffres sont dans le tableau mensuel.",
            _png(fig),
        )
    )

    fig, ax = plt.subplots(figsize=(10, 0.42 * len(r.funders) + 2))
    names = [f.name if len(f.name) <= 48 else f.name[:46] + "…" for f in r.funders]
    y = list(range(len(names)))

    def share(cents: float, f: FunderResult) -> float:
        return 100 * cents / f.budget_cents if f.budget_cents else 0.0

    spent = [share(float(f.spent.mean), f) for f in r.funders]
    returned = [share(float(f.returned.mean), f) for f in r.funders]
    never = [max(100 - s - rt, 0.0) for s, rt in zip(spent, returned, strict=True)]
    ax.barh(y, spent, color="#2e8540", label="Dépensé")
    ax.barh(y, returned, left=spent, color="#c0392b", label="Restitué (chèques expirés)")
    left = [s + rt for s, rt in zip(spent, returned, strict=True)]
    ax.barh(y, never, left=left, color="#bbbbbb", label="Jamais engagé")
    ax.set_yticks(y, names)
    ax.invert_yaxis()
    ax.set_xlim(0, 100)
    ax.set_xlabel("Part du budget du financeur, en % (moyenne des tirages)")
    ax.set_title("Budget de chaque financeur : dépensé, restitué, jamais engagé")
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.07), ncol=3)
    biggest = max(r.funders, key=lambda f: f.budget_cents)
    out.append(
        Chart(
            "financeurs.png",
            "Budget de chaque financeur",
            f"Barres horizontales, une par financeur ({len(r.funders)}), en part du budget. "
            f"Par exemple {biggest.name} : budget {euros(biggest.budget_cents)}, dépensé "
            f"{euros(biggest.spent.mean)}, restitué {euros(biggest.returned.mean)}. "
            "Les chiffres de chacun sont dans le tableau des financeurs.",
            _png(fig),
        )
    )

    fig, ax = plt.subplots(figsize=(10, 4))
    ax.fill_between(
        x, r.stalled.p10, r.stalled.p90, color="#e67e22", alpha=0.3, label="10e – 90e centile"
    )
    ax.plot(x, r.stalled.mean, color="#e67e22", marker="o", label="Moyenne")
    ax.set_xticks(x, labels, rotation=45, ha="right")
    ax.set_ylabel("Signalements")
    ax.set_title("Parcours signalés bloqués par mois")
    ax.legend()
    ax.grid(axis="y", alpha=0.3)
    out.append(
        Chart(
            "parcours_bloques.png",
            "Parcours signalés bloqués par mois",
            f"Courbe par mois des parcours signalés bloqués ; {count(r.totals['stalled'].mean)} "
            "signalements en moyenne sur le programme. Les chiffres sont dans le tableau mensuel.",
            _png(fig),
        )
    )
    return out


# ---- the page ----

_env = Environment(
    loader=PackageLoader("simulation", "templates"),
    autoescape=select_autoescape(["html"]),
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)


def html_page(r: SimulationResult, drawn: Sequence[Chart]) -> str:
    return _env.get_template("simulation.html").render(
        title=title(r),
        subtitle=subtitle(r),
        totals=totals_table(r),
        monthly=monthly_table(r),
        funders=funders_table(r),
        funders_by_month=funders_by_month_table(r),
        assumptions=assumptions_table(r),
        sources=SOURCES,
        charts=[
            (c, "data:image/png;base64," + base64.b64encode(c.png).decode("ascii")) for c in drawn
        ],
    )


def write_report(r: SimulationResult, out: Path) -> list[Path]:
    """The PNG charts and `simulation.html` into `out` (created if missing)."""
    out.mkdir(parents=True, exist_ok=True)
    drawn = charts(r)
    written: list[Path] = []
    for chart in drawn:
        path = out / chart.file_name
        path.write_bytes(chart.png)
        written.append(path)
    page = out / "simulation.html"
    page.write_text(html_page(r, drawn), encoding="utf-8")
    written.append(page)
    return written
