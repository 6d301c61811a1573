"""Text far longer than any platform takes is refused by its length alone, in words, before any platform's own
count (which, over megabytes, cost seconds of CPU per post: an X post with a 2 MB link took 11 s)."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

import core.rules.validation as validation
from core import Account, InMemoryPostStore, Platform, Post, Schedule, Scheduler
from core.domain import PostVariant
from core.domain.errors import ValidationError
from core.rules.limits import LIMITS
from core.rules.validation import ITEMS_CEILING, LINK_CEILING, TEXT_CEILING, validate_post

X = Account(platform="x", handle="@brand", oauth_token="t")
FB = Account(platform="facebook", handle="Brand", oauth_token="t")
WHEN = Schedule(scheduled_at=datetime.now(timezone.utc) + timedelta(days=1), timezone_name="UTC")


@pytest.fixture
def no_counting(monkeypatch):
    """Counting a platform's text is what costs: none of it may run on text this long."""
    def refuse(*args, **kwargs):
        raise AssertionError("counted text that is far too long for any platform")
    monkeypatch.setattr(validation, "count_text", refuse)
    monkeypatch.setattr(Scheduler, "_slot_problems", refuse)


def refused(post: Post) -> list:
    with pytest.raises(ValidationError) as err:
        Scheduler(InMemoryPostStore()).schedule_post("p1", post)
    return err.value.problems


def test_the_ceilings_are_far_above_every_platforms_own_limit():
    assert TEXT_CEILING > max(lim.text_max for lim in LIMITS.values())
    assert TEXT_CEILING > max(lim.comment_max or 0 for lim in LIMITS.values())


def test_a_two_megabyte_link_is_refused_as_no_web_address(no_counting):
    [problem] = refused(Post(caption="x", link="https://a.example/" + "a" * 2_000_000, account=X, schedule=WHEN))
    assert problem.code == "link_far_too_long" and problem.field == "link"
    assert problem.message == ("The link has 2,000,018 characters; no web address is that long (Outpost takes up to "
                               "8,000). Check that only the link was pasted.")


def test_a_megabyte_caption_of_links_is_refused_naming_the_longest_any_platform_takes(no_counting):
    [problem] = refused(Post(caption="https://a.example/x " * 50_000, account=X, schedule=WHEN))
    assert problem.code == "far_too_long" and problem.field == "caption"
    assert problem.message == ("The caption has 1,000,000 characters, far more than any platform takes (the most is "
                               "63,206, on Facebook Page). Shorten it.")


@pytest.mark.parametrize("post, field, words", [
    (Post(caption="hi", first_comment="a" * (TEXT_CEILING + 1), account=FB), "first_comment", "The first comment has"),
    (Post(caption="hi", account=X, variants={Platform.X: PostVariant(thread=("one", "b" * (TEXT_CEILING + 1)))}),
     "thread", "On X, post 2 of the thread has"),
    (Post(caption="hi", account=FB, variants={Platform.FACEBOOK: PostVariant(caption="c" * (TEXT_CEILING + 1))}),
     "caption", "On Facebook Page, the caption has"),
    (Post(caption="hi", call_to_action="d" * (TEXT_CEILING + 1), account=FB), "call_to_action",
     "The call to action has"),
])
def test_every_text_of_a_post_has_the_ceiling(no_counting, post, field, words):
    [problem] = validate_post(post)
    assert problem.field == field and problem.message.startswith(words) and problem.severity == "error"


def test_a_title_far_too_long_names_the_longest_title_any_platform_takes(no_counting):
    [problem] = validate_post(Post(caption="hi", title="t" * 5_000, account=FB))
    assert problem.message == ("The title has 5,000 characters, far more than any platform takes (the most is 100). "
                               "Shorten it.") and problem.field == "title"


def test_thousands_of_hashtags_are_refused_as_far_too_many(no_counting):
    [problem] = refused(Post(caption="hi", hashtags=tuple(f"tag{i}" for i in range(5_000)), account=FB,
                             schedule=WHEN))
    assert problem.code == "far_too_many" and problem.field == "hashtags"
    assert problem.message == ("This post has 5,000 hashtags; Outpost takes at most 1,000, far more than any "
                               "platform uses. Remove most of them.")


def test_text_under_the_ceiling_is_judged_by_the_platforms_own_rules():
    post = Post(caption="a" * 70_000, link="https://a.example/" + "b" * (LINK_CEILING - 100),
                hashtags=tuple(f"tag{i}" for i in range(ITEMS_CEILING)), account=FB)
    codes = {p.code for p in validate_post(post)}
    assert "caption_too_long" in codes and not codes & validation.OVERSIZED_CODES
