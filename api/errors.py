"""API errors: a structured body `{"error": {"code", "message", "details"}}`, French message.

The same errors reach pages as the French error page (`api/templates/error.html`): paths
under /api answer JSON, every other path HTML. A missing login is 401 for the API and a
redirect to the login page for pages.

Domain refusals coming back from the workflow (ApplicationError types) map to HTTP statuses
here, in one place: business conflicts are 409, bad input 422, never 500.
"""

from __future__ import annotations

import dataclasses
from typing import Any
from urllib.parse import urlencode

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException
from temporalio.client import WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str, details: Any = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.details = details


def not_found(what: str = "Parcours") -> ApiError:
    return ApiError(404, "not_found", f"{what} introuvable.")


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


def _body(code: str, message: str, details: Any = None) -> dict[str, Any]:
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
}


def french_field_errors(errors: list[dict[str, Any]]) -> list[dict[str, str]]:
    """Pydantic errors as [{field, message}] with French messages."""
    out = []
    for err in errors:
        loc = [str(p) for p in err.get("loc", ()) if p not in ("body", "query", "path", "header")]
        kind = str(err.get("type", ""))
        message = _FIELD_MESSAGES.get(kind)
        if message is None:
            ctx_error = (err.get("ctx") or {}).get("error")
            message = str(ctx_error) if ctx_error else "Valeur invalide."
        out.append({"field": ".".join(loc), "message": message})
    return out


LOGIN_PATH = "/connexion"


def is_api(request: Request) -> bool:
    path = request.url.path
    return path == "/api" or path.startswith("/api/")


def _page(request: Request, status: int, message: str) -> Response:
    from api.web import error_page  # pages import this module: load them lazily

    return error_page(request, status, message)


def install_error_handlers(app: FastAPI) -> None:
    from api.auth import NotAuthenticated

    @app.exception_handler(ApiError)
    async def _api_error(request: Request, exc: ApiError) -> Response:
        if not is_api(request):
            return _page(request, exc.status, exc.message)
        return JSONResponse(_body(exc.code, exc.message, exc.details), status_code=exc.status)

    @app.exception_handler(NotAuthenticated)
    async def _not_authenticated(request: Request, _: NotAuthenticated) -> Response:
        if not is_api(request):
            target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
            return RedirectResponse(
                f"{LOGIN_PATH}?{urlencode({'suivant': target})}", status_code=303
            )
        return JSONResponse(
            _body(
                "not_authenticated",
                "Authentification requise : connectez-vous, ou envoyez un jeton personnel "
                "(Authorization: Bearer …).",
            ),
            status_code=401,
            headers={"WWW-Authenticate": "Bearer"},
        )

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> Response:
        fields = french_field_errors(list(exc.errors()))
        if not is_api(request):
            return _page(request, 422, "La requête contient des erreurs de saisie.")
        return JSONResponse(
            _body("invalid_input", "La requête contient des erreurs de saisie.", fields),
            status_code=422,
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        messages = {404: "Ressource introuvable.", 405: "Méthode non autorisée."}
        message = messages.get(exc.status_code, str(exc.detail))
        if not is_api(request):
            page_messages = {
                404: "Cette page n'existe pas, ou vous n'y avez pas accès.",
                405: "Cette action n'est pas possible à cette adresse.",
            }
            return _page(request, exc.status_code, page_messages.get(exc.status_code, message))
        return JSONResponse(_body("http_error", message), status_code=exc.status_code)
