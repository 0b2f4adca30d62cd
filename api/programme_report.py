"""The programme report for funders and the State, as an A4 PDF in French: key figures,
the funnel of stages, cheques issued, spent and expired per month, spending per EPCI and
per funder, and the impact (autonomy at the entry assessment against the exit assessment,
themes of needs, sessions per person), each with its chart and the figures beside it.

ReportLab (platypus for the pages, reportlab.graphics for the charts): already passnum's
PDF library (booklet slip, statements), pure Python, nothing to install on the system.
Its standard Helvetica covers French (WinAnsi: accents, œ, «», €) but not the narrow
no-break space (U+202F) that `domain.money` puts between thousands: `pdf_text` swaps it for
a no-break space (U+00A0), which Helvetica has, rather than embedding a TrueType font
(DejaVu) that every server would need installed.

Funders: the funder ledger (records/ledger.py) of the reader's scope: spent, engaged,
returned, remaining, and the month each budget runs out at the current pace.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from xml.sax.saxutils import escape

from reportlab.graphics.charts.barcharts import HorizontalBarChart, VerticalBarChart
from reportlab.graphics.charts.legends import Legend
from reportlab.graphics.shapes import Drawing, String
from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle, getSampleStyleSheet
from reportlab.lib.units import mm
from reportlab.pdfgen.canvas import Canvas
from reportlab.platypus import (
    CondPageBreak,
    KeepTogether,
    Paragraph,
    SimpleDocTemplate,
    Table,
    TableStyle,
)

from domain.money import NBSP, format_count, format_euros
from domain.needs import AutonomyLevel
from domain.validity import format_date_fr
from records.coordination import Overview
from records.ledger import LedgerView
from records.programme_report import ReportFigures

WIDTH = A4[0] - 36 * mm  # the frame's width
BLUE = colors.HexColor("#1f4e79")
SERIES = (colors.HexColor("#1f77b4"), colors.HexColor("#2ca02c"), colors.HexColor("#d62728"))
GREY = colors.HexColor("#f2f2f2")


def pdf_text(text: str) -> str:
    """`text` in characters the standard PDF fonts have (see the module's docstring)."""
    return text.replace(NBSP, "\u00a0")


def euros(cents: int) -> str:
    return pdf_text(format_euros(cents))


def count(n: int) -> str:
    return pdf_text(format_count(n))


def decimal(x: float, digits: int = 1) -> str:
    return f"{x:.{digits}f}".replace(".", ",")


def percent(part: int, whole: int) -> str:
    if not whole:
        return "—"
    return decimal(100 * part / whole) + "\u00a0%"


@dataclass(frozen=True)
class ReportInput:
    programme_name: str
    issuer_name: str
    scope_label: str  # "tout le programme" or the EPCI's name
    filters: list[str]  # French, one per filter applied; empty: none
    overview: Overview
    figures: ReportFigures
    ledger: LedgerView
    target_booklets: int | None  # shown for the whole programme without filters only
    printed_at: datetime


def _styles() -> dict[str, ParagraphStyle]:
    base = getSampleStyleSheet()
    return {
        "title": ParagraphStyle("title", parent=base["Title"], fontSize=18, spaceAfter=3 * mm),
        "h2": ParagraphStyle(
            "h2", parent=base["Heading2"], fontSize=13, textColor=BLUE, spaceBefore=5 * mm
        ),
        "body": ParagraphStyle("body", parent=base["BodyText"], fontSize=9.5, leading=12.5),
        "small": ParagraphStyle(
            "small", parent=base["BodyText"], fontSize=8, leading=10, textColor=colors.grey
        ),
        "cell": ParagraphStyle("cell", parent=base["BodyText"], fontSize=8.5, leading=10),
    }


def _table(rows: Sequence[Sequence[str]], widths: Sequence[float], *, total: bool = False) -> Table:
    table = Table([list(r) for r in rows], colWidths=list(widths), repeatRows=1)
    style = [
        ("FONTNAME", (0, 0), (-1, 0), "Helvetica-Bold"),
        ("FONTSIZE", (0, 0), (-1, -1), 8.5),
        ("ALIGN", (1, 0), (-1, -1), "RIGHT"),
        ("VALIGN", (0, 0), (-1, -1), "MIDDLE"),
        ("LINEBELOW", (0, 0), (-1, 0), 0.8, colors.black),
        ("ROWBACKGROUNDS", (0, 1), (-1, -1), [colors.white, GREY]),
    ]
    if total:
        style += [
            ("FONTNAME", (0, -1), (-1, -1), "Helvetica-Bold"),
            ("LINEABOVE", (0, -1), (-1, -1), 0.8, colors.black),
        ]
    table.setStyle(TableStyle(style))
    return table


def _hbar(labels: Sequence[str], values: Sequence[int], *, label_width: float = 62 * mm) -> Drawing:
    """A horizontal bar chart, first label on top, each bar with its value."""
    height = 14 + 15 * max(len(labels), 1)
    drawing = Drawing(WIDTH, height)
    chart = HorizontalBarChart()
    chart.x, chart.y = label_width, 6
    chart.width, chart.height = WIDTH - label_width - 18 * mm, height - 10
    chart.data = [list(reversed(values)) or [0]]
    chart.categoryAxis.categoryNames = [pdf_text(x) for x in reversed(labels)] or [""]
    chart.categoryAxis.labels.fontName = "Helvetica"
    chart.categoryAxis.labels.fontSize = 7.5
    chart.categoryAxis.labels.boxAnchor = "e"
    chart.valueAxis.valueMin = 0
    chart.valueAxis.visible = False
    chart.bars[0].fillColor = SERIES[0]
    chart.bars.strokeColor = None
    chart.barLabelFormat = lambda v: count(int(v))
    chart.barLabels.fontName = "Helvetica"
    chart.barLabels.fontSize = 7
    chart.barLabels.boxAnchor = "w"
    chart.barLabels.dx = 3
    drawing.add(chart)
    return drawing


def _vbar(
    categories: Sequence[str],
    series: Sequence[Sequence[float]],
    names: Sequence[str],
    *,
    height: float = 62 * mm,
    value_label: str = "",
) -> Drawing:
    """A vertical bar chart of one or more series, with a legend when several."""
    drawing = Drawing(WIDTH, height)
    chart = VerticalBarChart()
    many = len(categories) > 14
    chart.x, chart.y = 14 * mm, (16 if many else 8) * mm
    chart.width, chart.height = WIDTH - 16 * mm, height - chart.y - 12 * mm
    chart.data = [list(s) or [0] for s in series]
    chart.categoryAxis.categoryNames = [pdf_text(c) for c in categories] or [""]
    chart.categoryAxis.labels.fontName = "Helvetica"
    chart.categoryAxis.labels.fontSize = 6.5 if many else 7.5
    chart.categoryAxis.labels.angle = 45 if many else 0
    chart.categoryAxis.labels.boxAnchor = "ne" if many else "n"
    chart.valueAxis.valueMin = 0
    chart.valueAxis.labels.fontName = "Helvetica"
    chart.valueAxis.labels.fontSize = 7
    chart.valueAxis.labelTextFormat = lambda v: count(int(v))
    chart.bars.strokeColor = None
    chart.groupSpacing = 4
    for i in range(len(series)):
        chart.bars[i].fillColor = SERIES[i % len(SERIES)]
    drawing.add(chart)
    if value_label:
        drawing.add(
            String(0, height - 9 * mm, pdf_text(value_label), fontName="Helvetica", fontSize=7)
        )
    if len(series) > 1:
        legend = Legend()
        legend.x, legend.y = WIDTH - 30 * mm * len(series), height - 2 * mm
        legend.fontName, legend.fontSize = "Helvetica", 7.5
        legend.alignment = "right"
        legend.columnMaximum = 1
        legend.dx = legend.dy = 7
        legend.deltax = 30 * mm
        legend.colorNamePairs = [
            (SERIES[i % len(SERIES)], pdf_text(name)) for i, name in enumerate(names)
        ]
        drawing.add(legend)
    return drawing


def render_report(r: ReportInput) -> bytes:
    """The report as PDF bytes (a few pages, whatever the number of journeys)."""
    styles = _styles()
    o, f, impact = r.overview, r.figures, r.figures.impact
    value = o.cheque_value_cents
    buffer = io.BytesIO()
    doc = SimpleDocTemplate(
        buffer,
        pagesize=A4,
        leftMargin=18 * mm,
        rightMargin=18 * mm,
        topMargin=16 * mm,
        bottomMargin=18 * mm,
        title=pdf_text(f"Rapport du programme {r.programme_name}"),
        author=pdf_text(r.issuer_name),
        subject=pdf_text(f"Pass numérique — {r.scope_label}"),
        lang="fr-FR",
    )

    def para(text: str, style: str = "body") -> Paragraph:
        return Paragraph(pdf_text(text), styles[style])

    def section(title: str, *flowables: object) -> list[object]:
        """A heading kept on the page of its first two flowables (its introduction and
        chart); the tables after them may run on to the next page."""
        head = [para(escape(title), "h2"), *flowables[:2]]
        return [CondPageBreak(40 * mm), KeepTogether(head), *flowables[2:]]

    story: list[object] = [
        para(f"Rapport du programme {escape(r.programme_name)}", "title"),
        para(
            f"Périmètre : <b>{escape(r.scope_label)}</b>. "
            + (
                "Filtres : " + escape(" ; ".join(r.filters)) + "."
                if r.filters
                else "Sans filtre : tous les parcours du périmètre."
            )
        ),
        para(
            f"Établi le {format_date_fr(r.printed_at)} par passnum. Chèques de "
            f"{euros(value)}, émis par {escape(r.issuer_name)}. Ce rapport ne contient "
            "aucune donnée nominative."
        ),
    ]

    # ---- key figures ----
    open_journeys = sum(n for s, n in o.by_stage.items() if s not in ("CLOSED", "ANONYMISED"))
    booklets = count(o.booklets)
    if r.target_booklets:
        booklets += f" sur un objectif de {count(r.target_booklets)} ({percent(o.booklets, r.target_booklets)})"
    median = o.median_days_to_first_session
    hours = impact.minutes / 60
    key = [
        ["Chiffre clé", "Valeur"],
        ["Parcours", count(o.total)],
        ["dont en cours", count(open_journeys)],
        ["dont bloqués", count(o.stalled)],
        ["Carnets remis", booklets],
        ["Chèques remis", f"{count(o.cheques_issued)} ({euros(o.cents(o.cheques_issued))})"],
        [
            "Chèques utilisés",
            f"{count(o.cheques_redeemed)} ({euros(o.cents(o.cheques_redeemed))}), "
            f"{percent(o.cheques_redeemed, o.cheques_issued)} des chèques remis",
        ],
        ["Chèques expirés", f"{count(o.cheques_expired)} ({euros(o.cents(o.cheques_expired))})"],
        [
            "Chèques en circulation",
            f"{count(o.cheques_outstanding)} ({euros(o.cents(o.cheques_outstanding))})",
        ],
        [
            "Séances de formation",
            f"{count(impact.sessions)} ({count(round(hours))} h)",
        ],
        [
            "Délai médian jusqu'à la 1re séance",
            "—"
            if median is None
            else f"{decimal(median, 0)} jours ({count(o.journeys_with_session)} parcours)",
        ],
        ["Budget du programme", euros(o.budget_total_cents)],
    ]
    story += section(
        "Chiffres clés",
        _table([[pdf_text(c) for c in row] for row in key], [70 * mm, WIDTH - 70 * mm]),
    )

    # ---- funnel ----
    first = f.funnel[0].journeys if f.funnel else 0
    story += section(
        "Parcours : étapes franchies",
        para(
            "Nombre de parcours ayant atteint chaque étape (au moins une fois), et leur part "
            "des parcours entrés dans le dispositif."
        ),
        _hbar([s.label for s in f.funnel], [s.journeys for s in f.funnel]),
        _table(
            [["Étape", "Parcours", "Part"]]
            + [
                [pdf_text(s.label), count(s.journeys), percent(s.journeys, first)] for s in f.funnel
            ],
            [90 * mm, 35 * mm, 35 * mm],
        ),
    )

    # ---- cheques per month ----
    m = f.months
    month_rows = [["Mois", "Remis", "Utilisés", "Expirés"]] + [
        [x.label, count(x.issued), count(x.spent), count(x.expired)] for x in m
    ]
    month_rows.append(
        [
            "Total",
            count(sum(x.issued for x in m)),
            count(sum(x.spent for x in m)),
            count(sum(x.expired for x in m)),
        ]
    )
    story += section(
        "Chèques remis, utilisés et expirés par mois",
        para(
            "Remis : dans les carnets remis ce mois-là. Utilisés : pris en paiement par un "
            "médiateur (date de la séance). Expirés : non utilisés à la fin de leur validité "
            "(mois de leur dernier jour valable)."
        ),
        _vbar(
            [x.label for x in m],
            [[x.issued for x in m], [x.spent for x in m], [x.expired for x in m]],
            ["Remis", "Utilisés", "Expirés"],
            value_label="chèques",
        )
        if m
        else para("Aucun chèque pour l'instant."),
        _table(month_rows, [40 * mm, 35 * mm, 35 * mm, 35 * mm], total=True),
    )

    # ---- spending per EPCI ----
    epci_rows: list[list[Any]] = [
        ["Intercommunalité", "Parcours", "Chèques remis", "Chèques utilisés", "Dépense"]
    ]
    for e in f.epci:
        epci_rows.append(
            [
                Paragraph(escape(pdf_text(e.name)), styles["cell"]),
                count(e.journeys),
                count(e.cheques_issued),
                count(e.cheques_spent),
                euros(e.cheques_spent * value),
            ]
        )
    epci_rows.append(
        [
            "Total",
            count(sum(e.journeys for e in f.epci)),
            count(sum(e.cheques_issued for e in f.epci)),
            count(sum(e.cheques_spent for e in f.epci)),
            euros(sum(e.cheques_spent for e in f.epci) * value),
        ]
    )
    story += section(
        "Dépense par intercommunalité",
        para("Valeur des chèques utilisés par les personnes de chaque intercommunalité."),
        _hbar(
            [e.name if len(e.name) < 48 else e.name[:46] + "…" for e in f.epci],
            [e.cheques_spent * value // 100 for e in f.epci],
            label_width=80 * mm,
        )
        if f.epci
        else para("Aucun parcours pour l'instant."),
        para("Dépense en euros.", "small"),
        _table(epci_rows, [70 * mm, 20 * mm, 26 * mm, 28 * mm, WIDTH - 144 * mm], total=True),
    )

    # ---- funders ----
    ledger = r.ledger
    funder_rows: list[list[Any]] = [
        ["Financeur", "Part", "Budget", "Dépensé", "Engagé", "Rendu", "Reste"]
    ]
    for x in ledger.funders:
        b = x.balance
        funder_rows.append(
            [
                Paragraph(escape(pdf_text(f"{x.name} ({x.kind_label})")), styles["cell"]),
                "—" if x.share_bp is None else decimal(x.share_bp / 100, 2) + "\u00a0%",
                euros(b.budget) if x.budget_known else "—",
                euros(b.spent),
                euros(b.engaged),
                euros(b.returned),
                euros(b.remaining) if x.budget_known else "—",
            ]
        )
    t = ledger.total
    funder_rows.append(
        [
            "Total",
            "",
            euros(t.budget),
            euros(t.spent),
            euros(t.engaged),
            euros(t.returned),
            euros(t.budget - t.engaged - t.spent) if ledger.epci_id is None else "—",
        ]
    )
    runs_out = [
        f"{escape(x.name)} : {x.runs_out_on.month:02d}/{x.runs_out_on.year}"
        for x in ledger.funders
        if x.runs_out_on is not None
    ]
    story += section(
        "Dépense par financeur",
        para(
            "Grand livre des financeurs : part de chaque financeur dans chaque chèque, selon "
            "la règle de financement. Dépensé : chèques utilisés ; engagé : chèques remis "
            "encore utilisables ; rendu : chèques expirés sans être utilisés, qui reviennent "
            "au financeur ; reste : budget moins dépensé et engagé."
            + (
                " Dans le périmètre d'une intercommunalité, les autres financeurs n'y figurent "
                "que pour la part des chèques de son territoire."
                if ledger.epci_id is not None
                else ""
            )
            + (
                " Les filtres ne s'appliquent pas à ce tableau : il couvre tout le périmètre."
                if r.filters
                else ""
            )
        ),
        _table(
            funder_rows,
            [48 * mm, 14 * mm, 23 * mm, 23 * mm, 22 * mm, 20 * mm, WIDTH - 150 * mm],
            total=True,
        )
        if ledger.funders
        else para("Aucun financeur n'est déclaré."),
        para(
            "Au rythme actuel, budget épuisé en : " + " ; ".join(runs_out) + "."
            if runs_out
            else "Au rythme actuel, aucun budget ne s'épuise avant la fin des chèques en cours."
        ),
    )

    # ---- impact ----
    levels = list(AutonomyLevel)
    entry_total = sum(impact.entry.values())
    exit_total = sum(impact.exit.values())

    def share(counts: dict[str, int], total: int) -> list[float]:
        return [100 * counts.get(level.value, 0) / total if total else 0 for level in levels]

    autonomy_rows = [["Niveau d'autonomie", "Au diagnostic", "À la sortie"]] + [
        [
            pdf_text(level.label),
            f"{count(impact.entry.get(level.value, 0))} ({percent(impact.entry.get(level.value, 0), entry_total)})",
            f"{count(impact.exit.get(level.value, 0))} ({percent(impact.exit.get(level.value, 0), exit_total)})",
        ]
        for level in levels
    ]
    autonomy_rows.append(["Personnes évaluées", count(entry_total), count(exit_total)])
    story += section(
        "Impact : autonomie numérique au diagnostic et à la sortie",
        para(
            f"Parmi les {count(impact.both)} personnes évaluées au diagnostic et à la sortie, "
            f"<b>{count(impact.progressed)} ont gagné au moins un niveau</b> "
            f"({percent(impact.progressed, impact.both)}), {count(impact.unchanged)} sont "
            f"restées au même niveau et {count(impact.regressed)} ont baissé."
        ),
        _vbar(
            [level.label for level in levels],
            [share(impact.entry, entry_total), share(impact.exit, exit_total)],
            ["Au diagnostic", "À la sortie"],
            height=58 * mm,
            value_label="% des personnes évaluées",
        ),
        _table(autonomy_rows, [60 * mm, 50 * mm, 50 * mm], total=True),
    )
    story += section(
        "Impact : besoins exprimés au diagnostic",
        para(
            f"Thèmes retenus au diagnostic d'entrée ({count(impact.assessed)} personnes ; "
            "une personne peut en avoir plusieurs)."
        ),
        _hbar([t for t, _ in impact.themes], [n for _, n in impact.themes])
        if impact.themes
        else para("Aucun diagnostic pour l'instant."),
    )
    hist = impact.sessions_histogram
    top = max(hist, default=0)
    buckets = list(range(0, min(top, 12) + 1))
    labels = [str(b) for b in buckets]
    values = [hist.get(b, 0) for b in buckets]
    if top > 12:
        labels.append("13 et plus")
        values.append(sum(n for k, n in hist.items() if k > 12))
    med = impact.sessions_per_person_median
    total_sessions = sum(k * n for k, n in hist.items())
    mean = total_sessions / impact.with_booklet if impact.with_booklet else None
    story += section(
        "Impact : séances par personne",
        para(
            f"Parmi les {count(impact.with_booklet)} personnes ayant reçu un carnet : "
            + (
                f"<b>médiane de {decimal(med)} séance(s)</b> par personne, "
                f"moyenne de {decimal(mean)}."
                if med is not None and mean is not None
                else "aucune personne pour l'instant."
            )
        ),
        KeepTogether(
            [
                _vbar(labels, [values], ["Personnes"], height=55 * mm, value_label="personnes"),
                para("Nombre de séances suivies (en abscisse) : personnes.", "small"),
            ]
        ),
    )

    footer = pdf_text(
        f"{r.programme_name} — {r.scope_label} — rapport établi le {format_date_fr(r.printed_at)}"
    )

    def on_page(canvas: Canvas, document: SimpleDocTemplate) -> None:
        canvas.saveState()
        canvas.setFont("Helvetica", 7.5)
        canvas.drawString(18 * mm, 9 * mm, footer)
        canvas.drawRightString(A4[0] - 18 * mm, 9 * mm, f"Page {document.page}")
        canvas.restoreState()

    doc.build(story, onFirstPage=on_page, onLaterPages=on_page)  # type: ignore[arg-type]
    return buffer.getvalue()
