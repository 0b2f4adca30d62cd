"""The rows of the coordinators' exports (journeys, cheques, sessions, reimbursement
statements, the funder ledger's entries), streamed.

An export is a `Table`: its columns (French header, kind of cell) and a function yielding
its rows as typed values (text, whole numbers, Paris days, cents, yes/no). Each runs ONE
query, fetched `FETCH_ROWS` rows at a time (`yield_per`: a server-side cursor on
PostgreSQL; SQLite's cursor steps through the result as it is read): memory stays flat
whatever the number of rows, and the rows are one snapshot of the records. How they are
written, CSV or XLSX, is the API's business (api/spreadsheets.py), for any `Table`
registered in api/export_service.py.

**No name, contact or free text.** Coordinators hand these files to funders and the State:
a journey appears as its opaque id (to match rows across the files), its territory,
structures, dates and figures; never the person, the referrer or anything typed about them
(comments, reasons).

**Scope and filters choose journeys.** The coordinator's scope (`JourneyScope`: their EPCI
or the whole programme) and the overview's filters (`OverviewFilter`: EPCI, reception
structure, mediation structure training the journey, millésime, months of referral) select
journeys exactly as the overview counts them; the cheques, sessions and ledger entries
exported are those of the selected journeys. Statements belong to mediation structures,
not journeys: the scope's EPCI, the EPCI and mediation structure filters choose their
structures and the period their months (`statement_rows`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import and_
from sqlalchemy import select as sa_select
from sqlmodel import Session, col

from domain.ledger import EntryKind
from domain.months import month_label
from domain.needs import AssessmentKind, AutonomyLevel, Equipment, SessionKind, SessionPlace, Theme
from domain.serials import display_stored
from domain.stages import ChequeStatus, Outcome, Stage
from domain.statements import StatementStatus
from domain.validity import last_day_before, paris_day
from records.coordination import OverviewFilter, ReferenceNames, reference_names
from records.models import (
    Assessment,
    Cheque,
    Funder,
    Journey,
    LedgerEntry,
    MediationStructure,
    Programme,
    Statement,
    TrainingSession,
)
from records.queries import JourneyScope

FETCH_ROWS = 1000  # rows fetched from the database at a time


class Kind(StrEnum):
    """What a cell holds, so that each format writes it as its readers expect."""

    TEXT = "TEXT"
    INTEGER = "INTEGER"
    DATE = "DATE"  # a `date` (a Paris day)
    MONEY = "MONEY"  # integer cents
    YES_NO = "YES_NO"  # a bool, "oui"/"non"


@dataclass(frozen=True)
class Column:
    header: str  # French, as the spreadsheet shows it
    kind: Kind = Kind.TEXT
    width: int = 14  # characters, for XLSX


Value = str | int | bool | date | None
Row = Sequence[Value]


@dataclass(frozen=True)
class ExportContext:
    """What every export reads within: the programme, the reader's scope, the filters."""

    programme: Programme
    scope: JourneyScope
    filters: OverviewFilter
    names: ReferenceNames

    @classmethod
    def read(
        cls, session: Session, programme: Programme, scope: JourneyScope, filters: OverviewFilter
    ) -> ExportContext:
        assert programme.id is not None
        return cls(programme, scope, filters, reference_names(session, programme.id))


@dataclass(frozen=True)
class Table:
    name: str  # in the API's path: /api/v1/reports/exports/{name}.csv
    file_stem: str  # French, the downloaded file's name before its date
    title: str  # French: the page's label, the XLSX sheet's name (31 characters at most)
    description: str  # French, one sentence for the page: what a row is
    columns: tuple[Column, ...]
    rows: Callable[[Session, ExportContext], Iterator[Row]]

    @property
    def headers(self) -> list[str]:
        return [c.header for c in self.columns]


def journey_conditions(ctx: ExportContext) -> list[Any]:
    """The journeys of the context's programme, scope and filters, as SQL conditions on
    `Journey` (the same journeys as `records.coordination.programme_overview` counts)."""
    f = ctx.filters
    where: list[Any] = [col(Journey.programme_code) == ctx.programme.code]
    if not ctx.scope.everything:
        where.append(ctx.scope.condition())
    for name in ("epci_id", "reception_structure_id", "mediation_structure_id"):
        value = getattr(f, name)
        if value is not None:
            where.append(col(getattr(Journey, name)) == value)
    if f.millesime == 0:
        where.append(col(Journey.millesime).is_(None))
    elif f.millesime is not None:
        where.append(col(Journey.millesime) == f.millesime)
    if f.from_month is not None:
        where.append(col(Journey.referred_month) >= f.from_month)
    if f.to_month is not None:
        where.append(col(Journey.referred_month) <= f.to_month)
    return where


def _streamed(session: Session, query: Any) -> Iterator[Any]:
    result = session.execute(query.execution_options(yield_per=FETCH_ROWS))
    try:
        yield from result
    finally:
        result.close()


def _day(instant: datetime | None) -> date | None:
    return paris_day(instant) if instant is not None else None


def _label(enum: Any, value: str | None) -> str | None:
    if not value:
        return None
    try:
        return str(enum(value).label)
    except ValueError:
        return value


def _labels(enum: Any, values: list[str] | None) -> str:
    return ", ".join(_label(enum, v) or "" for v in values or [])


# ---- journeys ----

JOURNEY_COLUMNS = (
    Column("Parcours", width=38),
    Column("Intercommunalité", width=30),
    Column("Structure d'accueil", width=30),
    Column("Structure de médiation", width=30),
    Column("Étape", width=24),
    Column("Issue", width=26),
    Column("Bloqué", Kind.YES_NO, 8),
    Column("Entrée dans le dispositif", Kind.DATE, 12),
    Column("Diagnostic", Kind.DATE, 12),
    Column("Carnet remis", Kind.DATE, 12),
    Column("Orientation vers un médiateur", Kind.DATE, 12),
    Column("Début de la formation", Kind.DATE, 12),
    Column("Clôture", Kind.DATE, 12),
    Column("Millésime", Kind.INTEGER, 10),
    Column("N° de carnet", Kind.INTEGER, 10),
    Column("Chèques remis", Kind.INTEGER, 10),
    Column("Chèques utilisés", Kind.INTEGER, 10),
    Column("Montant utilisé (€)", Kind.MONEY, 12),
    Column("Séances", Kind.INTEGER, 8),
    Column("Jours jusqu'à la 1re séance", Kind.INTEGER, 10),
    Column("Autonomie au diagnostic", width=20),
    Column("Autonomie à la sortie", width=20),
    Column("Besoins (diagnostic)", width=50),
)


def journey_rows(session: Session, ctx: ExportContext) -> Iterator[Row]:
    """One row per journey, in order of entry into the programme."""
    j = Journey
    entry = and_(
        col(Assessment.journey_id) == col(j.id),
        col(Assessment.kind) == AssessmentKind.ENTRY.value,
    )
    query = (
        sa_select(
            col(j.id),
            col(j.epci_id),
            col(j.reception_structure_id),
            col(j.mediation_structure_id),
            col(j.stage),
            col(j.outcome),
            col(j.stalled),
            col(j.referred_at),
            col(j.assessed_at),
            col(j.booklet_issued_at),
            col(j.oriented_at),
            col(j.training_started_at),
            col(j.closed_at),
            col(j.millesime),
            col(j.booklet_number),
            col(j.cheques_total),
            col(j.cheques_redeemed),
            col(j.sessions_count),
            col(j.days_to_first_session),
            col(j.entry_autonomy),
            col(j.exit_autonomy),
            col(Assessment.needs),
        )
        .outerjoin(Assessment, entry)
        .where(*journey_conditions(ctx))
        .order_by(col(j.referred_at), col(j.id))
    )
    names, value = ctx.names, ctx.programme.cheque_value_cents
    for r in _streamed(session, query):
        yield (
            r[0],
            names.epci.get(r[1]),
            names.reception.get(r[2]),
            names.mediation.get(r[3]) if r[3] is not None else None,
            _label(Stage, r[4]),
            _label(Outcome, r[5]),
            bool(r[6]),
            _day(r[7]),
            _day(r[8]),
            _day(r[9]),
            _day(r[10]),
            _day(r[11]),
            _day(r[12]),
            r[13],
            r[14],
            r[15],
            r[16],
            r[16] * value,
            r[17],
            r[18],
            _label(AutonomyLevel, r[19]),
            _label(AutonomyLevel, r[20]),
            _labels(Theme, r[21]),
        )


JOURNEYS = Table(
    "journeys",
    "parcours",
    "Parcours",
    "Une ligne par parcours : territoire, structures, étape, dates de chaque étape, carnet, "
    "chèques et séances, autonomie au diagnostic et à la sortie, besoins.",
    JOURNEY_COLUMNS,
    journey_rows,
)


# ---- cheques ----

CHEQUE_COLUMNS = (
    Column("Chèque", width=22),
    Column("Millésime", Kind.INTEGER, 10),
    Column("N° de carnet", Kind.INTEGER, 10),
    Column("État", width=12),
    Column("Encaissé le", Kind.DATE, 12),
    Column("Structure de médiation", width=30),
    Column("Valable jusqu'au", Kind.DATE, 12),
    Column("Valeur (€)", Kind.MONEY, 10),
    Column("Parcours", width=38),
    Column("Intercommunalité", width=30),
)


def cheque_rows(session: Session, ctx: ExportContext) -> Iterator[Row]:
    """One row per cheque of the chosen journeys, in serial order (programme, millésime,
    booklet, cheque)."""
    c = Cheque
    query = (
        sa_select(
            col(c.serial),
            col(c.millesime),
            col(c.booklet_number),
            col(c.status),
            col(c.redeemed_on),
            col(c.mediation_structure_id),
            col(c.valid_until),
            col(c.journey_id),
            col(Journey.epci_id),
        )
        .join(Journey, col(Journey.id) == col(c.journey_id))
        .where(*journey_conditions(ctx))
        .order_by(col(c.serial))
    )
    names, value = ctx.names, ctx.programme.cheque_value_cents
    for r in _streamed(session, query):
        yield (
            display_stored(r[0]),
            r[1],
            r[2],
            _label(ChequeStatus, r[3]),
            r[4],
            names.mediation.get(r[5]) if r[5] is not None else None,
            last_day_before(r[6]) if r[6] is not None else None,
            value,
            r[7],
            names.epci.get(r[8]),
        )


CHEQUES = Table(
    "cheques",
    "cheques",
    "Chèques",
    "Une ligne par chèque des parcours choisis : numéro, millésime, carnet, état, date "
    "d'encaissement et structure, fin de validité, valeur.",
    CHEQUE_COLUMNS,
    cheque_rows,
)


# ---- sessions ----

SESSION_COLUMNS = (
    Column("Date", Kind.DATE, 12),
    Column("Durée (min)", Kind.INTEGER, 10),
    Column("Type", width=12),
    Column("Lieu", width=18),
    Column("Thèmes", width=50),
    Column("Matériel", width=30),
    Column("Autonomie observée", width=20),
    Column("Structure de médiation", width=30),
    Column("Chèques", Kind.INTEGER, 8),
    Column("Valeur des chèques (€)", Kind.MONEY, 12),
    Column("Parcours", width=38),
    Column("Intercommunalité", width=30),
)


def session_rows(session: Session, ctx: ExportContext) -> Iterator[Row]:
    """One row per training session of the chosen journeys, by date."""
    t = TrainingSession
    query = (
        sa_select(
            col(t.day),
            col(t.duration_minutes),
            col(t.kind),
            col(t.place),
            col(t.themes),
            col(t.equipment),
            col(t.autonomy_observed),
            col(t.mediation_structure_id),
            col(t.serials),
            col(t.journey_id),
            col(Journey.epci_id),
        )
        .join(Journey, col(Journey.id) == col(t.journey_id))
        .where(*journey_conditions(ctx))
        .order_by(col(t.day), col(t.session_id))
    )
    names, value = ctx.names, ctx.programme.cheque_value_cents
    for r in _streamed(session, query):
        cheques = len(r[8] or [])
        yield (
            r[0],
            r[1],
            _label(SessionKind, r[2]),
            _label(SessionPlace, r[3]),
            _labels(Theme, r[4]),
            _labels(Equipment, r[5]),
            _label(AutonomyLevel, r[6]),
            names.mediation.get(r[7]),
            cheques,
            cheques * value,
            r[9],
            names.epci.get(r[10]),
        )


SESSIONS = Table(
    "sessions",
    "seances",
    "Séances",
    "Une ligne par séance de formation des parcours choisis : date, durée, type, lieu, "
    "thèmes, structure, chèques pris.",
    SESSION_COLUMNS,
    session_rows,
)


# ---- reimbursement statements ----

STATEMENT_COLUMNS = (
    Column("Relevé", width=18),
    Column("Structure de médiation", width=30),
    Column("Intercommunalité", width=30),
    Column("Mois", width=16),
    Column("État", width=16),
    Column("Chèques", Kind.INTEGER, 8),
    Column("Montant (€)", Kind.MONEY, 12),
    Column("Validé le", Kind.DATE, 12),
    Column("Payé le", Kind.DATE, 12),
    Column("Référence du paiement", width=20),
)


def statement_rows(session: Session, ctx: ExportContext) -> Iterator[Row]:
    """One row per reimbursement statement of the scope's mediation structures (an EPCI's:
    its structures', as `records.statements.StatementScope`), by month then number. Of
    the filters, the EPCI and the mediation structure choose structures and the period
    the statements' months; the others concern journeys and do not apply."""
    st, f = Statement, ctx.filters
    where: list[Any] = [col(st.programme_code) == ctx.programme.code]
    epci = ctx.scope.epci_id if not ctx.scope.everything else None
    if not ctx.scope.everything and epci is None:
        return
    for value in (epci, f.epci_id):
        if value is not None:
            where.append(col(MediationStructure.epci_id) == value)
    if f.mediation_structure_id is not None:
        where.append(col(st.mediation_structure_id) == f.mediation_structure_id)
    if f.from_month is not None:
        where.append(col(st.month) >= date(f.from_month // 100, f.from_month % 100, 1))
    if f.to_month is not None:
        where.append(col(st.month) <= date(f.to_month // 100, f.to_month % 100, 1))
    query = (
        sa_select(
            col(st.number),
            col(st.mediation_structure_id),
            col(MediationStructure.epci_id),
            col(st.month),
            col(st.status),
            col(st.cheque_count),
            col(st.total_cents),
            col(st.validated_at),
            col(st.paid_on),
            col(st.payment_reference),
        )
        .join(MediationStructure, col(MediationStructure.id) == col(st.mediation_structure_id))
        .where(*where)
        .order_by(col(st.month), col(st.number))
    )
    names = ctx.names
    for r in _streamed(session, query):
        yield (
            r[0],
            names.mediation.get(r[1]),
            names.epci.get(r[2]),
            month_label(r[3]),
            _label(StatementStatus, r[4]),
            r[5],
            r[6],
            _day(r[7]),
            r[8],
            r[9],
        )


STATEMENTS = Table(
    "statements",
    "releves",
    "Relevés de remboursement",
    "Une ligne par relevé mensuel d'une structure de médiation : numéro, mois, état, "
    "chèques, montant, validation et paiement. Filtres appliqués : intercommunalité, "
    "structure de médiation, période (mois des relevés).",
    STATEMENT_COLUMNS,
    statement_rows,
)


# ---- the funder ledger ----

LEDGER_COLUMNS = (
    Column("Date", Kind.DATE, 12),
    Column("Financeur", width=36),
    Column("Écriture", width=30),
    Column("Chèque", width=22),
    Column("Millésime", Kind.INTEGER, 10),
    Column("Montant (€)", Kind.MONEY, 12),
    Column("Intercommunalité", width=30),
    Column("Parcours", width=38),
)


def ledger_rows(session: Session, ctx: ExportContext) -> Iterator[Row]:
    """One row per entry of the funder ledger (records/ledger.py) on the cheques of the
    chosen journeys, by date: each funder's part of each cheque issued, spent, cancelled
    or expired."""
    e = LedgerEntry
    funders = {
        int(i): str(n)
        for i, n in session.execute(
            sa_select(col(Funder.id), col(Funder.name)).where(
                col(Funder.programme_id) == ctx.programme.id
            )
        )
    }
    query = (
        sa_select(
            col(e.at),
            col(e.funder_id),
            col(e.kind),
            col(e.serial),
            col(e.millesime),
            col(e.amount_cents),
            col(e.epci_id),
            col(Cheque.journey_id),
        )
        .join(Cheque, col(Cheque.serial) == col(e.serial))
        .join(Journey, col(Journey.id) == col(Cheque.journey_id))
        .where(col(e.programme_code) == ctx.programme.code, *journey_conditions(ctx))
        .order_by(col(e.at), col(e.id))
    )
    for r in _streamed(session, query):
        yield (
            _day(r[0]),
            funders.get(r[1]),
            _label(EntryKind, r[2]),
            display_stored(r[3]),
            r[4],
            r[5],
            ctx.names.epci.get(r[6]),
            r[7],
        )


LEDGER = Table(
    "ledger",
    "grand-livre",
    "Grand livre des financeurs",
    "Une ligne par écriture : la part de chaque financeur dans chaque chèque remis, "
    "utilisé, annulé ou expiré des parcours choisis, datée, avec son montant.",
    LEDGER_COLUMNS,
    ledger_rows,
)

TABLES: tuple[Table, ...] = (JOURNEYS, CHEQUES, SESSIONS, STATEMENTS, LEDGER)
