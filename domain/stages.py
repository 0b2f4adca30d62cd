"""Journey stages, outcomes and the table of allowed transitions (DESIGN.md §3)."""

from __future__ import annotations

from domain.labels import Labelled, labels


class Stage(Labelled):
    REFERRED = "REFERRED"
    ASSESSED = "ASSESSED"
    BOOKLET_ISSUED = "BOOKLET_ISSUED"
    ORIENTED = "ORIENTED"
    IN_TRAINING = "IN_TRAINING"
    CLOSED = "CLOSED"
    ANONYMISED = "ANONYMISED"

    @property
    def is_open(self) -> bool:
        return self not in (Stage.CLOSED, Stage.ANONYMISED)


STAGE_LABELS = labels(
    Stage,
    {
        Stage.REFERRED: "Orienté vers le dispositif",
        Stage.ASSESSED: "Diagnostic réalisé",
        Stage.BOOKLET_ISSUED: "Carnet remis",
        Stage.ORIENTED: "Orientation en attente",
        Stage.IN_TRAINING: "En formation",
        Stage.CLOSED: "Parcours clôturé",
        Stage.ANONYMISED: "Anonymisé",
    },
)


class Outcome(Labelled):
    COMPLETED = "COMPLETED"
    EXPIRED = "EXPIRED"
    WITHDRAWN = "WITHDRAWN"


OUTCOME_LABELS = labels(
    Outcome,
    {
        Outcome.COMPLETED: "Tous les chèques utilisés",
        Outcome.EXPIRED: "Chèques arrivés à expiration",
        Outcome.WITHDRAWN: "Sortie du dispositif",
    },
)


OPEN_STAGES = frozenset(s for s in Stage if s.is_open)

# Which stage may follow which. Withdrawal (to CLOSED) is allowed from every open stage.
TRANSITIONS: dict[Stage, frozenset[Stage]] = {
    Stage.REFERRED: frozenset({Stage.ASSESSED, Stage.CLOSED}),
    Stage.ASSESSED: frozenset({Stage.BOOKLET_ISSUED, Stage.CLOSED}),
    # A booklet holder may be oriented, or go straight to training with any qualified mediator.
    Stage.BOOKLET_ISSUED: frozenset({Stage.ORIENTED, Stage.IN_TRAINING, Stage.CLOSED}),
    # Declined or expired orientation goes back to be oriented again.
    Stage.ORIENTED: frozenset(
        {Stage.BOOKLET_ISSUED, Stage.ORIENTED, Stage.IN_TRAINING, Stage.CLOSED}
    ),
    # Coordinators may re-orient a trainee to another mediation structure.
    Stage.IN_TRAINING: frozenset({Stage.ORIENTED, Stage.IN_TRAINING, Stage.CLOSED}),
    Stage.CLOSED: frozenset({Stage.ANONYMISED}),
    Stage.ANONYMISED: frozenset(),
}


def can_move(current: Stage, target: Stage) -> bool:
    return target in TRANSITIONS[current]


class OrientationStatus(Labelled):
    PENDING = "PENDING"
    ACCEPTED = "ACCEPTED"
    DECLINED = "DECLINED"
    EXPIRED = "EXPIRED"
    CANCELLED = "CANCELLED"  # superseded by a coordinator's re-orientation


ORIENTATION_STATUS_LABELS = labels(
    OrientationStatus,
    {
        OrientationStatus.PENDING: "En attente de réponse",
        OrientationStatus.ACCEPTED: "Acceptée",
        OrientationStatus.DECLINED: "Refusée",
        OrientationStatus.EXPIRED: "Expirée sans réponse",
        OrientationStatus.CANCELLED: "Annulée (réorientation)",
    },
)


class DeclineReason(Labelled):
    NO_CAPACITY = "NO_CAPACITY"
    TOO_FAR = "TOO_FAR"
    NEEDS_NOT_COVERED = "NEEDS_NOT_COVERED"
    PERSON_UNREACHABLE = "PERSON_UNREACHABLE"
    PERSON_DECLINED = "PERSON_DECLINED"
    OTHER = "OTHER"


DECLINE_REASON_LABELS = labels(
    DeclineReason,
    {
        DeclineReason.NO_CAPACITY: "Plus de place disponible",
        DeclineReason.TOO_FAR: "Structure trop éloignée du domicile",
        DeclineReason.NEEDS_NOT_COVERED: "Besoins non couverts par nos ateliers",
        DeclineReason.PERSON_UNREACHABLE: "Personne injoignable",
        DeclineReason.PERSON_DECLINED: "La personne a renoncé",
        DeclineReason.OTHER: "Autre motif",
    },
)


class ChequeStatus(Labelled):
    ISSUED = "ISSUED"
    REDEEMED = "REDEEMED"
    REIMBURSED = "REIMBURSED"
    EXPIRED = "EXPIRED"
    CANCELLED = "CANCELLED"


CHEQUE_STATUS_LABELS = labels(
    ChequeStatus,
    {
        ChequeStatus.ISSUED: "Émis",
        ChequeStatus.REDEEMED: "Encaissé",
        ChequeStatus.REIMBURSED: "Remboursé",
        ChequeStatus.EXPIRED: "Expiré",
        ChequeStatus.CANCELLED: "Annulé",
    },
)


class LossReason(Labelled):
    """Why a booklet in the person's hands is replaced: a fixed list (free text would be
    personal data in the workflow's history)."""

    LOST = "LOST"
    STOLEN = "STOLEN"
    DAMAGED = "DAMAGED"


LOSS_REASON_LABELS = labels(
    LossReason,
    {
        LossReason.LOST: "Perdu",
        LossReason.STOLEN: "Volé",
        LossReason.DAMAGED: "Abîmé ou détruit",
    },
)


class Role(Labelled):
    SOCIAL_WORKER = "SOCIAL_WORKER"
    MEDIATOR = "MEDIATOR"
    COORDINATOR = "COORDINATOR"
    ADMINISTRATOR = "ADMINISTRATOR"
    SYSTEM = "SYSTEM"


ROLE_LABELS = labels(
    Role,
    {
        Role.SOCIAL_WORKER: "Travailleur social",
        Role.MEDIATOR: "Médiateur numérique",
        Role.COORDINATOR: "Coordination",
        Role.ADMINISTRATOR: "Administration",
        Role.SYSTEM: "passnum",
    },
)


class Action(Labelled):
    """What a transition-log entry records."""

    REFERRED = "REFERRED"
    ASSESSED = "ASSESSED"
    EXIT_ASSESSED = "EXIT_ASSESSED"
    BOOKLET_ISSUED = "BOOKLET_ISSUED"
    ORIENTED = "ORIENTED"
    ORIENTATION_ACCEPTED = "ORIENTATION_ACCEPTED"
    ORIENTATION_DECLINED = "ORIENTATION_DECLINED"
    ORIENTATION_REMINDED = "ORIENTATION_REMINDED"
    ORIENTATION_EXPIRED = "ORIENTATION_EXPIRED"
    REORIENTED = "REORIENTED"
    MEDIATOR_CHANGED = "MEDIATOR_CHANGED"
    SESSION_LOGGED = "SESSION_LOGGED"
    STAGE_REMINDED = "STAGE_REMINDED"
    STALLED = "STALLED"
    NUDGED = "NUDGED"
    EXPIRY_WARNED = "EXPIRY_WARNED"
    CLOSED = "CLOSED"
    WITHDRAWN = "WITHDRAWN"
    ANONYMISED = "ANONYMISED"
    BOOKLET_LOCKED = "BOOKLET_LOCKED"
    BOOKLET_UNLOCKED = "BOOKLET_UNLOCKED"
    BOOKLET_LOST = "BOOKLET_LOST"
    ERASURE_REQUESTED = "ERASURE_REQUESTED"


ACTION_LABELS = labels(
    Action,
    {
        Action.REFERRED: "Orientation vers le Pass numérique",
        Action.ASSESSED: "Diagnostic initial",
        Action.EXIT_ASSESSED: "Diagnostic de sortie",
        Action.BOOKLET_ISSUED: "Remise du carnet de chèques",
        Action.ORIENTED: "Orientation vers une structure de médiation",
        Action.ORIENTATION_ACCEPTED: "Orientation acceptée",
        Action.ORIENTATION_DECLINED: "Orientation refusée",
        Action.ORIENTATION_REMINDED: "Relance de l'orientation",
        Action.ORIENTATION_EXPIRED: "Orientation expirée sans réponse",
        Action.REORIENTED: "Réorientation",
        Action.MEDIATOR_CHANGED: "Changement de structure de médiation",
        Action.SESSION_LOGGED: "Séance de formation",
        Action.STAGE_REMINDED: "Relance",
        Action.STALLED: "Parcours signalé bloqué",
        Action.NUDGED: "Relance par la coordination",
        Action.EXPIRY_WARNED: "Avertissement d'expiration des chèques",
        Action.CLOSED: "Clôture du parcours",
        Action.WITHDRAWN: "Sortie du dispositif",
        Action.ANONYMISED: "Anonymisation",
        Action.BOOKLET_LOCKED: "Carnet bloqué (codes de sécurité erronés)",
        Action.BOOKLET_UNLOCKED: "Carnet débloqué par la coordination",
        Action.BOOKLET_LOST: "Carnet déclaré perdu ou volé, carnet de remplacement remis",
        Action.ERASURE_REQUESTED: "Effacement des données demandé par la personne",
    },
)
