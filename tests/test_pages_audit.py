"""The administrators' audit log over HTTP: every administrator's action, in the pages and
in the API, writes exactly one entry (who, when, what, on what; never a secret); refused
actions write none; administrators read the log at /administration/journal and
`GET /api/v1/audit`, nobody else. (That entries cannot be changed or deleted is checked on
both databases in tests/test_records_person_rights.py.)"""

from __future__ import annotations

import re
from datetime import UTC, datetime

from sqlmodel import col, select

from records import models
from tests.fixtures.api import Stack, csrf_from
from tests.fixtures.database import count
from tests.test_pages_admin import AGNES, create_account, post_form
from tests.test_pages_coordination import client_for

SECRET_PASSWORD = AGNES["password"]


def entries(stack: Stack) -> list[models.AdminAudit]:
    with stack.sessions() as s:
        return list(s.exec(select(models.AdminAudit).order_by(col(models.AdminAudit.id))).all())


async def test_every_administrator_action_is_in_the_audit_log(api_stack: Stack) -> None:
    stack = api_stack
    admin = stack.people["admin"].id
    assert entries(stack) == []
    http = await client_for(stack, "admin")
    try:
        token = csrf_from((await http.get("/administration/comptes/nouveau")).text)
        reception = stack.people["sw"].reception_structure_id

        # Refused actions write nothing.
        r = await create_account(http, token, password="court")
        assert r.status_code == 422
        assert entries(stack) == []

        # Pages: create an account, issue and revoke a token, set a qualification, deactivate.
        r = await create_account(http, token, reception_structure_id=str(reception))
        assert r.status_code == 303
        account_url = r.headers["location"].split("?")[0]
        account_id = int(account_url.rsplit("/", 1)[1])
        r = await post_form(http, f"{account_url}/jetons", token, label="Export mensuel")
        assert r.status_code == 303
        secret = re.search(r'id="nouveau-jeton">(pn_[^<]+)<', (await http.get(account_url)).text)
        assert secret
        with stack.sessions() as s:
            token_id = s.exec(
                select(models.ApiToken.id).where(models.ApiToken.account_id == account_id)
            ).one()
        r = await post_form(http, f"/administration/jetons/{token_id}/revoquer", token)
        assert r.status_code == 303
        r = await post_form(http, f"/administration/jetons/{token_id}/revoquer", token)
        assert r.status_code == 303  # revoked twice: one entry
        sid = stack.people["med_other"].mediation_structure_id
        r = await post_form(
            http,
            f"/administration/structures/mediation/{sid}",
            token,
            qualified_from="2024-06-01",
            qualified_until="2026-12-31",
        )
        assert r.status_code == 303
        r = await post_form(http, f"{account_url}/desactiver", token)
        assert r.status_code == 303

        # The consent wording, published on its page (a double submit publishes once).
        page = await http.get("/administration/consentement")
        assert page.status_code == 200 and "Version 1 (en vigueur)" in page.text
        wording = "J'accepte que mes données servent à mon accompagnement (texte version deux)."
        r = await post_form(http, "/administration/consentement", token, wording=wording)
        assert r.status_code == 303
        r = await post_form(http, "/administration/consentement", token, wording=wording)
        assert r.status_code == 422 and "déjà celui en vigueur" in r.text
        shown = await http.get("/administration/consentement?fait=publie")
        assert "Version 2 (en vigueur)" in shown.text

        # A mail of the local sink, read.
        with stack.sessions() as s:
            mail = models.MailboxMessage(
                received_at=datetime.now(UTC),
                mail_from="passnum@test",
                recipients=["someone@exemple.fr"],
                subject="Votre inscription",
                raw="Subject: Votre inscription\r\n\r\nBonjour\r\n",
            )
            s.add(mail)
            s.commit()
            mail_id = mail.id
        assert (await http.get(f"/administration/courriels/{mail_id}")).status_code == 200

        # The API: a token issued and revoked.
        r = await stack.http.post(
            f"/api/v1/accounts/{stack.people['sw'].id}/tokens",
            json={"label": "script"},
            headers=stack.auth("admin"),
        )
        assert r.status_code == 201, r.text
        api_secret, api_token = r.json()["token"], r.json()["id"]
        r = await stack.http.delete(f"/api/v1/tokens/{api_token}", headers=stack.auth("admin"))
        assert r.status_code == 204

        logged = entries(stack)
        assert [(e.action, e.target) for e in logged] == [
            ("ACCOUNT_CREATED", f"account:{account_id}"),
            ("TOKEN_ISSUED", f"token:{token_id}"),
            ("TOKEN_REVOKED", f"token:{token_id}"),
            ("QUALIFICATION_SET", f"mediation_structure:{sid}"),
            ("ACCOUNT_DEACTIVATED", f"account:{account_id}"),
            ("CONSENT_PUBLISHED", "consent:2"),
            ("MAIL_READ", f"mail:{mail_id}"),
            ("TOKEN_ISSUED", f"token:{api_token}"),
            ("TOKEN_REVOKED", f"token:{api_token}"),
        ]
        assert {e.account_id for e in logged} == {admin}
        assert {e.programme_code for e in logged} == {12}
        assert logged[0].details["email"] == AGNES["email"]
        assert logged[0].details["role"] == "SOCIAL_WORKER"
        assert logged[1].details["label"] == "Export mensuel"
        assert logged[3].details["qualified_until"] == "2026-12-31"
        assert logged[4].details["tokens_revoked"] == 0
        dumped = repr([e.details for e in logged])
        for secret_text in (SECRET_PASSWORD, secret[1], api_secret):
            assert secret_text not in dumped  # never a secret

        # Read by administrators, most recent first; nobody else.
        r = await stack.http.get("/api/v1/audit?limit=3", headers=stack.auth("admin"))
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["total"] == 9 and len(body["items"]) == 3
        assert [i["action"] for i in body["items"]] == [
            "TOKEN_REVOKED",
            "TOKEN_ISSUED",
            "MAIL_READ",
        ]
        assert body["items"][0]["action_label"] == "Jeton d'API révoqué"
        assert body["items"][0]["account_name"] == "Sacha Administratrice"
        later = await stack.http.get("/api/v1/audit?limit=3&offset=6", headers=stack.auth("admin"))
        assert [i["action"] for i in later.json()["items"]] == [
            "TOKEN_REVOKED",
            "TOKEN_ISSUED",
            "ACCOUNT_CREATED",
        ]
        for who in ("sw", "coord_all", "med"):
            r = await stack.http.get("/api/v1/audit", headers=stack.auth(who))
            assert r.status_code == 403, who
        journal = await http.get("/administration/journal")
        assert journal.status_code == 200
        for label in (
            "Compte créé",
            "Compte désactivé",
            "Jeton d'API créé",
            "Jeton d'API révoqué",
            "Qualification APTIC modifiée",
            "Nouveau texte de consentement publié",
            "Courriel consulté",
        ):
            assert label.replace("'", "&#39;") in journal.text, label
        assert "ne peut être ni modifié ni effacé" in journal.text
        assert count(stack.sessions, models.AdminAudit) == 9  # reading wrote nothing
    finally:
        await http.aclose()
    coordinator = await client_for(stack, "coord_all")
    try:
        assert (await coordinator.get("/administration/journal")).status_code == 403
        assert (await coordinator.get("/administration/consentement")).status_code == 403
    finally:
        await coordinator.aclose()
