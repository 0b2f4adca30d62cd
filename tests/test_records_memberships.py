"""records.memberships on SQLite and PostgreSQL: an account's programmes, the session's
choice among them, and what withdrawing an access does."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import select

from domain.stages import Role
from records import accounts, memberships
from records.accounts import AccountError
from records.models import ProgrammeMembership, WebSession
from records.seed import seed_default_programme, seed_programme
from tests.fixtures.database import SessionFactory
from tests.fixtures.programmes import OTHER, herault

NOW = datetime(2026, 12, 1, 9, tzinfo=UTC)


def test_an_account_works_in_its_programme_and_those_it_is_granted(
    sessions: SessionFactory,
) -> None:
    with sessions() as s:
        seed_default_programme(s)
        seed_programme(s, herault())
        account = accounts.create_account(
            s,
            email="claude@exemple.fr",
            full_name="Claude",
            role=Role.COORDINATOR,
            programme_code=12,
            now=NOW,
            epci_id=None,
        )
        token = accounts.open_web_session(
            s, account, now=NOW, lifetime=timedelta(hours=1), address=None
        )
        assert [m.programme_code for m in memberships.all_of(s, account)] == [12]
        assert not memberships.choose(s, account, token, OTHER)  # not a member: no change
        with pytest.raises(AccountError, match="appartient déjà"):
            memberships.grant(
                s, account, memberships.Membership(12, Role.ADMINISTRATOR), now=NOW, granted_by=1
            )
        with pytest.raises(AccountError, match="structure d'accueil"):
            memberships.grant(
                s, account, memberships.Membership(OTHER, Role.SOCIAL_WORKER), now=NOW, granted_by=1
            )
        memberships.grant(
            s, account, memberships.Membership(OTHER, Role.ADMINISTRATOR), now=NOW, granted_by=1
        )
        # Granting again changes the role there, never adds a second row.
        memberships.grant(
            s, account, memberships.Membership(OTHER, Role.COORDINATOR), now=NOW, granted_by=1
        )
        s.commit()
        assert len(s.exec(select(ProgrammeMembership)).all()) == 1
        assert [(m.programme_code, m.role) for m in memberships.all_of(s, account)] == [
            (12, Role.COORDINATOR),
            (OTHER, Role.COORDINATOR),
        ]
        assert memberships.programme_names(s, [12, OTHER]) == {
            12: "Pass numérique Aveyron",
            OTHER: "Pass numérique Hérault",
        }
        assert memberships.choose(s, account, token, OTHER)
        s.commit()
        found = accounts.web_session_account(s, token, now=NOW)
        assert found is not None and found[1] == OTHER
        assert memberships.in_programme(s, account, OTHER).programme_code == OTHER
        assert [a.email for a, _ in memberships.members(s, OTHER)] == ["claude@exemple.fr"]
        assert memberships.members(s, 12) == []

        # Withdrawn: its sessions there go back to its own programme.
        assert memberships.revoke(s, account.id or 0, OTHER)
        assert not memberships.revoke(s, account.id or 0, OTHER)
        s.commit()
        assert s.exec(select(WebSession.programme_code)).all() == [None]
        assert memberships.in_programme(s, account, OTHER).programme_code == 12
        assert memberships.choose(s, account, token, 12)
