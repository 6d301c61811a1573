"""Workspace settings (owner only, validated, what a timezone change does to planned posts), disconnecting an
account (what happens to planned posts, said before and done after), lifting a hold; and the Settings page (AppTest).
"""
from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime, time, timedelta, timezone

import pytest

from core.domain import Account, AccountStatus, Membership, Post, Role, Schedule, User, Workspace
from core.domain.catalog import Platform
from core.domain.errors import PermissionDenied, ValidationError
from core.domain.lifecycle import DeliveryState, PostStatus
from core.platforms.base import Profile, TokenSet
from core.rules.permissions import Actor
from core.services import accounts, workspaces
from core.services.connect import save_connected_account
from core.services.scheduler import Scheduler
from tests.page_harness import owner_world, page_opener

UTC = timezone.utc
BERLIN = "Europe/Berlin"


class W:
    pass


@pytest.fixture
def w(store, clock):
    w = W()
    w.store, w.clock = store, clock
    w.ws = store.add_workspace(Workspace(name="Acme", timezone_name=BERLIN, id="ws_acme"))
    w.other = store.add_workspace(Workspace(name="Other", id="ws_other"))
    w.people = {}
    for role in Role:
        user = store.add_user(User(email=f"{role.value}@acme.test", id=f"u_{role.value}"))
        store.set_membership(Membership(user_id=user.id, workspace_id=w.ws.id, role=role))
        w.people[role] = Actor.of(store, user.id)
    outsider = store.add_user(User(email="owner@other.test", id="u_out"))
    store.set_membership(Membership(user_id=outsider.id, workspace_id=w.other.id, role=Role.OWNER))
    w.outsider = Actor.of(store, outsider.id)
    w.owner = w.people[Role.OWNER]
    w.x = store.save_account(Account(platform=Platform.X, handle="@acme", oauth_token="x-token",
                                     workspace_id=w.ws.id, id="a_x"))
    w.li = store.save_account(Account(platform=Platform.LINKEDIN, handle="Acme Inc", oauth_token="li-token",
                                      workspace_id=w.ws.id, id="a_li"))
    return w


def plan(w, pid, day: date, wall: time, accounts=None, **kw):
    post = Post(caption=f"Caption of {pid}", accounts=accounts or (w.x,), workspace_id=w.ws.id,
                schedule=Schedule.at_local(day, wall, BERLIN))
    return Scheduler(w.store, clock=w.clock).schedule_post(pid, post, **kw)


# ---------------------------------------------------------------- settings

def test_owner_changes_settings_and_it_is_recorded(w):
    saved = workspaces.update_settings(w.store, w.owner, w.ws.id, {
        "name": "Acme Studio", "preferred_time": "10:30", "queue_slots": {0: ["08:00", "13:15"], 5: []},
        "requires_approval": True, "approval_by_other": True}, clock=w.clock)
    got = w.store.get_workspace(w.ws.id)
    assert got == saved
    assert (got.name, got.preferred_time, got.requires_approval, got.approval_by_other) == \
        ("Acme Studio", time(10, 30), True, True)
    assert got.queue_slots == {0: (time(8, 0), time(13, 15)), 5: ()}
    event = w.store.list_events(workspace_id=w.ws.id)[0]
    assert event.action == "workspace.settings_changed" and event.actor == w.owner.label
    assert event.details["fields"] == ["approval_by_other", "name", "preferred_time", "queue_slots",
                                       "requires_approval"]


@pytest.mark.parametrize("role", [Role.EDITOR, Role.APPROVER, Role.VIEWER])
def test_only_the_owner_changes_settings(w, role):
    with pytest.raises(PermissionDenied, match="cannot manage"):
        workspaces.update_settings(w.store, w.people[role], w.ws.id, {"name": "Hijacked"})
    with pytest.raises(PermissionDenied, match="You are not a member of this workspace"):
        workspaces.update_settings(w.store, w.outsider, w.ws.id, {"name": "Hijacked"})
    assert w.store.get_workspace(w.ws.id).name == "Acme"
    # Anyone in the workspace may read them; an outsider may not.
    assert workspaces.settings_of(w.store, w.people[role], w.ws.id).name == "Acme"
    with pytest.raises(PermissionDenied):
        workspaces.settings_of(w.store, w.outsider, w.ws.id)


def test_bad_values_are_refused_all_at_once_and_nothing_is_saved(w):
    with pytest.raises(ValidationError) as err:
        workspaces.update_settings(w.store, w.owner, w.ws.id, {"timezone_name": "Mars/Olympus",
                                                               "preferred_time": "25:99",
                                                               "queue_slots": {0: ["9am"]}})
    text = str(err.value)
    assert "'Mars/Olympus' is not a timezone Outpost knows" in text
    assert "'25:99' is not a time of day" in text and "'9am' is not a time of day" in text
    with pytest.raises(ValidationError, match="A workspace needs a name"):
        workspaces.update_settings(w.store, w.owner, w.ws.id, {"name": "  "})
    with pytest.raises(ValidationError, match="cannot be changed here: id"):
        workspaces.update_settings(w.store, w.owner, w.ws.id, {"id": "ws_other"})
    assert w.store.get_workspace(w.ws.id) == w.ws
    assert w.store.list_events(workspace_id=w.ws.id) == []


def test_timezone_change_keeps_each_planned_instant_and_says_so(w):
    # T0 is Mon 4 Mar 2030 08:00 UTC. Two planned posts, one draft (not planned) and one in another workspace.
    plan(w, "p1", date(2030, 3, 6), time(9, 0))
    plan(w, "p2", date(2030, 3, 7), time(18, 30), accounts=(w.li,))
    Scheduler(w.store, clock=w.clock).save_draft("d1", Post(caption="draft", accounts=(w.x,), workspace_id=w.ws.id,
                                                             schedule=Schedule.at_local(date(2030, 3, 8), time(9, 0),
                                                                                        BERLIN)))
    impact = workspaces.timezone_change_impact(w.store, w.owner, w.ws.id, "America/New_York", now=w.clock())
    assert [(m.post_id, m.old_local.strftime("%a %H:%M"), m.new_local.strftime("%a %H:%M")) for m in impact.moves] \
        == [("p1", "Wed 09:00", "Wed 03:00"), ("p2", "Thu 18:30", "Thu 12:30")]
    assert impact.message.startswith("2 planned posts keep the moments they were planned for, so their clock "
                                     "times read differently in America/New_York")
    assert "Wed 06 Mar 09:00 in Europe/Berlin becomes Wed 06 Mar 03:00 in America/New_York" in impact.message
    before = {p: w.store.get_post(p).due_at for p in ("p1", "p2")}
    workspaces.update_settings(w.store, w.owner, w.ws.id, {"timezone_name": "America/New_York"}, clock=w.clock)
    # What the message said: the instants did not move.
    assert {p: w.store.get_post(p).due_at for p in ("p1", "p2")} == before
    assert before["p1"] == datetime(2030, 3, 6, 8, 0, tzinfo=UTC)
    event = w.store.list_events(workspace_id=w.ws.id)[0]
    assert event.details["timezone"] == {"from": BERLIN, "to": "America/New_York"}
    empty = workspaces.timezone_change_impact(w.store, w.owner, w.ws.id, "America/New_York")
    assert empty.message == "The timezone is unchanged."


# ---------------------------------------------------------------- disconnect and holds

def test_disconnect_says_what_happens_then_does_exactly_that(w):
    plan(w, "p1", date(2030, 3, 6), time(9, 0))                       # X only
    plan(w, "p2", date(2030, 3, 7), time(9, 0), accounts=(w.x, w.li))  # X and LinkedIn
    plan(w, "p3", date(2030, 3, 8), time(9, 0), accounts=(w.li,))      # LinkedIn only
    impact = accounts.disconnect_impact(w.store, w.owner, "a_x")
    assert [p.id for p, _ in impact.planned] == ["p1", "p2"]
    assert impact.message == ("2 planned posts to @acme on X will not go out there: that part of each is cancelled, "
                              "and connecting the account again does not bring them back. Other accounts on the same "
                              "posts still get them.")
    done = accounts.disconnect_account(w.store, w.owner, "a_x", clock=w.clock)
    assert [p.id for p, _ in done.planned] == ["p1", "p2"]
    acct = w.store.get_account("a_x")
    assert acct.status == AccountStatus.REVOKED and acct.oauth_token is None
    assert "Disconnected on 04 Mar 2030" in accounts.account_health_list(w.store, w.owner, w.ws.id,
                                                                         now=w.clock())[1].health
    states = {(d.post_id, d.account_id): d.state for p in ("p1", "p2", "p3") for d in w.store.get_deliveries(p)}
    assert states == {("p1", "a_x"): DeliveryState.CANCELLED, ("p2", "a_x"): DeliveryState.CANCELLED,
                      ("p2", "a_li"): DeliveryState.QUEUED, ("p3", "a_li"): DeliveryState.QUEUED}
    sched = Scheduler(w.store, clock=w.clock)
    assert sched.status("p1").status == PostStatus.CANCELLED
    assert sched.status("p2").status == PostStatus.SCHEDULED
    assert accounts.disconnect_impact(w.store, w.owner, "a_x").message == \
        "No planned posts go to @acme on X; nothing else changes."
    assert {e.action for e in w.store.list_events(workspace_id=w.ws.id)} >= {"account.disconnected",
                                                                            "delivery.cancelled"}


@pytest.mark.parametrize("role", [Role.EDITOR, Role.APPROVER, Role.VIEWER])
def test_only_the_owner_disconnects_or_lifts_a_hold(w, role):
    plan(w, "p1", date(2030, 3, 6), time(9, 0))
    w.store.hold_account("a_x", w.clock() + timedelta(hours=1), "X's limit")
    for op in (accounts.disconnect_impact, accounts.disconnect_account, accounts.lift_hold):
        with pytest.raises(PermissionDenied, match="cannot connect or change accounts"):
            op(w.store, w.people[role], "a_x")
        with pytest.raises(PermissionDenied, match="belongs to another workspace"):
            op(w.store, w.outsider, "a_x")
    assert w.store.get_account("a_x").status == AccountStatus.CONNECTED
    assert w.store.get_deliveries("p1")[0].state == DeliveryState.QUEUED
    assert "a_x" in w.store.account_holds(w.clock())


def test_lift_hold_and_health(w):
    w.store.hold_account("a_x", w.clock() + timedelta(hours=2), "X's limit: 300 posts in 3 hours.")
    rows = {r.account.id: r for r in accounts.account_health_list(w.store, w.people[Role.VIEWER], w.ws.id,
                                                                  now=w.clock())}
    assert rows["a_x"].held_until.strftime("%H:%M") == "11:00"  # 10:00 UTC in Berlin
    assert rows["a_x"].hold_reason == "X's limit: 300 posts in 3 hours."
    assert rows["a_li"].held_until is None and rows["a_x"].quota == "0 of 10"
    assert accounts.lift_hold(w.store, w.owner, "a_x", clock=w.clock) is True
    assert w.store.account_holds(w.clock()) == {}
    assert accounts.lift_hold(w.store, w.owner, "a_x", clock=w.clock) is False
    event = w.store.list_events(workspace_id=w.ws.id)[0]
    assert (event.action, event.reason) == ("account.hold_lifted", "X's limit: 300 posts in 3 hours.")
    with pytest.raises(PermissionDenied):
        accounts.account_health_list(w.store, w.outsider, w.ws.id, now=w.clock())


# ---------------------------------------------------------------- the Settings page (AppTest)

@pytest.fixture
def page(tmp_path, monkeypatch):
    with owner_world(tmp_path, monkeypatch, timezone_name=BERLIN) as (db, owner, ws):
        def open_as(user, path="../pages/settings.py"):
            return page_opener(db, ws.id, path)(user)

        yield db, owner, ws, open_as


def _member(db, ws, role):
    user = db.add_user(User(email=f"{role.value}@example.com"))
    db.set_membership(Membership(user_id=user.id, workspace_id=ws.id, role=role))
    return user


def test_settings_page_owner_saves(page):
    db, owner, ws, open_as = page
    at = open_as(owner)
    assert not at.exception and at.title[0].value == "Settings"
    assert any("No accounts connected yet" in i.value for i in at.info)
    at.text_input(key="settings_name").set_value("Brand Studio")
    at.text_input(key="settings_slots_5").set_value("10:00, 15:30")
    at.checkbox(key="settings_requires_approval").check()
    at.button(key="settings_save").click().run()
    assert not at.exception and not at.error
    got = db.get_workspace(ws.id)
    assert got.name == "Brand Studio" and got.requires_approval
    assert got.queue_slots[5] == (time(10, 0), time(15, 30))
    assert any("Settings saved." in s.value for s in at.success)
    # A bad time is refused in words, nothing saved.
    at.text_input(key="settings_slots_0").set_value("9am")
    at.button(key="settings_save").click().run()
    assert not at.exception
    assert any("'9am' is not a time of day" in e.value for e in at.error)
    assert db.get_workspace(ws.id).queue_slots[0] == got.queue_slots[0]


def test_settings_page_timezone_change_asks_first(page):
    db, owner, ws, open_as = page
    from core.domain.timeutil import utcnow, zone
    acct = db.save_account(Account(platform=Platform.LINKEDIN, handle="Brand Inc", workspace_id=ws.id, id="a_li"))
    day = (utcnow().astimezone(zone(BERLIN)) + timedelta(days=10)).date()
    Scheduler(db).schedule_post("p1", Post(caption="Launch", accounts=(acct,), workspace_id=ws.id,
                                           schedule=Schedule.at_local(day, time(9, 0), BERLIN)))
    at = open_as(owner)
    at.selectbox(key="settings_tz").set_value("UTC")
    at.button(key="settings_save").click().run()
    assert not at.exception
    assert db.get_workspace(ws.id).timezone_name == BERLIN   # not yet: it asks first
    warning = " ".join(w.value for w in at.warning)
    assert "1 planned post keeps the moment" in warning and "09:00 in Europe/Berlin" in warning
    at.button(key="settings_confirm_tz").click().run()
    assert not at.exception
    assert db.get_workspace(ws.id).timezone_name == "UTC"
    assert db.get_post("p1").due_at.astimezone(zone(BERLIN)).time() == time(9, 0)   # the instant stayed


def test_settings_page_limits_per_account(page):
    db, owner, ws, open_as = page
    db.save_account(Account(platform=Platform.X, handle="@brand", workspace_id=ws.id, id="a_x"))
    at = open_as(owner)
    at.number_input(key="cap_a_x").set_value(4)
    at.number_input(key="gap_a_x").set_value(45)
    at.button(key="limits_save").click().run()
    assert not at.exception
    got = db.get_account("a_x")
    assert (got.daily_cap, got.min_gap_minutes) == (4, 45)
    assert any("Saved the limits of 1 account." in s.value for s in at.success)


@pytest.mark.parametrize("role", [Role.EDITOR, Role.VIEWER])
def test_settings_page_is_read_only_for_others(page, role):
    db, owner, ws, open_as = page
    db.save_account(Account(platform=Platform.X, handle="@brand", workspace_id=ws.id, id="a_x"))
    at = open_as(_member(db, ws, role))
    assert not at.exception
    assert any("Only the workspace owner can change these settings" in i.value for i in at.info)
    assert at.text_input(key="settings_name").disabled and at.button(key="settings_save").disabled
    assert at.number_input(key="cap_a_x").disabled and at.button(key="limits_save").disabled


def test_connecting_again_after_a_disconnect_does_not_bring_cancelled_posts_back(w):
    """What the disconnect message promises: the account works again, its cancelled parts stay cancelled."""
    w.store.save_account(replace(w.x, external_id="x-1"))
    plan(w, "p1", date(2030, 3, 6), time(9, 0))
    accounts.disconnect_account(w.store, w.owner, "a_x", clock=w.clock)
    again = save_connected_account(w.store, user_id="u_owner", workspace_id=w.ws.id, platform=Platform.X,
                                   token=TokenSet(access_token="new-token"), profile=Profile(external_id="x-1",
                                                                                             handle="@acme"),
                                   now=w.clock())
    assert again.id == "a_x" and again.status == AccountStatus.CONNECTED and again.oauth_token == "new-token"
    assert "Disconnected" not in accounts.account_health_list(w.store, w.owner, w.ws.id, now=w.clock())[1].health
    assert w.store.get_deliveries("p1")[0].state == DeliveryState.CANCELLED


def test_settings_page_hashtag_groups_are_added_changed_and_deleted_by_editors_and_read_by_others(page):
    db, owner, ws, open_as = page
    editor = _member(db, ws, Role.EDITOR)
    at = open_as(editor)
    assert any("No saved hashtag groups yet." in i.value for i in at.info)
    at.text_input(key="settings_group_name").input("Spring launch")
    at.text_input(key="settings_group_tags").input("spring #launch #Spring")
    at.button(key="settings_group_add").click().run()
    assert not at.exception
    [group] = db.list_hashtag_groups(ws.id)
    assert group.name == "Spring launch" and group.hashtags == ("#spring", "#launch")
    assert "Saved the hashtag group 'Spring launch'." in [s.value for s in at.success]
    assert at.text_input(key="settings_group_rename").value == "Spring launch"       # ready to change
    at.text_input(key="settings_group_rename").input("Spring")
    at.text_input(key="settings_group_retag").input("#spring #sale")
    at.button(key="settings_group_save").click().run()
    [changed] = db.list_hashtag_groups(ws.id)
    assert changed.name == "Spring" and changed.hashtags == ("#spring", "#sale")

    viewer = _member(db, ws, Role.VIEWER)
    seen = open_as(viewer)
    assert not seen.exception
    assert [row for row in seen.table[-1].value.to_dict("records")] == [{"Group": "Spring", "Hashtags": "#spring #sale"}]
    assert not [b for b in seen.button if b.key and b.key.startswith("settings_group_")]

    at.button(key="settings_group_delete").click().run()
    assert db.list_hashtag_groups(ws.id) == []
    assert any("Deleted the hashtag group 'Spring'" in s.value for s in at.success)
