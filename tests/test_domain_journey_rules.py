"""The journey's rules without a server: each check's refusal (kind and French message),
the default stall calendar, and what the steps do to a status (domain/journey_rules.py,
domain/journey_steps.py)."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

import pytest

from domain import journey_rules as rules
from domain import journey_steps as steps
from domain.contracts import (
    SYSTEM,
    Actor,
    AssessmentRequest,
    BookletRequest,
    ChequeRefusalDetails,
    ChequeState,
    JourneyStatus,
    LockBookletRequest,
    NudgeRequest,
    OrientationAnswer,
    OrientationState,
    OrientRequest,
    SessionRequest,
    UnlockBookletRequest,
    WithdrawRequest,
)
from domain.deadlines import Due, Job, next_due, pending_jobs
from domain.needs import (
    AssessmentKind,
    AssessmentTool,
    AutonomyLevel,
    SessionKind,
    SessionPlace,
    Theme,
)
from domain.notices import NoticeKind, Recipient
from domain.policy import JourneyPolicy, StageDeadline
from domain.refusals import RefusalKind, Refused
from domain.serials import booklet_serials
from domain.stages import (
    Action,
    ChequeStatus,
    DeclineReason,
    OrientationStatus,
    Outcome,
    Role,
    Stage,
)
from domain.validity import valid_until
from tests.fixtures.temporal import COORDINATOR, MEDIATOR, REFERRER, paris

POLICY = JourneyPolicy()
NOW = paris(2026, 11, 30)
ADMIN = Actor(Role.ADMINISTRATOR, "admin-1")


def _status(stage: Stage = Stage.REFERRED, *, booklet: bool = False) -> JourneyStatus:
    status = JourneyStatus(
        journey_id="j",
        programme_code=12,
        epci_id=1,
        reception_structure_id=1,
        referrer=REFERRER,
        stage=stage,
        stage_dates={stage: NOW - timedelta(days=3)},
        last_activity_at=NOW - timedelta(days=3),
    )
    if booklet:
        status.millesime, status.booklet_number = 2026, 4
        status.valid_until = valid_until(2026)
        status.cheques = [
            ChequeState(s.digits, s.cheque_number, ChequeStatus.ISSUED)
            for s in booklet_serials(12, 2026, 4, 3)
        ]
    return status


def _pending(status: JourneyStatus, structure: int = 7) -> OrientationState:
    status.stage = Stage.ORIENTED
    status.orientation = OrientationState("o-1", structure, OrientationStatus.PENDING, NOW)
    return status.orientation


def _assessment(kind: AssessmentKind = AssessmentKind.ENTRY, needs: bool = True) -> Any:
    themes = [Theme.EMAIL] if needs else []
    return AssessmentRequest(REFERRER, kind, AssessmentTool.PIX, AutonomyLevel.BEGINNER, themes)


def _session(status: JourneyStatus, **change: Any) -> SessionRequest:
    fields: dict[str, Any] = {
        "actor": MEDIATOR,
        "session_id": "s-1",
        "mediation_structure_id": 7,
        "day": date(2026, 11, 30),
        "duration_minutes": 90,
        "kind": SessionKind.INDIVIDUAL,
        "place": SessionPlace.ON_SITE,
        "themes": [Theme.EMAIL],
        "equipment": [],
        "autonomy_observed": None,
        "serials": [status.cheques[0].serial] if status.cheques else [],
    }
    return SessionRequest(**(fields | change))


def _refused(
    check: rules.Check, status: JourneyStatus, req: object, now: datetime = NOW
) -> Refused:
    with pytest.raises(Refused) as caught:
        check(status, POLICY, req, now)
    return caught.value


# ---- each refusal: its kind and its message ----

WRONG_STAGES = [
    (
        rules.check_assess,
        Stage.BOOKLET_ISSUED,
        _assessment(),
        "Le diagnostic initial se fait avant la remise du carnet (étape actuelle : Carnet remis).",
    ),
    (
        rules.check_assess,
        Stage.ASSESSED,
        _assessment(AssessmentKind.EXIT),
        "Le diagnostic de sortie se fait en formation ou après la clôture du parcours "
        "(étape actuelle : Diagnostic réalisé).",
    ),
    (
        rules.check_booklet,
        Stage.REFERRED,
        BookletRequest(REFERRER, 2026),
        "Le carnet se remet après le diagnostic initial "
        "(étape actuelle : Orienté vers le dispositif).",
    ),
    (
        rules.check_orient,
        Stage.ASSESSED,
        OrientRequest(REFERRER, 7),
        "L'orientation vers une structure de médiation se fait une fois le carnet remis "
        "(étape actuelle : Diagnostic réalisé).",
    ),
    (
        rules.check_answer,
        Stage.BOOKLET_ISSUED,
        OrientationAnswer(MEDIATOR, 7, True),
        "Aucune orientation n'attend de réponse pour ce parcours (étape actuelle : Carnet remis).",
    ),
    (
        rules.check_lock,
        Stage.ASSESSED,
        LockBookletRequest(SYSTEM, 3),
        "Aucun carnet en cours d'utilisation à bloquer (étape actuelle : Diagnostic réalisé).",
    ),
    (
        rules.check_withdraw,
        Stage.CLOSED,
        WithdrawRequest(REFERRER, "Déménagement"),
        "Ce parcours est déjà clôturé (étape actuelle : Parcours clôturé).",
    ),
    (
        rules.check_nudge,
        Stage.CLOSED,
        NudgeRequest(COORDINATOR),
        "Ce parcours est clôturé : il n'y a personne à relancer "
        "(étape actuelle : Parcours clôturé).",
    ),
    (
        rules.check_reorient,
        Stage.ASSESSED,
        OrientRequest(COORDINATOR, 7, "Trop loin"),
        "La réorientation est possible une fois le carnet remis, parcours ouvert "
        "(étape actuelle : Diagnostic réalisé).",
    ),
]


@pytest.mark.parametrize(("check", "stage", "req", "message"), WRONG_STAGES)
def test_a_request_at_the_wrong_stage_names_the_current_one(
    check: rules.Check, stage: Stage, req: object, message: str
) -> None:
    refused = _refused(check, _status(stage), req)
    assert (refused.kind, refused.message, refused.details) == (
        RefusalKind.WRONG_STAGE,
        message,
        (),
    )


def test_a_session_before_any_booklet_is_at_the_wrong_stage() -> None:
    refused = _refused(rules.check_session, _status(Stage.ASSESSED), _session(_status()))
    assert refused.kind == RefusalKind.WRONG_STAGE
    assert refused.message == (
        "Aucun carnet n'a encore été remis : aucune séance ne peut être payée en chèques "
        "(étape actuelle : Diagnostic réalisé)."
    )


INVALID_INPUTS = [
    (
        rules.check_assess,
        _assessment(needs=False),
        "Choisissez au moins un besoin pour le diagnostic.",
    ),
    (
        rules.check_withdraw,
        WithdrawRequest(REFERRER, "  "),
        "Indiquez le motif de la sortie du dispositif.",
    ),
]


@pytest.mark.parametrize(("check", "req", "message"), INVALID_INPUTS)
def test_invalid_input_is_refused(check: rules.Check, req: object, message: str) -> None:
    refused = _refused(check, _status(Stage.REFERRED), req)
    assert (refused.kind, refused.message) == (RefusalKind.INVALID_INPUT, message)


def test_booklet_refusals() -> None:
    status = _status(Stage.ASSESSED)
    refused = _refused(rules.check_booklet, status, BookletRequest(REFERRER, 2028))
    assert (refused.kind, refused.message) == (
        RefusalKind.INVALID_INPUT,
        "Le millésime 2028 n'est pas en circulation : choisissez 2026 ou 2027.",
    )
    # 2026's cheques are valid to 31/01/2027: none handed out from 02/01/2027 (30 days before).
    refused = _refused(
        rules.check_booklet, status, BookletRequest(REFERRER, 2026), paris(2027, 1, 5)
    )
    assert (refused.kind, refused.message) == (
        RefusalKind.MILLESIME_ENDING,
        "Les chèques du millésime 2026 ne sont valables que jusqu'au 31/01/2027 : leur "
        "distribution s'arrête 30 jours avant, le 02/01/2027. Remettez un carnet d'un "
        "millésime plus récent.",
    )
    rules.check_booklet(status, POLICY, BookletRequest(REFERRER, 2026), paris(2027, 1, 1))
    issued = _status(Stage.BOOKLET_ISSUED, booklet=True)
    refused = _refused(rules.check_booklet, issued, BookletRequest(REFERRER, 2026))
    assert (refused.kind, refused.message) == (
        RefusalKind.BOOKLET_EXISTS,
        "Un carnet a déjà été remis pour ce parcours (carnet n° 4, millésime 2026).",
    )


def test_orientation_answer_refusals() -> None:
    status = _status(booklet=True)
    _pending(status, structure=7)
    refused = _refused(rules.check_answer, status, OrientationAnswer(MEDIATOR, 8, True))
    assert (refused.kind, refused.message) == (
        RefusalKind.WRONG_STRUCTURE,
        "Cette orientation a été adressée à une autre structure.",
    )
    refused = _refused(rules.check_answer, status, OrientationAnswer(MEDIATOR, 7, False))
    assert (refused.kind, refused.message) == (
        RefusalKind.INVALID_INPUT,
        "Indiquez le motif du refus de l'orientation.",
    )
    rules.check_answer(status, POLICY, OrientationAnswer(MEDIATOR, 7, True), NOW)


def test_orient_needs_a_known_structure() -> None:
    refused = _refused(
        rules.check_orient, _status(Stage.BOOKLET_ISSUED), OrientRequest(REFERRER, 0)
    )
    assert (refused.kind, refused.message) == (
        RefusalKind.INVALID_INPUT,
        "Structure de médiation inconnue.",
    )


def test_session_refusals() -> None:
    status = _status(Stage.BOOKLET_ISSUED, booklet=True)
    cases = [
        (_session(status, session_id=""), "Identifiant de séance manquant."),
        (_session(status, mediation_structure_id=-1), "Structure de médiation inconnue."),
        (
            _session(status, day=date(2026, 12, 1)),
            "La séance du 01/12/2026 est dans le futur : enregistrez-la une fois qu'elle a eu lieu.",
        ),
        (_session(status, duration_minutes=0), "La durée d'une séance va de 1 à 480 minutes."),
        (_session(status, serials=[]), "Saisissez au moins un numéro de chèque."),
    ]
    for req, message in cases:
        refused = _refused(rules.check_session, status, req)
        assert (refused.kind, refused.message) == (RefusalKind.INVALID_INPUT, message)
    status.cheques[0].status = ChequeStatus.REDEEMED
    refused = _refused(rules.check_session, status, _session(status))
    assert refused.kind == RefusalKind.CHEQUES_REFUSED
    assert "a déjà été encaissé" in refused.message
    (details,) = refused.details
    assert isinstance(details, ChequeRefusalDetails)
    assert [v.accepted for v in details.verdicts] == [False]


def test_a_session_already_recorded_is_answered_not_refused() -> None:
    status = _status(Stage.IN_TRAINING, booklet=True)
    req = _session(status)
    steps.log_session(status, req, [status.cheques[0].serial], NOW)
    rules.check_session(status, POLICY, req, NOW)  # the cheque is spent, by this session


def test_only_the_coordination_nudges_reorients_and_unlocks() -> None:
    status = _status(Stage.IN_TRAINING, booklet=True)
    status.booklet_locked_at = NOW
    cases: list[tuple[rules.Check, Any, str]] = [
        (rules.check_nudge, NudgeRequest(REFERRER), "relancer un parcours"),
        (rules.check_reorient, OrientRequest(MEDIATOR, 8, "x"), "réorienter un parcours"),
        (rules.check_unlock, UnlockBookletRequest(MEDIATOR), "débloquer un carnet"),
    ]
    for check, req, what in cases:
        refused = _refused(check, status, req)
        assert (refused.kind, refused.message) == (
            RefusalKind.FORBIDDEN,
            f"Seule la coordination peut {what}.",
        )
        check(status, POLICY, type(req)(**(vars(req) | {"actor": ADMIN})), NOW)


def test_lock_and_unlock_refusals() -> None:
    status = _status(Stage.IN_TRAINING, booklet=True)
    refused = _refused(rules.check_lock, status, LockBookletRequest(COORDINATOR, 3))
    assert (refused.kind, refused.message) == (
        RefusalKind.FORBIDDEN,
        "Seul passnum bloque un carnet (codes de sécurité erronés).",
    )
    refused = _refused(rules.check_unlock, status, UnlockBookletRequest(COORDINATOR))
    assert (refused.kind, refused.message) == (
        RefusalKind.CONFLICT,
        "Le carnet de ce parcours n'est pas bloqué.",
    )


def test_reorientation_refusals() -> None:
    status = _status(booklet=True)
    _pending(status, structure=7)
    refused = _refused(rules.check_reorient, status, OrientRequest(COORDINATOR, 8, " "))
    assert (refused.kind, refused.message) == (
        RefusalKind.INVALID_INPUT,
        "Indiquez le motif de la réorientation.",
    )
    refused = _refused(rules.check_reorient, status, OrientRequest(COORDINATOR, 7, "Trop loin"))
    assert (refused.kind, refused.message) == (
        RefusalKind.INVALID_INPUT,
        "Le parcours est déjà orienté vers cette structure de médiation.",
    )
    rules.check_reorient(status, POLICY, OrientRequest(COORDINATOR, 8, "Trop loin"), NOW)


def test_an_impossible_move_is_a_conflict() -> None:
    status = _status(Stage.REFERRED)
    with pytest.raises(Refused) as caught:
        steps.move(status, Stage.IN_TRAINING, NOW)
    assert (caught.value.kind, caught.value.message) == (
        RefusalKind.CONFLICT,
        "Transition impossible : Orienté vers le dispositif → En formation.",
    )
    assert status.stage == Stage.REFERRED


# ---- the stall calendar ----

DEFAULT_DEADLINES = {
    Stage.REFERRED: (10, 20),
    Stage.ASSESSED: (10, 20),
    Stage.BOOKLET_ISSUED: (10, 20),
    Stage.ORIENTED: (10, 30),
    Stage.IN_TRAINING: (30, 60),
}


def test_default_stage_deadlines() -> None:
    assert {
        stage: (d.reminder_days, d.stalled_days) for stage, d in POLICY.stage_deadlines.items()
    } == DEFAULT_DEADLINES
    assert (POLICY.orientation_reminder_days, POLICY.orientation_expiry_days) == (10, 30)


def test_an_assessed_journey_stalls_20_days_after_its_assessment() -> None:
    """The social worker is reminded after 10 days without a booklet, and the journey is
    flagged stalled, coordinators told, after 20."""
    status = _status(Stage.ASSESSED)
    base = status.last_activity_at
    assert base is not None
    assert POLICY.deadline(Stage.ASSESSED) == StageDeadline(reminder_days=10, stalled_days=20)
    assert [(d.job, d.at - base, d.days) for d in pending_jobs(status, POLICY)] == [
        (Job.STAGE_REMINDER, timedelta(days=10), 10),
        (Job.STALL, timedelta(days=20), 20),
    ]
    steps.run_job(status, POLICY, Due(base + timedelta(days=10), Job.STAGE_REMINDER, 10), NOW)
    due = next_due(status, POLICY)
    assert due == Due(base + timedelta(days=20), Job.STALL, 20)
    change = steps.run_job(status, POLICY, due, base + timedelta(days=20))
    assert status.stalled and status.stalled_since == base + timedelta(days=20)
    assert status.stalled_reason == "Aucun carnet remis 20 jours après le diagnostic"
    assert (change.action, change.reason, change.detail) == (
        Action.STALLED,
        "Aucun carnet remis 20 jours après le diagnostic",
        {"days": "20"},
    )
    assert change.notices == [(NoticeKind.JOURNEY_STALLED, Recipient.COORDINATORS)]
    assert next_due(status, POLICY) is None


STALL_REASONS = {
    Stage.REFERRED: "Aucun diagnostic 20 jours après l'orientation",
    Stage.ASSESSED: "Aucun carnet remis 20 jours après le diagnostic",
    Stage.BOOKLET_ISSUED: "Aucune orientation ni séance 20 jours après la dernière action",
    Stage.ORIENTED: "Orientation restée sans réponse 20 jours",
    Stage.IN_TRAINING: "Aucune séance depuis 20 jours",
}


@pytest.mark.parametrize("stage", list(STALL_REASONS))
def test_stall_reasons(stage: Stage) -> None:
    assert rules.stall_reason(stage, 20) == STALL_REASONS[stage]


def test_an_unanswered_orientation_expires_and_stalls_the_journey() -> None:
    status = _status(booklet=True)
    orientation = _pending(status)
    due = Due(NOW + timedelta(days=30), Job.ORIENTATION_EXPIRY, 30)
    change = steps.run_job(status, POLICY, due, due.at)
    assert orientation.status == OrientationStatus.EXPIRED
    assert status.stage == Stage.BOOKLET_ISSUED and status.stalled
    assert change.reason == status.stalled_reason == "Orientation restée sans réponse 30 jours"
    assert change.from_stage == Stage.ORIENTED


# ---- steps: what a change does to the status ----


def test_the_last_session_spends_its_cheques_and_closing_cancels_nothing_left() -> None:
    status = _status(Stage.ORIENTED, booklet=True)
    _pending(status, structure=7)
    serials = [c.serial for c in status.cheques]
    session, change, left = steps.log_session(
        status, _session(status, serials=serials), serials, NOW
    )
    assert left is None  # the structure awaited logged it: the orientation is accepted
    assert status.orientation is not None
    assert status.orientation.status == OrientationStatus.ACCEPTED
    assert status.stage == Stage.IN_TRAINING and status.cheques_left == 0
    assert {c.status for c in status.cheques} == {ChequeStatus.REDEEMED}
    assert session.serials == serials and change.action == Action.SESSION_LOGGED
    closed = steps.close(status, Outcome.COMPLETED, ChequeStatus.CANCELLED, NOW)
    assert (status.stage, status.outcome) == (Stage.CLOSED, Outcome.COMPLETED)
    assert closed.detail == {"outcome": "COMPLETED"} and closed.structure == 7


def test_a_session_elsewhere_is_a_change_of_structure() -> None:
    status = _status(Stage.ORIENTED, booklet=True)
    _pending(status, structure=7)
    serial = status.cheques[0].serial
    _, change, left = steps.log_session(
        status, _session(status, mediation_structure_id=9), [serial], NOW
    )
    assert left == 7 and status.mediation_structure_id == 9
    assert status.orientation is not None
    assert status.orientation.status == OrientationStatus.CANCELLED
    assert change.detail["extra_action"] == Action.MEDIATOR_CHANGED.value
    assert change.notices == []  # told only under the workflow's patch
    steps.tell_structure_change(change, left)
    assert change.notices == [(NoticeKind.MEDIATOR_CHANGED, Recipient.MEDIATION_STRUCTURE)]
    assert change.structure == 7


@pytest.mark.parametrize(
    ("outcome", "unspent"),
    [(Outcome.EXPIRED, ChequeStatus.EXPIRED), (Outcome.WITHDRAWN, ChequeStatus.CANCELLED)],
)
def test_closing_settles_unspent_cheques_and_a_pending_orientation(
    outcome: Outcome, unspent: ChequeStatus
) -> None:
    status = _status(booklet=True)
    orientation = _pending(status, structure=7)
    status.cheques[0].status = ChequeStatus.REDEEMED
    status.stalled, status.stalled_reason = True, "x"
    if outcome == Outcome.WITHDRAWN:
        change = steps.withdraw(status, WithdrawRequest(REFERRER, " Déménagement "), NOW)
        assert (change.action, change.reason) == (Action.WITHDRAWN, "Déménagement")
    else:
        due = Due(status.valid_until or NOW, Job.CHEQUES_EXPIRY)
        change = steps.run_job(status, POLICY, due, due.at)
        assert change.detail == {"outcome": "EXPIRED", "cheques_expired": "2"}
    assert change.from_stage == Stage.ORIENTED and change.structure == 7
    assert [c.status for c in status.cheques] == [ChequeStatus.REDEEMED, unspent, unspent]
    assert orientation.status == OrientationStatus.CANCELLED
    assert (status.stage, status.outcome, status.stalled) == (Stage.CLOSED, outcome, False)


def test_declining_an_orientation_sends_the_journey_back() -> None:
    status = _status(booklet=True)
    orientation = _pending(status, structure=7)
    answer = OrientationAnswer(MEDIATOR, 7, False, DeclineReason.TOO_FAR)
    change = steps.answer_orientation(status, answer, NOW)
    assert orientation.status == OrientationStatus.DECLINED
    assert status.stage == Stage.BOOKLET_ISSUED
    assert change.reason == DeclineReason.TOO_FAR.label
    assert change.notices == [(NoticeKind.ORIENTATION_DECLINED, Recipient.REFERRER)]
