"""The Posts page acts as the signed-in person: what it shows follows the role, and what it writes is checked
in core (core.rules.permissions) and recorded in their name."""
from __future__ import annotations

import pytest

from core.domain import Membership, Role, User
from tests.page_harness import owner_world, page_opener


@pytest.fixture
def page(tmp_path, monkeypatch):
    with owner_world(tmp_path, monkeypatch) as (db, owner, ws):
        yield db, owner, ws, page_opener(db, ws.id, "../pages/posts.py")


# An owner adding a sandbox account (connected through the emulator): tests/test_practice_accounts.py.


@pytest.mark.parametrize("role, composer, add_account", [
    (Role.EDITOR, True, False),     # writes posts, cannot add accounts
    (Role.APPROVER, False, False),  # approves, does not write
    (Role.VIEWER, False, False),    # only looks
])
def test_what_each_role_is_offered(page, role, composer, add_account):
    db, owner, ws, open_as = page
    person = db.add_user(User(email=f"{role}@example.com"))
    db.set_membership(Membership(user_id=person.id, workspace_id=ws.id, role=role))
    at = open_as(person)
    assert not at.exception
    keys = {b.key for b in at.button}
    assert ("new_acc_add" in keys) == add_account
    assert (len(at.expander) > 0) == composer


def test_an_editor_settles_a_post_the_runner_could_not_confirm(page):
    from datetime import timedelta

    from core.domain import Account, Delivery, Post, Schedule
    from core.domain.lifecycle import DeliveryState, PostState
    from core.domain.timeutil import utcnow
    db, owner, ws, open_as = page
    now = utcnow()
    acct = db.save_account(Account(platform="linkedin", handle="@brand", workspace_id=ws.id))
    db.add_post(Post(caption="Hello", accounts=(acct,), schedule=Schedule(scheduled_at=now - timedelta(minutes=5)),
                     workspace_id=ws.id, state=PostState.APPROVED, id="p1"),
                [Delivery(post_id="p1", account_id=acct.id, platform="linkedin", due_at=now - timedelta(minutes=5),
                          id="d1")])
    [claimed] = db.claim_due(now, runner_id="r", lease_until=now + timedelta(minutes=2))
    db.save_progress("d1", "r", "sent", now.isoformat())
    db.finish_delivery(claimed.needs_review(evidence="The answer was lost."), runner_id="r")
    editor = db.add_user(User(email="ed@example.com"))
    db.set_membership(Membership(user_id=editor.id, workspace_id=ws.id, role=Role.EDITOR))
    viewer = db.add_user(User(email="vi@example.com"))
    db.set_membership(Membership(user_id=viewer.id, workspace_id=ws.id, role=Role.VIEWER))
    assert "live_d1" not in {b.key for b in open_as(viewer).button}          # a viewer only sees it

    at = open_as(editor)
    at.button(key="live_d1").click().run()
    assert not at.exception and not at.error
    assert db.get_delivery("d1").state == DeliveryState.PUBLISHED
    [event] = [e for e in db.list_events(subject_id="d1") if e.action == "delivery.confirmed_published"]
    assert event.actor == f"user:{editor.id}"


def test_the_page_shows_only_the_current_workspaces_accounts_and_posts(page):
    """A person in two workspaces sees, on each, only that workspace's accounts (in the composer) and posts."""
    from core.domain import Account, Post, Workspace
    from core.rules.permissions import Actor
    from core.services.scheduler import Scheduler
    db, owner, ws, open_as = page
    other = db.add_workspace(Workspace(name="Side project"))
    db.set_membership(Membership(user_id=owner.id, workspace_id=other.id, role=Role.OWNER))
    mine = db.save_account(Account(platform="x", handle="@brand", workspace_id=ws.id))
    theirs = db.save_account(Account(platform="x", handle="@side", workspace_id=other.id))
    script = Scheduler(db, actor=Actor.system("test"))
    script.save_draft("p_brand", Post(account=mine, caption="For the brand", workspace_id=ws.id))
    script.save_draft("p_side", Post(account=theirs, caption="For the side project", workspace_id=other.id))
    at = open_as(owner, posts_composing=True)
    assert not at.exception
    assert at.multiselect(key="compose_accounts").options == [mine.label]
    assert list(at.dataframe[0].value["caption"]) == ["For the brand"]


# ---------------------------------------------------------------- the composer

@pytest.fixture
def composer(page):
    """The owner on the Posts page of a Berlin workspace with an X, an Instagram and a LinkedIn account."""
    from core.domain import Account
    db, owner, ws, open_as = page
    accounts = [db.save_account(Account(platform=p, handle=h, display_name="Brand Studio", workspace_id=ws.id))
                for p, h in (("x", "@brand"), ("instagram", "@brand.studio"), ("linkedin", "brand-studio"))]
    return db, owner, ws, open_as, accounts


def _html(at) -> str:
    return "\n".join(str(e.proto.body) for e in at.get("html"))


def test_the_composer_is_empty_after_saving_so_nothing_leaks_into_the_next_post(composer):
    db, owner, ws, open_as, (x, ig, li) = composer
    at = open_as(owner)
    at.multiselect(key="compose_accounts").set_value([x.id, li.id])
    at.text_area(key="compose_caption").input("Spring is here.")
    at.text_input(key="compose_hashtags").input("#spring #launch")
    at.radio(key="compose_mode").set_value("Save as draft").run()
    at.button(key="compose_submit").click().run()
    assert not at.exception
    [post] = db.list_posts(workspace_id=ws.id)
    assert post.caption == "Spring is here." and post.hashtags == ("#spring", "#launch")
    assert [s.value for s in at.success] == [
        f"Saved as a draft for {x.label}, {li.label}. Nothing is published until you give it a time."]
    assert at.text_area(key="compose_caption").value == ""
    assert at.text_input(key="compose_hashtags").value == ""
    assert at.multiselect(key="compose_accounts").value == [x.id, li.id]   # where it goes may stay
    assert list(at.dataframe[0].value["caption"]) == ["Spring is here."]   # visible in the list at once


def test_a_past_time_is_refused_in_the_workspaces_zone_with_every_other_problem(composer):
    from datetime import datetime, timedelta

    from core.domain.timeutil import zone
    db, owner, ws, open_as, (x, ig, li) = composer
    at = open_as(owner)
    yesterday = (datetime.now(zone(ws.timezone_name)) - timedelta(days=1)).date()
    at.multiselect(key="compose_accounts").set_value([x.id, ig.id])
    at.text_area(key="compose_caption").input("Hello")
    at.date_input(key="compose_date").set_value(yesterday).run()
    [live] = at.error
    assert "has already passed" in live.value and ("CET" in live.value or "CEST" in live.value)
    assert "UTC" not in live.value
    assert "Instagram" in live.value                        # Instagram needs a photo: said in the same list
    at.button(key="compose_submit").click().run()
    assert not at.exception and db.list_posts(workspace_id=ws.id) == []
    assert all("UTC" not in e.value for e in at.error)
    assert any("has already passed" in e.value and "Instagram" in e.value for e in at.error)
    assert at.text_area(key="compose_caption").value == "Hello"   # nothing typed is lost on a refusal


def test_a_preview_per_chosen_platform_with_the_feeds_cut_and_the_text_escaped(composer):
    db, owner, ws, open_as, (x, ig, li) = composer
    at = open_as(owner)
    caption = "<b>Big</b> news. " + "We are launching our spring collection today. " * 8
    at.multiselect(key="compose_accounts").set_value([x.id, ig.id, li.id])
    at.text_area(key="compose_caption").input(caption).run()
    assert not at.exception
    html = _html(at)
    assert html.count(">Brand Studio<") == 3                                          # one card per platform
    assert "@brand.studio" in html and "… more" in html and "…see more" in html      # Instagram, LinkedIn cuts
    assert "this is 2 posts" in html and " 1/2" in html and " 2/2" in html           # X: a numbered thread
    assert "&lt;b&gt;Big&lt;/b&gt;" in html and "<b>Big</b>" not in html
    assert any("X: " in c.value and "/ 280 weighted characters" in c.value for c in at.error)   # over X's limit


def test_the_list_links_to_the_published_post(composer):
    from datetime import timedelta

    from core.domain import Delivery, Post, Schedule
    from core.domain.lifecycle import PostState
    from core.domain.timeutil import utcnow
    db, owner, ws, open_as, (x, ig, li) = composer
    now = utcnow()
    db.add_post(Post(caption="Live now", accounts=(x,), schedule=Schedule(scheduled_at=now - timedelta(minutes=1)),
                     workspace_id=ws.id, state=PostState.APPROVED, id="p1"),
                [Delivery(post_id="p1", account_id=x.id, platform="x", due_at=now - timedelta(minutes=1), id="d1")])
    at = open_as(owner, posts_section="Past")   # due a minute ago; opened before the runner publishes it
    assert list(at.dataframe[0].value["status"]) == ["Scheduled"]
    [claimed] = db.claim_due(now, runner_id="r", lease_until=now + timedelta(minutes=2))
    db.finish_delivery(claimed.mark_published(external_id="123", external_url="https://x.example/brand/status/123",
                                              at=now),
                       runner_id="r")
    at.run()                            # the list's fragment runs again on its own (run_every) in the browser
    frame = at.dataframe[0].value
    assert list(frame["status"]) == ["Published"]
    assert list(frame["link"]) == ["https://x.example/brand/status/123"]


def test_daily_caps_come_with_the_other_problems_and_warnings_are_said_in_the_workspaces_zone(composer):
    from datetime import datetime, time, timedelta

    from core.domain import Post, Schedule
    from core.domain.timeutil import zone
    from core.rules.permissions import Actor
    from core.services.scheduler import Scheduler
    db, owner, ws, open_as, (x, ig, li) = composer
    tomorrow = (datetime.now(zone(ws.timezone_name)) + timedelta(days=1)).date()
    script = Scheduler(db, actor=Actor.system("test"))
    for n, hour in enumerate((9, 10)):    # LinkedIn's default cap is 2 a day: tomorrow is full
        script.schedule_post(f"p{n}", Post(account=li, caption="Spring is here.", workspace_id=ws.id,
                                           schedule=Schedule.at_local(tomorrow, time(hour), ws.timezone_name)))
    at = open_as(owner, posts_composing=True)    # the workspace has posts: the composer is opened
    at.multiselect(key="compose_accounts").set_value([li.id])
    at.text_area(key="compose_caption").input("y" * 3100)
    at.date_input(key="compose_date").set_value(tomorrow)
    at.time_input(key="compose_time").set_value(time(9, 30)).run()
    at.button(key="compose_submit").click().run()
    assert not at.exception and len(db.list_posts(workspace_id=ws.id)) == 2
    shown = " ".join(e.value for e in at.error)
    assert "LinkedIn allows 3,000 characters" in shown                    # the content problem and
    # the full day, together (tomorrow in Berlin, named as the message names it: "Sat 5 Dec 2026")
    assert f"already has 2 posts on {tomorrow:%a} {tomorrow.day} {tomorrow:%b %Y}" in shown and "daily limit is 2" in shown

    # a free day: saved, with the same-hour and same-caption warnings in Berlin time
    script.cancel("p1")                   # the 10:00 goes: a place is free, the 09:00 stays
    at.text_area(key="compose_caption").input("Spring is here.").run()
    at.button(key="compose_submit").click().run()
    assert not at.exception and [s.value for s in at.success][0].startswith("Scheduled: it goes out")
    warned = " ".join(w.value for w in at.warning)
    assert "already has a post" in warned and "same caption" in warned
    assert ("CET" in warned or "CEST" in warned) and "UTC" not in warned


# ---------------------------------------------------------------- the list: upcoming first, then the past

@pytest.fixture
def history(page):
    """An X and a LinkedIn account with 60 posts due from tomorrow on (one a day, 09:00 UTC) and 3 that went
    out in the past week, one of them sandbox demo history."""
    from datetime import timedelta

    from core.domain import Account, Delivery, Post, Schedule
    from core.domain.lifecycle import PostState
    from core.domain.timeutil import utcnow
    db, owner, ws, open_as = page
    x = db.save_account(Account(platform="x", handle="@brand", workspace_id=ws.id))
    li = db.save_account(Account(platform="linkedin", handle="brand-co", workspace_id=ws.id))
    base = utcnow().replace(hour=9, minute=0, second=0, microsecond=0)

    def post(pid, at, acct, caption, **kw):
        db.add_post(Post(caption=caption, accounts=(acct,), schedule=Schedule(scheduled_at=at), workspace_id=ws.id,
                         state=PostState.APPROVED, id=pid, **kw),
                    [Delivery(post_id=pid, account_id=acct.id, platform=acct.platform, due_at=at, id=f"d_{pid}")])

    for n in range(60):
        post(f"up{n:02d}", base + timedelta(days=n + 1), x if n % 2 == 0 else li, f"Upcoming {n:02d}")
    for n, demo in ((1, False), (3, True), (5, False)):
        post(f"past{n}", base - timedelta(days=n), li, f"Went out {n} days ago", is_demo=demo)
    return db, owner, ws, open_as, x, li


def _captions(at, n):
    return list(at.dataframe[n].value["caption"])


def test_upcoming_posts_come_first_the_next_one_at_the_top_then_the_past_latest_first(history):
    db, owner, ws, open_as, x, li = history
    at = open_as(owner)
    assert not at.exception
    assert _captions(at, 0) == [f"Upcoming {n:02d}" for n in range(50)]      # the first page: 50 posts
    assert any(c.value.startswith("50 posts. More after these") for c in at.caption)
    at.button(key="posts_upcoming_more").click().run()                          # the other 10
    assert _captions(at, 0) == [f"Upcoming {n:02d}" for n in range(60)]
    assert "posts_upcoming_more" not in {b.key for b in at.button}             # nothing more to show
    at.segmented_control(key="posts_section").set_value("Past").run()
    assert _captions(at, 0) == ["Went out 1 days ago", "Went out 3 days ago", "Went out 5 days ago"]
    assert "posts_past_more" not in {b.key for b in at.button}


def test_the_composer_waits_behind_new_post_once_the_workspace_has_posts(history):
    db, owner, ws, open_as, x, li = history
    at = open_as(owner)
    assert "compose_caption" not in {a.key for a in at.text_area} and not at.expander
    at.button(key="posts_compose_open").click().run()
    assert "compose_caption" in {a.key for a in at.text_area}
    close = at.button(key="posts_compose_close")
    # a button a marketer recognises (bordered, with a close icon), not tertiary's plain text
    assert (close.label, close.proto.type, close.proto.icon) == ("Close the composer", "secondary", ":material/close:")
    close.click().run()
    assert "compose_caption" not in {a.key for a in at.text_area}
    # Something typed earlier was kept: the next visit (a reload) opens the composer with it.
    from core.rules.permissions import Actor
    from core.domain.timeutil import utcnow
    from core.services import composer_drafts
    composer_drafts.keep(db, Actor.of(db, owner.id), ws.id, {"compose_caption": "Half a post"}, now=utcnow())
    again = open_as(owner)
    assert again.text_area(key="compose_caption").value == "Half a post"


def test_demo_posts_are_tagged_demo(history):
    db, owner, ws, open_as, x, li = history
    at = open_as(owner)
    assert not any("Demo posts" in c.value for c in at.caption)           # none among the upcoming ones
    at.segmented_control(key="posts_section").set_value("Past").run()
    past = at.dataframe[0].value
    assert dict(zip(past["caption"], past["tags"])) == {"Went out 1 days ago": "", "Went out 3 days ago": "Demo",
                                                        "Went out 5 days ago": ""}
    assert any("Demo posts are sample history: they can be read, not acted on." in c.value for c in at.caption)


def test_the_list_filters_by_status_account_and_platform(history):
    db, owner, ws, open_as, x, li = history
    from core.rules.permissions import Actor
    from core.services.scheduler import Scheduler
    Scheduler(db, actor=Actor.system("test")).cancel("up00")
    at = open_as(owner)
    at.multiselect(key="posts_f_platforms").set_value(["x"]).run()
    assert _captions(at, 0)[:3] == ["Upcoming 00", "Upcoming 02", "Upcoming 04"]
    assert len(_captions(at, 0)) == 30 and "posts_upcoming_more" not in {b.key for b in at.button}
    at.segmented_control(key="posts_section").set_value("Past").run()
    assert not at.dataframe and [i.value for i in at.info] == ["Nothing in the past with these filters."]
    at.segmented_control(key="posts_section").set_value("Upcoming")
    at.multiselect(key="posts_f_platforms").set_value([])
    at.multiselect(key="posts_f_status").set_value(["cancelled"]).run()
    assert _captions(at, 0) == ["Upcoming 00"]
    at.multiselect(key="posts_f_status").set_value([])
    at.multiselect(key="posts_f_accounts").set_value([li.id]).run()
    assert _captions(at, 0)[:2] == ["Upcoming 01", "Upcoming 03"]
    at.segmented_control(key="posts_section").set_value("Past").run()
    assert len(_captions(at, 0)) == 3


def test_clicking_a_row_opens_the_post_dialog(history):
    db, owner, ws, open_as, x, li = history
    at = open_as(owner, posts_section="Past")
    at.session_state["posts_past_0"] = {"selection": {"rows": [0], "columns": [], "cells": []}}
    at.run()
    assert not at.exception
    assert at.session_state["open_post"] == "past1"
    assert "pd_caption_past1" in {a.key for a in at.text_area}       # the post dialog, with that post
    at.run()                                  # the click is acted on once: a fresh list has nothing selected
    assert "posts_past_1" in at.session_state and not at.session_state["posts_past_1"]["selection"]["rows"]


def test_a_post_the_runner_just_published_is_under_past_at_once_and_one_post_is_said_so(composer, monkeypatch):
    """Upcoming/Past used to split at the start of the minute: a post due at :10 and published at :20 stayed
    under Upcoming until the minute turned. The clock the page reads is frozen, then moved."""
    from datetime import timedelta

    from core.domain import Delivery, Post, Schedule
    from core.domain.lifecycle import PostState
    from core.domain.timeutil import utcnow
    db, owner, ws, open_as, (x, ig, li) = composer
    minute = utcnow().replace(second=0, microsecond=0) + timedelta(minutes=5)
    due = minute + timedelta(seconds=10)
    clock = {"now": minute + timedelta(seconds=5)}
    monkeypatch.setattr("core.domain.timeutil.utcnow", lambda: clock["now"])
    db.add_post(Post(caption="Going out now", accounts=(x,), schedule=Schedule(scheduled_at=due),
                     workspace_id=ws.id, state=PostState.APPROVED, id="p1"),
                [Delivery(post_id="p1", account_id=x.id, platform="x", due_at=due, id="d1")])
    at = open_as(owner)
    assert list(at.dataframe[0].value["caption"]) == ["Going out now"]          # not out yet: Upcoming
    assert any(c.value.startswith("1 post. ") for c in at.caption)              # not "1 post(s)"
    clock["now"] = minute + timedelta(seconds=20)                               # the runner publishes it at :20
    [claimed] = db.claim_due(due, runner_id="r", lease_until=due + timedelta(minutes=2))
    db.finish_delivery(claimed.mark_published(external_id="21", external_url="https://x.com/brand/status/21",
                                              at=clock["now"]), runner_id="r")
    at.run()                                                                    # the list's own refresh
    assert not at.dataframe and "Nothing planned" in at.info[0].value
    at.segmented_control(key="posts_section").set_value("Past").run()
    frame = at.dataframe[0].value
    assert list(frame["caption"]) == ["Going out now"] and list(frame["status"]) == ["Published"]
    # sandbox mode: the link opens the emulator's page for the post, not x.com
    assert list(frame["link"]) == ["http://127.0.0.1:9/web/x.com/brand/status/21"]


def test_the_post_dialog_opens_a_published_post_on_the_emulator_in_sandbox_mode(composer):
    from datetime import timedelta

    from core.domain import Delivery, Post, Schedule
    from core.domain.lifecycle import PostState
    from core.domain.timeutil import utcnow
    db, owner, ws, open_as, (x, ig, li) = composer
    now = utcnow()
    db.add_post(Post(caption="Live", accounts=(x,), schedule=Schedule(scheduled_at=now - timedelta(minutes=1)),
                     workspace_id=ws.id, state=PostState.APPROVED, id="p1"),
                [Delivery(post_id="p1", account_id=x.id, platform="x", due_at=now - timedelta(minutes=1), id="d1")])
    [claimed] = db.claim_due(now, runner_id="r", lease_until=now + timedelta(minutes=2))
    db.finish_delivery(claimed.mark_published(external_id="2128", at=now,
                                              external_url="https://x.com/sandbox_creator/status/2128"),
                       runner_id="r")
    at = open_as(owner, posts_section="Past", open_post="p1")
    assert not at.exception
    [button] = at.get("link_button")
    assert button.proto.label == "Open the post"
    assert button.proto.url == "http://127.0.0.1:9/web/x.com/sandbox_creator/status/2128"


def test_a_long_caption_is_cut_to_its_column_and_read_in_full_in_the_dialog(history):
    # The table fits a 1280-px window: each column has a width, the caption gets what the others leave, and a
    # caption longer than that ends in "…" at a word; the whole text is one click away, in the post's dialog.
    import json
    from datetime import timedelta

    from core.domain import Delivery, Post, Schedule
    from core.domain.lifecycle import PostState
    from core.domain.timeutil import utcnow
    db, owner, ws, open_as, x, li = history
    text = "Behind the scenes at 4 am: how our bakers shape three hundred croissants before sunrise, every day"
    at_ = utcnow() - timedelta(hours=2)
    db.add_post(Post(caption=text, accounts=(x, li), schedule=Schedule(scheduled_at=at_), workspace_id=ws.id,
                     state=PostState.APPROVED, id="long"),
                [Delivery(post_id="long", account_id=a.id, platform=a.platform, due_at=at_, id=f"d_long_{a.id}")
                 for a in (x, li)])
    at = open_as(owner, posts_section="Past")
    assert not at.exception
    frame = at.dataframe[0].value
    [shown] = [c for c in frame["caption"] if c.startswith("Behind the scenes")]
    assert shown.endswith("…") and len(shown) < 60 and text.startswith(shown[:-1])
    assert shown[:-1] == text[:len(shown) - 1] and text[len(shown) - 1] == " "       # cut between words
    assert "Upcoming" not in " ".join(frame["caption"]) and "Went out 1 days ago" in list(frame["caption"])
    [accounts] = [a for a, c in zip(frame["accounts"], frame["caption"]) if c == shown]
    assert accounts == "2 accounts: X, LinkedIn"          # two accounts: counted, with their platforms, not cut
    widths = {c: cfg.get("width") for c, cfg in json.loads(at.dataframe[0].proto.columns).items()}
    assert all(isinstance(widths[c], int) for c in ("when", "status", "accounts", "caption", "link"))
    row = list(frame["caption"]).index(shown)
    at.session_state["posts_past_0"] = {"selection": {"rows": [row], "columns": [], "cells": []}}
    at.run()
    assert at.session_state["open_post"] == "long" and at.text_area(key="pd_caption_long").value == text


@pytest.mark.parametrize("accounts, shown", [
    # the tester's post: one brand on two platforms ("acmecoffee on…" before), the platforms shortened to fit
    ([("instagram", "acmecoffee"), ("x", "acmecoffee")], "acmecoffee on IG, X"),
    # two handles that fit: each with its platforms
    ([("x", "@ac"), ("instagram", "ac.co")], "@ac on X; ac.co on IG"),
    # longer handles: counted, with their platforms
    ([("linkedin", "Acme Coffee Roasters"), ("x", "@acmecoffee")], "2 accounts: LinkedIn, X"),
    # more than that fits: counted, the platforms cut at one (all of them in the post's dialog)
    ([("linkedin", "Acme Coffee Roasters"), ("x", "@acmecoffee"), ("facebook", "Acme Coffee")],
     "3 accounts: LinkedIn…"),
    # one account: as before
    ([("instagram", "acmecoffee")], "acmecoffee on Instagram"),
])
def test_a_posts_accounts_are_readable_in_the_lists_narrow_column(page, accounts, shown):
    from datetime import timedelta

    from core.domain import Account, Delivery, Post, Schedule
    from core.domain.lifecycle import PostState
    from core.domain.timeutil import utcnow
    db, owner, ws, open_as = page
    saved = [db.save_account(Account(platform=p, handle=h, workspace_id=ws.id)) for p, h in accounts]
    due = utcnow() + timedelta(days=1)
    db.add_post(Post(caption="Our winter blend", accounts=tuple(saved), schedule=Schedule(scheduled_at=due),
                     workspace_id=ws.id, state=PostState.APPROVED, id="p1"),
                [Delivery(post_id="p1", account_id=a.id, platform=a.platform, due_at=due, id=f"d_{a.id}")
                 for a in saved])
    at = open_as(owner)
    assert not at.exception and list(at.dataframe[0].value["accounts"]) == [shown]


def test_an_account_that_cannot_post_is_named_above_the_list_with_the_way_to_fix_it(page):
    """A practice account never connected: its planned post waits. The Posts page says so at the top, with the
    reason and a button to Accounts, instead of the post just sitting there as 'Scheduled'."""
    from datetime import timedelta

    from core.domain import Account, Delivery, Post, Schedule
    from core.domain.lifecycle import PostState
    from core.domain.timeutil import utcnow
    db, owner, ws, open_as = page
    later = utcnow() + timedelta(days=2)
    acct = db.save_account(Account(platform="x", handle="@waiting_brand", workspace_id=ws.id))   # no tokens
    db.add_post(Post(caption="Hello", accounts=(acct,), schedule=Schedule(scheduled_at=later), workspace_id=ws.id,
                     state=PostState.APPROVED, id="p1"),
                [Delivery(post_id="p1", account_id=acct.id, platform="x", due_at=later, id="d1")])
    at = open_as(owner)
    assert not at.exception
    [warning] = [w.value for w in at.warning if "cannot post" in w.value]
    assert "@waiting_brand on X** cannot post: 1 planned post waits for it" in warning and "Connect X" in warning
    assert f"posts_blocked_{acct.id}" in {b.key for b in at.button}
