"""The form helper and the form macros: French errors next to fields, what was typed kept."""

from __future__ import annotations

from datetime import UTC, date, datetime

from pydantic import BaseModel, Field, field_validator
from starlette.datastructures import FormData

from api import schemas
from api.errors import ApiError
from api.forms import Form, parse_form
from api.web import datetime_fr, make_environment
from domain.needs import Theme


class Visit(BaseModel):
    day: date
    minutes: int = Field(gt=0, le=480)
    themes: list[Theme] = Field(default_factory=list)
    note: str | None = Field(default=None, max_length=10)

    @field_validator("day")
    @classmethod
    def _not_future(cls, value: date) -> date:
        if value > date(2030, 1, 1):
            raise ValueError("La date ne peut pas être dans le futur.")
        return value


def form(*pairs: tuple[str, str]) -> FormData:
    return FormData(list(pairs))


def test_valid_form_parses_french_dates_lists_and_blanks() -> None:
    result = parse_form(
        Visit,
        form(
            ("day", "03/02/2026"),
            ("minutes", "90"),
            ("themes", "EMAIL"),
            ("themes", "HEALTH"),
            ("note", "  "),
            ("csrf_token", "x"),
        ),
    )
    assert result.ok and result.errors == {}
    assert result.data == Visit(
        day=date(2026, 2, 3), minutes=90, themes=[Theme.EMAIL, Theme.HEALTH]
    )
    assert "csrf_token" not in result.values


def test_refused_form_keeps_input_and_answers_in_french() -> None:
    result = parse_form(
        Visit,
        form(("day", "31/02/2026"), ("minutes", "-5"), ("themes", "NOPE"), ("note", "x" * 11)),
    )
    assert not result.ok
    assert result.errors == {
        "day": "Une date au format JJ/MM/AAAA est attendue.",
        "minutes": "La valeur est trop petite.",
        "themes": "Cette valeur ne fait pas partie de la liste proposée.",
        "note": "Ce texte est trop long.",
    }
    assert result.value("day") == "31/02/2026" and result.value("minutes") == "-5"
    assert result.selected("themes") == ["NOPE"]
    future = parse_form(Visit, form(("day", "2031-01-01"), ("minutes", "30")))
    assert future.errors == {"day": "La date ne peut pas être dans le futur."}
    missing = parse_form(Visit, form())
    assert missing.errors["day"] == "Ce champ est obligatoire."


def test_nested_models_use_dotted_names_and_consent_is_a_checkbox() -> None:
    data = form(
        ("reception_structure_id", "3"),
        ("person.first_name", "Josette"),
        ("person.last_name", "Vidal"),
        ("consent.text", "J'accepte."),
    )
    refused = parse_form(schemas.ReferralIn, data)
    assert refused.errors == {
        "consent.given": "Le consentement de la personne est obligatoire pour l'orienter."
    }
    assert refused.value("person.first_name") == "Josette"
    typed = [(k, str(v)) for k, v in data.multi_items()]
    accepted = parse_form(schemas.ReferralIn, form(*typed, ("consent.given", "on")))
    assert accepted.ok and accepted.data.person.first_name == "Josette"


def test_service_refusals_land_on_the_form() -> None:
    f: Form[Visit] = Form.blank({"day": "01/01/2026"})
    f.refuse(ApiError(422, "unknown_structure", "Cette structure n'existe pas."), "structure")
    assert f.errors == {"structure": "Cette structure n'existe pas."} and not f.ok
    g: Form[Visit] = Form.blank()
    g.refuse(ApiError(422, "invalid_input", "Erreurs", [{"field": "needs.1", "message": "Non."}]))
    assert g.errors == {"needs": "Non."}


def test_macros_label_fields_and_tie_errors_to_them() -> None:
    env = make_environment()
    template = env.from_string(
        '{% import "fragments/forms.html" as f %}'
        "{{ f.error_summary(form) }}"
        '{{ f.input(form, "minutes", "Durée (minutes)", type="number", required=true, hint="En minutes") }}'
        '{{ f.checkboxes(form, "themes", "Thèmes", [("EMAIL", "Courriel"), ("HEALTH", "Santé")]) }}'
    )
    refused = parse_form(
        Visit, form(("day", "2026-01-01"), ("minutes", "<b>-5</b>"), ("themes", "HEALTH"))
    )
    html = template.render(form=refused)
    assert '<label for="f-minutes">Durée (minutes)' in html
    assert 'aria-describedby="f-minutes-hint f-minutes-error"' in html
    assert 'aria-invalid="true"' in html
    assert 'id="f-minutes-error"' in html and "Un nombre entier est attendu." in html
    assert 'href="#f-minutes"' in html  # the summary links to the field
    assert "&lt;b&gt;-5&lt;/b&gt;" in html and "<b>" not in html  # autoescaped
    assert 'value="HEALTH" checked' in html and 'value="EMAIL" checked' not in html


def test_filters_speak_french_in_paris_time() -> None:
    env = make_environment()
    out = env.from_string(
        "{{ d | date_fr }} {{ t | datetime_fr }} {{ c | euros }} {{ s | stage }}"
    ).render(d=date(2026, 3, 9), t=datetime(2026, 7, 1, 22, 30, tzinfo=UTC), c=1000, s="REFERRED")
    assert out.startswith("09/03/2026 02/07/2026 à 00:30 10,00\u00a0€ ")
    assert datetime_fr(None) == ""
