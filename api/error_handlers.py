"""How refusals are answered: JSON `{"error": …}` under /api, the French error page elsewhere.

`api/errors.py` says what a refusal is (ApiError, its body, French field messages); this
module installs the app's exception handlers, which render it for the API or for a page
(`api.web.error_page`). A missing login is 401 for the API and a redirect to the login page
for pages.
"""

from __future__ import annotations

from urllib.parse import urlencode

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from api.auth import NotAuthenticated
from api.errors import ApiError, error_body, french_field_errors, page_message
from api.web import error_page

LOGIN_PATH = "/connexion"


def is_api(request: Request) -> bool:
    path = request.url.path
    return path == "/api" or path.startswith("/api/")


def _page(request: Request, status: int, message: str) -> Response:
    return error_page(request, status, message)


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def _api_error(request: Request, exc: ApiError) -> Response:
        if not is_api(request):
            return _page(request, exc.status, page_message(exc))
        return JSONResponse(error_body(exc.code, exc.message, exc.details), status_code=exc.status)

    @app.exception_handler(NotAuthenticated)
    async def _not_authenticated(request: Request, _: NotAuthenticated) -> Response:
        if not is_api(request):
            target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
            return RedirectResponse(
                f"{LOGIN_PATH}?{urlencode({'suivant': target})}", status_code=303
            )
        return JSONResponse(
            error_body(
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
        if not is_api(request):  # pages read their forms themselves: this is the address
            return _page(
                request,
                422,
                "L'adresse de cette page contient une valeur non valide : vérifiez le lien "
                "suivi, ou revenez à votre espace.",
            )
        return JSONResponse(
            error_body("invalid_input", "La requête contient des erreurs de saisie.", fields),
            status_code=422,
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        code, message, page_message = _framework_refusal(request, exc)
        if not is_api(request):
            return _page(request, exc.status_code, page_message)
        return JSONResponse(
            error_body(code, message), status_code=exc.status_code, headers=exc.headers
        )

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> Response:
        # Starlette logs the error and re-raises it after this answer is sent.
        message = "Erreur interne : l'équipe technique est prévenue par les journaux. Réessayez plus tard."
        if not is_api(request):
            return _page(request, 500, message)
        return JSONResponse(error_body("internal_error", message), status_code=500)


# Refusals the framework makes before any route runs: (code, API message, page message).
_FRAMEWORK_REFUSALS: dict[int, tuple[str, str, str]] = {
    400: (
        "invalid_body",
        "Le corps de la requête est illisible : du JSON encodé en UTF-8 est attendu.",
        "Le formulaire envoyé est illisible : rechargez la page et recommencez.",
    ),
    404: (
        "not_found",
        "Ressource introuvable.",
        "Cette page n'existe pas, ou vous n'y avez pas accès.",
    ),
    405: (
        "method_not_allowed",
        "Méthode non autorisée à cette adresse.",
        "Cette action n'est pas possible à cette adresse.",
    ),
    413: (
        "too_large",
        "La requête est trop volumineuse.",
        "Le formulaire envoyé est trop volumineux.",
    ),
}


def _framework_refusal(request: Request, exc: StarletteHTTPException) -> tuple[str, str, str]:
    known = _FRAMEWORK_REFUSALS.get(exc.status_code)
    if known is None:  # never shows the framework's English detail
        return f"http_{exc.status_code}", "Requête refusée.", "Cette requête est refusée."
    code, message, page_message = known
    allowed = (exc.headers or {}).get("Allow")
    if exc.status_code == 405 and allowed:
        message = (
            f"Méthode {request.method} non autorisée à cette adresse (méthodes acceptées : "
            f"{allowed})."
        )
    return code, message, page_message
