"""The structures directory in the national *lieux de médiation numérique* schema
(schema.data.gouv.fr, LaMednum/standard-mediation-num), pure: the thematics table, the
columns we read and write, and one row's validation (French messages naming line and field).

CSV: comma-separated, UTF-8, one header line, list values joined with `|` (as the schema's
own CSV files). JSON: a list of objects with the same keys, lists as JSON arrays.

Columns of the schema we use: id, pivot (SIRET), nom, adresse, code_postal, code_insee,
commune, courriels, telephone, horaires (OSM opening_hours), thematiques (data·inclusion
`numerique--*`), date_maj. Ours, appended (the schema has no place for them): epci_siren,
capacite, aptic_debut, aptic_fin, actif.
"""

from __future__ import annotations

import csv
import io
import json
import re
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from domain.needs import THEME_LABELS, Theme

# One data·inclusion thematic per theme, so that export then import gives the same themes.
THEME_THEMATICS: dict[Theme, str] = {
    Theme.ADMIN_PROCEDURES: "numerique--realiser-des-demarches-administratives-avec-un-accompagnement",
    Theme.EMAIL: "numerique--utiliser-le-numerique-au-quotidien",
    Theme.SMARTPHONE: "numerique--prendre-en-main-un-smartphone-ou-une-tablette",
    Theme.COMPUTER_BASICS: "numerique--prendre-en-main-un-ordinateur",
    Theme.HEALTH: "numerique--accompagner-les-demarches-de-sante",
    Theme.MONEY: "numerique--devenir-autonome-dans-les-demarches-administratives",
    Theme.JOB_SEARCH: "numerique--favoriser-mon-insertion-professionnelle",
    Theme.ONLINE_SAFETY: "numerique--approfondir-ma-culture-numerique",
    Theme.FAMILY_SCHOOL: "numerique--soutenir-la-parentalite-et-l-education-avec-le-numerique",
    Theme.SOCIAL_LINK: "numerique--promouvoir-la-citoyennete-numerique",
}
THEMATIC_THEMES: dict[str, Theme] = {code: theme for theme, code in THEME_THEMATICS.items()}
assert len(THEMATIC_THEMES) == len(THEME_THEMATICS) == len(THEME_LABELS)

COLUMNS = (
    "id",
    "pivot",
    "nom",
    "adresse",
    "code_postal",
    "code_insee",
    "commune",
    "courriels",
    "telephone",
    "horaires",
    "thematiques",
    "date_maj",
    "epci_siren",
    "capacite",
    "aptic_debut",
    "aptic_fin",
    "actif",
)
# The schema also requires adresse and code_postal; structures recorded before the directory
# have none, and their export must re-import, so they are optional here.
REQUIRED = ("id", "nom", "commune")
LIST_SEPARATOR = "|"

_SIRET = re.compile(r"\d{14}")
_SIREN = re.compile(r"\d{9}")
_POSTCODE = re.compile(r"\d{5}")
_INSEE = re.compile(r"(\d{5}|2[AB]\d{3})")
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,79}")


@dataclass(frozen=True)
class Place:
    """One valid row. None for a column absent from the file or empty (optional)."""

    external_id: str
    name: str
    commune: str
    address: str | None = None
    postal_code: str | None = None
    siret: str | None = None
    insee_code: str | None = None
    email: str | None = None
    phone: str | None = None
    opening_hours: str | None = None
    themes: tuple[str, ...] = ()
    epci_siren: str | None = None
    capacity: int | None = None
    qualified_from: date | None = None
    qualified_until: date | None = None
    active: bool = True
    present: frozenset[str] = field(default_factory=frozenset)  # columns the file has


@dataclass(frozen=True)
class RowError:
    line: int
    column: str
    message: str
    unit: str = "Ligne"  # "Élément" for a JSON file (the n-th object of its list)

    def __str__(self) -> str:
        return f"{self.unit} {self.line}, champ « {self.column} » : {self.message}"


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, list):
        return LIST_SEPARATOR.join(str(v).strip() for v in value)
    return str(value).strip()


def _list(value: Any) -> list[str]:
    if isinstance(value, list):
        return [str(v).strip() for v in value if str(v).strip()]
    return [v.strip() for v in _text(value).split(LIST_SEPARATOR) if v.strip()]


def themes_of(thematics: list[str]) -> tuple[str, ...]:
    """Our themes for a list of thematics, in our order; other thematics are ignored (a
    place may offer services outside the Pass numérique, e.g. `numerique--acceder-a-du-materiel`)."""
    found = {THEMATIC_THEMES[t] for t in thematics if t in THEMATIC_THEMES}
    return tuple(t.value for t in Theme if t in found)


def thematics_of(themes: list[str]) -> list[str]:
    return [THEME_THEMATICS[Theme(t)] for t in themes if t in THEME_THEMATICS]


def parse_row(
    line: int, raw: dict[str, Any], unit: str = "Ligne"
) -> tuple[Place | None, list[RowError]]:
    """One file row (line number as the person sees it) as a Place, or every error found."""
    errors: list[RowError] = []

    def err(column: str, message: str) -> None:
        errors.append(RowError(line, column, message, unit))

    values = {k: _text(v) for k, v in raw.items() if k in COLUMNS and k != "thematiques"}
    for column in REQUIRED:
        if not values.get(column):
            err(column, "valeur obligatoire manquante.")
    ident = values.get("id", "")
    if ident and not _ID.fullmatch(ident):
        err("id", "identifiant invalide (lettres, chiffres, « . _ : - », 80 caractères au plus).")
    if len(values.get("nom", "")) > 200:
        err("nom", "200 caractères au plus.")
    if len(values.get("adresse", "")) > 300:
        err("adresse", "300 caractères au plus.")
    if len(values.get("commune", "")) > 120:
        err("commune", "120 caractères au plus.")
    postal = values.get("code_postal", "")
    if postal and not _POSTCODE.fullmatch(postal):
        err("code_postal", f"« {postal} » n'est pas un code postal (5 chiffres).")
    siret = values.get("pivot") or None
    if siret is not None and not _SIRET.fullmatch(siret):
        err("pivot", f"« {siret} » n'est pas un SIRET (14 chiffres).")
    insee = values.get("code_insee") or None
    if insee is not None and not _INSEE.fullmatch(insee):
        err("code_insee", f"« {insee} » n'est pas un code INSEE de commune.")
    emails = _list(raw.get("courriels"))
    for email in emails:
        if not _EMAIL.fullmatch(email) or len(email) > 254:
            err("courriels", f"« {email} » n'est pas une adresse électronique.")
    phone = values.get("telephone") or None
    if phone is not None and len(phone) > 40:
        err("telephone", "40 caractères au plus.")
    hours = values.get("horaires") or None
    if hours is not None and len(hours) > 500:
        err("horaires", "500 caractères au plus.")
    epci = values.get("epci_siren") or None
    if epci is not None and not _SIREN.fullmatch(epci):
        err("epci_siren", f"« {epci} » n'est pas un SIREN (9 chiffres).")
    capacity: int | None = None
    if values.get("capacite"):
        try:
            capacity = int(values["capacite"])
            if not 0 <= capacity <= 10_000:
                raise ValueError
        except ValueError:
            err("capacite", f"« {values['capacite']} » n'est pas un nombre entre 0 et 10 000.")
            capacity = None
    dates: dict[str, date | None] = {}
    for column in ("aptic_debut", "aptic_fin", "date_maj"):
        dates[column] = None
        if values.get(column):
            try:
                dates[column] = date.fromisoformat(values[column][:10])
            except ValueError:
                err(column, f"« {values[column]} » n'est pas une date AAAA-MM-JJ.")
    start, end = dates["aptic_debut"], dates["aptic_fin"]
    if start and end and end < start:
        err("aptic_fin", "la fin de la qualification ne peut pas précéder son début.")
    if end and not start:
        err("aptic_debut", "une fin de qualification demande un début.")
    active = True
    flag = values.get("actif", "").lower()
    if flag in ("non", "false", "0"):
        active = False
    elif flag not in ("", "oui", "true", "1"):
        err("actif", f"« {values['actif']} » : attendu « oui » ou « non ».")
    if errors:
        return None, errors
    return (
        Place(
            external_id=ident,
            name=values["nom"],
            address=values.get("adresse") or None,
            postal_code=postal or None,
            commune=values["commune"],
            siret=siret,
            insee_code=insee,
            email=emails[0] if emails else None,
            phone=phone,
            opening_hours=hours,
            themes=themes_of(_list(raw.get("thematiques"))),
            epci_siren=epci,
            capacity=capacity,
            qualified_from=start,
            qualified_until=end,
            active=active,
            present=frozenset(k for k in raw if k in COLUMNS),
        ),
        [],
    )


@dataclass
class ParsedFile:
    rows: list[tuple[int, Place]]
    errors: list[RowError]
    unit: str  # how errors name a row: "Ligne" (CSV) or "Élément" (JSON)


def parse_file(content: bytes, fmt: str) -> ParsedFile:
    """A whole CSV or JSON file (`fmt`: "csv" or "json"): every row checked, every error kept."""
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError:
        return ParsedFile([], [RowError(1, "fichier", "le fichier n'est pas en UTF-8.")], "Ligne")
    if fmt == "json":
        return _parse_json(text)
    return _parse_csv(text)


def _collect(parsed: ParsedFile, line: int, raw: dict[str, Any]) -> None:
    place, errors = parse_row(line, raw, parsed.unit)
    if place is not None:
        parsed.rows.append((line, place))
    parsed.errors.extend(errors)


def _parse_csv(text: str) -> ParsedFile:
    parsed = ParsedFile([], [], "Ligne")
    reader = csv.DictReader(io.StringIO(text, newline=""))
    header = reader.fieldnames or []
    missing = [c for c in REQUIRED if c not in header]
    if missing:
        parsed.errors.append(
            RowError(1, ", ".join(missing), "colonne absente de l'en-tête du fichier.")
        )
        return parsed
    start = 2
    try:
        for raw in reader:
            if None in raw:
                parsed.errors.append(RowError(start, "—", "plus de valeurs que de colonnes."))
            else:
                _collect(parsed, start, {k: v for k, v in raw.items() if v is not None})
            start = reader.line_num + 1
    except csv.Error as error:
        parsed.errors.append(RowError(start, "—", f"CSV illisible ({error})."))
    if not parsed.rows and not parsed.errors:
        parsed.errors.append(RowError(1, "fichier", "le fichier ne contient aucun lieu."))
    return parsed


def _parse_json(text: str) -> ParsedFile:
    parsed = ParsedFile([], [], "Élément")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        parsed.errors.append(RowError(error.lineno, "fichier", "JSON illisible.", "Ligne"))
        return parsed
    if not isinstance(data, list) or not data:
        parsed.errors.append(
            RowError(1, "fichier", "attendu une liste non vide de lieux.", "Ligne")
        )
        return parsed
    for number, raw in enumerate(data, start=1):
        if not isinstance(raw, dict):
            parsed.errors.append(RowError(number, "—", "un lieu doit être un objet.", "Élément"))
            continue
        _collect(parsed, number, raw)
    return parsed


def to_csv(rows: list[dict[str, Any]]) -> str:
    """Comma-separated UTF-8 with a header, lists joined with `|` (the schema's CSV form)."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=COLUMNS, lineterminator="\r\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: _text(v) for k, v in row.items()})
    return out.getvalue()


def to_json(rows: list[dict[str, Any]]) -> str:
    return json.dumps(rows, ensure_ascii=False, indent=1)
