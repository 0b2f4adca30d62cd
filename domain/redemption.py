"""Whether the cheques typed for a session may be redeemed on a journey: one verdict each.

Pure function over the journey's live status, shared by the workflow's `log_session`
validator and the API (which adds what only the database knows: unknown serials,
the structure's qualification on the session day).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

from domain.contracts import ChequeState, JourneyStatus, LostBooklet
from domain.refusals import (
    ChequeRefusal,
    ChequeVerdict,
    accept,
    msg_already_redeemed,
    msg_booklet_locked,
    msg_cancelled,
    msg_declared_lost,
    msg_duplicate,
    msg_expired,
    msg_journey_closed,
    msg_not_yet_valid,
    msg_other_beneficiary,
    msg_other_programme,
    refuse,
)
from domain.serials import SerialError, parse_serial
from domain.stages import ChequeStatus
from domain.validity import last_day_before, paris_day


def last_valid_day_of(status: JourneyStatus) -> date | None:
    """Last Europe/Paris day on which the journey's cheques may be spent."""
    return last_day_before(status.valid_until) if status.valid_until else None


def lost_booklet_of(status: JourneyStatus, booklet_number: int) -> LostBooklet | None:
    """The journey's booklet `booklet_number` if it was declared lost and replaced."""
    return next((b for b in status.lost_booklets if b.booklet_number == booklet_number), None)


def check_cheques(status: JourneyStatus, serials: Sequence[str], day: date) -> list[ChequeVerdict]:
    """One verdict per typed serial, in the order typed, for a session held on `day`.

    A verdict's `serial` is the canonical digits when the text parses, else the text as
    typed. Refusals, first match wins: malformed / check digit, another programme,
    typed twice, not in this journey's booklet, its booklet declared lost ("déclaré perdu
    le …"), booklet locked (wrong security codes), already redeemed, expired, journey closed, cancelled, after the last valid day, before
    the millésime. Security codes are checked before this, where they are kept (the API,
    against the records): the workflow never sees them.
    """
    held: dict[str, ChequeState] = {c.serial: c for c in status.cheques}
    last_day = last_valid_day_of(status)
    seen: set[str] = set()
    verdicts: list[ChequeVerdict] = []
    for text in serials:
        try:
            parsed = parse_serial(text)
        except SerialError as err:
            verdicts.append(refuse(text.strip(), ChequeRefusal(err.code), err.message))
            continue
        digits, shown = parsed.digits, parsed.display
        cheque = held.get(digits)
        if parsed.programme_code != status.programme_code:
            verdict = refuse(digits, ChequeRefusal.OTHER_PROGRAMME, msg_other_programme(shown))
        elif digits in seen:
            verdict = refuse(digits, ChequeRefusal.DUPLICATE_IN_REQUEST, msg_duplicate(shown))
        elif cheque is None:
            verdict = refuse(digits, ChequeRefusal.OTHER_BENEFICIARY, msg_other_beneficiary(shown))
        elif cheque.status == ChequeStatus.CANCELLED and (
            lost := lost_booklet_of(status, parsed.booklet_number)
        ):
            verdict = refuse(
                digits,
                ChequeRefusal.DECLARED_LOST,
                msg_declared_lost(shown, lost.lost_on, lost.reason),
            )
        elif status.booklet_locked_at is not None:
            verdict = refuse(
                digits,
                ChequeRefusal.BOOKLET_LOCKED,
                msg_booklet_locked(shown, paris_day(status.booklet_locked_at)),
            )
        elif cheque.status in (ChequeStatus.REDEEMED, ChequeStatus.REIMBURSED):
            verdict = refuse(
                digits,
                ChequeRefusal.ALREADY_REDEEMED,
                msg_already_redeemed(shown, cheque.redeemed_on),
            )
        elif cheque.status == ChequeStatus.EXPIRED:
            verdict = refuse(digits, ChequeRefusal.EXPIRED, msg_expired(shown, last_day or day))
        elif not status.stage.is_open:
            verdict = refuse(digits, ChequeRefusal.JOURNEY_CLOSED, msg_journey_closed())
        elif cheque.status == ChequeStatus.CANCELLED:
            verdict = refuse(digits, ChequeRefusal.CANCELLED, msg_cancelled(shown))
        elif last_day is not None and day > last_day:
            verdict = refuse(digits, ChequeRefusal.EXPIRED, msg_expired(shown, last_day))
        elif day < date(parsed.millesime, 1, 1):
            verdict = refuse(
                digits, ChequeRefusal.NOT_YET_VALID, msg_not_yet_valid(shown, parsed.millesime)
            )
        else:
            verdict = accept(digits)
        seen.add(digits)
        verdicts.append(verdict)
    return verdicts


def refusal_summary(verdicts: Sequence[ChequeVerdict]) -> str:
    """The top-level French message of a refused session: the first refused cheque and its
    reason, and how many others are refused (each has its own reason in the details)."""
    refused = [v for v in verdicts if not v.accepted]
    if not refused:
        return "Séance non enregistrée."
    first = refused[0].message or f"Le chèque {refused[0].serial} est refusé."
    others = len(refused) - 1
    tail = ""
    if others == 1:
        tail = " Un autre chèque est aussi refusé : voir le détail."
    elif others > 1:
        tail = f" {others} autres chèques sont aussi refusés : voir le détail."
    return f"Séance non enregistrée. {first}{tail}"
