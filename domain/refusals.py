"""Why a cheque or a request is refused, with the French message shown to the user.

One place for every refusal message, used by the workflow validators and the API alike.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from enum import StrEnum

from domain.validity import format_date_fr


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
