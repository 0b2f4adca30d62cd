"""Needs assessment vocabulary (diagnostic): tools, autonomy levels, themes, sessions."""

from __future__ import annotations

from enum import StrEnum

from domain.labels import Labelled, labels


class AssessmentTool(Labelled):
    ABC_DIAG = "ABC_DIAG"
    PIX = "PIX"
    LES_BONS_CLICS = "LES_BONS_CLICS"
    LOCAL_GRID = "LOCAL_GRID"


TOOL_LABELS = labels(
    AssessmentTool,
    {
        AssessmentTool.ABC_DIAG: "ABC Diag",
        AssessmentTool.PIX: "Pix",
        AssessmentTool.LES_BONS_CLICS: "Les Bons Clics",
        AssessmentTool.LOCAL_GRID: "Grille locale",
    },
)


class AutonomyLevel(Labelled):
    """Four levels, as the ABC Diag family of tools grades autonomy."""

    NONE = "NONE"
    BEGINNER = "BEGINNER"
    INTERMEDIATE = "INTERMEDIATE"
    AUTONOMOUS = "AUTONOMOUS"

    @property
    def rank(self) -> int:
        return list(AutonomyLevel).index(self)


AUTONOMY_LABELS = labels(
    AutonomyLevel,
    {
        AutonomyLevel.NONE: "Aucune autonomie",
        AutonomyLevel.BEGINNER: "Débutant",
        AutonomyLevel.INTERMEDIATE: "Autonomie partielle",
        AutonomyLevel.AUTONOMOUS: "Autonome",
    },
)


class Theme(Labelled):
    ADMIN_PROCEDURES = "ADMIN_PROCEDURES"
    EMAIL = "EMAIL"
    SMARTPHONE = "SMARTPHONE"
    COMPUTER_BASICS = "COMPUTER_BASICS"
    HEALTH = "HEALTH"
    MONEY = "MONEY"
    JOB_SEARCH = "JOB_SEARCH"
    ONLINE_SAFETY = "ONLINE_SAFETY"
    FAMILY_SCHOOL = "FAMILY_SCHOOL"
    SOCIAL_LINK = "SOCIAL_LINK"


THEME_LABELS = labels(
    Theme,
    {
        Theme.ADMIN_PROCEDURES: "Démarches administratives en ligne",
        Theme.EMAIL: "Messagerie électronique",
        Theme.SMARTPHONE: "Prise en main du smartphone",
        Theme.COMPUTER_BASICS: "Bases de l'ordinateur",
        Theme.HEALTH: "Santé en ligne (Ameli, Doctolib…)",
        Theme.MONEY: "Banque et budget en ligne",
        Theme.JOB_SEARCH: "Recherche d'emploi",
        Theme.ONLINE_SAFETY: "Sécurité en ligne",
        Theme.FAMILY_SCHOOL: "Scolarité des enfants (ENT, Pronote)",
        Theme.SOCIAL_LINK: "Garder le lien avec ses proches",
    },
)


class AssessmentKind(StrEnum):
    ENTRY = "ENTRY"
    EXIT = "EXIT"


class SessionKind(Labelled):
    INDIVIDUAL = "INDIVIDUAL"
    COLLECTIVE = "COLLECTIVE"


SESSION_KIND_LABELS = labels(
    SessionKind, {SessionKind.INDIVIDUAL: "Individuelle", SessionKind.COLLECTIVE: "Collective"}
)


class SessionPlace(Labelled):
    ON_SITE = "ON_SITE"
    AT_HOME = "AT_HOME"
    REMOTE = "REMOTE"


SESSION_PLACE_LABELS = labels(
    SessionPlace,
    {
        SessionPlace.ON_SITE: "Dans la structure",
        SessionPlace.AT_HOME: "À domicile",
        SessionPlace.REMOTE: "À distance",
    },
)


class Equipment(Labelled):
    OWN_SMARTPHONE = "OWN_SMARTPHONE"
    OWN_COMPUTER = "OWN_COMPUTER"
    LENT_EQUIPMENT = "LENT_EQUIPMENT"
    TABLET = "TABLET"


EQUIPMENT_LABELS = labels(
    Equipment,
    {
        Equipment.OWN_SMARTPHONE: "Smartphone personnel",
        Equipment.OWN_COMPUTER: "Ordinateur personnel",
        Equipment.LENT_EQUIPMENT: "Matériel de la structure",
        Equipment.TABLET: "Tablette",
    },
)


MAX_SESSION_MINUTES = 8 * 60
