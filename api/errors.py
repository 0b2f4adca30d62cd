"""API errors: a structured body `{"error": {"code", "message", "details"}}`, French message.

The same errors reach pages as the French error page (`api/templates/error.html`): paths
under /api answer JSON, every other path HTML (`api/error_handlers.py` answers them). This
module imports no other part of the app but its constraints: every module may raise these.

Domain refusals coming back from the workflow (ApplicationError types) map to HTTP statuses
here, in one place: business conflicts are 409, bad input 422, never 500.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from pydantic import BaseModel, Field
from temporalio.client import WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from api.constraints import LINE, TEXT


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str, details: Any = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.details = details


def not_found(what: str = "Parcours") -> ApiError:
    return ApiError(404, "not_found", f"{what} introuvable.")


# ---- the error body, as the OpenAPI document declares it ----


class FieldError(BaseModel):
    field: str = Field(
        description="Champ concerné, en notation pointée (`person.first_name`) ; vide : "
        "toute la requête"
    )
    message: str = Field(description="Ce qui ne va pas, en français")


class ErrorInfo(BaseModel):
    code: str = Field(description="Code stable, pour les programmes (`invalid_input`, ...)")
    message: str = Field(description="Message en français, pour les personnes")
    details: list[FieldError] | list[Any] | dict[str, Any] | None = Field(
        default=None,
        description="Détail : par champ (saisie invalide) ou par chèque (chèques refusés)",
    )


class ErrorBody(BaseModel):
    """Every refusal of the JSON API."""

    error: ErrorInfo


ERROR_DESCRIPTIONS: dict[int, str] = {
    400: "Corps de la requête illisible (JSON encodé en UTF-8 attendu)",
    401: "Non authentifié (session ou jeton personnel)",
    403: "Action hors de votre périmètre ou de votre rôle (ou jeton CSRF absent, avec la session)",
    404: "Introuvable (ou hors de votre périmètre)",
    409: "Action impossible à cette étape du parcours",
    413: "Corps de la requête trop volumineux",
    422: "Saisie invalide (message en français, détail par champ)",
    503: "Service indisponible (programme non configuré, ou moteur des parcours injoignable)",
}


def error_responses(
    *statuses: int, descriptions: dict[int, str] | None = None
) -> dict[int | str, dict[str, Any]]:
    """The `responses=` of a route: each refusal it can answer, with the error body."""
    described = {**ERROR_DESCRIPTIONS, **(descriptions or {})}
    return {status: {"model": ErrorBody, "description": described[status]} for status in statuses}


# The same idempotency key (or page form) sent again with another request: refused, never
# answered with the first outcome (records/idempotency.py). Pages say it their way.
KEY_REUSED = "idempotency_key_reused"
KEY_REUSED_MESSAGE = "Cette clé d'idempotence a déjà servi pour une autre demande."
FORM_REUSED_MESSAGE = (
    "Ce formulaire a déjà été envoyé avec d'autres valeurs : rechargez la page pour faire "
    "une nouvelle saisie."
)
_PAGE_MESSAGES = {KEY_REUSED: FORM_REUSED_MESSAGE}


def key_reused(message: str = KEY_REUSED_MESSAGE) -> ApiError:
    return ApiError(409, KEY_REUSED, message)


def page_message(exc: ApiError) -> str:
    """What a page shows for this refusal (the API's message unless pages word it apart)."""
    return _PAGE_MESSAGES.get(exc.code, exc.message)


# Workflow refusal type -> HTTP status.
_STATUS_BY_TYPE: dict[str, int] = {
    "InvalidInput": 422,
    "ChequesRefused": 422,
    "WrongStage": 409,
    "Conflict": 409,
    "NotFound": 404,
    "Forbidden": 403,
    "WrongStructure": 403,
    "MillesimeEnding": 409,
}


def _plain(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    return value


def from_temporal(exc: BaseException) -> ApiError | None:
    """Translate a Temporal failure into an ApiError, or None if it is not a refusal."""
    if isinstance(exc, WorkflowUpdateFailedError) and isinstance(exc.cause, ApplicationError):
        cause = exc.cause
        details = [_plain(d) for d in cause.details] if cause.details else None
        if cause.type == "ChequesRefused" and details:
            details = details[0]
        return ApiError(
            _STATUS_BY_TYPE.get(cause.type or "", 409), _code(cause.type), cause.message, details
        )
    if isinstance(exc, RPCError):
        if exc.status == RPCStatusCode.NOT_FOUND:
            return ApiError(
                409 if "completed" in exc.message else 404,
                "journey_finished" if "completed" in exc.message else "not_found",
                "Ce parcours est terminé et anonymisé : il ne peut plus être modifié."
                if "completed" in exc.message
                else "Parcours introuvable.",
            )
        if exc.status == RPCStatusCode.FAILED_PRECONDITION:
            return ApiError(
                409, "journey_finished", "Ce parcours est terminé : il ne peut plus être modifié."
            )
        if exc.status in (RPCStatusCode.UNAVAILABLE, RPCStatusCode.DEADLINE_EXCEEDED):
            return ApiError(
                503,
                "engine_unavailable",
                "Le moteur des parcours ne répond pas : réessayez dans un instant.",
            )
    return None


def _code(error_type: str | None) -> str:
    known = {
        "InvalidInput": "invalid_input",
        "ChequesRefused": "cheques_refused",
        "WrongStage": "wrong_stage",
        "Conflict": "conflict",
        "NotFound": "not_found",
        "Forbidden": "forbidden",
        "WrongStructure": "wrong_structure",
        "MillesimeEnding": "millesime_ending",
    }
    return known.get(error_type or "", "refused")


def error_body(code: str, message: str, details: Any = None) -> dict[str, Any]:
    error: dict[str, Any] = {"code": code, "message": message}
    if details is not None:
        error["details"] = details
    return {"error": error}


_FIELD_MESSAGES = {
    "missing": "Ce champ est obligatoire.",
    "string_too_long": "Ce texte est trop long.",
    "string_too_short": "Ce champ ne peut pas être vide.",
    "greater_than": "La valeur est trop petite.",
    "greater_than_equal": "La valeur est trop petite.",
    "less_than_equal": "La valeur est trop grande.",
    "enum": "Cette valeur ne fait pas partie de la liste proposée.",
    "int_parsing": "Un nombre entier est attendu.",
    "date_parsing": "Une date au format AAAA-MM-JJ est attendue.",
    "date_from_datetime_parsing": "Une date au format AAAA-MM-JJ est attendue.",
    "date_type": "Une date au format AAAA-MM-JJ est attendue.",
    "date_future": "La date doit être dans le futur.",
    "date_past": "La date ne peut pas être dans le futur.",
    "datetime_parsing": "Une date et une heure sont attendues.",
    "int_type": "Un nombre entier est attendu.",
    "int_from_float": "Un nombre entier est attendu.",
    "float_parsing": "Un nombre est attendu.",
    "less_than": "La valeur est trop grande.",
    "string_pattern_mismatch": "Ce format n'est pas accepté.",
    "string_type": "Un texte est attendu.",
    "literal_error": "Cette valeur ne fait pas partie de la liste proposée.",
    "too_long": "Trop d'éléments.",
    "extra_forbidden": "Ce champ n'est pas attendu.",
    "bool_type": "Oui ou non est attendu.",
    "url_parsing": "Une adresse web est attendue.",
    "bool_parsing": "Oui ou non est attendu.",
    "uuid_parsing": "Un identifiant UUID est attendu.",
    "list_type": "Une liste est attendue.",
    "too_short": "Au moins un élément est attendu.",
    "json_invalid": "Le corps de la requête n'est pas du JSON valide.",
    "json_type": "Du JSON est attendu.",
    "int_parsing_size": "Ce nombre est trop grand.",
    "string_unicode": "Ce texte contient des caractères non valides.",
    "model_type": "Un objet JSON est attendu.",
    "model_attributes_type": "Un objet JSON est attendu (en-tête Content-Type: application/json).",
    "dict_type": "Un objet JSON est attendu.",
    "uuid_type": "Un identifiant UUID est attendu.",
    "uuid_version": "Un identifiant UUID est attendu.",
    "date_from_datetime_inexact": "Une date sans heure est attendue.",
    "finite_number": "Un nombre fini est attendu.",
    "multiple_of": "Cette valeur n'est pas acceptée.",
    "none_required": "Ce champ doit rester vide.",
    "bytes_type": "Un texte est attendu.",
    "set_type": "Une liste est attendue.",
    "tuple_type": "Une liste est attendue.",
    "datetime_type": "Une date et une heure sont attendues.",
    "datetime_from_date_parsing": "Une date et une heure sont attendues.",
    "timezone_aware": "Une date et une heure avec fuseau horaire sont attendues.",
}
# Messages for the shared text patterns (api/constraints.py): say what is wrong.
CONTROL_MESSAGE = "Ce texte contient des caractères de contrôle, non acceptés."
_PATTERN_MESSAGES = {
    LINE: "Ce texte doit tenir sur une ligne, sans caractère de contrôle.",
    TEXT: CONTROL_MESSAGE,
}
BODY_MISSING = "Le corps de la requête (JSON) est obligatoire."


def french_field_errors(errors: list[dict[str, Any]]) -> list[dict[str, str]]:
    """Pydantic errors as [{field, message}] with French messages."""
    out = []
    for err in errors:
        raw_loc = tuple(err.get("loc", ()))
        loc = [str(p) for p in raw_loc if p not in ("body", "query", "path", "header")]
        kind = str(err.get("type", ""))
        ctx = err.get("ctx") or {}
        message = _FIELD_MESSAGES.get(kind)
        if kind == "json_invalid":
            loc = []  # its location is a character position, not a field
        elif kind == "missing" and raw_loc == ("body",):
            message = BODY_MISSING
        elif kind == "string_pattern_mismatch" and ctx.get("pattern") in _PATTERN_MESSAGES:
            message = _PATTERN_MESSAGES[ctx["pattern"]]
        if message is None:
            ctx_error = (err.get("ctx") or {}).get("error")
            message = str(ctx_error) if ctx_error else "Valeur invalide."
        out.append({"field": ".".join(loc), "message": message})
    return out
