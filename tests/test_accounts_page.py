"""The Accounts page (AppTest): each account's health, disconnecting after being told what happens to planned posts,
lifting a hold; a viewer sees the health but none of the controls."""
from __future__ import annotations

from datetime import time, timedelta

import pytest

from core.domain import Account, AccountStatus, Membership, Post, Role, Schedule, User, Workspace
from core.domain.catalog import Platform
from core.domain.lifecycle import DeliveryState
from core.domain.timeutil import utcnow, zone
from core.services.scheduler import Scheduler
from tests.page_harness import owner_world, page_opener

BERLIN = "Europe/Berlin"


@pytest.fixture
def page(tmp_path, monkeypatch):
    with owner_world(tmp_path, monkeypatch, timezone_name=BERLIN) as (db, owner, ws):
        x = db.save_account(Account(platform=Platform.X, handle="@brand", oauth_token="x-token", workspace_id=ws.id,
                                    id="a_x"))
        yield db, owner, ws, x, page_opener(db, ws.id, "../pages/accounts.py")


def _planned(db, ws, acct, pid="p1", days=3):
    day = (utcnow().astimezone(zone(BERLIN)) + timedelta(days=days)).date()
    Scheduler(db).schedule_post(pid, Post(caption=f"Post {pid}", accounts=(acct,), workspace_id=ws.id,
                                          schedule=Schedule.at_local(day, time(9, 0), BERLIN)))


def test_owner_is_told_then_disconnects(page):
    db, owner, ws, x, open_as = page
    _planned(db, ws, x, "p1")
    _planned(db, ws, x, "p2", days=4)
    at = open_as(owner)
    assert not at.exception
    table = at.dataframe[0].value
    assert list(table["Account"]) == ["@brand"] and list(table["Posting"]) == ["Ready"]
    at.button(key="disconnect_a_x").click().run()
    warning = " ".join(w.value for w in at.warning)
    assert "2 planned posts to @brand on X will not go out there" in warning
    assert db.get_account("a_x").status == AccountStatus.CONNECTED   # nothing yet: it asked
    at.button(key="confirm_disconnect_a_x").click().run()
    assert not at.exception
    assert db.get_account("a_x").status == AccountStatus.REVOKED
    assert [d.state for p in ("p1", "p2") for d in db.get_deliveries(p)] == [DeliveryState.CANCELLED] * 2
    assert any("Disconnected @brand on X. 2 planned posts to @brand on X will not go out there" in s.value
               for s in at.success)
    table = at.dataframe[0].value
    assert list(table["Status"]) == ["Disconnected"] and list(table["Posting"]) == ["Waits for a reconnect"]


def test_owner_keeps_it_connected(page):
    db, owner, ws, x, open_as = page
    _planned(db, ws, x)
    at = open_as(owner)
    at.button(key="disconnect_a_x").click().run()
    at.button(key="keep_a_x").click().run()
    assert not at.warning
    assert db.get_account("a_x").status == AccountStatus.CONNECTED
    assert db.get_deliveries("p1")[0].state == DeliveryState.QUEUED


def test_owner_lifts_a_hold(page):
    db, owner, ws, x, open_as = page
    db.hold_account("a_x", utcnow() + timedelta(hours=1), "X's limit: 300 posts in 3 hours.")
    at = open_as(owner)
    assert "Paused until" in at.dataframe[0].value["Posting"][0]
    at.button(key="lift_a_x").click().run()
    assert not at.exception
    assert db.account_holds(utcnow()) == {}
    assert any("The pause is lifted" in s.value for s in at.success)
    assert list(at.dataframe[0].value["Posting"]) == ["Ready"]


def test_a_viewer_sees_health_but_no_controls(page):
    db, owner, ws, x, open_as = page
    db.hold_account("a_x", utcnow() + timedelta(hours=1), "X's limit.")
    viewer = db.add_user(User(email="viewer@example.com"))
    db.set_membership(Membership(user_id=viewer.id, workspace_id=ws.id, role=Role.VIEWER))
    at = open_as(viewer)
    assert not at.exception
    assert list(at.dataframe[0].value["Account"]) == ["@brand"]
    keys = {b.key for b in at.button}
    assert not keys & {"lift_a_x", "disconnect_a_x", "reconnect_a_x"}
    assert any("Only a workspace owner can connect accounts." in c.value for c in at.caption)


def test_an_empty_workspace_says_what_to_do(page):
    db, owner, ws, x, open_as = page
    other = db.add_workspace(Workspace(name="Empty"))
    db.set_membership(Membership(user_id=owner.id, workspace_id=other.id, role=Role.OWNER))
    from pages import shared
    from streamlit.testing.v1 import AppTest
    at = AppTest.from_file("../pages/accounts.py", default_timeout=30)
    at.session_state["ctx"] = shared.Context(user=owner, workspace=other,
                                             membership=db.get_membership(owner.id, other.id))
    at.run()
    assert not at.exception
    assert any("No accounts connected yet. Connect one below" in i.value for i in at.info)


# ---------------------------------------------------------------- the consent link, finished in another tab

class _Platform:
    """What ConnectService.finish asks of a platform, for the tab that completes the connection."""

    def exchange_code(self, code, *, code_verifier=None):
        from core.platforms.base import TokenSet
        return TokenSet(access_token="new-token", scopes=("tweet.read", "tweet.write", "users.read",
                                                          "offline.access"))

    def missing_scopes(self, token):
        return []

    def fetch_profile(self, token):
        from core.platforms.base import Profile
        return Profile(external_id="4242", handle="@launch", display_name="Launch")


def _consent_link(at):
    [link] = [b.proto for b in at.get("link_button")]
    return link.url


def test_a_link_used_in_another_tab_says_the_connection_was_completed(page):
    from urllib.parse import parse_qs, urlsplit

    from core.services.connect import ConnectService
    db, owner, ws, x, open_as = page
    at = open_as(owner)
    at.button(key="connect_x").click().run()
    assert not at.exception
    state = parse_qs(urlsplit(_consent_link(at)).query)["state"][0]
    at.run()                                                  # still open: the link stays
    assert _consent_link(at)
    # The person allowed access in another tab, which came back and finished the connection.
    ConnectService(db, lambda platform: _Platform()).finish(state=state, code="abc", user_id=owner.id)
    at.run()
    assert not at.exception
    assert not at.get("link_button")                          # no stale link that would fail as "already used"
    assert any(s.value.startswith("This connection was already completed: @launch on X is connected")
               for s in at.success)
    assert "@launch" in list(at.dataframe[0].value["Account"])


def test_a_link_declined_elsewhere_or_expired_is_not_offered_again(page):
    from urllib.parse import parse_qs, urlsplit

    from core.services import connect
    db, owner, ws, x, open_as = page
    at = open_as(owner)
    at.button(key="connect_x").click().run()
    url = _consent_link(at)
    state = parse_qs(urlsplit(url).query)["state"][0]
    # Someone else (another member) cannot read or use this person's attempt: for them it is not open.
    editor = db.add_user(User(email="editor@example.com"))
    db.set_membership(Membership(user_id=editor.id, workspace_id=ws.id, role=Role.EDITOR))
    from core.rules.permissions import Actor
    assert not connect.attempt_now(db, url, actor=Actor.of(db, editor.id)).open
    assert connect.attempt_now(db, url, actor=Actor.of(db, owner.id)).open
    with pytest.raises(connect.ConnectError):                 # declined on the consent page, in another tab
        connect.ConnectService(db, lambda platform: _Platform()).finish(state=state, error="access_denied",
                                                                        user_id=owner.id)
    at.run()
    assert not at.get("link_button")
    assert any("already used" in i.value and "nothing was connected" in i.value for i in at.info)

    at.button(key="connect_x").click().run()                  # a fresh attempt, left for 11 minutes
    later = utcnow() + timedelta(minutes=11)
    stale = connect.attempt_now(db, _consent_link(at), actor=Actor.of(db, owner.id), clock=lambda: later)
    assert stale.expired and not stale.open


def test_a_metric_pause_and_a_posting_hold_read_in_the_workspace_zone(page):
    db, owner, ws, x, open_as = page
    until = utcnow().replace(microsecond=0) + timedelta(hours=3)
    db.pause_metrics(f"account:{x.id}", until, "X said: too many requests", now=utcnow())
    db.hold_account(x.id, until, "X's rate limit")
    at = open_as(owner)
    assert not at.exception
    table = at.dataframe[0].value
    local = until.astimezone(zone(BERLIN))
    assert table["Figures"][0] == f"Paused until {local:%a %H:%M}"
    assert table["Posting"][0] == f"Paused until {local:%a %H:%M}"
    captions = [c.value for c in at.caption]
    assert any(c.startswith("Times in Europe/Berlin.") for c in captions)
    assert any(c.startswith(f"Posting paused until {local:%a %d %b %H:%M}") for c in captions)     # the details
    assert f"Figures paused until {local:%a %d %b %H:%M}." in captions


def test_the_table_fits_1280_px_and_the_details_are_per_account(page):
    # Sized by their longest cell the columns scrolled sideways at 1280 px (Posting, Figures, Last error out of
    # sight): each has a width now, together what the page has there; the long words are in the account's details.
    import json
    db, owner, ws, x, open_as = page
    at = open_as(owner)
    widths = {c: cfg.get("width") for c, cfg in json.loads(at.dataframe[0].proto.columns).items() if c != "_index"}
    assert set(widths) == {"Account", "Platform", "Status", "Posted today", "Posting", "Figures"}
    assert all(isinstance(w, int) for w in widths.values()) and sum(widths.values()) <= 780
    assert "Last error" not in at.dataframe[0].value.columns
    [details] = [e for e in at.expander if e.label.startswith("@brand on X")]
    assert details.label == "@brand on X · Connected"


def test_a_practice_account_that_cannot_post_is_not_called_ready_and_reconnects_as_itself(page):
    # A practice account added before practice accounts were connected: no token. It is not "Ready" (its posts
    # wait), its details are open with Reconnect first, and Reconnect opens the emulator's page as that account.
    from urllib.parse import parse_qs, urlsplit

    from core.domain import Account
    db, owner, ws, x, open_as = page
    db.save_account(Account(platform="linkedin", handle="@casey", workspace_id=ws.id, id="a_practice"))
    at = open_as(owner)
    table = at.dataframe[0].value.set_index("Account")
    assert table.loc["@casey", "Status"] == "Not connected" and table.loc["@casey", "Posting"] == "Waits for a reconnect"
    assert table.loc["@brand", "Posting"] == "Ready"
    [details] = [e for e in at.expander if e.label.startswith("@casey on LinkedIn")]
    assert details.proto.expanded
    at.button(key="reconnect_a_practice").click().run()
    assert not at.exception
    label, url = at.session_state["connect_url"]
    assert label == "LinkedIn" and parse_qs(urlsplit(url).query)["handle"] == ["casey"]
