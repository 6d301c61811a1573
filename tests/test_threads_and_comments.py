"""Issue 11, from the domain to the platforms: X threads and a first comment under the post.

The content rules (what a thread and a first comment may be, per platform) are plain unit tests. The publishing
tests drive the real adapters over HTTP against the emulator with the publisher on a controllable clock, and
inject the faults that break "never twice" on real platforms: a comment or reply applied after the client gave
up, a gateway 5xx after it was applied, a listing that shows new comments late. The assertions are on what the
platform received (its comments and posts) and on what a person sees (the delivery, the log, the notification).
"""
from __future__ import annotations

import shutil
from dataclasses import replace

import httpx
import pytest

from core.db import make_engine
from core.db.sql_store import SqlPostStore
from core.infra.secrets import load_keyring

from core.domain import Account, Post, PostVariant
from core.domain.catalog import Platform
from core.domain.lifecycle import DeliveryState
from core.domain.timeutil import utcnow
from core.rules.limits import LIMITS, limits_for
from core.rules.validation import ensure_valid, validate_post
from core.domain.errors import ValidationError

sandbox = pytest.importorskip("sandbox")

from tests.runner_helpers import World, make_world  # noqa: E402
from tests.test_in_doubt import Clock, claim, publisher, run_due  # noqa: E402

X = Account(platform="x", handle="@brand")
IG = Account(platform="instagram", handle="@brand")
LI = Account(platform="linkedin", handle="Brand")
MASTODON = Account(platform="mastodon", handle="@brand@example.social")
PHOTO = "https://cdn.example.com/a.jpg"


def codes(post: Post) -> list[tuple[str, str | None, str]]:
    return [(p.code, p.platform, p.severity) for p in validate_post(post)]


# ---------------------------------------------------------------- what a thread and a first comment may be

def test_a_thread_renders_as_its_first_post_and_the_replies():
    post = Post(caption="A long text " * 40, accounts=(X, IG), media_urls=(PHOTO,),
                variants={Platform.X: PostVariant(thread=("First 1/2", "Second 2/2"))})
    x, ig = post.render(Platform.X), post.render(Platform.INSTAGRAM)
    assert (x.text, x.thread) == ("First 1/2", ("Second 2/2",))
    assert ig.text.startswith("A long text") and ig.thread == ()     # the other platform gets the post itself
    assert codes(post) == []


def test_a_thread_is_refused_where_the_platform_cannot_thread_in_words():
    post = Post(caption="Hello", accounts=(LI,), variants={Platform.LINKEDIN: PostVariant(thread=("a", "b"))})
    with pytest.raises(ValidationError) as err:
        ensure_valid(post)
    [problem] = err.value.problems
    assert problem.code == "thread_not_supported" and "LinkedIn cannot post a thread" in problem.message
    assert [p for p, limits in LIMITS.items() if limits.supports_thread] == [
        Platform.X, Platform.THREADS, Platform.BLUESKY, Platform.MASTODON]


def test_every_post_of_a_thread_is_counted_in_the_platforms_own_unit():
    link = "https://example.com/" + "a" * 200                  # X counts any link as 23
    fits = "word " * 50 + link                                  # 250 + 23 weighted
    post = Post(caption="x", accounts=(X,), variants={Platform.X: PostVariant(
        thread=("Intro 1/3", fits, "😀" * 141 + " 3/3"))})     # each emoji counts 2: 286 > 280
    [problem] = validate_post(post)
    assert problem.code == "thread_post_too_long" and problem.platform == "x"
    assert problem.message.startswith("X allows 280 characters in each post of a thread; post 3 has 286")
    assert "emoji" in problem.message


def test_an_empty_post_in_a_thread_and_a_thread_too_long_are_refused():
    post = Post(caption="x", accounts=(X,), variants={Platform.X: PostVariant(thread=("one", "  ", "three"))})
    assert codes(post) == [("thread_post_empty", "x", "error")]
    many = Post(caption="x", accounts=(X,), variants={Platform.X: PostVariant(thread=tuple(f"p{i}" for i in
                                                                                          range(26)))})
    assert ("thread_too_long", "x", "error") in codes(many)


def test_a_first_comment_is_a_warning_where_the_platform_takes_none_and_an_error_over_its_limit():
    post = Post(caption="Hello", accounts=(X, IG, LI), media_urls=(PHOTO,), first_comment="More in the comments")
    assert codes(post) == [("first_comment_not_supported", "x", "warning")]
    ensure_valid(post)                                           # a warning alone does not stop it
    assert "goes out on X without it" in validate_post(post)[0].message
    long = Post(caption="Hello", accounts=(IG, LI), media_urls=(PHOTO,), first_comment="c" * 1251)
    assert codes(long) == [("first_comment_too_long", "linkedin", "error")]    # LinkedIn 1,250; Instagram 2,200
    assert "LinkedIn allows 1,250 characters in a comment; the first comment has 1,251" in str(
        pytest.raises(ValidationError, ensure_valid, long).value)
    assert limits_for("facebook").comment_max == 8000


def test_a_variant_can_drop_or_change_the_first_comment_for_one_platform():
    post = Post(caption="Hi", accounts=(IG, LI), media_urls=(PHOTO,), first_comment="Link: https://a.example",
                variants={Platform.LINKEDIN: PostVariant(first_comment=""),
                          Platform.INSTAGRAM: PostVariant(first_comment="Link in bio")})
    assert post.render(Platform.LINKEDIN).first_comment == ""
    assert post.render(Platform.INSTAGRAM).first_comment == "Link in bio"


def test_a_character_x_calls_invalid_in_a_reply_is_refused():
    post = Post(caption="x", accounts=(X,), variants={Platform.X: PostVariant(thread=("ok 1/2", "zero\ufeffwidth"))})
    [problem] = validate_post(post)
    assert problem.code == "invalid_character" and "post 2 of the thread" in problem.message and "U+FEFF" in \
        problem.message


def test_a_broken_character_in_a_thread_or_comment_is_refused_before_anything_else():
    post = Post(caption="Hi", accounts=(X,), first_comment="bad \x00",
                variants={Platform.X: PostVariant(thread=("ok", "half \ud83d"))})
    assert [p.code for p in validate_post(post)] == ["bad_text", "bad_text"]


# ---------------------------------------------------------------- publishing, against the emulator

@pytest.fixture(scope="module")
def emu():
    with sandbox.Emulator.start(seed=11) as emulator:
        yield emulator


@pytest.fixture(scope="module")
def template(emu, tmp_path_factory):
    """A migrated database with its owner and workspace, made once: each test starts from a copy (a migration
    and a password hash per test cost more than the test)."""
    folder = tmp_path_factory.mktemp("world")
    w = make_world(emu, folder, platform_timeout_s=1.0)
    w.client.close()
    w.store.engine.dispose()
    return folder, w


@pytest.fixture
def world(emu, template, tmp_path):
    emu.reset(clock=True)
    emu.configure(ig_image_delay_s=0.0)     # a container is ready at once: no real wait for Instagram's processing
    folder, made = template
    for item in folder.iterdir():
        shutil.copy(item, tmp_path / item.name)
    settings = replace(made.settings, data_dir=tmp_path, database_url=f"sqlite:///{tmp_path / 'outpost.sqlite'}",
                       key_file=tmp_path / made.settings.key_file.name)
    store = SqlPostStore(make_engine(settings.database_url), load_keyring(env_value=None, key_file=settings.key_file))
    w = World(emu=emu, settings=settings, store=store, owner=made.owner, workspace=made.workspace,
              client=httpx.Client(timeout=15, trust_env=False))
    yield w
    emu.clear_faults()
    emu.configure(listing_lag_s={}, ig_image_delay_s=0.2, thr_text_delay_s=0.1)
    w.client.close()
    w.store.engine.dispose()


def comments(world, platform: str) -> list:
    st = world.emu.core.state
    with st.lock:
        return [c for items in st.comments.values() for c in items if c.platform == platform and not c.deleted]


def image(world) -> tuple[str, ...]:
    return (f"{world.emu.url}/_media/sample.jpg?w=1080&h=1080",)


@pytest.mark.parametrize("platform", ["instagram", "facebook", "linkedin"])
def test_the_first_comment_goes_under_the_post_once(world, platform):
    account = world.connect(platform)
    clock = Clock(utcnow())
    world.post(account, at=clock(), media=image(world), first_comment=f"Sizes and prices: link in bio ({platform})")
    [done] = run_due(world, clock, publisher(world, clock))
    assert done.state == DeliveryState.PUBLISHED and done.external_url
    [comment] = comments(world, platform)
    assert comment.text == f"Sizes and prices: link in bio ({platform})" and comment.object_id == done.external_id
    assert done.progress.get("comment:id")


def test_a_comment_whose_answer_was_lost_is_found_not_posted_again(world):
    ig = world.connect("instagram")
    clock = Clock(utcnow())
    world.post(ig, at=clock(), media=image(world), first_comment="Which one is your favourite?")
    world.emu.add_fault(kind="lost_response", platform="instagram", path="/comments", method="POST", count=1)
    pub = publisher(world, clock)
    [first] = run_due(world, clock, pub)
    # The post is on Instagram; the comment's answer was lost: in doubt, not failed, not sent again.
    assert first.state == DeliveryState.RETRY_WAIT and first.progress.get("post:id")
    assert len(comments(world, "instagram")) == 1 and len(world.emu.posts("instagram")) == 1
    clock.now = first.next_attempt_at
    [done] = run_due(world, clock, pub)
    assert done.state == DeliveryState.PUBLISHED and done.external_id == first.progress["post:id"]
    assert len(comments(world, "instagram")) == 1 and len(world.emu.posts("instagram")) == 1


def test_a_comment_applied_behind_a_gateway_502_and_listed_late_is_waited_for_not_doubled(world):
    fb = world.connect("facebook")
    world.emu.configure(listing_lag_s={"facebook": 600})        # the comments listing shows it 10 minutes late
    clock = Clock(utcnow())
    world.post(fb, at=clock(), text="Opening hours this week", first_comment="Closed on Monday")
    world.emu.add_fault(kind="applied_then_5xx", platform="facebook", path="/comments", method="POST", count=1)
    pub = publisher(world, clock)
    [first] = run_due(world, clock, pub)
    assert first.state == DeliveryState.RETRY_WAIT and len(comments(world, "facebook")) == 1
    clock.now = first.next_attempt_at                            # the settle window has passed; not listed yet
    [look] = run_due(world, clock, pub)
    assert look.state == DeliveryState.RETRY_WAIT and look.last_error_code == "comment_in_doubt"
    assert len(comments(world, "facebook")) == 1
    world.emu.advance(601)                                       # Facebook lists it now
    clock.now = look.next_attempt_at
    [done] = run_due(world, clock, pub)
    assert done.state == DeliveryState.PUBLISHED
    assert len(comments(world, "facebook")) == 1 and len(world.emu.posts("facebook")) == 1


def test_a_comment_that_was_not_made_is_sent_once_after_the_settle_window_and_the_lag(world):
    ig = world.connect("instagram")
    clock = Clock(utcnow())
    world.post(ig, at=clock(), media=image(world), first_comment="Shop the look: link in bio")
    world.emu.add_fault(kind="error_5xx", platform="instagram", path="/comments", method="POST", status=502, count=1)
    pub = publisher(world, clock)
    [first] = run_due(world, clock, pub)
    assert first.state == DeliveryState.RETRY_WAIT and comments(world, "instagram") == []
    adapter = pub.adapter_for("instagram")
    clock.now = first.next_attempt_at            # after the settle window: not listed, but the listing may lag
    [look] = run_due(world, clock, pub)
    assert look.state == DeliveryState.RETRY_WAIT and look.last_error_code == "comment_in_doubt"
    assert comments(world, "instagram") == []
    clock.now = max(look.next_attempt_at, clock() + adapter.listing_lag)
    [done] = run_due(world, clock, pub)
    assert done.state == DeliveryState.PUBLISHED
    assert [c.text for c in comments(world, "instagram")] == ["Shop the look: link in bio"]
    assert len(world.emu.posts("instagram")) == 1


def test_a_comment_refused_for_good_leaves_the_post_published_and_says_so(world):
    ig = world.connect("instagram")
    clock = Clock(utcnow())
    post = world.post(ig, at=clock(), media=image(world), first_comment="Details below")
    # The account was connected before Outpost asked for comments: Instagram refuses them ((#10) permission).
    st = world.emu.core.state
    with st.lock:
        for token in st.tokens.values():
            if token.platform == "instagram":
                token.scopes = type(token.scopes)(s for s in token.scopes if "comments" not in s)
    [done] = run_due(world, clock, publisher(world, clock))
    assert done.state == DeliveryState.PUBLISHED and done.external_url
    assert comments(world, "instagram") == [] and len(world.emu.posts("instagram")) == 1
    assert done.progress.get("followup_error", "").startswith("The first comment on your Instagram post was not "
                                                              "posted:")
    [note] = [n for n in world.store.list_notifications(workspace_id=world.workspace.id)
              if n.kind == "followup_failed"]
    assert note.title == "The first comment on your Instagram post was not posted" and note.subject_id == post.id
    assert done.external_url in note.body and "Reconnect the account" in note.body
    [logged] = [e for e in world.store.list_events(workspace_id=world.workspace.id)
                if e.action == "delivery.followup_failed"]
    assert logged.subject_id == done.id and logged.reason == done.progress["followup_error"]


def test_an_x_thread_goes_out_as_a_reply_chain(world):
    x = world.connect("x")
    clock = Clock(utcnow())
    world.post(x, at=clock(), variants={Platform.X: PostVariant(thread=("One 1/3", "Two 2/3", "Three 3/3"))})
    [done] = run_due(world, clock, publisher(world, clock))
    assert done.state == DeliveryState.PUBLISHED
    posted = {p["external_id"]: p for p in world.emu.posts("x")}
    first = posted[done.external_id]
    assert first["text"] == "One 1/3" and first["extra"]["in_reply_to"] is None
    chain = [first]
    while len(chain) < 3:
        chain += [p for p in posted.values() if p["extra"]["in_reply_to"] == chain[-1]["external_id"]]
    assert [p["text"] for p in chain] == ["One 1/3", "Two 2/3", "Three 3/3"] and len(posted) == 3


def test_an_x_reply_whose_answer_was_lost_is_found_and_the_thread_finishes_once(world):
    x = world.connect("x")
    world.emu.configure(listing_lag_s={"x": 20})
    clock = Clock(utcnow())
    world.post(x, at=clock(), variants={Platform.X: PostVariant(thread=("Alpha 1/3", "Beta 2/3", "Gamma 3/3"))})
    # The first post goes through; the second's answer is lost (X made it).
    world.emu.add_fault(kind="lost_response", platform="x", path="/2/tweets", method="POST", count=1)
    pub = publisher(world, clock)
    first_post = world.emu.core.faults.rules[0]
    first_post.count = 0                                           # armed after the first post, below
    [d] = claim(world, clock)
    adapter = pub.adapter_for("x")
    real_post = adapter._post
    calls = []

    def post_then_arm(creds, body):
        calls.append(body)
        if len(calls) == 2:
            first_post.count = 1                                    # the second tweet (the first reply) is lost
        return real_post(creds, body)
    adapter._post = post_then_arm
    first = pub.run(d)
    assert first.state == DeliveryState.RETRY_WAIT and first.progress.get("tweet:0")
    assert [p["text"] for p in world.emu.posts("x")] == ["Alpha 1/3", "Beta 2/3"]
    clock.now = first.next_attempt_at
    [look] = run_due(world, clock, pub)                             # the timeline does not show the reply yet
    assert look.state == DeliveryState.RETRY_WAIT and look.last_error_code == "reply_in_doubt"
    world.emu.advance(25)
    clock.now = look.next_attempt_at
    [done] = run_due(world, clock, pub)
    assert done.state == DeliveryState.PUBLISHED and done.external_id == first.progress["tweet:0"]
    assert [p["text"] for p in world.emu.posts("x")] == ["Alpha 1/3", "Beta 2/3", "Gamma 3/3"]


def test_a_mastodon_thread_replies_in_order_and_a_lost_reply_is_not_doubled(world):
    """Mastodon threads through the base class (in_reply_to_id); the first reply's answer is lost (it was made)."""
    account = world.connect("mastodon")
    clock = Clock(utcnow())
    world.post(account, at=clock(), variants={Platform.MASTODON: PostVariant(thread=("Uno 1/3", "Dos 2/3",
                                                                                     "Tres 3/3"))})
    pub = publisher(world, clock)
    adapter = pub.adapter_for("mastodon")
    real_reply, calls = adapter.post_reply, []

    def lose_the_first_reply(*args):
        calls.append(args[3])
        if len(calls) == 1:
            world.emu.add_fault(kind="lost_response", platform="mastodon", path="/api/v1/statuses", method="POST",
                                count=1)
        return real_reply(*args)
    adapter.post_reply = lose_the_first_reply
    [first] = run_due(world, clock, pub)
    assert first.state == DeliveryState.RETRY_WAIT and first.last_error_code == "lost_response"
    assert first.progress.get("post:id") and first.progress.get("reply_sent:1") and not first.progress.get("reply:1")
    clock.now = first.next_attempt_at
    [done] = run_due(world, clock, pub)            # found among the account's statuses, then the last reply
    assert done.state == DeliveryState.PUBLISHED and calls == ["Dos 2/3", "Tres 3/3"]
    statuses = {p["external_id"]: p for p in world.emu.posts("mastodon")}
    by_text = {p["text"]: p for p in statuses.values()}
    assert sorted(by_text) == ["Dos 2/3", "Tres 3/3", "Uno 1/3"] and len(statuses) == 3
    assert by_text["Dos 2/3"]["extra"]["in_reply_to"] == by_text["Uno 1/3"]["external_id"] == done.external_id
    assert by_text["Tres 3/3"]["extra"]["in_reply_to"] == by_text["Dos 2/3"]["external_id"]


def test_a_bluesky_thread_is_made_once_under_its_own_record_keys(world):
    """Bluesky threads by record: root and parent refs; the second reply's answer is lost (the PDS made it), and
    the next attempt finds it under the record key it chose, without a listing."""
    account = world.connect("bluesky")
    clock = Clock(utcnow())
    world.post(account, at=clock(), variants={Platform.BLUESKY: PostVariant(thread=("Eins 1/3", "Zwei 2/3",
                                                                                    "Drei 3/3"))})
    pub = publisher(world, clock)
    adapter = pub.adapter_for("bluesky")
    real_create, calls = adapter._create, []

    def lose_the_second_reply(url, creds, body):
        calls.append(body["record"]["text"])
        if len(calls) == 3:
            world.emu.add_fault(kind="lost_response", platform="bluesky", path="createRecord", method="POST",
                                count=1)
        return real_create(url, creds, body)
    adapter._create = lose_the_second_reply
    [first] = run_due(world, clock, pub)
    assert first.state == DeliveryState.RETRY_WAIT and first.progress.get("reply:1")
    assert not first.progress.get("reply:2") and first.progress.get("reply_rkey:2")
    clock.now = first.next_attempt_at
    [done] = run_due(world, clock, pub)
    assert done.state == DeliveryState.PUBLISHED and calls == ["Eins 1/3", "Zwei 2/3", "Drei 3/3"]
    posts = {p["text"]: p for p in world.emu.posts("bluesky")}
    assert sorted(posts) == ["Drei 3/3", "Eins 1/3", "Zwei 2/3"] and len(world.emu.posts("bluesky")) == 3
    assert posts["Zwei 2/3"]["extra"]["in_reply_to"] == posts["Eins 1/3"]["external_id"] == done.external_id
    assert posts["Drei 3/3"]["extra"]["in_reply_to"] == posts["Zwei 2/3"]["external_id"]


def test_a_threads_thread_waits_out_a_late_listing_before_sending_a_lost_reply_again(world):
    """Threads: the first reply is published behind a gateway 502 and the parent's replies list it 10 minutes
    late: Outpost keeps looking (settle window, then the listing lag) and finds it; nothing is posted twice."""
    account = world.connect("threads")
    world.emu.configure(listing_lag_s={"threads": 600}, thr_text_delay_s=0.0)
    clock = Clock(utcnow())
    world.post(account, at=clock(), variants={Platform.THREADS: PostVariant(thread=("Un 1/2", "Deux 2/2"))})
    pub = publisher(world, clock)
    adapter = pub.adapter_for("threads")
    real_reply = adapter.post_reply

    def reply_behind_a_gateway(*args):
        world.emu.add_fault(kind="applied_then_5xx", platform="threads", path="threads_publish", method="POST",
                            count=1)
        return real_reply(*args)
    adapter.post_reply = reply_behind_a_gateway
    [first] = run_due(world, clock, pub)
    assert first.state == DeliveryState.RETRY_WAIT and first.progress.get("reply_sent:1")
    assert sorted(p["text"] for p in world.emu.posts("threads")) == ["Deux 2/2", "Un 1/2"]
    clock.now = first.next_attempt_at                             # settled, but not listed yet
    [look] = run_due(world, clock, pub)
    assert look.state == DeliveryState.RETRY_WAIT and look.last_error_code == "reply_in_doubt"
    world.emu.advance(601)
    clock.now = look.next_attempt_at
    [done] = run_due(world, clock, pub)
    assert done.state == DeliveryState.PUBLISHED
    posts = {p["text"]: p for p in world.emu.posts("threads")}
    assert len(world.emu.posts("threads")) == 2 and posts["Deux 2/2"]["extra"]["in_reply_to"] == done.external_id


def test_a_reply_refused_for_good_leaves_the_thread_published_as_far_as_it_went_and_says_so(world):
    """X refuses the second post (the same words as the first: a duplicate). The first post stays published
    with its link; the person is told which post of the thread did not go out."""
    x = world.connect("x")
    clock = Clock(utcnow())
    post = world.post(x, at=clock(), variants={Platform.X: PostVariant(thread=("Same words", "Same words"))})
    [done] = run_due(world, clock, publisher(world, clock))
    assert done.state == DeliveryState.PUBLISHED and done.external_url and len(world.emu.posts("x")) == 1
    assert done.progress["followup_error"].startswith("Your X thread was not posted in full: X refused post 2 of 2")
    [note] = [n for n in world.store.list_notifications(workspace_id=world.workspace.id)
              if n.kind == "followup_failed"]
    assert note.title == "Your X thread was not posted in full" and note.subject_id == post.id


def test_a_linkedin_comment_whose_answer_was_lost_is_never_sent_again(world):
    """LinkedIn does not let Outpost read the comments back (no r_member_social): a lost answer cannot be
    settled, so the comment is not sent again and the person is asked to look."""
    li = world.connect("linkedin")
    clock = Clock(utcnow())
    world.post(li, at=clock(), text="We are hiring", first_comment="Apply: https://example.com/jobs")
    world.emu.add_fault(kind="lost_response", platform="linkedin", path="/comments", method="POST", count=1)
    pub = publisher(world, clock)
    [first] = run_due(world, clock, pub)
    assert first.state == DeliveryState.RETRY_WAIT and len(comments(world, "linkedin")) == 1
    for _ in range(3):
        clock.now = first.next_attempt_at
        [first] = run_due(world, clock, pub)
        if first.state == DeliveryState.PUBLISHED:
            break
    assert first.state == DeliveryState.PUBLISHED and len(comments(world, "linkedin")) == 1
    assert "cannot tell whether it went out" in first.progress["followup_error"]
    assert len(world.emu.posts("linkedin")) == 1


def test_access_revoked_mid_thread_keeps_the_post_published_and_asks_for_a_reconnect(world):
    """The person revokes Outpost's access on X between the first post and its reply: the first post stays
    published with its link, the account is marked for a reconnect, and nothing is posted twice."""
    x = world.connect("x")
    clock = Clock(utcnow())
    world.post(x, at=clock(), variants={Platform.X: PostVariant(thread=("Before 1/2", "After 2/2"))})
    pub = publisher(world, clock)
    adapter = pub.adapter_for("x")
    real_post = adapter._post

    def revoke_after_the_first(creds, body):
        if "reply" in body:
            st = world.emu.core.state
            with st.lock:
                for token in st.tokens.values():
                    if token.platform == "x":
                        token.revoked = True
        return real_post(creds, body)
    adapter._post = revoke_after_the_first
    [done] = run_due(world, clock, pub)
    assert done.state == DeliveryState.PUBLISHED and done.external_url
    assert [p["text"] for p in world.emu.posts("x")] == ["Before 1/2"]
    assert done.progress["followup_error"].startswith("Your X thread was not posted in full:")
    assert world.store.get_account(x.id).status == "reconnect_needed"
