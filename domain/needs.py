"""Needs assessment vocabulary (diagnostic): tools, autonomy levels, themes, sessions."""

from __future__ import annotations

from enum import StrEnum


class AssessmentTool(StrEnum):
    ABC_DIAG = "ABC_DIAG"
    PIX = "PIX"
    LES_BONS_CLICS = "LES_BONS_CLICS"
    LOCAL_GRID = "LOCAL_GRID"

    @property
    def label(self) -> str:
        return {
            AssessmentTool.ABC_DIAG: "ABC Diag",
            AssessmentTool.PIX: "Pix",
            AssessmentTool.LES_BONS_CLICS: "Les Bons Clics",
            AssessmentTool.LOCAL_GRID: "Grille locale",
        }[self]


class AutonomyLevel(StrEnum):
    """Four levels, as the ABC Diag family of tools grades autonomy."""

    NONE = "NONE"
    BEGINNER = "BEGINNER"
    INTERMEDIATE = "INTERMEDIATE"
    AUTONOMOUS = "AUTONOMOUS"

    @property
    def rank(self) -> int:
        return list(AutonomyLevel).index(self)

    @property
    def label(self) -> str:
        return {
            AutonomyLevel.NONE: "Aucune autonomie",
            AutonomyLevel.BEGINNER: "Débutant",
            AutonomyLevel.INTERMEDIATE: "Autonomie partielle",
            AutonomyLevel.AUTONOMOUS: "Autonome",
        }[self]


class Theme(StrEnum):
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

    @property
    def label(self) -> str:
        return THEME_LABELS[self]


THEME_LABELS: dict[Theme, str] = {
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
}


class AssessmentKind(StrEnum):
    ENTRY = "ENTRY"
    EXIT = "EXIT"


class SessionKind(StrEnum):
    INDIVIDUAL = "INDIVIDUAL"
    COLLECTIVE = "COLLECTIVE"

    @property
    def label(self) -> str:
        return {SessionKind.INDIVIDUAL: "Individuelle", SessionKind.COLLECTIVE: "Collective"}[self]


class SessionPlace(StrEnum):
    ON_SITE = "ON_SITE"
    AT_HOME = "AT_HOME"
    REMOTE = "REMOTE"

    @property
    def label(self) -> str:
        return {
            SessionPlace.ON_SITE: "Dans la structure",
            SessionPlace.AT_HOME: "À domicile",
            SessionPlace.REMOTE: "À distance",
        }[self]


class Equipment(StrEnum):
    OWN_SMARTPHONE = "OWN_SMARTPHONE"
    OWN_COMPUTER = "OWN_COMPUTER"
    LENT_EQUIPMENT = "LENT_EQUIPMENT"
    TABLET = "TABLET"

    @property
    def label(self) -> str:
        return {
            Equipment.OWN_SMARTPHONE: "Smartphone personnel",
            Equipment.OWN_COMPUTER: "Ordinateur personnel",
            Equipment.LENT_EQUIPMENT: "Matériel de la structure",
            Equipment.TABLET: "Tablette",
        }[self]


MAX_SESSION_MINUTES = 8 * 60
