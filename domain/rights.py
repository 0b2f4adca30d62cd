"""The person's rights (RGPD) and the administrators' audit log: the words and lists they use.

- *Droit d'accès*: everything held on a person, as JSON and as a printable document
  (api/person_data.py).
- *Droit de rectification*: identity and contact fields a professional may correct, each
  correction with a reason from a short list; the old values are not kept (that is the point
  of correcting them), only who, when, which fields and why.
- *Droit à l'effacement*: the journey is closed and anonymised at once (the workflow's
  U_ERASE_ON_REQUEST), statistics kept.
- The consent wording is versioned; each consent pins the version it was given on.
- Every administrator's action writes one row of an append-only audit log.

Pure values only (stdlib): the records, the API and the pages share them.
"""

from __future__ import annotations

from domain.labels import Labelled, labels

# The wording in force when versions began (version 1, seeded by migration 0015). Past
# referrals keep the text they recorded; new ones pin the current version.
INITIAL_CONSENT_TEXT = (
    "J'accepte que ma structure d'accueil et les structures du Pass numérique enregistrent "
    "mon identité et mes coordonnées pour organiser mon accompagnement au numérique : "
    "diagnostic de mes besoins, remise d'un carnet de chèques APTIC, orientation vers un "
    "médiateur numérique et suivi de mes séances. Ces informations ne servent qu'à ce "
    "parcours et sont effacées deux ans après ma dernière activité. Je peux demander à les "
    "consulter, les corriger ou les effacer auprès de ma structure d'accueil."
)
CONSENT_TEXT_MAX = 2000


class RectifiableField(Labelled):
    """The identity and contact fields of `records.models.Beneficiary` a person may have
    corrected (values are the model's attribute names)."""

    FIRST_NAME = "first_name"
    LAST_NAME = "last_name"
    BIRTH_YEAR = "birth_year"
    PHONE = "phone"
    EMAIL = "email"
    POSTAL_ADDRESS = "postal_address"
    COMMUNE = "commune"
    PREFERRED_CHANNEL = "preferred_channel"


labels(
    RectifiableField,
    {
        RectifiableField.FIRST_NAME: "Prénom",
        RectifiableField.LAST_NAME: "Nom",
        RectifiableField.BIRTH_YEAR: "Année de naissance",
        RectifiableField.PHONE: "Téléphone",
        RectifiableField.EMAIL: "Adresse e-mail",
        RectifiableField.POSTAL_ADDRESS: "Adresse postale",
        RectifiableField.COMMUNE: "Commune",
        RectifiableField.PREFERRED_CHANNEL: "Moyen de contact préféré",
    },
)


class RectificationReason(Labelled):
    """Why a person's identity or contact details were corrected."""

    PERSON_REQUEST = "PERSON_REQUEST"
    TYPING_ERROR = "TYPING_ERROR"
    CONTACT_CHANGED = "CONTACT_CHANGED"
    CIVIL_STATUS_CHANGED = "CIVIL_STATUS_CHANGED"


labels(
    RectificationReason,
    {
        RectificationReason.PERSON_REQUEST: "Demande de rectification de la personne",
        RectificationReason.TYPING_ERROR: "Erreur de saisie",
        RectificationReason.CONTACT_CHANGED: "Changement de coordonnées",
        RectificationReason.CIVIL_STATUS_CHANGED: "Changement d'état civil (nom, prénom)",
    },
)


class AuditAction(Labelled):
    """What an administrator did (one row of `admin_audit` each)."""

    ACCOUNT_CREATED = "ACCOUNT_CREATED"
    ACCOUNT_DEACTIVATED = "ACCOUNT_DEACTIVATED"
    TOKEN_ISSUED = "TOKEN_ISSUED"
    TOKEN_REVOKED = "TOKEN_REVOKED"
    QUALIFICATION_SET = "QUALIFICATION_SET"
    CONSENT_PUBLISHED = "CONSENT_PUBLISHED"
    MAIL_READ = "MAIL_READ"
    POLICY_CHANGED = "POLICY_CHANGED"
    STRUCTURE_CREATED = "STRUCTURE_CREATED"
    STRUCTURE_UPDATED = "STRUCTURE_UPDATED"
    STRUCTURE_DEACTIVATED = "STRUCTURE_DEACTIVATED"
    STRUCTURES_IMPORTED = "STRUCTURES_IMPORTED"
    INVITATION_SENT = "INVITATION_SENT"
    PROGRAMME_ACCESS_GRANTED = "PROGRAMME_ACCESS_GRANTED"
    PROGRAMME_ACCESS_REVOKED = "PROGRAMME_ACCESS_REVOKED"
    PROGRAMME_CREATED = "PROGRAMME_CREATED"


labels(
    AuditAction,
    {
        AuditAction.ACCOUNT_CREATED: "Compte créé",
        AuditAction.ACCOUNT_DEACTIVATED: "Compte désactivé",
        AuditAction.PROGRAMME_ACCESS_GRANTED: "Accès au programme donné à un compte d'un autre "
        "programme",
        AuditAction.PROGRAMME_ACCESS_REVOKED: "Accès au programme retiré",
        AuditAction.TOKEN_ISSUED: "Jeton d'API créé",
        AuditAction.TOKEN_REVOKED: "Jeton d'API révoqué",
        AuditAction.QUALIFICATION_SET: "Qualification APTIC modifiée",
        AuditAction.CONSENT_PUBLISHED: "Nouveau texte de consentement publié",
        AuditAction.MAIL_READ: "Courriel consulté",
        AuditAction.POLICY_CHANGED: "Règles du programme modifiées",
        AuditAction.STRUCTURE_CREATED: "Structure ajoutée à l'annuaire",
        AuditAction.STRUCTURE_UPDATED: "Structure modifiée dans l'annuaire",
        AuditAction.STRUCTURE_DEACTIVATED: "Structure désactivée",
        AuditAction.STRUCTURES_IMPORTED: "Annuaire des lieux importé",
        AuditAction.INVITATION_SENT: "Invitation envoyée",
        AuditAction.PROGRAMME_CREATED: "Programme créé",
    },
)
