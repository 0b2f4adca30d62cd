"""Notification preferences (/compte/notifications): every signed-in account reads and
changes its own, anonymous visitors are sent to the login page, essential categories
cannot be turned off, a refused form keeps what was chosen, and nobody else's settings
change."""

from __future__ import annotations

import httpx
from sqlmodel import col, select

from notifications.categories import Category
from notifications.preferences import Disposition, preferences_of
from records import models
from tests.fixtures.access import ANON, EVERYONE
from tests.fixtures.api import Stack, csrf_from, signed_in_client

PATH = "/compte/notifications"


def settings_of(stack: Stack) -> dict[str, object]:
    with stack.sessions() as s:
        return {
            a.email: a.notification_settings
            for a in s.exec(select(models.Account).order_by(col(models.Account.id)))
        }


async def signed_in(stack: Stack, who: str) -> tuple[httpx.AsyncClient, str]:
    client = await signed_in_client(stack, stack.people[who].email)
    page = await client.get(PATH)
    assert page.status_code == 200, (who, page.status_code)
    return client, csrf_from(page.text)


async def test_every_account_reads_its_own_preferences(api_stack: Stack) -> None:
    stack = api_stack
    before = settings_of(stack)
    for who in EVERYONE:
        if who == ANON:
            r = await stack.http.get(PATH)
            assert r.status_code == 303 and r.headers["location"].startswith("/connexion")
            r = await stack.http.post(PATH, data={"receive": "REFERRAL"})
            assert r.status_code == 303 and r.headers["location"].startswith("/connexion")
            continue
        client, _ = await signed_in(stack, who)
        page = (await client.get(PATH)).text
        await client.aclose()
        assert stack.people[who].email in page  # where the mails go
        assert 'href="/compte/notifications"' in page  # the header's link
        for c in Category:
            assert c.label.replace("'", "&#39;") in page, c
        # Every optional category is offered, checked (nothing muted yet); essential
        # ones are listed without a checkbox, with why.
        assert page.count('name="receive"') == 3 and page.count(" checked") == 4
        assert "ne peuvent pas être désactivés" in page
        assert 'value="BENEFICIARY"' not in page and 'value="DIGEST"' in page  # a radio
    assert settings_of(stack) == before


async def test_choices_are_saved_for_oneself_only(api_stack: Stack) -> None:
    stack = api_stack
    before = settings_of(stack)
    client, csrf = await signed_in(stack, "sw")
    try:
        # Without the CSRF token: refused, nothing changed.
        r = await client.post(PATH, data={"receive": "REFERRAL", "reminders": "DIGEST"})
        assert r.status_code == 403 and settings_of(stack) == before
        # A tampered form: an unknown category. Refused in French, choices kept.
        r = await client.post(
            PATH,
            data={"receive": ["REFERRAL", "NOPE"], "reminders": "DIGEST", "csrf_token": csrf},
        )
        assert r.status_code == 422 and "error-summary" in r.text
        assert 'value="REFERRAL" checked' in r.text and 'value="CLOSURE" checked' not in r.text
        assert settings_of(stack) == before

        # Keep the referral confirmations, fold reminders into the digest, mute closures.
        r = await client.post(
            PATH,
            data={"receive": ["REFERRAL", "REMINDER"], "reminders": "DIGEST", "csrf_token": csrf},
        )
        assert r.status_code == 303 and r.headers["location"] == f"{PATH}?enregistre=1"
        again = await client.post(  # a double submit: same result
            PATH,
            data={"receive": ["REFERRAL", "REMINDER"], "reminders": "DIGEST", "csrf_token": csrf},
        )
        assert again.status_code == 303
        page = (await client.get(r.headers["location"])).text
        assert "Vos préférences de notification sont enregistrées." in page
        assert 'value="REMINDER" checked' in page and 'value="CLOSURE" checked' not in page
        assert 'value="DIGEST" checked' in page

        # Muting everything optional still leaves the essential messages on.
        r = await client.post(PATH, data={"reminders": "MAIL", "csrf_token": csrf})
        assert r.status_code == 303
    finally:
        await client.aclose()

    after = settings_of(stack)
    sw_email = stack.people["sw"].email
    assert {k: v for k, v in after.items() if k != sw_email} == {
        k: v for k, v in before.items() if k != sw_email
    }
    with stack.sessions() as s:
        account = s.get(models.Account, stack.people["sw"].id)
        assert account is not None
        prefs = preferences_of(account)
    assert prefs.muted == {Category.REFERRAL, Category.REMINDER, Category.CLOSURE}
    assert not prefs.reminders_in_digest
    for c in Category:
        expected = Disposition.SEND if c.essential else Disposition.SKIP
        assert prefs.disposition(c) == expected, c
