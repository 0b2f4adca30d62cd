"""Where mails link: a journey (`/parcours/{id}`, sent on to the journey page of the
reader's space) and a printable letter (`/parcours/{id}/lettres/{outbox_id}`): a message
meant for the person, on paper, for the referrer to print or hand over.

Both are visible to whoever may see the journey (api.access), 404 otherwise. The journey
pages' mail block (`fragments/mail.html`) reads `journey_mail`: letters to print, and each
delivery's fate with the reason of a failure.
"""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import APIRouter
from fastapi.responses import HTMLResponse, RedirectResponse
from sqlmodel import Session

from api import access
from api.auth import CurrentUser, User
from api.constraints import IdPath, JourneyIdPath
from api.deps import AppState, State
from api.errors import ApiError, not_found
from api.mail_service import (
    KIND_LABELS,
    DeliveryLine,
    LetterLine,
    NoLetter,
    deliveries_for,
    letters_for,
    render_letter,
)
from api.security_headers import LETTER_POLICY
from domain.notices import NoticeKind
from domain.stages import OrientationStatus, Role, Stage
from records import models, queries

router = APIRouter(include_in_schema=False)

# The messages written for the person, as their letters are named.
LETTER_LABELS: dict[str, str] = {
    NoticeKind.REFERRAL_RECORDED.value: "Inscription au Pass numérique",
    NoticeKind.EXPIRY_WARNING.value: "Chèques bientôt expirés",
}
GONE = "Cette lettre n'est plus disponible : le parcours a été anonymisé."


@dataclass(frozen=True)
class JourneyMail:
    """What the journey pages show about mail."""

    journey_id: str
    letters: list[LetterLine]
    deliveries: list[DeliveryLine]
    person_has_email: bool
    anonymised: bool

    @property
    def failed(self) -> list[DeliveryLine]:
        return [d for d in self.deliveries if d.status == models.DeliveryStatus.FAILED.value]

    @staticmethod
    def kind_label(kind: str) -> str:
        return KIND_LABELS.get(kind, kind)

    @staticmethod
    def letter_label(kind: str) -> str:
        return LETTER_LABELS.get(kind) or KIND_LABELS.get(kind, kind)

    def letter_url(self, letter: LetterLine) -> str:
        return f"/parcours/{self.journey_id}/lettres/{letter.outbox_id}"


def read_journey_mail(session: Session, journey_id: str) -> JourneyMail:
    """The caller has checked that the reader may see the journey."""
    journey = session.get(models.Journey, journey_id)
    person = queries.get_beneficiary(session, journey_id)
    anonymised = journey is not None and (
        journey.anonymised_at is not None or journey.stage == Stage.ANONYMISED.value
    )
    return JourneyMail(
        journey_id=journey_id,
        letters=[] if anonymised else letters_for(session, journey_id),
        deliveries=deliveries_for(session, journey_id),
        person_has_email=bool(person and person.email),
        anonymised=anonymised,
    )


async def journey_mail(state: AppState, journey_id: str) -> JourneyMail:
    return await state.db.run(lambda s: read_journey_mail(s, journey_id))


def journey_page_path(user: User, journey: queries.JourneyAccess) -> str:
    """The journey as the reader's space shows it."""
    match user.role:
        case Role.SOCIAL_WORKER:
            return f"/accompagnement/parcours/{journey.id}"
        case Role.COORDINATOR:
            return f"/coordination/parcours/{journey.id}"
        case Role.MEDIATOR if (
            journey.orientation_status == OrientationStatus.PENDING.value
            and journey.orientation_structure_id == user.mediation_structure_id
        ):
            return "/mediation/orientations"
        case Role.MEDIATOR:
            return "/mediation/beneficiaires"
    raise not_found()


@router.get("/parcours/{journey_id}")
async def journey_link(
    state: State, user: CurrentUser, journey_id: JourneyIdPath
) -> RedirectResponse:
    """A mail's link to a journey: on to the reader's journey page."""

    def read(session: Session) -> str:
        row = queries.journey_access(session, journey_id)
        if row is not None and not access.can_see_journey(user, row):
            # A structure the person left (they chose another one): its own last session.
            last = queries.last_session_of_structure(
                session, journey_id, user.mediation_structure_id
            )
            if last is not None:
                return f"/mediation/parcours/{journey_id}/seances/{last}"
        return journey_page_path(user, access.require_visible(user, row))

    return RedirectResponse(await state.db.run(read), status_code=303)


@router.get("/parcours/{journey_id}/lettres/{outbox_id}")
async def letter(
    state: State, user: CurrentUser, journey_id: JourneyIdPath, outbox_id: IdPath
) -> HTMLResponse:
    """The printable letter (a whole page with its print stylesheet)."""
    base_url = state.settings.public_base_url.rstrip("/")

    def read(session: Session) -> str:
        access.require_visible(user, queries.journey_access(session, journey_id))
        notice = session.get(models.NotificationOutbox, outbox_id)
        if notice is None or notice.journey_id != journey_id:
            raise not_found("Lettre")
        if read_journey_mail(session, journey_id).anonymised:
            raise ApiError(404, "not_found", GONE)
        try:
            return render_letter(session, outbox_id, base_url=base_url)
        except NoLetter as err:  # a message for a professional: no letter
            raise not_found("Lettre") from err

    html = await state.db.run(read)
    return HTMLResponse(
        html,
        headers={
            "Cache-Control": "no-store",  # personal data
            # The letter's body is the e-mail's HTML, with its inline styles.
            "Content-Security-Policy": LETTER_POLICY,
        },
    )
