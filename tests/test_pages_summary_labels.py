"""The error summary at the top of a refused form names each field, so that a generic
message ("Ce champ est obligatoire.") still says where to look."""

from __future__ import annotations

from api.forms import Form
from api.web import make_environment


def test_error_summary_names_the_fields() -> None:
    form: Form = Form.blank()
    form.errors = {"person.last_name": "Ce champ est obligatoire.", "": "Refusé.", "x": "Non."}
    html = (
        make_environment()
        .from_string(
            '{% import "fragments/forms.html" as f %}{{ f.error_summary(form, labels={"x": "Ixe"}) }}'
        )
        .render(form=form)
    )
    assert '<a href="#f-person-last_name">Nom : Ce champ est obligatoire.</a>' in html
    assert '<a href="#f-x">Ixe : Non.</a>' in html
    assert "<li>Refusé.</li>" in html
