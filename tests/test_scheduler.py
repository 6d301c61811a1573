"""The Scheduler as a script uses it: schedule, queue, reschedule, cancel, due, and bad input."""
from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from core import (Account, IllegalTransitionError, InMemoryPostStore, NaiveDatetimeError, PastTimeError, Platform,
                  Post, PostStatus, Schedule, Scheduler, UnknownPlatformError, ValidationError, Workspace)

NOW = datetime(2030, 3, 4, 8, 0, tzinfo=timezone.utc)  # a Monday


class Clock:
    def __init__(self, now):
        self.now = now

    def __call__(self):
        return self.now


@pytest.fixture
def clock():
    return Clock(NOW)


@pytest.fixture
def store(clock):
    return InMemoryPostStore(clock=clock)


@pytest.fixture
def scheduler(store, clock):
    return Scheduler(store, clock=clock, refuse_past=True)


@pytest.fixture
def x_account():
    return Account(platform=Platform.X, handle="@brand", oauth_token="tok")


def at(hours=1, minutes=0):
    return Schedule(scheduled_at=NOW + timedelta(hours=hours, minutes=minutes), timezone_name="UTC")


def test_schedule_and_find_it_due(scheduler, x_account, clock):
    result = scheduler.schedule_post("p1", Post(account=x_account, caption="Hello", schedule=at(1)))
    assert result.status == PostStatus.SCHEDULED and result.warnings == ()
    assert scheduler.due() == []
    clock.now = NOW + timedelta(hours=1)
    [due] = scheduler.due()
    assert (due.post_id, due.account_id) == ("p1", x_account.id)


def test_one_delivery_per_account(scheduler, x_account):
    li = Account(platform=Platform.LINKEDIN, handle="Brand Inc")
    result = scheduler.schedule_post("p1", Post(accounts=[x_account, li], caption="Both", schedule=at(2)))
    assert sorted(d.platform.value for d in result.deliveries) == ["linkedin", "x"]


def test_reschedule_moves_every_delivery_and_logs_it(scheduler, x_account, store):
    scheduler.schedule_post("p1", Post(account=x_account, caption="Hello", schedule=at(1)))
    result = scheduler.reschedule("p1", NOW + timedelta(days=1))
    assert result.scheduled_at == NOW + timedelta(days=1)
    assert {d.due_at for d in store.get_deliveries("p1")} == {NOW + timedelta(days=1)}
    assert [e.action for e in store.list_events(subject_id="p1")] == ["post.rescheduled", "post.scheduled"]


def test_cancel_stops_publication(scheduler, x_account, clock):
    scheduler.schedule_post("p1", Post(account=x_account, caption="Hello", schedule=at(1)))
    assert scheduler.cancel("p1", reason="typo").status == PostStatus.CANCELLED
    clock.now = NOW + timedelta(hours=2)
    assert scheduler.due() == []
    with pytest.raises(IllegalTransitionError, match="cancelled"):
        scheduler.reschedule("p1", NOW + timedelta(hours=3))


def test_approval_workflow(store, clock):
    ws = store.add_workspace(Workspace(name="Team", timezone_name="Europe/Berlin", requires_approval=True))
    acc = Account(platform=Platform.LINKEDIN, handle="Team", workspace_id=ws.id)
    sch = Scheduler(store, clock=clock)
    result = sch.schedule_post("p1", Post(account=acc, caption="Q1 results", schedule=at(3), workspace_id=ws.id))
    assert result.status == PostStatus.PENDING_APPROVAL
    clock.now = NOW + timedelta(hours=3)
    assert sch.due() == []                       # not approved: never published
    assert sch.reject("p1", "numbers not final").status == PostStatus.REJECTED
    assert sch.submit("p1").status == PostStatus.PENDING_APPROVAL
    assert sch.approve("p1").status == PostStatus.SCHEDULED
    assert len(sch.due()) == 1


def test_add_to_queue_takes_next_free_slot_in_workspace_time(store, clock):
    ws = store.add_workspace(Workspace(name="W", timezone_name="America/New_York",
                                       queue_slots={0: [time(9, 0), time(12, 30)], 1: [time(9, 0)]}))
    acc = Account(platform=Platform.X, handle="@q", workspace_id=ws.id)
    sch = Scheduler(store, clock=clock)
    first = sch.add_to_queue("q1", Post(account=acc, caption="one", workspace_id=ws.id))
    second = sch.add_to_queue("q2", Post(account=acc, caption="two", workspace_id=ws.id))
    ny = ZoneInfo("America/New_York")
    # 08:00 UTC Monday is 03:00 in New York: 09:00 then 12:30 the same Monday.
    assert first.scheduled_at.astimezone(ny).replace(tzinfo=None) == datetime(2030, 3, 4, 9, 0)
    assert second.scheduled_at.astimezone(ny).replace(tzinfo=None) == datetime(2030, 3, 4, 12, 30)


def test_status_report(scheduler, x_account):
    scheduler.schedule_post("p1", Post(account=x_account, caption="Hello", schedule=at(1)))
    report = scheduler.status("p1")
    assert report.status == PostStatus.SCHEDULED and len(report.deliveries) == 1 and report.last_error is None


def test_daily_cap_and_warnings(scheduler):
    yt = Account(platform=Platform.YOUTUBE, handle="Channel")
    video = ["https://example.com/v.mp4"]
    scheduler.schedule_post("v1", Post(account=yt, caption="Video one", media_urls=video, schedule=at(1)))
    with pytest.raises(ValidationError, match="daily limit is 1"):
        scheduler.schedule_post("v2", Post(account=yt, caption="Video two", media_urls=video, schedule=at(3)))
    x = Account(platform=Platform.X, handle="@warn")
    scheduler.schedule_post("x1", Post(account=x, caption="Same words", schedule=at(1)))
    result = scheduler.schedule_post("x2", Post(account=x, caption="same  words", schedule=at(1, 30)))
    assert {w.code for w in result.warnings} == {"same_hour", "duplicate_caption"}


# ---- bad input: each refused with a message a person understands, nothing stored

def test_naive_datetime_refused():
    with pytest.raises(NaiveDatetimeError, match="has no timezone"):
        Schedule(scheduled_at=datetime(2030, 1, 1, 9, 0))


def test_unknown_platform_refused():
    with pytest.raises(UnknownPlatformError, match="'myspace' is not a platform Outpost supports"):
        Account(platform="myspace", handle="@old")


def test_past_time_refused_when_asked(scheduler, x_account, store):
    with pytest.raises(PastTimeError, match="has already passed"):
        scheduler.schedule_post("p1", Post(account=x_account, caption="late", schedule=at(-1)))
    assert store.list_posts() == []


def test_past_time_is_a_warning_for_scripts(store, clock, x_account):
    result = Scheduler(store, clock=clock).schedule_post("p1", Post(account=x_account, caption="late", schedule=at(-1)))
    assert [w.code for w in result.warnings] == ["past_time"]


def test_a_past_time_is_explained_in_the_posts_own_zone(store, clock, x_account):
    """Someone working in Berlin reads Berlin time, not UTC, whether the time is refused or only warned about."""
    berlin = Schedule(scheduled_at=clock() - timedelta(hours=1), timezone_name="Europe/Berlin")
    local = berlin.scheduled_at.astimezone(ZoneInfo("Europe/Berlin"))
    said = f"{local:%H:%M} {local.tzname()}"
    result = Scheduler(store, clock=clock).schedule_post("p1", Post(account=x_account, caption="late", schedule=berlin))
    assert said in result.warnings[0].message and "UTC" not in result.warnings[0].message
    with pytest.raises(PastTimeError) as refused:
        Scheduler(store, clock=clock, refuse_past=True).schedule_post(
            "p2", Post(account=x_account, caption="late again", schedule=berlin))
    assert local.tzname() in str(refused.value) and "UTC" not in str(refused.value)


@pytest.mark.parametrize("post_kwargs,message", [
    # caption too long for X (280 weighted characters)
    (dict(caption="a" * 281), "X allows 280"),
    # Instagram allows 5 hashtags
    (dict(platform=Platform.INSTAGRAM, caption="hi", hashtags=[f"#t{i}" for i in range(8)],
          media_urls=["https://e.com/a.jpg"]), "5 hashtags"),
    # X allows 4 images
    (dict(caption="pics", media_urls=[f"https://e.com/{i}.jpg" for i in range(5)]), "4 images"),
    # nothing to post
    (dict(caption=""), "empty"),
])
def test_bad_content_refused_and_nothing_stored(scheduler, store, post_kwargs, message):
    platform = post_kwargs.pop("platform", Platform.X)
    post = Post(account=Account(platform=platform, handle="@b"), schedule=at(1), **post_kwargs)
    with pytest.raises(ValidationError, match=message):
        scheduler.schedule_post("bad", post)
    assert store.list_posts() == []


def test_every_problem_reported_at_once(scheduler):
    post = Post(account=Account(platform=Platform.INSTAGRAM, handle="@b"), caption="x" * 2300,
                hashtags=[f"#t{i}" for i in range(8)], media_urls=["https://e.com/a.png"], schedule=at(1))
    with pytest.raises(ValidationError) as err:
        scheduler.schedule_post("bad", post)
    assert {p.code for p in err.value.problems} >= {"caption_too_long", "too_many_hashtags", "media_type"}


def test_duplicate_post_id_refused(scheduler, x_account):
    scheduler.schedule_post("p1", Post(account=x_account, caption="one", schedule=at(1)))
    with pytest.raises(Exception, match="already exists"):
        scheduler.schedule_post("p1", Post(account=x_account, caption="two", schedule=at(5)))


def test_dst_notice_reaches_the_user(scheduler, x_account):
    sched = Schedule.at_local(date(2030, 3, 10), time(2, 30), "America/New_York")  # spring forward day
    result = scheduler.schedule_post("p1", Post(account=x_account, caption="early", schedule=sched))
    assert result.notices and "does not exist" in result.notices[0]
    assert result.scheduled_at == datetime(2030, 3, 10, 7, 30, tzinfo=timezone.utc)  # 03:30 EDT


def test_demo_posts_can_be_read_but_not_acted_on(scheduler, store, x_account, clock):
    """Sandbox demo history: trying a failed demo post again would really publish it; editing or cancelling it
    would keep work that disappears with the demo. A copy of a demo post is a real post."""
    from dataclasses import replace as _replace
    scheduler.schedule_post("demo1", Post(account=x_account, caption="Demo", schedule=at(1)))
    store.update_post(_replace(store.get_post("demo1"), is_demo=True), expected_version=store.get_post("demo1").version)
    [d] = store.get_deliveries("demo1")
    for act in (lambda: scheduler.edit("demo1", caption="Mine now"), lambda: scheduler.cancel("demo1"),
                lambda: scheduler.reschedule("demo1", NOW + timedelta(hours=3)),
                lambda: scheduler.try_again(d.id), lambda: scheduler.give_up(d.id)):
        with pytest.raises(ValidationError, match="demo data from the sandbox"):
            act()
    assert store.get_post("demo1").caption == "Demo" and scheduler.get("demo1").is_demo
    copy = scheduler.schedule_post("copy1", _replace(store.get_post("demo1"), id="copy1", schedule=at(2)))
    assert store.get_post("copy1").is_demo is False and copy.status == PostStatus.SCHEDULED


def test_a_post_with_no_account_is_told_every_problem_at_once():
    """An empty composer submitted: no account AND nothing to say, in one answer (it said only the first)."""
    from core.domain.errors import ValidationError
    from core.store import InMemoryPostStore
    with pytest.raises(ValidationError) as refused:
        Scheduler(InMemoryPostStore()).save_draft("p", Post(caption=""))
    assert [p.code for p in refused.value.problems] == ["no_accounts", "empty_post"]
