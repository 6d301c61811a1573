"""The Approvals page (AppTest): the queue by batch, each post as every target account's feed will show it (name
and handle, the text cut where the feed cuts it, media framed to the platform's shape, threads and per-platform
versions), approving a batch after a confirmation, rejecting with a reason, expired posts given a new time, and
what a viewer sees. The queue's rules are core's and tested in test_approvals.py."""
from __future__ import annotations

import io
from dataclasses import replace
from datetime import date, time, timedelta

import pytest

from core.domain import Account, Batch, Membership, Post, PostVariant, Role, Schedule, User, Workspace
from core.domain.catalog import Platform
from core.domain.lifecycle import PostStatus
from core.domain.timeutil import utcnow, zone
from core.services import approvals
from core.services.scheduler import Scheduler
from tests.page_harness import owner_world, page_opener

BERLIN = "Europe/Berlin"


@pytest.fixture
def page(tmp_path, monkeypatch):
    from pages.shared import media_library
    with owner_world(tmp_path, monkeypatch, timezone_name=BERLIN) as (db, owner, ws):
        db.update_workspace(replace(ws, requires_approval=True))
        media_library.clear()           # the library of this test's data directory
        yield db, owner, db.get_workspace(ws.id), page_opener(db, ws.id, "../pages/approvals.py")
        media_library.clear()


def _html(at) -> str:
    return "\n".join(str(e.proto.body) for e in at.get("html"))


def _cards(at) -> list[str]:
    return [str(e.proto.body) for e in at.get("html")]


def _in_days(days: int):
    return utcnow().astimezone(zone(BERLIN)).date() + timedelta(days=days)


def _two_batches(db, ws):
    """Two posts in a generated week, one in no batch, on LinkedIn and X, in the days ahead (Berlin)."""
    li = db.save_account(Account(platform=Platform.LINKEDIN, handle="Brand Inc", workspace_id=ws.id, id="a_li"))
    x = db.save_account(Account(platform=Platform.X, handle="@brand", workspace_id=ws.id, id="a_x"))
    db.save_batch(Batch(workspace_id=ws.id, week_start=date(2030, 3, 11), prompt="Spring launch", id="b1"))
    today = _in_days(0)
    for pid, days, batch, accounts in (("p1", 3, "b1", (li, x)), ("p2", 4, "b1", (li,)), ("p3", 5, None, (x,))):
        Scheduler(db).schedule_post(pid, Post(
            caption=f"Spring is here ({pid})", hashtags=("#spring",), accounts=accounts, workspace_id=ws.id,
            batch_id=batch, schedule=Schedule.at_local(today + timedelta(days=days), time(9), BERLIN)))
    return today


def _photo(width: int, height: int, fmt: str = "JPEG") -> str:
    """A photo stored in the dashboard's media library; its public link."""
    from PIL import Image

    from pages.shared import media_library
    out = io.BytesIO()
    Image.new("RGB", (width, height), (200, 90, 40)).save(out, fmt)
    return media_library().save(out.getvalue(), filename=f"photo.{fmt.lower()}",
                                content_type=f"image/{fmt.lower()}").public_url


def _submit(db, ws, pid, *, accounts, days=2, **fields):
    Scheduler(db).schedule_post(pid, Post(accounts=accounts, workspace_id=ws.id, **fields,
                                          schedule=Schedule.at_local(_in_days(days), time(9), BERLIN)))
    assert db.get_post_status(pid) == PostStatus.PENDING_APPROVAL


LONG = ("Our spring collection is here: linen shirts, light jackets and the sandals you asked for all winter. "
        "Come and see them in store this weekend")


def _ig_and_x(db, ws):
    ig = db.save_account(Account(platform=Platform.INSTAGRAM, handle="brand.shop", display_name="Brand Shop",
                                 workspace_id=ws.id, id="a_ig"))
    x = db.save_account(Account(platform=Platform.X, handle="@brandhq", display_name="Brand HQ", workspace_id=ws.id,
                                id="a_x"))
    return ig, x


# ---------------------------------------------------------------- what each post will look like

def test_a_pending_post_shows_one_preview_per_platform_with_its_handle_and_the_feeds_cut(page):
    db, owner, ws, open_as = page
    ig, x = _ig_and_x(db, ws)
    photo = _photo(1910, 1000)            # 1.91:1: Instagram shows it whole, X crops it to 16:9
    _submit(db, ws, "p1", accounts=(ig, x), caption=LONG, media_urls=(photo,))
    at = open_as(owner)
    assert not at.exception
    cards = _cards(at)
    assert len(cards) == 2
    ig_card, x_card = (next(c for c in cards if f">{label}<" in c) for label in ("Instagram", "X"))
    assert "Brand Shop" in ig_card and "@brand.shop" in ig_card
    assert "Brand HQ" in x_card and "@brandhq" in x_card
    # Instagram cuts the caption at about 125 characters with "… more"; X shows it whole.
    assert "Our spring collection is here: linen shirts, light jackets and the sandals you asked for all" in ig_card
    assert "… more" in ig_card and "in store this weekend" not in ig_card
    assert "in store this weekend" in x_card and "more<" not in x_card
    # The stored photo loads from the media library's address, framed to each platform's shape.
    assert f'src="{photo}"' in ig_card and f'src="{photo}"' in x_card
    assert "aspect-ratio:1.9100" in ig_card and "Cropped" not in ig_card
    assert "aspect-ratio:1.7778" in x_card and "Cropped to 16:9 in the feed" in x_card
    # The row says when, and where it goes.
    assert any(m.value.startswith("**") and "09:00" in m.value for m in at.markdown)
    assert any("brand.shop on Instagram, @brandhq on X" in c.value.replace("\\", "") for c in at.caption)


def test_a_thread_and_a_per_platform_version_show_as_such(page):
    db, owner, ws, open_as = page
    li = db.save_account(Account(platform=Platform.LINKEDIN, handle="Brand Inc", workspace_id=ws.id, id="a_li"))
    x = db.save_account(Account(platform=Platform.X, handle="@brandhq", workspace_id=ws.id, id="a_x"))
    _submit(db, ws, "p1", accounts=(li, x), caption="Spring is here.", variants={
        Platform.LINKEDIN: PostVariant(caption="A longer note for our professional network."),
        Platform.X: PostVariant(thread=("Spring is here. 1/2", "And it is 20% off this week. 2/2"))})
    at = open_as(owner)
    assert not at.exception
    li_card, x_card = (next(c for c in _cards(at) if f">{label}<" in c) for label in ("LinkedIn", "X"))
    assert "A longer note for our professional network." in li_card and "Spring is here." not in li_card
    assert "A thread of 2 posts" in x_card
    assert "Spring is here. 1/2" in x_card and "And it is 20% off this week. 2/2" in x_card
    shown = [c.value for c in at.caption]
    assert "Its own version for LinkedIn" in shown and "Its own version for X" in shown


def test_a_photo_converted_for_instagram_is_not_called_its_own_version(page):
    # Seen by a tester: "Its own version for Instagram" under a post nobody customised. Its PNG was converted to a
    # JPEG for Instagram, kept as Instagram's media; only words of its own make a version.
    db, owner, ws, open_as = page
    ig, x = _ig_and_x(db, ws)
    li = db.save_account(Account(platform=Platform.LINKEDIN, handle="Brand Inc", workspace_id=ws.id, id="a_li"))
    png, jpeg = _photo(1080, 1080, "PNG"), _photo(1080, 1080)
    _submit(db, ws, "p1", accounts=(ig, x, li), caption="Spring is here.", media_urls=(png,), variants={
        Platform.INSTAGRAM: PostVariant(media_urls=(jpeg,)),
        Platform.LINKEDIN: PostVariant(caption="Spring is here.")})         # "customised" to the same words
    at = open_as(owner)
    assert not at.exception
    assert not [c.value for c in at.caption if "own version" in c.value]
    ig_card = next(c for c in _cards(at) if ">Instagram<" in c)
    assert f'src="{jpeg}"' in ig_card                                          # it does show the JPEG


def test_a_hostile_caption_is_shown_as_text(page):
    db, owner, ws, open_as = page
    _, x = _ig_and_x(db, ws)
    _submit(db, ws, "p1", accounts=(x,), caption='<script>alert("hi")</script><img src=x onerror=alert(1)>')
    at = open_as(owner)
    assert not at.exception
    html = _html(at)
    assert "&lt;script&gt;alert(&quot;hi&quot;)&lt;/script&gt;" in html
    assert "<script" not in html and "<img src=x" not in html


def test_a_stored_video_shows_as_a_video_tile_with_its_title(page):
    db, owner, ws, open_as = page
    from pages.shared import media_library
    library = media_library()
    name = "a" * 64 + ".mp4"
    (library.root / name).write_bytes(b"\0" * 16)      # only its name is read for the preview
    yt = db.save_account(Account(platform=Platform.YOUTUBE, handle="brandtv", workspace_id=ws.id, id="a_yt"))
    _submit(db, ws, "p1", accounts=(yt,), caption="Watch this", media_urls=(library.public_url(name),),
            variants={Platform.YOUTUBE: PostVariant(title="Spring_lookbook #1")})     # as the composer saves it
    at = open_as(owner)
    assert not at.exception
    html = _html(at)
    assert "▶ video" in html and ".mp4" not in html          # not an <img> of a video (a broken picture)
    assert any("Title: Spring\\_lookbook \\#1" in c.value for c in at.caption)    # as text, not markdown


def test_a_carousel_shows_its_first_photo_and_counts_the_rest(page):
    db, owner, ws, open_as = page
    ig, _ = _ig_and_x(db, ws)
    photos = tuple(_photo(1080, 1080 + i) for i in range(3))
    _submit(db, ws, "p1", accounts=(ig,), caption="Three looks", media_urls=photos)
    at = open_as(owner)
    assert not at.exception
    [card] = _cards(at)
    assert card.count("<img") == 1 and f'src="{photos[0]}"' in card
    assert any("…and 2 more photos in this post" in c.value for c in at.caption)


# ---------------------------------------------------------------- the actions

def test_an_empty_queue_says_what_to_do(page):
    db, owner, ws, open_as = page
    at = open_as(owner)
    assert not at.exception
    assert at.title[0].value == "Approvals"
    assert any("Nothing is waiting for approval" in i.value for i in at.info)
    assert not at.get("html")


def test_the_owner_approves_a_batch_after_a_confirmation(page):
    db, owner, ws, open_as = page
    today = _two_batches(db, ws)
    at = open_as(owner)
    assert not at.exception and at.title[0].value == "Approvals (3)"
    assert [s.value for s in at.subheader] == ["Week of 11 Mar 2030: Spring launch · 2 posts", "Single posts · 1 post"]
    cards = _cards(at)
    assert len(cards) == 4                                   # p1 on LinkedIn and X, p2 on LinkedIn, p3 on X
    assert sum("Spring is here (p1)" in c and "#spring" in c for c in cards) == 2
    at.button(key="ap_all_b1").click().run()
    first, last = today + timedelta(days=3), today + timedelta(days=4)
    [confirm] = at.warning
    assert confirm.value == (f"Approve 2 posts? They go out from {first:%a} {first.day} {first:%b} 09:00 to "
                             f"{last:%a} {last.day} {last:%b} 09:00 (Europe/Berlin).")
    assert db.get_post_status("p1") == PostStatus.PENDING_APPROVAL       # nothing yet
    at.button(key="ap_yes_b1").click().run()
    assert not at.exception
    assert {db.get_post_status(p) for p in ("p1", "p2")} == {PostStatus.SCHEDULED}
    assert db.get_post_status("p3") == PostStatus.PENDING_APPROVAL
    assert any("Approved 2 posts" in s.value for s in at.success)
    assert at.title[0].value == "Approvals (1)"
    assert len(_cards(at)) == 1


def test_posts_in_no_batch_are_single_posts(page):
    db, owner, ws, open_as = page
    _two_batches(db, ws)
    at = open_as(owner)
    at.button(key="ap_all_none").click().run()
    at.button(key="ap_yes_none").click().run()
    assert not at.exception
    assert db.get_post_status("p3") == PostStatus.SCHEDULED
    assert [s.value for s in at.success] == ["Approved 1 single post: it goes out at its time."]
    assert "batch" not in " ".join(s.value for s in at.subheader).lower()


def test_one_post_is_approved_on_its_own(page):
    db, owner, ws, open_as = page
    _two_batches(db, ws)
    at = open_as(owner)
    at.button(key="ap_approve_p2").click().run()
    assert not at.exception
    assert db.get_post_status("p2") == PostStatus.SCHEDULED
    assert {db.get_post_status(p) for p in ("p1", "p3")} == {PostStatus.PENDING_APPROVAL}
    assert any(s.value.startswith("Approved: it goes out") for s in at.success)


def test_whoever_changed_an_approved_post_is_not_offered_approve_where_a_second_person_must(page):
    """The owner changed p1 after it was approved: where a second person approves, its row says why instead of an
    Approve button core would refuse, and the batch button counts only what they may approve; an approver approves it."""
    from core.rules.permissions import Actor
    db, owner, ws, open_as = page
    db.update_workspace(replace(ws, approval_by_other=True))
    _two_batches(db, ws)
    Scheduler(db).approve("p1")
    Scheduler(db, actor=Actor.of(db, owner.id)).edit("p1", caption="Spring is here, from 9 EUR (p1)")
    assert db.get_post_status("p1") == PostStatus.PENDING_APPROVAL
    at = open_as(owner)
    assert not at.exception and at.title[0].value == "Approvals (3)"
    keys = [b.key for b in at.button]
    assert "ap_approve_p1" not in keys and {"ap_approve_p2", "ap_reject_p1", "ap_open_p1"} <= set(keys)
    assert any(c.value == "You changed this post after it was approved: someone else must approve it."
               for c in at.caption)
    assert at.button(key="ap_all_b1").label == "Approve 1 of 2"
    approver = db.add_user(User(email="approver@example.com"))
    db.set_membership(Membership(user_id=approver.id, workspace_id=ws.id, role=Role.APPROVER))
    at = open_as(approver)
    assert not any("You changed this post" in c.value for c in at.caption)
    at.button(key="ap_approve_p1").click().run()
    assert not at.exception and db.get_post_status("p1") == PostStatus.SCHEDULED


def test_a_rejection_needs_a_reason_and_goes_back_to_the_author(page):
    db, owner, ws, open_as = page
    _two_batches(db, ws)
    at = open_as(owner)
    at.button(key="ap_reject_p3").click().run()
    assert any("Say why" in e.value for e in at.error)
    assert db.get_post_status("p3") == PostStatus.PENDING_APPROVAL
    at.text_input(key="ap_reason_p3").input("Wrong date in the caption.")
    at.button(key="ap_reject_p3").click().run()
    assert not at.exception
    assert db.get_post_status("p3") == PostStatus.REJECTED
    assert db.get_post("p3").rejection_reason == "Wrong date in the caption."
    assert any("Sent back to its author" in i.value for i in at.info)


def test_a_viewer_sees_the_previews_but_no_buttons(page):
    db, owner, ws, open_as = page
    _two_batches(db, ws)
    viewer = db.add_user(User(email="viewer@example.com"))
    db.set_membership(Membership(user_id=viewer.id, workspace_id=ws.id, role=Role.VIEWER))
    at = open_as(viewer)
    assert not at.exception and at.title[0].value == "Approvals (3)"
    assert len(_cards(at)) == 4 and "Spring is here (p3)" in _html(at)
    keys = [b.key for b in at.button]
    assert not [k for k in keys if k.startswith(("ap_all_", "ap_approve_", "ap_reject_", "ap_yes_"))]
    assert any("owners and approvers approve it" in i.value for i in at.info)


def test_an_expired_post_is_offered_a_new_time(page):
    db, owner, ws, open_as = page
    _two_batches(db, ws)
    # Just after p1's time (09:00 Berlin in three days) and a day before p2's, whatever the time of day now.
    p1_due = db.get_post("p1").due_at
    approvals.expire_overdue(db, clock=lambda: p1_due + timedelta(hours=1))
    at = open_as(owner)
    assert any(s.value == "Expired · 1 not approved in time" for s in at.subheader)
    assert len(_cards(at)) == 4                              # the expired post still shows what it would have been
    at.button(key="ap_resched_p1").click().run()
    assert not at.exception
    assert db.get_post_status("p1") == PostStatus.PENDING_APPROVAL
    assert any("waits for approval again" in s.value for s in at.success)


def test_open_shows_the_post_dialog_to_edit_it(page):
    db, owner, ws, open_as = page
    _two_batches(db, ws)
    at = open_as(owner)
    at.button(key="ap_open_p3").click().run()
    assert not at.exception
    assert at.session_state["open_post"] == "p3"
    assert any("Pending approval" in m.value for m in at.markdown)     # the dialog's status line
    assert at.text_area(key="pd_caption_p3").value == "Spring is here (p3)"


def test_a_member_of_another_workspace_never_sees_its_posts(page):
    db, owner, ws, open_as = page
    _two_batches(db, ws)
    other = db.add_workspace(Workspace(name="Other", timezone_name=BERLIN, requires_approval=True))
    stranger = db.add_user(User(email="stranger@example.com"))
    db.set_membership(Membership(user_id=stranger.id, workspace_id=other.id, role=Role.OWNER))
    ox = db.save_account(Account(platform=Platform.X, handle="@otherbrand", workspace_id=other.id, id="a_ox"))
    Scheduler(db).schedule_post("q1", Post(caption="Their secret launch", accounts=(ox,), workspace_id=other.id,
                                           schedule=Schedule.at_local(_in_days(2), time(9), BERLIN)))
    at = page_opener(db, other.id, "../pages/approvals.py")(stranger)
    assert not at.exception and at.title[0].value == "Approvals (1)"
    html = _html(at)
    assert "Their secret launch" in html and "Spring is here" not in html and "Brand Inc" not in html
    at = open_as(owner)
    assert "Their secret launch" not in _html(at) and "@otherbrand" not in _html(at)
