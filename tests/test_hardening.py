"""Hardening found in review (issue 10), through the Scheduler on every store: in memory, SQLite, PostgreSQL.

Text a person types may hold characters no store or platform accepts (a lone surrogate, NUL, other control
characters): each is refused with a plain-words ValidationError before anything is written. A refused
operation (bad text, a limit, an id already taken) leaves no account, post, delivery or event behind.
PostgreSQL runs when OUTPOST_TEST_POSTGRES_URL is set.
"""
from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from core.domain import Account, Post, PostVariant, Schedule, User, Workspace
from core.domain.errors import DuplicateError, OutpostError, ValidationError
from core.domain.catalog import Platform
from core.services.scheduler import Scheduler
from tests.store_contract.world import T0

# `store` (each store in turn) and `clock` (at T0) are the shared fixtures of tests/conftest.py.
AT = Schedule(scheduled_at=T0 + timedelta(days=1), timezone_name="UTC")


@pytest.fixture
def scheduler(store, clock) -> Scheduler:
    return Scheduler(store, clock=clock)


def account(handle: str = "@outpost", platform: Platform = Platform.LINKEDIN, **kw) -> Account:
    return Account(platform=platform, handle=handle, **kw)


def nothing_stored(store) -> bool:
    return store.list_accounts() == [] and store.list_posts() == [] and store.list_events() == []


# ---------------------------------------------------------------- the characters

# (character, what the message says about it) for a caption, which may span lines.
REFUSED_IN_A_CAPTION = [
    ("\ud83d", "a broken character"),                   # the first half of an emoji, alone (a bad paste)
    ("\udc00", "a broken character"),                   # a second half, alone
    ("\x00", "a null character (U+0000)"),              # NUL: PostgreSQL cannot store it
    ("\x07", "control character (U+0007)"),             # BEL, C0
    ("\x0b", "control character (U+000B)"),             # vertical tab: not a line break a platform keeps
    ("\x1b", "control character (U+001B)"),             # ESC, C0
    ("\x7f", "control character (U+007F)"),             # DEL
    ("\x85", "control character (U+0085)"),             # NEL, C1 (cp1252 text read as Latin-1)
    ("\x9f", "control character (U+009F)"),             # the last C1 control
]


@pytest.mark.parametrize("char, said", REFUSED_IN_A_CAPTION)
def test_a_caption_with_a_broken_or_control_character_is_refused_and_nothing_is_stored(store, scheduler, char,
                                                                                          said):
    post = Post(account=account(), caption=f"Launch{char} day", schedule=AT)
    with pytest.raises(ValidationError) as err:
        scheduler.schedule_post("post-1", post)
    [problem] = err.value.problems
    assert (problem.code, problem.field) == ("bad_text", "caption")
    assert problem.message.startswith("The caption contains ") and said in problem.message
    assert char not in str(err.value)                    # the message never repeats what cannot be shown
    assert nothing_stored(store)


@pytest.mark.parametrize("caption", [
    "Line one\nline two",                               # a line break
    "Line one\r\nline two",                             # a Windows line break
    "Price:\t9 €",                                      # a tab
    "co\u200bop \U0001F469\u200d\U0001F4BB \u0915\u094d\u0937",  # zero-width space, a ZWJ emoji, a conjunct
])
def test_line_breaks_tabs_and_joiners_are_fine_in_a_caption(store, scheduler, caption):
    scheduler.schedule_post("post-1", Post(account=account(), caption=caption, schedule=AT))
    assert store.get_post("post-1").caption == caption


# (how the post is built, the field, the words naming it) for every other text of a post.
FIELDS = [
    (lambda bad: dict(call_to_action=f"Shop{bad}now"), "call_to_action", "The call to action"),
    (lambda bad: dict(link=f"https://example.com/{bad}x"), "link", "The link"),
    (lambda bad: dict(title=f"Launch{bad}day"), "title", "The title"),
    (lambda bad: dict(media_urls=("https://cdn.example.com/a.jpg", f"https://cdn.example.com/{bad}.jpg")),
     "media", "The link of media item 2"),
    (lambda bad: dict(variants={Platform.LINKEDIN: PostVariant(caption=f"Hi{bad}")}), "caption",
     "The LinkedIn caption"),
    (lambda bad: dict(variants={Platform.LINKEDIN: PostVariant(title=f"Hi{bad}")}), "title", "The LinkedIn title"),
    (lambda bad: dict(variants={Platform.LINKEDIN: PostVariant(link=f"https://example.com/{bad}")}), "link",
     "The LinkedIn link"),
]


@pytest.mark.parametrize("build, field, named", FIELDS)
@pytest.mark.parametrize("bad", ["\x00", "\ud800", "\x1f", "\x8d"])
def test_every_text_of_a_post_is_checked(store, scheduler, build, field, named, bad):
    post = Post(account=account(), caption="Hello", schedule=AT, **build(bad))
    with pytest.raises(ValidationError) as err:
        scheduler.schedule_post("post-1", post)
    assert [(p.code, p.field) for p in err.value.problems] == [("bad_text", field)]
    assert err.value.problems[0].message.startswith(named + " contains ")
    assert nothing_stored(store)


@pytest.mark.parametrize("build, field", [
    (lambda: dict(title="Launch\nday"), "title"),                       # titles are one line
    (lambda: dict(link="https://example.com/\tx"), "link"),              # so are links
    (lambda: dict(variants={Platform.LINKEDIN: PostVariant(title="a\rb")}), "title"),
])
def test_one_line_texts_refuse_line_breaks_and_tabs(scheduler, store, build, field):
    with pytest.raises(ValidationError) as err:
        scheduler.schedule_post("post-1", Post(account=account(), caption="Hello", schedule=AT, **build()))
    assert [p.field for p in err.value.problems] == [field]
    assert "must fit on one line" in err.value.problems[0].message
    assert nothing_stored(store)


@pytest.mark.parametrize("tags", [("launch\x00",), ("ok", "la\ud800unch"), ("day\x9b",)])
def test_hashtags_with_a_broken_or_control_character_are_refused(tags):
    with pytest.raises(ValidationError) as err:
        Post(account=account(), caption="Hello", hashtags=tags)
    assert [(p.code, p.field) for p in err.value.problems] == [("bad_text", "hashtags")]
    assert err.value.problems[0].message.startswith("The hashtag contains ")
    with pytest.raises(ValidationError):
        PostVariant(hashtags=tags)


@pytest.mark.parametrize("fields, field, named", [
    (dict(handle="@out\x00post"), "handle", "The account handle"),
    (dict(handle="@out\udfffpost"), "handle", "The account handle"),
    (dict(handle="@out\tpost"), "handle", "The account handle"),
    (dict(display_name="Out\x1bpost"), "display_name", "The account name"),
    (dict(display_name="Out\x85post"), "display_name", "The account name"),
])
def test_account_handles_and_names_are_checked(fields, field, named):
    with pytest.raises(ValidationError) as err:
        Account(platform=Platform.X, **{"handle": "@outpost", **fields})
    assert [(p.code, p.field) for p in err.value.problems] == [("bad_text", field)]
    assert err.value.problems[0].message.startswith(named + " contains") or "one line" in str(err.value)


def test_an_account_edited_into_a_bad_name_is_refused():
    acc = account(display_name="Outpost")
    with pytest.raises(ValidationError):
        replace(acc, display_name="Out\x00post")


def test_workspace_and_user_names_are_checked():
    with pytest.raises(ValidationError, match="The workspace name contains a null character"):
        Workspace(name="Acme\x00")
    with pytest.raises(ValidationError, match="The name contains an invisible control character"):
        User(email="ann@example.com", display_name="Ann\x07")
    with pytest.raises(ValidationError, match="The email address contains"):
        User(email="ann\x00@example.com")


def test_editing_a_post_into_bad_text_is_refused_and_the_post_is_unchanged(store, scheduler):
    scheduler.schedule_post("post-1", Post(account=account(), caption="Hello", schedule=AT))
    before = store.get_post("post-1")
    with pytest.raises(ValidationError, match="The caption contains a null character"):
        scheduler.edit("post-1", caption="Hel\x00lo")
    assert store.get_post("post-1") == before


@pytest.mark.parametrize("operation", ["reject", "cancel"])
def test_a_reason_with_a_control_character_is_refused(store, scheduler, operation):
    scheduler.schedule_post("post-1", Post(account=account(), caption="Hello", schedule=AT),
                            submit_for_approval=True)
    events = len(store.list_events())
    with pytest.raises(ValidationError, match="The reason contains a null character"):
        getattr(scheduler, operation)("post-1", "Off\x00brand")
    assert len(store.list_events()) == events
    assert store.get_post("post-1").rejection_reason is None


def test_no_refusal_is_a_database_error(store, scheduler):
    # Whatever the store, a broken text is an OutpostError a page can show, never a driver's exception.
    for caption in ("\x00", "\ud800", "a\x00\ud800\x85"):
        with pytest.raises(OutpostError):
            scheduler.schedule_post("post-1", Post(account=account(), caption=caption, schedule=AT))
    assert nothing_stored(store)


# ---------------------------------------------------------------- a refused operation leaves nothing stored

def test_scheduling_under_an_id_that_exists_writes_no_account_post_or_delivery(store, scheduler):
    first = account("@first")
    scheduler.schedule_post("post-1", Post(account=first, caption="Hello", schedule=AT))
    before = (store.get_post("post-1"), store.get_deliveries("post-1"), len(store.list_events()))
    newcomer = account("@newcomer", Platform.X)
    with pytest.raises(DuplicateError, match="post-1"):
        scheduler.schedule_post("post-1", Post(account=newcomer, caption="Other", schedule=AT))
    assert [a.handle for a in store.list_accounts()] == ["@first"]
    assert (store.get_post("post-1"), store.get_deliveries("post-1"), len(store.list_events())) == before


def test_a_draft_under_an_id_that_exists_writes_no_account(store, scheduler):
    scheduler.save_draft("post-1", Post(account=account("@first"), caption="Hello"))
    with pytest.raises(DuplicateError):
        scheduler.save_draft("post-1", Post(account=account("@newcomer"), caption="Other"))
    assert [a.handle for a in store.list_accounts()] == ["@first"]


@pytest.mark.parametrize("post", [
    Post(account=account("@new", Platform.X), caption="a" * 281, schedule=AT),         # over X's limit
    Post(account=account("@new", Platform.INSTAGRAM), caption="Hello", schedule=AT),   # Instagram needs media
    Post(account=account("@new"), caption="Hello", schedule=AT, recurrence="FREQ=NEVER"),  # a broken rule
    Post(account=account("@new"), caption="Hello", schedule=AT, link="nope"),           # not a web address
])
def test_a_validation_failure_writes_no_account_post_or_delivery(store, scheduler, post):
    with pytest.raises(ValidationError):
        scheduler.schedule_post("post-1", post)
    assert nothing_stored(store)


def test_media_is_not_fetched_for_a_post_whose_text_is_refused(store, clock):
    fetched: list[Post] = []
    scheduler = Scheduler(store, clock=clock, media_checker=lambda post: fetched.append(post) or [])
    post = Post(account=account(), caption="Hi\x00", media_urls=("https://cdn.example.com/a.jpg",), schedule=AT)
    with pytest.raises(ValidationError):
        scheduler.schedule_post("post-1", post)
    assert fetched == [] and nothing_stored(store)


# ---------------------------------------------------------------- text the platforms send back

# What a platform may answer: a NUL in an error message, a lone surrogate from a JSON "\ud800" escape, a BEL.
PLATFORM_TEXT = "Upload failed\x00: bad byte \ud800 in\x07 media\nsee docs"


def test_a_platform_error_with_nul_or_a_broken_character_is_recorded_readably_on_every_store(store, scheduler, clock):
    """The runner keeps what the platform said (it is the evidence a person reads), made storable: PostgreSQL
    would refuse the NUL and the driver the lone surrogate, leaving the delivery stuck mid-publish."""
    scheduler.schedule_post("post-1", Post(account=account(), caption="Launch day",
                                           schedule=Schedule(scheduled_at=T0, timezone_name="UTC")))
    [claimed] = store.claim_due(T0 + timedelta(seconds=1), runner_id="r1", lease_until=T0 + timedelta(minutes=2))
    failed = claimed.mark_failed(error=PLATFORM_TEXT, code="platform_refused")
    assert store.finish_delivery(failed, runner_id="r1") is not None
    [stored] = store.get_deliveries("post-1")
    assert stored.state.value == "failed"
    assert stored.last_error == "Upload failed: bad byte \ufffd in media\nsee docs"


def test_a_platform_id_or_link_with_control_characters_is_stored_clean(store, scheduler, clock):
    scheduler.schedule_post("post-1", Post(account=account(), caption="Launch day",
                                           schedule=Schedule(scheduled_at=T0, timezone_name="UTC")))
    [claimed] = store.claim_due(T0 + timedelta(seconds=1), runner_id="r1", lease_until=T0 + timedelta(minutes=2))
    done = claimed.mark_published(external_id="urn:li:share:1\x00", external_url="https://example.com/p/1\x07",
                                  at=T0 + timedelta(seconds=2))
    assert store.finish_delivery(done, runner_id="r1") is not None
    [stored] = store.get_deliveries("post-1")
    assert (stored.external_id, stored.external_url) == ("urn:li:share:1", "https://example.com/p/1")
