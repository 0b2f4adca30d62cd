"""A reimbursement statement as documents: the CSV for spreadsheets (api/exports.py) and
the printable French PDF (ReportLab's platypus: already passnum's PDF library for the
booklet slip's barcodes; pure Python, no system library to install).

The PDF names the issuer (the programme's `issuer_name`, kept on the statement when it was
last built), the programme, the structure, the month, the number and state, each cheque
(serial as printed, session day, amount) and the total.
"""

from __future__ import annotations

import io
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from xml.sax.saxutils import escape

from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle, getSampleStyleSheet
from reportlab.lib.units import mm
from reportlab.pdfgen.canvas import Canvas
from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

from api.exports import Cell, fr_amount, fr_date
from domain.money import NBSP, format_euros
from domain.months import month_label
from domain.serials import SerialError, parse_serial
from domain.statements import StatementStatus
from domain.validity import format_date_fr
from records.models import Statement, StatementLine


@dataclass(frozen=True)
class StatementDocument:
    """What both documents show of a statement."""

    statement: Statement
    lines: Sequence[StatementLine]
    programme_name: str
    structure_name: str
    structure_commune: str
    validated_by: str | None  # the coordinator's name
    paid_recorded_by: str | None

    @property
    def status(self) -> StatementStatus:
        return StatementStatus(self.statement.status)

    @property
    def month(self) -> str:
        return month_label(self.statement.month)

    @property
    def filename_stem(self) -> str:
        return f"releve-{self.statement.number}"


def shown_serial(digits: str) -> str:
    """012-2026-000123-04-7, as printed on the cheque."""
    try:
        return parse_serial(digits).display
    except SerialError:
        return digits


# ---- CSV ----

CSV_HEADER = (
    "Relevé",
    "Structure de médiation",
    "Mois",
    "Chèque",
    "Date de la séance",
    "Montant (€)",
)


def csv_rows(doc: StatementDocument) -> Iterator[Sequence[Cell]]:
    st = doc.statement
    for line in doc.lines:
        yield (
            st.number,
            doc.structure_name,
            doc.month,
            shown_serial(line.serial),
            fr_date(line.session_day),
            fr_amount(line.amount_cents),
        )
    count = st.cheque_count
    yield (
        "Total",
        "",
        "",
        f"{count} chèque{'s' if count > 1 else ''}",
        "",
        fr_amount(st.total_cents),
    )


# ---- PDF ----


def _euros(cents: int) -> str:
    # The standard PDF fonts have no narrow no-break space: a no-break space instead.
    return format_euros(cents).replace(NBSP, "\u00a0")


def _styles() -> dict[str, ParagraphStyle]:
    base = getSampleStyleSheet()
    return {
        "title": ParagraphStyle("title", parent=base["Title"], fontSize=16, spaceAfter=4 * mm),
        "body": ParagraphStyle("body", parent=base["BodyText"], fontSize=10, leading=13),
        "small": ParagraphStyle("small", parent=base["BodyText"], fontSize=8, leading=10),
    }


def render_pdf(doc: StatementDocument, *, printed_at: datetime) -> bytes:
    """The statement as an A4 PDF (a few pages for a few hundred cheques)."""
    st = doc.statement
    styles = _styles()
    buffer = io.BytesIO()
    pdf = SimpleDocTemplate(
        buffer,
        pagesize=A4,
        leftMargin=18 * mm,
        rightMargin=18 * mm,
        topMargin=18 * mm,
        bottomMargin=20 * mm,
        title=f"Relevé de remboursement {st.number}",
        author=st.issuer_name,
        subject=f"{doc.structure_name} — {doc.month}",
        lang="fr-FR",
    )

    def para(text: str, style: str = "body") -> Paragraph:
        return Paragraph(text, styles[style])

    facts = [
        ("Émetteur", escape(st.issuer_name)),
        ("Programme", escape(doc.programme_name)),
        ("Structure de médiation", escape(f"{doc.structure_name} ({doc.structure_commune})")),
        ("Mois", escape(doc.month)),
        ("État", escape(doc.status.label)),
    ]
    if st.validated_at is not None:
        who = f" par {escape(doc.validated_by)}" if doc.validated_by else ""
        facts.append(("Validé le", f"{format_date_fr(st.validated_at)}{who}"))
    if st.paid_on is not None:
        facts.append(
            (
                "Payé le",
                f"{format_date_fr(st.paid_on)} — référence {escape(st.payment_reference or '')}",
            )
        )
    story: list[object] = [
        para(f"Relevé de remboursement n° {escape(st.number)}", "title"),
        para(
            "Contre-paiement des chèques APTIC encaissés par la structure : un chèque "
            f"vaut sa valeur faciale, {_euros(st.total_cents // max(st.cheque_count, 1))}."
            if st.cheque_count
            else "Aucun chèque."
        ),
        Spacer(1, 3 * mm),
        Table(
            [[para(f"<b>{k}</b>"), para(v)] for k, v in facts],
            colWidths=[45 * mm, 125 * mm],
            style=TableStyle([("VALIGN", (0, 0), (-1, -1), "TOP")]),
        ),
        Spacer(1, 5 * mm),
    ]
    rows: list[list[str]] = [["N°", "Chèque", "Date de la séance", "Montant"]]
    for n, line in enumerate(doc.lines, start=1):
        rows.append(
            [
                str(n),
                shown_serial(line.serial),
                format_date_fr(line.session_day),
                _euros(line.amount_cents),
            ]
        )
    count = st.cheque_count
    rows.append(
        ["", f"Total : {count} chèque{'s' if count > 1 else ''}", "", _euros(st.total_cents)]
    )
    table = Table(rows, colWidths=[14 * mm, 70 * mm, 42 * mm, 40 * mm], repeatRows=1)
    table.setStyle(
        TableStyle(
            [
                ("FONTNAME", (0, 0), (-1, 0), "Helvetica-Bold"),
                ("FONTNAME", (0, -1), (-1, -1), "Helvetica-Bold"),
                ("FONTSIZE", (0, 0), (-1, -1), 9),
                ("ALIGN", (3, 0), (3, -1), "RIGHT"),
                ("ALIGN", (0, 0), (0, -1), "RIGHT"),
                ("LINEBELOW", (0, 0), (-1, 0), 0.8, colors.black),
                ("LINEABOVE", (0, -1), (-1, -1), 0.8, colors.black),
                ("ROWBACKGROUNDS", (0, 1), (-1, -2), [colors.white, colors.HexColor("#f2f2f2")]),
            ]
        )
    )
    story.append(table)

    footer = (
        f"{st.number} — {doc.structure_name} — {doc.month} — édité le {format_date_fr(printed_at)}"
    )

    def on_page(canvas: Canvas, document: SimpleDocTemplate) -> None:
        canvas.saveState()
        canvas.setFont("Helvetica", 8)
        canvas.drawString(18 * mm, 10 * mm, footer)
        canvas.drawRightString(A4[0] - 18 * mm, 10 * mm, f"Page {document.page}")
        canvas.restoreState()

    pdf.build(story, onFirstPage=on_page, onLaterPages=on_page)  # type: ignore[arg-type]
    return buffer.getvalue()
