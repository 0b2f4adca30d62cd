"""A programme file (docs/programme-file.md), pure: its pydantic models, and `parse`, which
turns the file's text into a valid `ProgrammeFile` or French errors, each with the line of
the file it is about and the field's path (« ligne 14, epci[2].siren : … »).

Lines come from json-source-map (the JSON pointer of every value -> its line); an error
whose exact value has no entry (a missing field, a key with JSON escapes) is placed on the
closest enclosing value that has one. Checks the database must answer (the serial prefix
already used by another programme) are records.programmes'.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Annotated, Any, Literal, TypeVar

import json_source_map
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    model_validator,
)
from pydantic_core import ErrorDetails, PydanticCustomError

from domain.money import format_euros
from domain.needs import Theme
from domain.policy import BOUNDS

FORMAT_VERSION: Literal[1] = 1
MAX_FILE_BYTES = 4 * 1024 * 1024  # a programme with thousands of structures

FunderKindName = Literal["DEPARTEMENT", "EPCI", "ETAT"]
GENERAL_KINDS = ("DEPARTEMENT", "ETAT")  # funders sharing every cheque (domain.ledger)

_LINE = r"^[^\x00-\x1f\x7f]*$"  # one line of text, no control character
Text = Annotated[str, Field(min_length=1, max_length=200, pattern=_LINE)]
Commune = Annotated[str, Field(min_length=1, max_length=120, pattern=_LINE)]
Key = Annotated[str, Field(pattern=r"^[a-z0-9_]{1,40}$")]
Siren = Annotated[str, Field(pattern=r"^\d{9}$")]
Siret = Annotated[str, Field(pattern=r"^\d{14}$")]
PostalCode = Annotated[str, Field(pattern=r"^\d{5}$")]
InseeCode = Annotated[str, Field(pattern=r"^(\d{5}|2[AB]\d{3})$")]
Email = Annotated[str, Field(max_length=254, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")]
Phone = Annotated[str, Field(min_length=1, max_length=40, pattern=_LINE)]
Address = Annotated[str, Field(min_length=1, max_length=300, pattern=_LINE)]
Hours = Annotated[str, Field(min_length=1, max_length=500, pattern=_LINE)]
ExternalId = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,79}$")]
Cents = Annotated[int, Field(ge=1, le=10**12, strict=True)]
# Numbers are strict ("12" is no number, 1.0 no whole number); dates are JSON text.
_ISO_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")


def _day_text(value: Any) -> Any:
    """Only "AAAA-MM-JJ" (pydantic alone would take a timestamp, or a datetime at 00:00)."""
    if isinstance(value, date) or (isinstance(value, str) and _ISO_DAY.fullmatch(value)):
        return value
    raise PydanticCustomError("date_type", "date AAAA-MM-JJ attendue")


Day = Annotated[date, BeforeValidator(_day_text)]


def _bounded(name: str, default: int) -> Any:
    bound = BOUNDS[name]
    return Field(default=default, ge=bound.low, le=bound.high, strict=True)


class _Strict(BaseModel):
    """Unknown keys are refused (a typo must not pass silently), except keys starting with
    « _ », which are comments (`_about`)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    @model_validator(mode="before")
    @classmethod
    def _drop_comments(cls, data: Any) -> Any:
        if isinstance(data, dict):
            return {k: v for k, v in data.items() if not (isinstance(k, str) and k[:1] == "_")}
        return data


class ProgrammeInfo(_Strict):
    code: int = Field(
        ge=1, le=999, strict=True, description="serial prefix: first 3 digits of every cheque"
    )
    name: Text
    territory: Text
    issuer_name: Text
    cheque_value_cents: int = _bounded("cheque_value_cents", 1000)
    cheques_per_booklet: int = _bounded("cheques_per_booklet", 10)
    grace_months: int = _bounded("grace_months", 1)
    starts_on: Day
    ends_on: Day | None = None
    target_booklets: int | None = Field(default=None, ge=1, le=10_000_000, strict=True)
    budget_total_cents: Cents | None = None  # given: the budget lines must sum to it


class EpciSpec(_Strict):
    key: Key
    name: Text
    siren: Siren


class BudgetLineSpec(_Strict):
    label: Text
    amount_cents: Cents


class FunderSpec(_Strict):
    kind: FunderKindName
    name: Text
    epci: Key | None = None  # kind EPCI: the EPCI whose territory's cheques it co-funds
    budget_lines: list[BudgetLineSpec] = Field(min_length=1, max_length=100)

    @property
    def amount_cents(self) -> int:
        return sum(line.amount_cents for line in self.budget_lines)


class _Place(_Strict):
    epci: Key
    name: Text
    commune: Commune
    email: Email | None = None
    siret: Siret | None = None
    address: Address | None = None
    postal_code: PostalCode | None = None
    insee_code: InseeCode | None = None
    phone: Phone | None = None
    opening_hours: Hours | None = None


class ReceptionSpec(_Place):
    kind: Annotated[str, Field(min_length=1, max_length=40, pattern=_LINE)]


class MediationSpec(_Place):
    serves: list[Key] = Field(default_factory=list, max_length=1000)
    themes: list[Theme] = Field(min_length=1, max_length=len(Theme))
    capacity: int = Field(ge=0, le=10_000, strict=True)
    qualified_from: Day
    qualified_until: Day | None = None
    external_id: ExternalId | None = None


class ProgrammeFile(_Strict):
    format: Literal[1] = FORMAT_VERSION
    programme: ProgrammeInfo
    epci: list[EpciSpec] = Field(min_length=1, max_length=5_000)
    funders: list[FunderSpec] = Field(min_length=1, max_length=5_000)
    reception_structures: list[ReceptionSpec] = Field(default_factory=list, max_length=50_000)
    mediation_structures: list[MediationSpec] = Field(default_factory=list, max_length=50_000)

    @property
    def budget_total_cents(self) -> int:
        return sum(f.amount_cents for f in self.funders)


# ---- errors ----

Loc = tuple[str | int, ...]


@dataclass(frozen=True)
class FileError:
    line: int  # 1-based line of the file
    path: str  # epci[2].siren; "" for the whole document
    message: str  # French

    def __str__(self) -> str:
        where = f"ligne {self.line}, {self.path}" if self.path else f"ligne {self.line}"
        return f"{where} : {self.message}"

    def as_dict(self) -> dict[str, Any]:
        return {"line": self.line, "path": self.path, "message": self.message}


class ProgrammeFileError(ValueError):
    """A programme file refused: every error found, in file order."""

    def __init__(self, errors: Sequence[FileError]) -> None:
        super().__init__("\n".join(str(e) for e in errors))
        self.errors = list(errors)


def dotted(loc: Loc) -> str:
    """("epci", 2, "siren") -> "epci[2].siren"."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def _pointer(loc: Loc) -> str:
    return "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in loc)


class _Lines:
    """The line of each value of the document (json-source-map), by location."""

    def __init__(self, text: str) -> None:
        try:
            self._map = json_source_map.calculate(text)
        except json_source_map.errors.BaseError:  # never seen on what json.loads accepts
            self._map = {}

    def of(self, loc: Loc) -> int:
        for end in range(len(loc), -1, -1):  # the value, else its closest parent
            entry = self._map.get(_pointer(loc[:end]))
            if entry is not None:
                # An unknown key's error sits on its key; any other on its value.
                at = entry.key_start if end == len(loc) and entry.key_start else entry.value_start
                return int(at.line) + 1
        return 1


# What a pattern means, by the field's name (pydantic's own message names a regex).
_PATTERN_MESSAGES = {
    "siren": "le SIREN doit compter 9 chiffres",
    "siret": "le SIRET doit compter 14 chiffres",
    "postal_code": "le code postal doit compter 5 chiffres",
    "insee_code": "le code INSEE compte 5 caractères (chiffres, ou 2A / 2B et 3 chiffres)",
    "email": "ce n'est pas une adresse électronique",
    "external_id": "identifiant invalide (lettres, chiffres, « . _ : - », 80 caractères au plus)",
}
_KEY_MESSAGE = "une clé s'écrit en minuscules, chiffres et « _ » (40 caractères au plus)"


def _french(error: ErrorDetails) -> str:
    kind = error["type"]
    ctx: dict[str, Any] = dict(error.get("ctx") or {})
    field = next((p for p in reversed(error["loc"]) if isinstance(p, str)), "")
    match kind:
        case "missing":
            return "champ obligatoire manquant"
        case "extra_forbidden":
            return "champ inconnu (les champs de commentaire commencent par « _ »)"
        case "int_type" | "int_parsing" | "int_from_float":
            return "un nombre entier est attendu"
        case "string_type":
            return "un texte est attendu"
        case "string_too_short":
            return "ne peut pas être vide"
        case "string_too_long":
            return f"{ctx.get('max_length')} caractères au plus"
        case "string_pattern_mismatch":
            if field in ("key", "epci", "serves"):
                return _KEY_MESSAGE
            return _PATTERN_MESSAGES.get(field, "caractère de contrôle ou format invalide")
        case "greater_than_equal":
            return f"doit valoir au moins {ctx.get('ge')}"
        case "less_than_equal":
            return f"doit valoir au plus {ctx.get('le')}"
        case (
            "date_type"
            | "date_parsing"
            | "date_from_datetime_parsing"
            | "date_from_datetime_inexact"
        ):
            return "une date AAAA-MM-JJ est attendue"
        case "enum":
            return f"valeur inconnue ; valeurs possibles : {_options(ctx)}"
        case "literal_error":
            return f"valeur inconnue ; valeurs possibles : {_options(ctx)}"
        case "list_type":
            return "une liste [ … ] est attendue"
        case "model_type" | "model_attributes_type" | "dict_type":
            return "un objet { … } est attendu"
        case "too_short":
            return f"au moins {ctx.get('min_length')} élément(s) attendu(s)"
        case "too_long":
            return f"au plus {ctx.get('max_length')} élément(s)"
        case "bool_type" | "bool_parsing":
            return "true ou false est attendu"
    return "valeur invalide"


def _options(ctx: dict[str, Any]) -> str:
    return str(ctx.get("expected", "")).replace("' or '", "', '")


def _loc_of(error: ErrorDetails) -> Loc:
    return tuple(error["loc"])


def _duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    seen = Counter(k for k, _ in pairs)
    doubled = [k for k, n in seen.items() if n > 1]
    if doubled:
        raise _DuplicateKey(doubled[0])
    return dict(pairs)


class _DuplicateKey(ValueError):
    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


def _decode(content: bytes | str) -> str:
    if isinstance(content, str):
        return content
    if len(content) > MAX_FILE_BYTES:
        raise ProgrammeFileError(
            [FileError(1, "", f"fichier trop volumineux ({MAX_FILE_BYTES // 1024} Kio au plus)")]
        )
    try:
        return content.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        line = content[: err.start].count(b"\n") + 1
        raise ProgrammeFileError(
            [FileError(line, "", "le fichier doit être encodé en UTF-8")]
        ) from None


def parse(content: bytes | str) -> ProgrammeFile:
    """The valid programme of a file's content; raises ProgrammeFileError (French, by line)."""
    text = _decode(content).lstrip("\ufeff")
    if not text.strip():
        raise ProgrammeFileError([FileError(1, "", "le fichier est vide")])
    try:
        data = json.loads(text, object_pairs_hook=_duplicate_keys)
    except json.JSONDecodeError as err:
        raise ProgrammeFileError(
            [
                FileError(
                    err.lineno, "", f"JSON illisible (colonne {err.colno}) : {_json_reason(err)}"
                )
            ]
        ) from None
    except _DuplicateKey as dup:
        line = _line_of_key(text, dup.key)
        raise ProgrammeFileError(
            [FileError(line, dup.key, f"la clé « {dup.key} » figure deux fois dans le même objet")]
        ) from None
    try:
        spec: ProgrammeFile | None = ProgrammeFile.model_validate(data)
        found: list[tuple[Loc, str]] = []
    except ValidationError as err:
        spec = None
        found = [(_loc_of(e), _french(e)) for e in err.errors(include_url=False)]
    found += cross_checks(Parts.of(spec) if spec is not None else Parts.salvage(data))
    if found:
        raise ProgrammeFileError(_placed(_Lines(text), found))
    assert spec is not None
    return spec


def locate(content: bytes | str, loc: Loc, message: str) -> FileError:
    """An error about a valid file's field (e.g. its code, taken in the database), placed
    on its line."""
    return _placed(_Lines(_decode(content).lstrip("\ufeff")), [(loc, message)])[0]


CODE_LOC: Loc = ("programme", "code")


def _placed(lines: _Lines, found: Iterable[tuple[Loc, str]]) -> list[FileError]:
    errors = {FileError(lines.of(loc), dotted(loc), message) for loc, message in found}
    return sorted(errors, key=lambda e: (e.line, e.path, e.message))


def _json_reason(err: json.JSONDecodeError) -> str:
    reasons = {
        "Expecting value": "valeur attendue",
        "Expecting ',' delimiter": "virgule attendue",
        "Expecting ':' delimiter": "« : » attendu",
        "Expecting property name enclosed in double quotes": "nom de champ entre guillemets attendu",
        "Unterminated string starting at": "texte non terminé",
        "Extra data": "contenu après la fin du document",
        "Invalid control character at": "caractère de contrôle dans un texte",
        "Invalid \\escape": "séquence d'échappement « \\ » incorrecte",
        "Invalid \\uXXXX escape": "séquence « \\u » incorrecte",
    }
    return reasons.get(err.msg, "syntaxe incorrecte")


def _line_of_key(text: str, key: str) -> int:
    """The line of the second occurrence of `"key":` (a duplicated key)."""
    needle = json.dumps(key, ensure_ascii=False)
    first = text.find(needle)
    second = text.find(needle, first + 1) if first >= 0 else -1
    at = second if second >= 0 else max(first, 0)
    return text.count("\n", 0, at) + 1


# ---- checks across fields ----


def _french_date(day: date) -> str:
    return day.strftime("%d/%m/%Y")


def _doubles(values: Iterable[tuple[int, str]]) -> list[tuple[int, str]]:
    """(index, value) of every value already seen at a smaller index."""
    seen: set[str] = set()
    out = []
    for i, value in values:
        if value in seen:
            out.append((i, value))
        seen.add(value)
    return out


_M = TypeVar("_M", bound=BaseModel)


@dataclass
class Parts:
    """What of a file is valid, item by item (index in its list, item), so that the checks
    across fields run even when other fields are wrong: every error comes in one pass.
    `epci_keys`: every EPCI key written, valid item or not (a structure naming an EPCI whose
    SIREN is wrong is not also « unknown »). `complete`: every funder is valid (the budget
    and the general funder are judged on the whole list only)."""

    programme: ProgrammeInfo | None
    epci: list[tuple[int, EpciSpec]]
    epci_keys: set[str]
    funders: list[tuple[int, FunderSpec]]
    funders_complete: bool
    reception: list[tuple[int, ReceptionSpec]]
    mediation: list[tuple[int, MediationSpec]]

    @classmethod
    def of(cls, spec: ProgrammeFile) -> Parts:
        return cls(
            programme=spec.programme,
            epci=list(enumerate(spec.epci)),
            epci_keys={e.key for e in spec.epci},
            funders=list(enumerate(spec.funders)),
            funders_complete=True,
            reception=list(enumerate(spec.reception_structures)),
            mediation=list(enumerate(spec.mediation_structures)),
        )

    @classmethod
    def salvage(cls, data: Any) -> Parts:
        """The valid items of a document that failed validation as a whole."""
        doc = data if isinstance(data, dict) else {}

        def items(name: str) -> list[Any]:
            found = doc.get(name)
            return found if isinstance(found, list) else []

        funders = _valid(FunderSpec, items("funders"))
        return cls(
            programme=next((m for _, m in _valid(ProgrammeInfo, [doc.get("programme")])), None),
            epci=_valid(EpciSpec, items("epci")),
            epci_keys={
                e["key"]
                for e in items("epci")
                if isinstance(e, dict) and isinstance(e.get("key"), str)
            },
            funders=funders,
            funders_complete=len(funders) == len(items("funders")) > 0,
            reception=_valid(ReceptionSpec, items("reception_structures")),
            mediation=_valid(MediationSpec, items("mediation_structures")),
        )


def _valid(model: type[_M], items: list[Any]) -> list[tuple[int, _M]]:
    out: list[tuple[int, _M]] = []
    for i, item in enumerate(items):
        try:
            out.append((i, model.model_validate(item)))
        except ValidationError:
            continue  # reported by the whole document's validation
    return out


def cross_checks(parts: Parts) -> list[tuple[Loc, str]]:
    """What each field alone cannot tell: dates in order, keys known and unique, budget."""
    problems: list[tuple[Loc, str]] = []
    p = parts.programme
    if p is not None and p.ends_on is not None and p.ends_on < p.starts_on:
        problems.append(
            (
                ("programme", "ends_on"),
                f"la fin du programme ({_french_date(p.ends_on)}) précède son début "
                f"({_french_date(p.starts_on)})",
            )
        )
    keys = parts.epci_keys
    for i, key in _doubles((i, e.key) for i, e in parts.epci):
        problems.append((("epci", i, "key"), f"la clé d'EPCI « {key} » figure deux fois"))
    for i, siren in _doubles((i, e.siren) for i, e in parts.epci):
        problems.append((("epci", i, "siren"), f"le SIREN {siren} figure deux fois"))

    for i, f in parts.funders:
        if f.kind == "EPCI" and f.epci is None:
            problems.append(
                (("funders", i), "un financeur de type EPCI nomme son EPCI (champ « epci »)")
            )
        elif f.kind != "EPCI" and f.epci is not None:
            problems.append(
                (("funders", i, "epci"), "seul un financeur de type EPCI nomme un EPCI")
            )
        elif f.epci is not None and f.epci not in keys:
            problems.append((("funders", i, "epci"), f"EPCI inconnu : « {f.epci} »"))
    for i, name in _doubles((i, f.name) for i, f in parts.funders):
        problems.append((("funders", i, "name"), f"le financeur « {name} » figure deux fois"))
    epci_funded = ((i, f.epci) for i, f in parts.funders if f.epci is not None)
    for i, key in _doubles(epci_funded):
        problems.append((("funders", i, "epci"), f"l'EPCI « {key} » a déjà un financeur"))
    if parts.funders_complete:
        if not any(f.kind in GENERAL_KINDS for _, f in parts.funders):
            problems.append(
                (
                    ("funders",),
                    "il faut au moins un financeur de type DEPARTEMENT ou ETAT : il paie la part "
                    "des chèques que les EPCI ne financent pas",
                )
            )
        total = sum(f.amount_cents for _, f in parts.funders)
        if p is not None and p.budget_total_cents is not None and p.budget_total_cents != total:
            problems.append(
                (
                    ("programme", "budget_total_cents"),
                    f"les lignes budgétaires des financeurs totalisent {format_euros(total)}, "
                    f"pas {format_euros(p.budget_total_cents)}",
                )
            )

    for i, r in parts.reception:
        if r.epci not in keys:
            problems.append((("reception_structures", i, "epci"), f"EPCI inconnu : « {r.epci} »"))
    for i, name in _doubles((i, r.name) for i, r in parts.reception):
        problems.append(
            (("reception_structures", i, "name"), f"la structure « {name} » figure deux fois")
        )
    for i, m in parts.mediation:
        if m.epci not in keys:
            problems.append((("mediation_structures", i, "epci"), f"EPCI inconnu : « {m.epci} »"))
        for j, served in enumerate(m.serves):
            if served not in keys:
                problems.append(
                    (("mediation_structures", i, "serves", j), f"EPCI inconnu : « {served} »")
                )
        for j, served in _doubles(enumerate(m.serves)):
            problems.append(
                (("mediation_structures", i, "serves", j), f"« {served} » figure deux fois")
            )
        if m.qualified_until is not None and m.qualified_until < m.qualified_from:
            problems.append(
                (
                    ("mediation_structures", i, "qualified_until"),
                    "la fin de la qualification APTIC précède son début",
                )
            )
    for i, name in _doubles((i, m.name) for i, m in parts.mediation):
        problems.append(
            (("mediation_structures", i, "name"), f"la structure « {name} » figure deux fois")
        )
    ids = ((i, m.external_id) for i, m in parts.mediation if m.external_id)
    for i, ident in _doubles(ids):
        problems.append(
            (
                ("mediation_structures", i, "external_id"),
                f"l'identifiant « {ident} » figure deux fois",
            )
        )
    return problems
