"""The post dialog edits everything the composer writes (hashtags with the saved groups, call to action, link, media
by link or upload, each item removable) and shows a preview per account that follows the edits as typed. Saving is
checked by core as in the composer: every problem at once, and a refused edit leaves the stored post as it was.

Media links are served by a small local web server standing in for the sandbox (the media checker fetches only from
the sandbox's host), so adding a link really downloads and checks it."""
from __future__ import annotations

import io
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from PIL import Image

from core.domain import Account, Membership, Post, Role, User
from core.rules.permissions import Actor
from core.services import hashtag_groups
from core.services.scheduler import Scheduler
from tests.page_harness import BERLIN, dashboard_store


def _jpeg(size=(1080, 1350)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, (30, 120, 200)).save(out, "JPEG")
    return out.getvalue()


PHOTO = _jpeg()


class _Media(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        if self.path.split("?")[0] in ("/a.jpg", "/b.jpg", "/new.jpg"):
            status, body, kind = 200, PHOTO, "image/jpeg"
        else:
            status, body, kind = 404, b"not here", "text/plain"
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:
        pass


@pytest.fixture(scope="module")
def media_server():
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Media)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def _dialog_app():
    import streamlit as st

    from pages import post_dialog
    post_dialog.show(st.session_state["post_to_open"])
    if flash := st.session_state.pop(post_dialog.FLASH, None):
        st.success(flash[1])


@pytest.fixture
def world(tmp_path, monkeypatch, media_server):
    """An owner's draft for X and LinkedIn with hashtags, a link, a call to action and two photos (links on the
    stand-in sandbox); open(user) opens its dialog as that person."""
    from streamlit.testing.v1 import AppTest

    from core.services.auth import create_owner
    from pages import shared
    with dashboard_store(tmp_path, monkeypatch, sandbox_url=media_server) as db:
        owner, ws = create_owner(db, email="owner@example.com", password="a long password", workspace_name="Brand",
                                 timezone_name=BERLIN)
        x = db.save_account(Account(platform="x", handle="@brand", workspace_id=ws.id))
        li = db.save_account(Account(platform="linkedin", handle="brand-studio", workspace_id=ws.id))
        post = Post(accounts=(x, li), caption="Spring is here.", hashtags=("#spring",), link="https://brand.example",
                    call_to_action="Shop now", media_urls=(f"{media_server}/a.jpg", f"{media_server}/b.jpg"),
                    workspace_id=ws.id)
        Scheduler(db, actor=Actor.of(db, owner.id)).save_draft("p1", post)

        def open_as(user):
            at = AppTest.from_function(_dialog_app, default_timeout=30)
            at.session_state["ctx"] = shared.Context(user=user, workspace=db.get_workspace(ws.id),
                                                     membership=db.get_membership(user.id, ws.id))
            at.session_state["post_to_open"] = "p1"
            return at.run()

        yield db, owner, ws, open_as, media_server


def _cards(at) -> str:
    return "\n".join(str(e.proto.body) for e in at.get("html"))


def _errors(at) -> str:
    return "\n".join(e.value for e in at.error)


def test_hashtags_a_saved_group_the_link_and_the_call_to_action_are_edited_and_saved(world):
    db, owner, ws, open_as, _ = world
    hashtag_groups.create_group(db, Actor.of(db, owner.id), ws.id, "Launch", "#launch #new")
    at = open_as(owner)
    assert not at.exception
    assert at.text_input(key="pd_hashtags_p1").value == "#spring"
    assert at.text_input(key="pd_link_p1").value == "https://brand.example"
    assert at.text_input(key="pd_cta_p1").value == "Shop now"

    [group] = hashtag_groups.list_groups(db, Actor.of(db, owner.id), ws.id)
    at.selectbox(key="pd_group_p1").select(group.id).run()
    assert at.text_input(key="pd_hashtags_p1").value == "#spring #launch #new"
    at.text_input(key="pd_link_p1").input("https://brand.example/spring")
    at.text_input(key="pd_cta_p1").input("Book a visit")
    at.button(key="pd_save_p1").click().run()
    assert not at.exception
    assert "Changes saved." in [s.value for s in at.success]
    post = db.get_post("p1")
    assert post.hashtags == ("#spring", "#launch", "#new")
    assert post.link == "https://brand.example/spring" and post.call_to_action == "Book a visit"


def test_a_photo_is_removed_and_one_added_by_link_is_fetched_and_saved(world):
    db, owner, ws, open_as, server = world
    at = open_as(owner)
    assert [b.key for b in at.button if b.key.startswith("pd_drop_p1_")] == ["pd_drop_p1_0", "pd_drop_p1_1"]
    at.button(key="pd_drop_p1_0").click().run()
    assert not at.exception
    assert [b.key for b in at.button if b.key.startswith("pd_drop_p1_")] == ["pd_drop_p1_0"]
    assert f"{server}/a.jpg" not in _cards(at) and f"{server}/b.jpg" in _cards(at)   # the preview follows
    assert db.get_post("p1").media_urls == (f"{server}/a.jpg", f"{server}/b.jpg")   # nothing saved yet

    at.text_area(key="pd_links_p1").input(f"{server}/new.jpg").run()
    assert f"{server}/new.jpg" in _cards(at)
    at.button(key="pd_save_p1").click().run()
    assert not at.exception and not at.error
    assert db.get_post("p1").media_urls == (f"{server}/b.jpg", f"{server}/new.jpg")


def test_a_refused_edit_says_every_problem_and_changes_nothing(world):
    """Over X's 280, a hashtag that is not one and a media link that answers 'not found': all said at once, in
    words, the dialog stays open and the stored post is as it was (no field saved on its own)."""
    db, owner, ws, open_as, server = world
    before = db.get_post("p1")
    at = open_as(owner)
    at.text_area(key="pd_caption_p1").input("Spring is here. " * 20)
    at.text_input(key="pd_hashtags_p1").input("#spring new!")
    at.text_input(key="pd_link_p1").input("https://brand.example/new")
    at.text_area(key="pd_links_p1").input(f"{server}/gone.jpg")
    at.button(key="pd_save_p1").click().run()
    assert not at.exception
    said = _errors(at)
    assert "'new!' is not a hashtag" in said
    assert "X" in said and "280" in said
    assert f"answered 404 (Not Found) for {server}/gone.jpg" in said
    assert len(at.error) == 1 + 1       # the refusal, and the X counter under the preview (no second list)
    assert at.session_state["open_post"] == "p1"                    # still open, with what was typed
    assert at.text_input(key="pd_link_p1").value == "https://brand.example/new"
    after = db.get_post("p1")
    assert (after.caption, after.hashtags, after.link, after.media_urls, after.version) == \
        (before.caption, before.hashtags, before.link, before.media_urls, before.version)


def test_the_preview_follows_the_edits_before_they_are_saved(world):
    db, owner, ws, open_as, _ = world
    at = open_as(owner)
    cards = _cards(at)
    assert "Spring is here." in cards and "#spring" in cards
    assert cards.count("border-radius:12px") == 2                   # one card per account: X and LinkedIn
    at.text_area(key="pd_caption_p1").input("Autumn sale starts now.")
    at.text_input(key="pd_hashtags_p1").input("#autumn")
    at.checkbox(key="pd_p1_v_linkedin").check().run()
    at.text_area(key="pd_p1_v_linkedin_caption").input("Autumn sale, for the team.").run()
    assert not at.exception
    cards = _cards(at)
    assert "Autumn sale starts now." in cards and "#autumn" in cards and "Spring is here." not in cards
    assert "Autumn sale, for the team." in cards
    assert any(c.value.startswith("X: ") and "/ 280" in c.value for c in at.caption)   # the counter too
    assert db.get_post("p1").caption == "Spring is here."


def test_a_viewer_sees_the_preview_and_no_field_to_edit(world):
    db, owner, ws, open_as, _ = world
    viewer = db.add_user(User(email="viewer@example.com"))
    db.set_membership(Membership(user_id=viewer.id, workspace_id=ws.id, role=Role.VIEWER))
    at = open_as(viewer)
    assert not at.exception
    assert "Spring is here." in _cards(at)
    assert not [w for w in (*at.text_area, *at.text_input) if w.key and w.key.startswith("pd_")]
    assert not [b for b in at.button if b.key and (b.key.startswith("pd_drop_") or b.key == "pd_save_p1")]


def test_scheduler_edit_says_a_bad_hashtag_with_every_other_problem(world):
    """Core: an edit whose hashtags cannot be read is not refused for them alone."""
    from core.domain.errors import ValidationError
    db, owner, ws, open_as, _ = world
    with pytest.raises(ValidationError) as refused:
        Scheduler(db, actor=Actor.of(db, owner.id)).edit("p1", hashtags="#ok not-one", caption="x" * 300)
    messages = " ".join(p.message for p in refused.value.problems)
    assert "not a hashtag" in messages and "280" in messages
    assert db.get_post("p1").caption == "Spring is here."


def test_an_upload_is_shown_as_what_it_is_and_a_png_goes_to_instagram_converted(world, monkeypatch):
    """A photo uploaded in the dialog goes to the media library (as in the composer), is listed by its type and size
    with a thumbnail, and on saving Instagram gets core's JPEG of it while X keeps the PNG."""
    from core.domain.catalog import Platform
    from pages import post_dialog, shared
    db, owner, ws, open_as, server = world
    ig = db.save_account(Account(platform="instagram", handle="brand.shop", workspace_id=ws.id))
    Scheduler(db, actor=Actor.of(db, owner.id)).edit("p1", accounts=(*db.get_post("p1").accounts, ig))
    out = io.BytesIO()
    Image.new("RGB", (1080, 1350), (200, 40, 40)).save(out, "PNG")
    png = out.getvalue()

    def uploads(key):       # what Streamlit's uploader hands over, stored as the composer stores it
        if not key.startswith("pd_uploads_p1_") or not uploaded:
            return [], {}, {}
        stored = shared.media_library().save(png, filename="red.png", content_type="image/png")
        return [stored.public_url], {}, {stored.public_url: (1080, 1350)}
    uploaded = []
    monkeypatch.setattr(post_dialog, "_uploads", uploads)
    at = open_as(owner)
    uploaded.append(True)
    at.run()
    at.button(key="pd_save_p1").click().run()
    assert not at.exception and not at.error
    post = db.get_post("p1")
    a, b, url = post.media_urls
    assert url.endswith(".png") and post.render(Platform.X).media_urls == (a, b, url)
    assert post.render(Platform.INSTAGRAM).media_urls[:2] == (a, b)
    ig_media = post.render(Platform.INSTAGRAM).media_urls[2]
    assert ig_media.endswith(".jpg") and shared.media_library().name_of(ig_media)

    uploaded.clear()
    at = open_as(owner)                                       # opened again: the upload is the post's own photo
    assert "3. Uploaded PNG photo, 1080 × 1350" in [c.value for c in at.caption]
    assert at.get("image")                                    # its thumbnail
    assert url in _cards(at)                                  # the preview loads it from the media library


def test_the_first_comment_counts_against_the_platforms_limit_as_in_the_composer(world):
    """LinkedIn (1,250 characters for a comment) takes a first comment, X does not: the dialog counts against
    LinkedIn's limit, red past it, and saving is refused in words."""
    db, owner, ws, open_as, _ = world
    at = open_as(owner)
    at.text_area(key="pd_comment_p1").input("Which one is your favourite?").run()
    assert "First comment: 28 / 1,250 characters (LinkedIn's limit for a comment)." in [c.value for c in at.caption]
    at.text_area(key="pd_comment_p1").input("x" * 1260).run()
    assert any(e.value.startswith("First comment: 1,260 / 1,250 characters, 10 over LinkedIn's limit")
               for e in at.error)
    at.button(key="pd_save_p1").click().run()
    assert db.get_post("p1").first_comment == ""
