"""Message categories, and which of them nobody may turn off."""

from __future__ import annotations

from domain.labels import Labelled, labels


class Category(Labelled):
    BENEFICIARY = "BENEFICIARY"  # written for the person (sent to them or their referrer)
    REFERRAL = "REFERRAL"
    ORIENTATION = "ORIENTATION"
    REMINDER = "REMINDER"
    NUDGE = "NUDGE"
    EXPIRY = "EXPIRY"
    CLOSURE = "CLOSURE"
    DIGEST = "DIGEST"
    SECURITY = "SECURITY"

    @property
    def essential(self) -> bool:
        """Cannot be turned off: the person's information, a request to act, a coordinator's
        nudge, the expiry warnings the programme owes before cheques lapse, and the digest."""
        return self in ESSENTIAL


CATEGORY_LABELS = labels(
    Category,
    {
        Category.BENEFICIARY: "Messages destinés aux bénéficiaires",
        Category.REFERRAL: "Orientation enregistrée",
        Category.ORIENTATION: "Demandes d'orientation et leurs réponses",
        Category.REMINDER: "Rappels (parcours sans activité, orientation sans réponse)",
        Category.NUDGE: "Relances de la coordination",
        Category.EXPIRY: "Alertes d'expiration des chèques",
        Category.CLOSURE: "Parcours clôturés",
        Category.DIGEST: "Récapitulatif quotidien",
        Category.SECURITY: "Sécurité des chèques (carnet bloqué, perdu ou volé)",
    },
)

# The digest is how coordinators hear of stalls at all (never one mail per journey).
ESSENTIAL = frozenset(
    {
        Category.BENEFICIARY,
        Category.ORIENTATION,
        Category.NUDGE,
        Category.EXPIRY,
        Category.DIGEST,
        Category.SECURITY,
    }
)

# Categories a professional may receive in the daily digest instead of one mail each.
DIGESTIBLE = frozenset({Category.REMINDER})
