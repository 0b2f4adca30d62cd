"""Server-rendered French pages, one module per role space (see api/web.py for templates).

A page route, in short:

    router = APIRouter(prefix="/mediation", include_in_schema=False)

    @router.get("/orientations")
    async def orientations(request: Request, state: State, user: CurrentUser) -> HTMLResponse:
        access.require_role(user, Role.MEDIATOR)            # 403 page otherwise
        rows, total = await state.db.run(lambda s: queries.list_journeys(
            s, programme_code=user.programme_code, scope=access.journey_scope(user), ...))
        return render(request, "mediation/orientations.html", {"rows": rows})

`CurrentUser` redirects anonymous visitors to the login page and checks the CSRF token of
every POST; errors raised as `ApiError` become the French error page. A form that changes
a journey is a `api.forms.KeyedForm` sent with `api.pages.submit.send` (its UUID as the
Update's key, 303 once done, the refusal shown on the form).
"""

from __future__ import annotations

from sqlmodel import Session

from api.auth import User
from api.deps import AppState
from domain.security_codes import split_line
from domain.serials import SerialError, parse_serial
from domain.stages import Role
from records import models


def shown_serial(text: str) -> str:
    """A cheque's serial as printed on the booklet (012-2026-000123-04-7), from a stored
    serial or a typed or scanned line (serial then code); else the line as typed."""
    serial = split_line(text).serial
    try:
        return parse_serial(serial).display
    except SerialError:
        return serial.strip()


async def describe_scope(state: AppState, user: User) -> str:
    """The user's scope in French: their structure, their EPCI or the whole programme."""

    def read(session: Session) -> str:
        match user.role:
            case Role.SOCIAL_WORKER if user.reception_structure_id is not None:
                r = session.get(models.ReceptionStructure, user.reception_structure_id)
                return r.name if r else "structure d'accueil inconnue"
            case Role.MEDIATOR if user.mediation_structure_id is not None:
                m = session.get(models.MediationStructure, user.mediation_structure_id)
                return m.name if m else "structure de médiation inconnue"
            case Role.COORDINATOR if user.epci_id is not None:
                e = session.get(models.Epci, user.epci_id)
                return e.name if e else "intercommunalité inconnue"
            case Role.COORDINATOR:
                return "tout le programme"
            case Role.ADMINISTRATOR:
                return "comptes et structures du programme"
        return "aucun"

    return await state.db.run(read)
