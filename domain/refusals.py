"""Why a cheque or a request is refused, with the French message shown to the user.

One place for every refusal message, used by the workflow validators and the API alike.
A journey rule (domain/journey_rules.py) refuses by raising `Refused`: its kind is the
error type callers match on (the workflow turns it into the update's failure).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from enum import StrEnum

from domain.money import format_count
from domain.stages import LossReason, Stage
from domain.validity import format_date_fr


class RefusalKind(StrEnum):
    """Why a journey request is refused: the failure type the API maps to an HTTP answer."""

    INVALID_INPUT = "InvalidInput"
    WRONG_STAGE = "WrongStage"
    CONFLICT = "Conflict"
    FORBIDDEN = "Forbidden"
    WRONG_STRUCTURE = "WrongStructure"
    MILLESIME_ENDING = "MillesimeEnding"
    BOOKLET_EXISTS = "BookletExists"
    CHEQUES_REFUSED = "ChequesRefused"


class Refused(Exception):
    """A journey rule refuses a request: nothing changes. `details` travel with the failure
    (e.g. the verdict of each cheque)."""

    def __init__(self, kind: RefusalKind, message: str, *details: object) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.details = details


def wrong_stage(what: str, stage: Stage) -> Refused:
    """`what` is allowed at other stages only: the message names the current one."""
    return Refused(RefusalKind.WRONG_STAGE, f"{what} (étape actuelle : {stage.label}).")


class ChequeRefusal(StrEnum):
    SERIAL_EMPTY = "serial_empty"
    SERIAL_MALFORMED = "serial_malformed"
    SERIAL_CHECK_DIGIT = "serial_check_digit"
    UNKNOWN_SERIAL = "unknown_serial"
    OTHER_PROGRAMME = "other_programme"
    OTHER_BENEFICIARY = "other_beneficiary"
    ALREADY_REDEEMED = "already_redeemed"
    EXPIRED = "expired"
    NOT_YET_VALID = "not_yet_valid"
    CANCELLED = "cancelled"
    DUPLICATE_IN_REQUEST = "duplicate_in_request"
    STRUCTURE_NOT_QUALIFIED = "structure_not_qualified"
    JOURNEY_CLOSED = "journey_closed"
    CODE_MISSING = "code_missing"
    CODE_MALFORMED = "code_malformed"
    CODE_MISTYPED = "code_mistyped"
    CODE_WRONG = "code_wrong"
    BOOKLET_LOCKED = "booklet_locked"
    DECLARED_LOST = "declared_lost"


@dataclass(frozen=True)
class ChequeVerdict:
    """The answer for one typed serial: accepted, or refused with a code and a French reason."""

    serial: str
    accepted: bool
    code: str | None = None
    message: str | None = None


def accept(serial: str) -> ChequeVerdict:
    return ChequeVerdict(serial=serial, accepted=True)


def refuse(serial: str, code: ChequeRefusal, message: str) -> ChequeVerdict:
    return ChequeVerdict(serial=serial, accepted=False, code=code.value, message=message)


def msg_unknown(serial: str) -> str:
    return f"Le chèque {serial} n'existe pas : aucun carnet émis ne porte ce numéro."


def msg_other_programme(serial: str) -> str:
    return f"Le chèque {serial} a été émis par un autre programme Pass numérique."


def msg_other_beneficiary(serial: str) -> str:
    return f"Le chèque {serial} appartient au carnet d'un autre bénéficiaire."


def msg_already_redeemed(serial: str, on: date | None) -> str:
    when = f" le {format_date_fr(on)}" if on else ""
    return f"Le chèque {serial} a déjà été encaissé{when}."


def msg_expired(serial: str, last_day: date) -> str:
    return f"Le chèque {serial} n'est plus valable : il a expiré le {format_date_fr(last_day)}."


def msg_not_yet_valid(serial: str, millesime: int) -> str:
    return (
        f"Le chèque {serial} (millésime {millesime}) n'est valable qu'à partir du "
        f"01/01/{millesime}."
    )


def msg_cancelled(serial: str) -> str:
    return f"Le chèque {serial} a été annulé (carnet perdu ou remplacé)."


# "Chèque déclaré perdu le …": the participle of each reason a booklet is replaced for.
LOSS_PARTICIPLES: dict[LossReason, str] = {
    LossReason.LOST: "perdu",
    LossReason.STOLEN: "volé",
    LossReason.DAMAGED: "abîmé",
}


def msg_declared_lost(serial: str, lost_on: date, reason: LossReason) -> str:
    return (
        f"Chèque {serial} déclaré {LOSS_PARTICIPLES[reason]} le {format_date_fr(lost_on)} : "
        "son carnet a été annulé et remplacé, il ne peut plus être encaissé."
    )


def msg_duplicate(serial: str) -> str:
    return f"Le chèque {serial} a été saisi deux fois pour cette séance."


def msg_not_qualified(day: date) -> str:
    return (
        "Votre structure n'est pas labellisée APTIC à la date de la séance "
        f"({format_date_fr(day)}) : elle ne peut pas encaisser de chèques."
    )


def msg_not_qualified_for_orientation(day: date) -> str:
    return (
        f"Cette structure n'est pas labellisée APTIC au {format_date_fr(day)} : "
        "choisissez-en une autre."
    )


STRUCTURE_INACTIVE = "structure_inactive"
MSG_STRUCTURE_INACTIVE = (
    "Cette structure ne reçoit plus de nouvelles personnes (désactivée dans l'annuaire) : "
    "choisissez-en une autre."
)
MSG_RECEPTION_INACTIVE = (
    "Votre structure d'accueil est désactivée dans l'annuaire : elle n'oriente plus de "
    "nouvelles personnes. Adressez-vous à l'administrateur du programme."
)


def msg_code_wrong(serial: str) -> str:
    return (
        f"Le code de sécurité saisi pour le chèque {serial} n'est pas le sien : vérifiez-le "
        "sur le bordereau de la personne. Après plusieurs codes erronés, le carnet est bloqué."
    )


def msg_code_wrong_locked(serial: str) -> str:
    return (
        f"Le code de sécurité saisi pour le chèque {serial} n'est pas le sien. Trop de codes "
        "erronés ont été saisis pour ce carnet : il est désormais bloqué et la coordination "
        "est prévenue."
    )


def msg_booklet_locked(serial: str, since: date) -> str:
    return (
        f"Le chèque {serial} appartient à un carnet bloqué depuis le {format_date_fr(since)} "
        "après plusieurs codes de sécurité erronés : la coordination du programme doit le "
        "débloquer avant toute séance."
    )


def msg_journey_closed() -> str:
    return "Ce parcours est clôturé : ses chèques ne peuvent plus être encaissés."


# ---- journey requests refused by the workflow (domain/journey_rules.py) ----

# Why a request is at the wrong stage (completed by `wrong_stage` with the current stage).
ENTRY_ASSESSMENT_STAGE = "Le diagnostic initial se fait avant la remise du carnet"
EXIT_ASSESSMENT_STAGE = (
    "Le diagnostic de sortie se fait en formation ou après la clôture du parcours"
)
BOOKLET_STAGE = "Le carnet se remet après le diagnostic initial"
ORIENT_STAGE = "L'orientation vers une structure de médiation se fait une fois le carnet remis"
NO_PENDING_ORIENTATION = "Aucune orientation n'attend de réponse pour ce parcours"
SESSION_STAGE = "Aucun carnet n'a encore été remis : aucune séance ne peut être payée en chèques"
LOCK_STAGE = "Aucun carnet en cours d'utilisation à bloquer"
WITHDRAW_STAGE = "Ce parcours est déjà clôturé"
NUDGE_STAGE = "Ce parcours est clôturé : il n'y a personne à relancer"
REORIENT_STAGE = "La réorientation est possible une fois le carnet remis, parcours ouvert"
LOST_STAGE = "Un carnet se déclare perdu une fois remis, parcours ouvert"
ERASE_STAGE = "Les données de ce parcours sont déjà effacées"

MSG_NEEDS_MISSING = "Choisissez au moins un besoin pour le diagnostic."
MSG_UNKNOWN_MEDIATION_STRUCTURE = "Structure de médiation inconnue."
MSG_ORIENTATION_OTHER_STRUCTURE = "Cette orientation a été adressée à une autre structure."
MSG_DECLINE_REASON_MISSING = "Indiquez le motif du refus de l'orientation."
MSG_SESSION_ID_MISSING = "Identifiant de séance manquant."
MSG_SERIALS_MISSING = "Saisissez au moins un numéro de chèque."
MSG_LOCK_BY_SYSTEM_ONLY = "Seul passnum bloque un carnet (codes de sécurité erronés)."
MSG_BOOKLET_NOT_LOCKED = "Le carnet de ce parcours n'est pas bloqué."
MSG_WITHDRAW_REASON_MISSING = "Indiquez le motif de la sortie du dispositif."
MSG_REORIENT_REASON_MISSING = "Indiquez le motif de la réorientation."
MSG_ALREADY_ORIENTED_THERE = "Le parcours est déjà orienté vers cette structure de médiation."
MSG_LOST_BY_WHOM = (
    "Seuls un travailleur social de la structure d'accueil et la coordination déclarent "
    "un carnet perdu ou volé."
)
MSG_ERASE_BY_WHOM = (
    "Seuls un travailleur social de la structure d'accueil et la coordination effacent "
    "les données d'une personne à sa demande."
)
MSG_NOTHING_LEFT_TO_REPLACE = (
    "Tous les chèques de ce carnet ont été utilisés ou annulés : il n'y a rien à remplacer."
)

# What only the coordination may do (completed by `msg_coordination_only`).
UNLOCK_BOOKLET = "débloquer un carnet"
NUDGE_JOURNEY = "relancer un parcours"
REORIENT_JOURNEY = "réorienter un parcours"


def msg_lost_in_future(day: date) -> str:
    return f"La date de la perte ({format_date_fr(day)}) ne peut pas être dans le futur."


def msg_lost_before_issue(booklet_number: int, issued_on: date) -> str:
    return (
        f"Le carnet n° {booklet_number} n'a été remis que le {format_date_fr(issued_on)} : "
        "la perte ne peut pas être antérieure."
    )


def msg_not_the_current_booklet(booklet_number: int, current: int) -> str:
    return (
        f"Le carnet n° {booklet_number} n'est pas celui que la personne détient "
        f"(carnet n° {current}) : il a déjà été déclaré perdu et remplacé, ou n'est pas le "
        "sien. Rechargez la page du parcours."
    )


def msg_coordination_only(what: str) -> str:
    return f"Seule la coordination peut {what}."


def msg_booklet_exists(booklet_number: int, millesime: int | None) -> str:
    return (
        f"Un carnet a déjà été remis pour ce parcours (carnet n° {booklet_number}, "
        f"millésime {millesime})."
    )


def msg_millesime_out_of_circulation(millesime: int, this_year: int) -> str:
    return (
        f"Le millésime {millesime} n'est pas en circulation : "
        f"choisissez {this_year} ou {this_year + 1}."
    )


def msg_millesime_ending(millesime: int, last_day: date, stop_days: int, stop: date) -> str:
    return (
        f"Les chèques du millésime {millesime} ne sont valables que jusqu'au "
        f"{format_date_fr(last_day)} : leur distribution s'arrête "
        f"{stop_days} jours avant, le {format_date_fr(stop)}. "
        "Remettez un carnet d'un millésime plus récent."
    )


def msg_session_in_future(day: date) -> str:
    return (
        f"La séance du {format_date_fr(day)} est dans le futur : "
        "enregistrez-la une fois qu'elle a eu lieu."
    )


def msg_session_duration(max_minutes: int) -> str:
    return f"La durée d'une séance va de 1 à {max_minutes} minutes."


def msg_impossible_transition(source: Stage, target: Stage) -> str:
    return f"Transition impossible : {source.label} → {target.label}."


# ---- refusals of the API's own checks (api/journey_service.py, api/cheque_service.py, routes) ----


def msg_possible_duplicate(criteria_labels: list[str]) -> str:
    return (
        "Cette personne a peut-être déjà un parcours dans le programme ("
        + ", ".join(criteria_labels)
        + "). Vérifiez qu'il ne s'agit pas de la même personne ; pour l'orienter quand même, "
        'renvoyez la demande avec "confirm_possible_duplicate": true.'
    )


def msg_second_booklet_not_allowed(millesime: int) -> str:
    return (
        f"Cette personne a déjà reçu un carnet du millésime {millesime} dans un autre "
        "parcours : un second carnet ne peut être remis qu'avec l'accord de la "
        "coordination du programme (page du parcours, « Autoriser un second carnet »)."
    )


MSG_NO_SECOND_BOOKLET_TO_ALLOW = (
    "Un carnet a déjà été remis pour ce parcours, ou il est clôturé : il n'y a "
    "pas de second carnet à autoriser."
)
MSG_SESSION_KEY_REUSED = (
    "Cette séance a déjà été enregistrée avec d'autres valeurs (même identifiant ou "
    "même clé d'idempotence) : rien n'a été modifié."
)
MSG_ACCOUNT_NOT_FOUND = "Compte introuvable."
MSG_TOKEN_NOT_FOUND = "Jeton introuvable."


def msg_cheque_code(serial: str, problem: str) -> str:
    """A security code typed for cheque `serial` that cannot be one (`problem`)."""
    return f"Chèque {serial} : {problem}"


MSG_IDEMPOTENCY_KEY_REQUIRED_FOR_REFERRAL = (
    "L'en-tête Idempotency-Key est obligatoire pour orienter une personne."
)


# ---- booklet stock and the programme's period ----

MSG_STOCK_RANGE_ORDER = (
    "La plage de carnets est invalide : le premier numéro doit être au moins 1 et ne pas "
    "dépasser le dernier."
)


def msg_stock_range_too_large(most: int) -> str:
    return f"Une plage ne peut pas dépasser {format_count(most)} carnets."


def msg_stock_range_overlaps(first: int, last: int) -> str:
    return (
        f"Ces numéros recouvrent la plage de carnets n° {first} à {last} déjà confiée à une "
        "structure."
    )


def msg_stock_number_in_use(number: int) -> str:
    return f"Le carnet n° {number} de cette plage a déjà été remis."


def msg_stock_empty(millesime: int) -> str:
    return (
        f"Votre structure n'a plus de carnet du millésime {millesime} en stock : "
        "demandez-en à la coordination du programme."
    )


def msg_programme_not_started(name: str, starts_on: date) -> str:
    return f"Le programme {name} commence le {format_date_fr(starts_on)}."


def msg_programme_ended(name: str, ends_on: date) -> str:
    return (
        f"Le programme {name} s'est terminé le {format_date_fr(ends_on)} : il ne prend plus "
        "de nouvelles orientations ni de remises de carnet."
    )


def msg_millesime_not_offered(millesime: int, offered: tuple[int, ...]) -> str:
    if not offered:
        return f"Aucun carnet ne peut être remis aujourd'hui (millésime {millesime} demandé)."
    choices = " ou ".join(str(m) for m in offered)
    return f"Le millésime {millesime} n'est pas proposé aujourd'hui : choisissez {choices}."


# ---- reimbursement statements (records/statements.py, api/statement_service.py) ----

MSG_STATEMENT_NOT_FOUND = "Relevé de remboursement introuvable."
MSG_STATEMENTS_COORDINATION_ONLY = (
    "Seule la coordination de tout le programme valide les relevés et enregistre leur paiement."
)
MSG_PAYLOADS_COORDINATION_ONLY = (
    "Seule la coordination de tout le programme peut lire les historiques Temporal déchiffrés."
)
MSG_PAYLOAD_UNREADABLE = (
    "Une donnée Temporal ne se déchiffre pas : clé inconnue (PASSNUM_PAYLOAD_PREVIOUS_KEYS) "
    "ou donnée altérée."
)
MSG_PAYLOAD_NOT_BASE64 = "Une donnée Temporal n'est pas en base64."
MSG_STATEMENT_BUSY = "Le relevé est en cours de préparation : réessayez dans un instant."
MSG_PAYMENT_REFERENCE_MISSING = "Indiquez la référence du paiement (virement, mandat…)."


def msg_statement_not_draft(number: str, status_label: str) -> str:
    return (
        f"Le relevé {number} n'est plus un brouillon (état : {status_label}) : "
        "il ne peut plus être validé ni mis à jour."
    )


def msg_statement_not_issued(number: str, status_label: str) -> str:
    return (
        f"Le paiement du relevé {number} ne peut pas être enregistré (état : {status_label}) : "
        "un relevé se paie une fois, après sa validation."
    )


def msg_statement_changed(number: str) -> str:
    return (
        f"Le relevé {number} a été mis à jour depuis son affichage (chèques arrivés en retard) : "
        "vérifiez-le à nouveau avant de le valider."
    )


def msg_payment_before_validation(validated_on: date) -> str:
    return (
        "La date du paiement ne peut pas précéder la validation du relevé "
        f"({format_date_fr(validated_on)})."
    )


def msg_payment_in_future(today: date) -> str:
    return (
        "La date du paiement ne peut pas être dans le futur "
        f"(nous sommes le {format_date_fr(today)})."
    )


def msg_policy_missing(label: str) -> str:
    return f"{label} : indiquez une valeur."


def msg_policy_out_of_bounds(label: str, low: int, high: int, unit: str, value: int) -> str:
    return f"{label} : entre {low} et {high} {unit}, pas {value}."


def msg_policy_reminder_too_late(label: str, reminder: int, deadline: int) -> str:
    return (
        f"{label} : la relance doit venir avant l'échéance ({deadline} jours), "
        f"pas à {reminder} jours."
    )


def msg_policy_frozen(label: str) -> str:
    return (
        f"{label} : ne peut plus changer, des chèques ont déjà été émis avec la valeur "
        "actuelle (ils la portent, et les relevés et le grand livre s'en servent)."
    )


MSG_POLICY_REFUSED = "Ces règles ne peuvent pas être enregistrées : corrigez les valeurs signalées."
