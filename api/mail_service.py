"""The one door from the app to mail: what pages may read or change of `notifications/`.

Pages never import `notifications` themselves (tests/test_imports.py holds them to it): a
professional's notification preferences and the categories they choose among
(`/compte/notifications`), a journey's letters to print and its deliveries
(`/parcours/{id}/lettres/…`, `fragments/mail.html`), and the embedded sink's mails
(`/administration/courriels`). Sending stays with the worker's activities.
"""

from __future__ import annotations

from domain.notices import NoticeKind
from notifications.categories import Category
from notifications.journal import DeliveryLine, LetterLine, deliveries_for, letters_for
from notifications.letters import NoLetter, render_letter
from notifications.preferences import (
    EssentialCategory,
    Preferences,
    optional_categories,
    preferences_of,
    set_preferences,
)
from notifications.sink import MailView, count_mails, list_mails, read_mail

# What each kind of mail is, as the journey pages and the person's access export name it.
KIND_LABELS: dict[str, str] = {
    NoticeKind.REFERRAL_RECORDED.value: "Orientation enregistrée",
    NoticeKind.ORIENTATION_REQUEST.value: "Demande d'orientation",
    NoticeKind.ORIENTATION_REMINDER.value: "Rappel : orientation sans réponse",
    NoticeKind.ORIENTATION_DECLINED.value: "Orientation refusée",
    NoticeKind.ORIENTATION_EXPIRED.value: "Orientation expirée",
    NoticeKind.STAGE_REMINDER.value: "Rappel : parcours sans activité",
    NoticeKind.JOURNEY_STALLED.value: "Parcours bloqué",
    NoticeKind.NUDGE.value: "Relance de la coordination",
    NoticeKind.EXPIRY_WARNING.value: "Chèques bientôt expirés",
    NoticeKind.JOURNEY_CLOSED.value: "Parcours clôturé",
    "DIGEST": "Récapitulatif quotidien",
}


def kind_label(kind: str) -> str:
    return KIND_LABELS.get(kind, kind)


__all__ = [
    "KIND_LABELS",
    "kind_label",
    "Category",
    "DeliveryLine",
    "EssentialCategory",
    "LetterLine",
    "MailView",
    "NoLetter",
    "Preferences",
    "count_mails",
    "deliveries_for",
    "letters_for",
    "list_mails",
    "optional_categories",
    "preferences_of",
    "read_mail",
    "render_letter",
    "set_preferences",
]
