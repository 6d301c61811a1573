"""The composer (pages/compose.py) as a marketer uses it: saved hashtag groups, per-platform variants, an X thread,
a first comment and a repeating series; what it saves, what the preview shows, and that it is empty after saving.

The composer runs alone (AppTest.from_function over `pages.compose.composer`), as the Posts page draws it, so each
run is quick; the Posts page's own tests cover the page around it."""
from __future__ import annotations

from datetime import date, datetime, time, timedelta

import pytest

from core.domain import Account, Membership, Role, User
from core.domain.catalog import Platform
from core.domain.timeutil import zone
from core.rules.permissions import Actor
from core.services import hashtag_groups
from tests.page_harness import dashboard_store, owner_world


def _composer_app():
    import streamlit as st

    from core.services.views import workspace_accounts
    from pages.compose import composer
    from pages.shared import store

    ctx = st.session_state["ctx"]
    composer(ctx, workspace_accounts(store(), ctx.workspace.id, actor=ctx.actor))


@pytest.fixture(scope="module")
def template(tmp_path_factory):
    """The dashboard's data directory with its owner, workspace and three accounts, made once for the module (its
    migrations and the owner's password hashing are most of a test's time); each test works on a copy."""
    import sqlalchemy as sa
    path = tmp_path_factory.mktemp("compose_world")
    with pytest.MonkeyPatch.context() as mp, owner_world(path, mp) as (db, owner, ws):
        accounts = [db.save_account(Account(platform=p, handle=h, display_name="Brand Studio", workspace_id=ws.id))
                    for p, h in (("x", "@brand"), ("instagram", "@brand.studio"), ("linkedin", "brand-studio"))]
        with db.engine.connect() as conn:
            conn.execute(sa.text("PRAGMA wal_checkpoint(TRUNCATE)"))
        return path, owner.id, ws.id, [a.id for a in accounts]


@pytest.fixture
def world(template, tmp_path, monkeypatch):
    import shutil

    from streamlit.testing.v1 import AppTest

    from pages import shared
    path, owner_id, ws_id, account_ids = template
    for f in path.iterdir():
        if f.is_file() and not f.name.endswith("-shm"):
            shutil.copy(f, tmp_path / f.name)
    with dashboard_store(tmp_path, monkeypatch) as db:
        owner, ws = db.get_user(owner_id), db.get_workspace(ws_id)
        accounts = [db.get_account(i) for i in account_ids]

        def open_as(user, **state):
            at = AppTest.from_function(_composer_app, default_timeout=30)
            at.session_state["ctx"] = shared.Context(user=user, workspace=db.get_workspace(ws.id),
                                                     membership=db.get_membership(user.id, ws.id))
            for key, value in state.items():
                at.session_state[key] = value
            return at.run()

        yield db, owner, ws, open_as, accounts


def _html(at) -> str:
    return "\n".join(str(e.proto.body) for e in at.get("html"))


def _member(db, ws, role: Role) -> User:
    user = db.add_user(User(email=f"{role.value}@example.com"))
    db.set_membership(Membership(user_id=user.id, workspace_id=ws.id, role=role))
    return user


# ---------------------------------------------------------------- saved hashtag groups

def test_a_saved_group_adds_its_tags_once_and_new_groups_are_saved_renamed_and_deleted(world):
    db, owner, ws, open_as, (x, ig, li) = world
    at = open_as(owner)
    at.text_input(key="compose_hashtags").input("#spring launch")
    at.text_input(key="compose_group_name").input("Spring launch")
    at.button(key="compose_group_create").click().run()
    [group] = db.list_hashtag_groups(ws.id)
    assert group.name == "Spring launch" and group.hashtags == ("#spring", "#launch")
    assert "Saved the group 'Spring launch' (#spring #launch)." in [s.value for s in at.success]

    at.text_input(key="compose_hashtags").input("#Launch #promo").run()
    at.selectbox(key="compose_group_pick").set_value(group.id).run()
    assert at.text_input(key="compose_hashtags").value == "#Launch #promo #spring"      # #launch not twice
    assert at.selectbox(key="compose_group_pick").value is None                       # ready for the next one

    at.text_input(key="compose_group_name").input("spring LAUNCH")
    at.button(key="compose_group_create").click().run()
    assert [e.value for e in at.error] == [
        "There is already a hashtag group called 'spring LAUNCH'; choose another name."]
    assert len(db.list_hashtag_groups(ws.id)) == 1

    at.selectbox(key="compose_group_edit").set_value(group.id)
    at.text_input(key="compose_group_rename").input("Spring")
    at.button(key="compose_group_rename_btn").click().run()
    assert [g.name for g in db.list_hashtag_groups(ws.id)] == ["Spring"]
    at.text_input(key="compose_hashtags").input("#spring #sale").run()
    at.button(key="compose_group_retag").click().run()
    assert db.list_hashtag_groups(ws.id)[0].hashtags == ("#spring", "#sale")
    at.button(key="compose_group_delete").click().run()
    assert db.list_hashtag_groups(ws.id) == []
    assert any("Deleted the group 'Spring'" in s.value for s in at.success)


def test_a_viewer_in_the_composer_would_not_manage_groups_and_an_approver_cannot(world):
    """The composer is only drawn for people who may write posts; a group's management is only offered to those
    who may change groups, and core refuses anyone else (tests/test_hashtag_groups.py)."""
    db, owner, ws, open_as, _ = world
    hashtag_groups.create_group(db, Actor.of(db, owner.id), ws.id, "Launch", "#launch")
    approver = _member(db, ws, Role.APPROVER)
    at = open_as(approver)
    assert not at.exception
    assert at.selectbox(key="compose_group_pick").options == ["Launch: #launch"]       # every member may use them
    assert not [w for w in at.text_input if w.key == "compose_group_name"]             # but not manage them


# ---------------------------------------------------------------- per-platform variants

def test_a_linkedin_variant_is_what_linkedin_previews_and_saves_and_untick_falls_back(world):
    db, owner, ws, open_as, (x, ig, li) = world
    at = open_as(owner, compose_mode="Save as draft")
    at.multiselect(key="compose_accounts").set_value([x.id, li.id])
    at.text_area(key="compose_caption").input("Short and sweet.")
    at.text_input(key="compose_hashtags").input("#spring").run()
    at.checkbox(key="compose_v_linkedin").check().run()
    assert at.text_area(key="compose_v_linkedin_caption").value == "Short and sweet."   # starts from the post's own
    at.text_area(key="compose_v_linkedin_caption").input("A longer note for our professional network.")
    at.text_input(key="compose_v_linkedin_hashtags").input("#hiring").run()
    html = _html(at)
    assert "A longer note for our professional network." in html and "#hiring" in html
    assert "Short and sweet." in html                                                  # X keeps the post's own
    linkedin = [c.value for c in at.caption if c.value.startswith("LinkedIn: ")]
    assert linkedin == [f"LinkedIn: {len('A longer note for our professional network.') + 2 + len('#hiring')} / "
                        "3,000 characters"]

    at.checkbox(key="compose_v_linkedin").uncheck().run()
    assert "A longer note" not in _html(at)                                            # unticked: the post's own
    at.checkbox(key="compose_v_linkedin").check().run()
    assert at.text_area(key="compose_v_linkedin_caption").value == "Short and sweet."
    at.text_area(key="compose_v_linkedin_caption").input("Only on LinkedIn.").run()
    at.button(key="compose_submit").click().run()
    assert not at.exception
    [post] = db.list_posts(workspace_id=ws.id)
    assert post.caption == "Short and sweet." and post.render("linkedin").caption == "Only on LinkedIn."
    assert post.render("x").caption == "Short and sweet."
    assert post.variants[Platform.LINKEDIN].hashtags is None        # left as the post's own: not an override
    assert at.checkbox(key="compose_v_linkedin").value is False                        # the next post starts plain
    assert "Only on LinkedIn." not in _html(at)


def test_a_variant_with_a_bad_hashtag_is_named_by_its_platform_and_nothing_is_saved(world):
    db, owner, ws, open_as, (x, ig, li) = world
    at = open_as(owner, compose_accounts=[li.id], compose_mode="Save as draft")
    at.text_area(key="compose_caption").input("Hello")
    at.checkbox(key="compose_v_linkedin").check().run()
    at.text_input(key="compose_v_linkedin_hashtags").input("#good #bad-tag").run()
    assert any("Hashtags on LinkedIn: '#bad-tag' is not a hashtag" in e.value for e in at.error)
    at.button(key="compose_submit").click().run()
    assert db.list_posts(workspace_id=ws.id) == []


# ---------------------------------------------------------------- X thread and first comment

def test_a_long_x_text_goes_out_as_an_edited_numbered_thread(world):
    db, owner, ws, open_as, (x, ig, li) = world
    at = open_as(owner, compose_accounts=[x.id], compose_mode="Save as draft")
    caption = "We are launching our spring collection today. " * 8
    at.text_area(key="compose_caption").input(caption).run()
    assert "Tick \"Post as a thread on X\"" in _html(at)
    at.checkbox(key="compose_thread").check().run()
    parts = [at.text_area(key=f"compose_thread_{i}").value for i in range(2)]
    assert parts[0].endswith(" 1/2") and parts[1].endswith(" 2/2")                   # split at sentence ends
    assert parts[0].rstrip(" 1/2").endswith("today.")
    at.text_area(key="compose_thread_1").input("And it is 20% off this week. 2/2").run()
    assert not any("caption changed" in c.value for c in at.caption)
    html = _html(at)
    assert "A thread of 2 posts" in html and "And it is 20% off this week. 2/2" in html
    assert "Outpost sends one post" not in html
    assert "X: a thread of 2 posts" in [c.value for c in at.caption]
    at.text_area(key="compose_caption").input(caption + "See you there.").run()    # the thread is not redone
    assert any("caption changed since this thread was split" in c.value for c in at.caption)
    at.button(key="compose_submit").click().run()
    assert not at.exception, at.exception
    [post] = db.list_posts(workspace_id=ws.id)
    rendered = post.render("x")
    assert rendered.text == parts[0] and rendered.thread == ("And it is 20% off this week. 2/2",)
    assert at.text_area(key="compose_caption").value == "" and "compose_thread" not in [c.key for c in at.checkbox]
    at.text_area(key="compose_caption").input(caption).run()                          # the next long text: offered
    assert at.checkbox(key="compose_thread").value is False                           # again, not already on


def test_a_first_comment_goes_where_the_platform_takes_one_and_is_left_off_elsewhere(world):
    db, owner, ws, open_as, (x, ig, li) = world
    at = open_as(owner, compose_accounts=[x.id, li.id], compose_mode="Save as draft")
    assert "Posted under the post on LinkedIn. X does not let Outpost add a first comment, so it is left off " \
           "there." in [c.value for c in at.caption]
    at.text_area(key="compose_caption").input("Our new season is here.")
    at.text_area(key="compose_first_comment").input("Shop it at brand.example/spring").run()
    assert "First comment" in _html(at) and _html(at).count("Shop it at brand.example/spring") == 1
    assert not any("first comment" in w.value for w in at.warning)   # not for X: it is said above
    at.button(key="compose_submit").click().run()
    [post] = db.list_posts(workspace_id=ws.id)
    assert post.render("linkedin").first_comment == "Shop it at brand.example/spring"
    assert post.render("x").first_comment == ""
    assert at.text_area(key="compose_first_comment").value == ""

    at.multiselect(key="compose_accounts").set_value([x.id]).run()
    assert "First comment: X does not let Outpost add one." in [c.value for c in at.caption]
    assert not [w for w in at.text_area if w.key == "compose_first_comment"]


# ---------------------------------------------------------------- a repeating series

def test_a_weekly_series_shows_its_next_posts_in_the_workspace_zone_and_is_saved_with_its_rule(world):
    db, owner, ws, open_as, (x, ig, li) = world
    tz = zone(ws.timezone_name)
    tomorrow = (datetime.now(tz) + timedelta(days=1)).date()
    monday = tomorrow + timedelta(days=(7 - tomorrow.weekday()) % 7)
    at = open_as(owner, compose_accounts=[li.id], compose_mode="Repeat on a schedule")
    at.text_area(key="compose_caption").input("Monday tip")
    at.date_input(key="compose_date").set_value(monday)
    at.time_input(key="compose_time").set_value(time(8, 30)).run()
    at.multiselect(key="compose_rep_days").set_value(["MO", "TH"])
    at.radio(key="compose_rep_ends").set_value("after").run()
    at.number_input(key="compose_rep_count").set_value(3).run()
    [info] = [i.value for i in at.info if "Repeats" in i.value]
    assert info.startswith("**Repeats every week on Mon, Thu, 3 times.** The next posts, in Europe/Berlin:")
    expected = [monday, monday + timedelta(days=3), monday + timedelta(days=7)]
    for day in expected:
        assert f"{day:%a %d %b %Y} 08:30" in info
    assert info.count("08:30") == 3
    at.button(key="compose_submit").click().run()
    assert not at.exception
    [post] = db.list_posts(workspace_id=ws.id)
    assert post.recurrence == "FREQ=WEEKLY;BYDAY=MO,TH;COUNT=3"
    assert post.due_at.astimezone(tz).replace(tzinfo=None) == datetime.combine(monday, time(8, 30))
    [done] = [s.value for s in at.success]
    assert done.startswith("Repeats every week on Mon, Thu, 3 times: the first post goes out")
    assert at.radio(key="compose_mode").value == "At a date and time"                 # never inherited


def test_a_series_that_cannot_be_built_is_said_in_words_and_not_saved(world):
    db, owner, ws, open_as, (x, ig, li) = world
    at = open_as(owner, compose_accounts=[li.id], compose_mode="Repeat on a schedule")
    at.text_area(key="compose_caption").input("Tip")
    at.multiselect(key="compose_rep_days").set_value([])
    at.radio(key="compose_rep_ends").set_value("on").run()
    at.date_input(key="compose_rep_until").set_value(date(2020, 1, 1)).run()
    [err] = at.error
    assert "Choose at least one day of the week for a weekly post." in err.value
    assert "cannot end (01 Jan 2020) before its first post" in err.value
    at.button(key="compose_submit").click().run()
    assert db.list_posts(workspace_id=ws.id) == []


def test_a_png_upload_for_instagram_and_x_is_converted_for_instagram_only_and_a_png_link_is_refused_once(
        world, monkeypatch):
    """Streamlit's test runner cannot drive a file uploader, so the upload step stores a PNG the way it would."""
    import io

    from PIL import Image

    from pages import compose
    from pages.shared import media_library
    db, owner, ws, open_as, (x, ig, li) = world
    out = io.BytesIO()
    Image.new("RGBA", (80, 100), (10, 120, 200, 128)).save(out, "PNG")
    data = out.getvalue()

    def uploads(key):
        stored = media_library().save(data, filename="Launch.png", content_type="image/png")
        return [stored.public_url], {stored.public_url: "data:image/png;base64,AAAA"}, {stored.public_url: (80, 100)}

    monkeypatch.setattr(compose, "_uploads", uploads)
    at = open_as(owner, compose_mode="Save as draft")
    at.multiselect(key="compose_accounts").set_value([x.id, ig.id])
    at.text_area(key="compose_caption").input("Launch day").run()
    assert not [e.value for e in at.error if "JPEG" in e.value]
    assert _html(at).count("data:image/png;base64,AAAA") == 2        # both previews show the upload
    at.button(key="compose_submit").click().run()
    assert not at.exception and not at.error
    [post] = db.list_posts(workspace_id=ws.id)
    assert post.render(Platform.INSTAGRAM).media_urls[0].endswith(".jpg")      # Instagram gets a JPEG made for it
    assert post.render(Platform.X).media_urls[0].endswith(".png")              # X keeps the PNG

    monkeypatch.setattr(compose, "_uploads", lambda key: ([], {}, {}))
    at = open_as(owner)
    at.multiselect(key="compose_accounts").set_value([x.id, ig.id])
    at.text_area(key="compose_caption").input("Launch day")
    at.text_area(key="compose_media").input("https://cdn.example.com/shots/Launch.png").run()
    [error] = [e.value for e in at.error]
    assert error.count("JPEG images only") == 1 and "Launch.png" in error and "Upload the file" in error


def test_with_approval_required_the_button_says_it_sends_for_approval(world):
    from dataclasses import replace
    db, owner, ws, open_as, accounts = world
    assert open_as(owner).button(key="compose_submit").label == "Schedule post"
    db.update_workspace(replace(db.get_workspace(ws.id), requires_approval=True))
    at = open_as(owner)
    assert not at.exception and at.button(key="compose_submit").label == "Send for approval"


def test_a_text_too_long_for_any_thread_is_not_split_into_boxes_and_says_why(world):
    db, owner, ws, open_as, (x, ig, li) = world
    at = open_as(owner, compose_accounts=[x.id], compose_mode="Save as draft")
    at.text_area(key="compose_caption").input("We are launching our spring collection today. " * 400).run()
    html = _html(at)
    assert "too long for a thread, X takes at most 25" in html and "posts. Tick" in html
    at.checkbox(key="compose_thread").check().run()
    assert not at.exception
    assert at.checkbox(key="compose_thread").value is False
    assert not [t for t in at.text_area if (t.key or "").startswith("compose_thread_")]
    assert any("which takes at most 25 in a thread. Shorten it first." in w.value for w in at.warning)


# ---------------------------------------------------------------- a new user's findings (the first comment's limit,
# the default time, what stays after saving)

def test_the_first_comments_counter_shows_the_chosen_platforms_limit_not_the_fields_guard(world):
    db, owner, ws, open_as, (x, ig, li) = world
    at = open_as(owner, compose_accounts=[ig.id])
    at.text_area(key="compose_first_comment").input("c" * 53).run()
    assert at.text_area(key="compose_first_comment").proto.max_chars == 0        # no "53/100000" under the field
    assert "First comment: 53 / 2,200 characters (Instagram's limit for a comment)." in [c.value for c in at.caption]
    at.multiselect(key="compose_accounts").set_value([ig.id, li.id, x.id]).run()  # the smallest of the chosen
    assert ("First comment: 53 / 1,250 characters (LinkedIn's limit for a comment, the smallest of the chosen "
            "platforms).") in [c.value for c in at.caption]


def test_a_first_comment_over_the_limit_is_said_in_red_and_refused_in_words_at_save(world):
    db, owner, ws, open_as, (x, ig, li) = world
    at = open_as(owner, compose_accounts=[li.id], compose_mode="Save as draft")
    at.text_area(key="compose_caption").input("Our new season is here.")
    at.text_area(key="compose_first_comment").input("c" * 1300).run()
    assert ("First comment: 1,300 / 1,250 characters, 50 over LinkedIn's limit for a comment. Shorten it."
            in [e.value for e in at.error])
    at.button(key="compose_submit").click().run()
    assert not at.exception and db.list_posts(workspace_id=ws.id) == []
    assert any("LinkedIn allows 1,250 characters in a comment; the first comment has 1,300." in e.value
               for e in at.error)
    assert at.text_area(key="compose_first_comment").value == "c" * 1300              # kept, to be shortened


def _berlin_clock(monkeypatch, days_ahead: int, hour: int, minute: int) -> dict:
    """The clock the composer reads, set to `hour`:`minute` in Berlin `days_ahead` days from today (in the future,
    so the Scheduler, on the real clock, takes what is saved); returns it, to be moved."""
    day = datetime.now(zone("Europe/Berlin")).date() + timedelta(days=days_ahead)
    while day.weekday() >= 5:                      # a weekday: the default queue times are 09:00, 12:30, 17:00
        day += timedelta(days=1)
    clock = {"now": datetime.combine(day, time(hour, minute), zone("Europe/Berlin"))}
    monkeypatch.setattr("core.domain.timeutil.utcnow", lambda: clock["now"].astimezone(zone("UTC")))
    return clock


@pytest.mark.parametrize("hour, minute, on_day, wall", [
    (8, 11, 0, time(9, 0)),      # the tester's case: today's 09:00 is still ahead (it was tomorrow's)
    (8, 50, 0, time(12, 30)),    # 10 minutes ahead is too close: the next queue time today
    (17, 30, 1, time(9, 0)),     # the day is over: tomorrow's preferred time
])
def test_the_default_date_and_time_is_the_next_sensible_moment_in_the_workspaces_zone(world, monkeypatch, hour,
                                                                                       minute, on_day, wall):
    db, owner, ws, open_as, (x, ig, li) = world
    clock = _berlin_clock(monkeypatch, 7, hour, minute)
    at = open_as(owner, compose_accounts=[li.id])
    assert at.date_input(key="compose_date").value == clock["now"].date() + timedelta(days=on_day)
    assert at.time_input(key="compose_time").value == wall
    assert "In Europe/Berlin. Your preferred posting time is 09:00." in [c.value for c in at.caption]


def test_after_scheduling_the_post_is_emptied_the_accounts_stay_and_the_time_is_the_next_default(world, monkeypatch):
    db, owner, ws, open_as, (x, ig, li) = world
    clock = _berlin_clock(monkeypatch, 7, 8, 11)
    at = open_as(owner, compose_accounts=[x.id, li.id])
    at.text_area(key="compose_caption").input("Spring is here.")
    at.text_input(key="compose_hashtags").input("#spring")
    at.text_area(key="compose_first_comment").input("More at brand.example").run()
    at.time_input(key="compose_time").set_value(time(18, 0)).run()
    clock["now"] += timedelta(hours=9)                        # saved at 17:11: no queue time is left today
    at.button(key="compose_submit").click().run()
    assert not at.exception
    [post] = db.list_posts(workspace_id=ws.id)
    assert post.schedule.local.replace(tzinfo=None) == datetime.combine(clock["now"].date(), time(18, 0))
    assert at.success[0].value.startswith("Scheduled: it goes out")
    assert (at.text_area(key="compose_caption").value, at.text_input(key="compose_hashtags").value,
            at.text_area(key="compose_first_comment").value) == ("", "", "")
    assert at.multiselect(key="compose_accounts").value == [x.id, li.id]          # where it goes stays
    assert at.date_input(key="compose_date").value == clock["now"].date() + timedelta(days=1)
    assert at.time_input(key="compose_time").value == time(9, 0)                 # not 18:00 again
