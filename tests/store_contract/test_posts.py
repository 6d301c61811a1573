"""The store contract for posts and deliveries (core.store.PostDeliveryStore), on every store."""
from __future__ import annotations

from dataclasses import MISSING, fields, replace
from datetime import date, datetime, time, timedelta, timezone

import pytest

from core.domain import Account, Batch, Delivery, Post, PostVariant, Schedule
from core.domain.errors import ConflictError, DuplicateError, NaiveDatetimeError, NotFoundError
from core.domain.lifecycle import DeliveryState, PostState, PostStatus
from core.domain.catalog import Platform
from core.rules.timing import ScheduledItem

from tests.store_contract.world import T0, UTC, add, deliveries_for, event, make_post


# ---------------------------------------------------------------- posts and deliveries

def unset_fields(obj) -> list[str]:
    """The fields of dataclass `obj` still at their default (a field added later and not filled in below)."""
    out = []
    for f in fields(obj):
        default = f.default_factory() if f.default_factory is not MISSING else f.default
        if f.default is not MISSING or f.default_factory is not MISSING:
            if getattr(obj, f.name) == default:
                out.append(f.name)
    return out


def test_post_round_trip_of_every_field(world, clock):
    store = world.store
    batch = store.save_batch(Batch(workspace_id=world.ws.id, week_start=date(2030, 3, 11), id="batch_1"))
    full_variant = PostVariant(caption="IG caption", hashtags=("#reels",), media_urls=("https://cdn.acme.test/ig.jpg",),
                               title="IG title", link="https://acme.test/ig", thread=("First", "Second"),
                               first_comment="IG first comment")
    post = Post(
        caption="Spring launch 🌱", accounts=(world.li, world.ig),  # target order is kept: LinkedIn first
        hashtags=("#Launch", "spring"), call_to_action="Shop now", link="https://acme.test/spring",
        media_urls=("https://cdn.acme.test/a.jpg", "https://cdn.acme.test/b.mp4"),
        title="Our spring launch, in 60 seconds", first_comment="More at acme.test",
        variants={Platform.INSTAGRAM: full_variant,
                  "linkedin": PostVariant(title="Launch", link="https://acme.test/li", hashtags=(),
                                          first_comment="")},
        schedule=Schedule.at_local(date(2030, 3, 31), time(2, 30), "Europe/Berlin"),  # in the DST gap: a notice
        recurrence="FREQ=WEEKLY;BYDAY=MO", is_ai_generated=True, batch_id=batch.id, workspace_id=world.ws.id,
        id="post_full", state=PostState.APPROVED, created_by=world.owner.id, rejection_reason="old reason",
        series_id="series_1", is_demo=True, created_at=T0 - timedelta(days=2), updated_at=T0 - timedelta(days=1),
        version=7)
    assert post.schedule.notice  # the DST gap moved the wall time and said so
    # Every field is filled in, so each one is checked below: a field added to Post or PostVariant later fails
    # here until it is set (and then fails the round trip until the stores keep it).
    assert unset_fields(post) == [] and unset_fields(full_variant) == []
    li_dlv, ig_dlv = deliveries_for(post)
    # One delivery with every field filled in (as after a failed attempt), so each one is checked.
    ig_dlv = replace(ig_dlv, state=DeliveryState.RETRY_WAIT, attempts=2, next_attempt_at=T0 + timedelta(minutes=15),
                     external_id="ig-media-1", external_url="https://instagram.test/p/1", last_error="503 upstream",
                     last_error_code="server_error", claimed_by="runner-a", lease_expires_at=T0 + timedelta(minutes=5),
                     marker="outpost-7f3a", published_at=T0 - timedelta(seconds=1))
    dlv = [li_dlv, ig_dlv]
    saved = store.add_post(post, dlv)
    # The store stamps these three; created_at is kept when given.
    expected = replace(post, updated_at=clock.now, version=1)
    assert (saved.created_at, saved.updated_at, saved.version) == (expected.created_at, clock.now, 1)
    got = store.get_post("post_full")
    # Field by field over every field of Post (and of each variant), so a failure says which one.
    for f in fields(Post):
        assert getattr(got, f.name) == getattr(expected, f.name), f.name
    for platform, variant in expected.variants.items():
        for f in fields(PostVariant):
            assert getattr(got.variants[platform], f.name) == getattr(variant, f.name), f"{platform} {f.name}"
    assert got == saved == expected
    assert got.schedule.timezone_name == "Europe/Berlin" and got.schedule.notice == post.schedule.notice
    # "Use the post's own" (None) and "none here" (empty) stay apart.
    li_variant = got.variants[Platform.LINKEDIN]
    assert (li_variant.hashtags, li_variant.first_comment, li_variant.caption, li_variant.thread) == ((), "", None, None)
    # Targets come back as the stored accounts, in target order, tokens and all.
    assert [a.id for a in got.accounts] == ["acct_li", "acct_ig"] and got.account == world.li
    assert got.accounts[1].oauth_token == "ig-token" and got.accounts[1].refresh_token == "ig-refresh"
    # Deliveries in the order given, version 1, stamped.
    stored = store.get_deliveries("post_full")
    assert [d.id for d in stored] == [d.id for d in dlv]
    assert stored == [replace(d, version=1, updated_at=clock.now) for d in dlv]
    assert store.get_delivery(ig_dlv.id) == stored[1]
    assert store.get_post_status("post_full") == PostStatus.PUBLISHING


def test_post_created_at_is_kept_and_unscheduled_posts_round_trip(world, clock):
    created = T0 - timedelta(days=3)
    saved = world.store.add_post(make_post(world, "post_draft", at=None, state=PostState.DRAFT, created_at=created))
    got = world.store.get_post("post_draft")
    assert got == saved and got.created_at == created and got.schedule is None
    assert world.store.get_deliveries("post_draft") == []
    assert world.store.get_post_status("post_draft") == PostStatus.DRAFT


def test_add_post_refusals_leave_nothing_behind(world):
    store = world.store
    add(world, "post_1")
    with pytest.raises(DuplicateError, match="post_1 already exists"):
        store.add_post(make_post(world, "post_1", caption="other"))
    assert store.get_post("post_1").caption == "Caption of post_1"
    stranger = Account(platform="youtube", handle="@unsaved", id="acct_unsaved")
    with pytest.raises(NotFoundError, match="not connected in this store"):
        store.add_post(make_post(world, "post_2", accounts=(world.ig, stranger)))
    with pytest.raises(NotFoundError, match="No workspace"):
        store.add_post(make_post(world, "post_3", workspace_id="ws_ghost"))
    with pytest.raises(ValueError, match="belongs to post"):
        post = make_post(world, "post_4")
        store.add_post(post, [replace(deliveries_for(post)[0], post_id="post_1")])
    with pytest.raises(ValueError, match="needs an id"):
        store.add_post(make_post(world, None))
    for missing in ("post_2", "post_3", "post_4"):
        with pytest.raises(NotFoundError):
            store.get_post(missing)
    assert [p.id for p in store.list_posts()] == ["post_1"]
    assert store.get_deliveries("post_4") == []


def test_delivery_for_an_unknown_account_is_refused(world):
    post = make_post(world, "post_1", accounts=(world.ig,))
    orphan = Delivery(post_id=post.id, account_id="acct_ghost", platform="x", due_at=post.due_at)
    with pytest.raises(NotFoundError, match="acct_ghost"):
        world.store.add_post(post, [orphan])
    with pytest.raises(NotFoundError):
        world.store.get_post("post_1")


def test_delivery_id_in_use_by_another_post_is_refused(world):
    first = add(world, "post_1")
    taken = world.store.get_deliveries(first.id)[0]
    post = make_post(world, "post_2", accounts=(world.ig,))
    with pytest.raises(DuplicateError, match=taken.id):
        world.store.add_post(post, [replace(deliveries_for(post)[0], id=taken.id)])
    assert world.store.get_deliveries("post_1")[0] == taken


def test_a_delivery_never_moves_to_another_post(world):
    store = world.store
    add(world, "post_1", accounts=(world.ig,))
    post_2 = add(world, "post_2", accounts=(world.ig,))
    [d1] = store.get_deliveries("post_1")
    with pytest.raises(DuplicateError, match="already belongs to post post_1"):
        store.update_post(post_2, expected_version=1, deliveries=[replace(d1, post_id="post_2")])
    with pytest.raises(ValueError, match="belongs to post post_1"):
        store.update_delivery(replace(d1, post_id="post_2"), expected_version=d1.version)
    assert store.get_deliveries("post_1") == [d1] and len(store.get_deliveries("post_2")) == 1


def test_update_post_bumps_version_and_writes_deliveries_and_events(world, clock):
    store = world.store
    post = add(world, "post_1", accounts=(world.ig,))
    [d_ig] = store.get_deliveries("post_1")
    when = clock.advance(minutes=5)
    # account=None: otherwise the old first target stays first (Post merges `account` into `accounts`).
    edited = replace(post, caption="New words", account=None, accounts=(world.li, world.ig), hashtags=("#new",))
    d_li = Delivery(post_id="post_1", account_id=world.li.id, platform=world.li.platform, due_at=post.due_at,
                    id="dlv_li")
    moved = d_ig.reschedule(due_at=post.due_at + timedelta(hours=1))
    saved = store.update_post(edited, expected_version=1, deliveries=[moved, d_li],
                              events=[event("post_1", when, "edited", from_state="scheduled", to_state="scheduled")])
    assert saved.version == 2 and saved.updated_at == when and saved.created_at == post.created_at
    got = store.get_post("post_1")
    assert got == saved and got.caption == "New words" and [a.id for a in got.accounts] == ["acct_li", "acct_ig"]
    stored = store.get_deliveries("post_1")
    assert [(d.id, d.version) for d in stored] == [(d_ig.id, 2), ("dlv_li", 1)]
    assert stored[0].due_at == post.due_at + timedelta(hours=1) and stored[0].updated_at == when
    [logged] = store.list_events(subject_id="post_1")
    assert (logged.action, logged.from_state, logged.to_state, logged.at) == ("edited", "scheduled", "scheduled", when)
    with pytest.raises(NotFoundError, match="No post with id post_ghost"):
        store.update_post(make_post(world, "post_ghost"), expected_version=1)


def test_update_post_with_a_stale_version_changes_nothing(world, clock):
    store = world.store
    post = add(world, "post_1")
    before_deliveries = store.get_deliveries("post_1")
    store.update_post(replace(post, caption="First writer"), expected_version=1)
    clock.advance(minutes=1)
    late = replace(post, caption="Second writer", account=None, accounts=(world.ig,))
    with pytest.raises(ConflictError, match="post_1 was changed by someone else"):
        store.update_post(late, expected_version=1,
                          deliveries=[before_deliveries[0].cancel()],
                          events=[event("post_1", clock.now, "edited")])
    got = store.get_post("post_1")
    assert got.caption == "First writer" and got.version == 2 and len(got.accounts) == 2
    assert store.get_deliveries("post_1") == before_deliveries
    assert store.list_events(subject_id="post_1") == []


def test_update_post_with_a_stale_delivery_changes_nothing(world, clock):
    store = world.store
    post = add(world, "post_1")
    d0, d1 = store.get_deliveries("post_1")
    store.update_delivery(d0.start_publishing(runner_id="r1", lease_until=T0 + timedelta(days=1, minutes=5)),
                          expected_version=1)
    # An editor who read d0 at version 1 tries to cancel everything.
    with pytest.raises(ConflictError, match=f"Delivery {d0.id} was changed"):
        store.update_post(post.cancel(PostStatus.SCHEDULED), expected_version=1, deliveries=[d0.cancel(), d1.cancel()],
                          events=[event("post_1", clock.now, "cancelled")])
    assert store.get_post("post_1").version == 1 and store.get_post("post_1").state == PostState.APPROVED
    assert [d.state for d in store.get_deliveries("post_1")] == [DeliveryState.PUBLISHING, DeliveryState.QUEUED]
    assert store.list_events(subject_id="post_1") == []


def test_update_delivery_versions_and_events(world, clock):
    store = world.store
    add(world, "post_1", accounts=(world.ig,))
    [d] = store.get_deliveries("post_1")
    assert d.version == 1
    when = clock.advance(seconds=30)
    claimed = d.start_publishing(runner_id="runner-a", lease_until=when + timedelta(minutes=5), marker="m-1")
    saved = store.update_delivery(claimed, expected_version=1,
                                  events=[event(d.id, when, "publishing", from_state="queued", to_state="publishing",
                                                actor="runner:runner-a", details={"attempt": 1})])
    assert saved.version == 2 and saved.updated_at == when
    assert store.get_delivery(d.id) == saved
    assert (saved.claimed_by, saved.marker, saved.attempts) == ("runner-a", "m-1", 1)
    with pytest.raises(ConflictError, match="was changed by someone else"):
        store.update_delivery(d.start_publishing(runner_id="runner-b", lease_until=when), expected_version=1)
    assert store.get_delivery(d.id).claimed_by == "runner-a"
    with pytest.raises(NotFoundError, match="No delivery with id dlv_ghost"):
        store.update_delivery(replace(d, id="dlv_ghost"), expected_version=1)
    with pytest.raises(NotFoundError):
        store.get_delivery("dlv_ghost")
    [logged] = store.list_events(subject_id=d.id)
    assert logged.actor == "runner:runner-a" and logged.details == {"attempt": 1}


def test_derived_status_follows_the_deliveries(world, clock):
    store = world.store
    add(world, "post_1")
    ig, li = store.get_deliveries("post_1")
    lease = T0 + timedelta(days=1, minutes=5)

    def status():
        s = store.get_post_status("post_1")
        # The status filter agrees with the status (the SQL stores keep it in a column).
        assert [p.id for p in store.list_posts(statuses=[s])] == ["post_1"]
        return s

    assert status() == PostStatus.SCHEDULED
    ig = store.update_delivery(ig.start_publishing(runner_id="r", lease_until=lease), expected_version=ig.version)
    assert status() == PostStatus.PUBLISHING
    ig = store.update_delivery(ig.mark_published(external_id="ig-1", external_url="https://ig/p/1", at=clock.now),
                               expected_version=ig.version)
    assert status() == PostStatus.PUBLISHING  # LinkedIn has not gone out yet
    li = store.update_delivery(li.start_publishing(runner_id="r", lease_until=lease), expected_version=li.version)
    li = store.update_delivery(li.retry_later(at=clock.now + timedelta(minutes=1), error="503"),
                               expected_version=li.version)
    assert status() == PostStatus.PUBLISHING
    li = store.update_delivery(li.mark_failed(error="gave up", code="server_error"), expected_version=li.version)
    assert status() == PostStatus.PARTIALLY_PUBLISHED
    assert store.list_posts(statuses=[PostStatus.SCHEDULED, PostStatus.PUBLISHING]) == []


def test_status_after_editorial_changes(world):
    store = world.store
    post = add(world, "post_1", state=PostState.PENDING_APPROVAL)
    assert store.get_post_status("post_1") == PostStatus.PENDING_APPROVAL
    post = store.update_post(post.approve(PostStatus.PENDING_APPROVAL), expected_version=post.version)
    assert store.get_post_status("post_1") == PostStatus.SCHEDULED
    dlv = [d.cancel() for d in store.get_deliveries("post_1")]
    store.update_post(post.cancel(PostStatus.SCHEDULED), expected_version=post.version, deliveries=dlv)
    assert store.get_post_status("post_1") == PostStatus.CANCELLED
    assert [p.id for p in store.list_posts(statuses=["cancelled"])] == ["post_1"]
    with pytest.raises(NotFoundError):
        store.get_post_status("post_ghost")


def test_list_posts_filters_window_and_order(world):
    store = world.store
    march, april = datetime(2030, 3, 1, tzinfo=UTC), datetime(2030, 4, 1, tzinfo=UTC)
    store.save_batch(Batch(workspace_id=world.ws.id, week_start=date(2030, 3, 4), id="batch_1"))
    add(world, "p_mid", at=datetime(2030, 3, 15, 12, tzinfo=UTC), accounts=(world.ig,), batch_id="batch_1")
    add(world, "p_start", at=march, accounts=(world.li,))                              # first instant: in
    add(world, "p_end", at=april, accounts=(world.ig,))                                # the end is exclusive
    add(world, "p_late", at=datetime(2030, 3, 31, 23, 59, tzinfo=UTC), batch_id="batch_1")
    add(world, "p_draft", at=datetime(2030, 3, 20, tzinfo=UTC), state=PostState.DRAFT)
    add(world, "p_unscheduled", at=None, state=PostState.DRAFT)
    add(world, "p_other_ws", at=datetime(2030, 3, 10, tzinfo=UTC), accounts=(world.x_other,))

    ids = lambda posts: [p.id for p in posts]  # noqa: E731
    # Ordered by due time, unscheduled last.
    assert ids(store.list_posts()) == ["p_start", "p_other_ws", "p_mid", "p_draft", "p_late", "p_end",
                                       "p_unscheduled"]
    assert ids(store.list_posts(workspace_id=world.ws.id, start=march, end=april)) == [
        "p_start", "p_mid", "p_draft", "p_late"]
    berlin_april = datetime(2030, 4, 1, 2, 0, tzinfo=timezone(timedelta(hours=2)))  # the same instant as April 1st UTC
    assert ids(store.list_posts(workspace_id=world.ws.id, start=march, end=berlin_april)) == [
        "p_start", "p_mid", "p_draft", "p_late"]
    assert ids(store.list_posts(workspace_id=world.other_ws.id)) == ["p_other_ws"]
    assert ids(store.list_posts(statuses=[PostStatus.DRAFT])) == ["p_draft", "p_unscheduled"]
    assert ids(store.list_posts(statuses={"scheduled"}, account_id=world.li.id)) == ["p_start", "p_late"]
    assert ids(store.list_posts(statuses=[])) == []
    assert ids(store.list_posts(batch_id="batch_1")) == ["p_mid", "p_late"]
    assert ids(store.list_posts(start=datetime(2030, 3, 20, tzinfo=UTC))) == ["p_draft", "p_late", "p_end"]
    assert ids(store.list_posts(limit=2)) == ["p_start", "p_other_ws"]
    assert ids(store.list_posts(limit=2, offset=5)) == ["p_end", "p_unscheduled"]
    assert ids(store.list_posts(offset=10)) == []
    # Every listed post carries its accounts.
    assert [[a.id for a in p.accounts] for p in store.list_posts(batch_id="batch_1")] == [
        ["acct_ig"], ["acct_ig", "acct_li"]]
    with pytest.raises(NaiveDatetimeError):
        store.list_posts(start=datetime(2030, 3, 1))


def test_posts_carry_the_current_account(world):
    store = world.store
    add(world, "post_1", accounts=(world.ig,))
    store.save_account(replace(world.ig, handle="@acme_new", oauth_token="ig-token-2"))
    [listed] = store.list_posts()
    assert listed.account.handle == "@acme_new" and listed.account.oauth_token == "ig-token-2"
    assert store.get_post("post_1").account == listed.account


def test_deliveries_of_a_page_of_posts_at_once(world):
    store = world.store
    add(world, "post_1")                                # two accounts
    add(world, "post_2", accounts=(world.ig,))
    add(world, "post_3", at=None)                       # a draft without a time has none
    found = store.deliveries_for(["post_1", "post_2", "post_3"])
    assert {pid: [d.id for d in ds] for pid, ds in found.items()} == {
        pid: [d.id for d in store.get_deliveries(pid)] for pid in ("post_1", "post_2", "post_3")}
    assert [len(found[p]) for p in ("post_1", "post_2", "post_3")] == [2, 1, 0]
    assert store.deliveries_for([]) == {}


def test_due_deliveries(world, clock):
    store = world.store
    now = T0 + timedelta(days=2)
    add(world, "p_due", at=now - timedelta(minutes=10), accounts=(world.ig, world.li))
    add(world, "p_exactly_now", at=now, accounts=(world.ig,))
    add(world, "p_future", at=now + timedelta(seconds=1), accounts=(world.ig,))
    add(world, "p_pending", at=now - timedelta(hours=1), state=PostState.PENDING_APPROVAL, accounts=(world.ig,))
    add(world, "p_draft", at=now - timedelta(hours=1), state=PostState.DRAFT, accounts=(world.ig,))
    # A retry waiting since long ago, due again a minute ago: ordered by next attempt, not by due time.
    retry_post = make_post(world, "p_retry", at=now - timedelta(days=1), accounts=(world.li,))
    store.add_post(retry_post, [Delivery(post_id="p_retry", account_id=world.li.id, platform="linkedin",
                                         due_at=retry_post.due_at, id="dlv_retry", state=DeliveryState.RETRY_WAIT,
                                         attempts=1, next_attempt_at=now - timedelta(minutes=1))])
    # A retry not due yet, a delivery already publishing and one already published: not due.
    later = make_post(world, "p_busy", at=now - timedelta(hours=2), accounts=(world.ig, world.li))
    store.add_post(later, [
        Delivery(post_id="p_busy", account_id=world.ig.id, platform="instagram", due_at=later.due_at, id="dlv_wait",
                 state=DeliveryState.RETRY_WAIT, attempts=1, next_attempt_at=now + timedelta(minutes=5)),
        Delivery(post_id="p_busy", account_id=world.li.id, platform="linkedin", due_at=later.due_at, id="dlv_busy",
                 state=DeliveryState.PUBLISHING, attempts=1, claimed_by="r", lease_expires_at=now)])

    due = store.due_deliveries(now)
    assert [d.id for d in due] == ["dlv_p_due_acct_ig", "dlv_p_due_acct_li", "dlv_retry", "dlv_p_exactly_now_acct_ig"]
    assert [d.next_attempt_at for d in due] == sorted(d.next_attempt_at for d in due)
    assert [d.id for d in store.due_deliveries(now, limit=2)] == ["dlv_p_due_acct_ig", "dlv_p_due_acct_li"]
    assert store.due_deliveries(now - timedelta(days=3)) == []
    berlin_now = now.astimezone(timezone(timedelta(hours=1)))
    assert [d.id for d in store.due_deliveries(berlin_now)] == [d.id for d in due]
    with pytest.raises(NaiveDatetimeError):
        store.due_deliveries(now.replace(tzinfo=None))


def test_account_schedule(world, clock):
    store = world.store
    day = datetime(2030, 3, 10, tzinfo=UTC)
    add(world, "p_9", at=day + timedelta(hours=9), accounts=(world.ig, world.li))
    add(world, "p_7", at=day + timedelta(hours=7), accounts=(world.ig,))
    add(world, "p_other_account", at=day + timedelta(hours=8), accounts=(world.li,))
    add(world, "p_next_day", at=day + timedelta(days=1), accounts=(world.ig,))      # end is exclusive
    add(world, "p_before", at=day - timedelta(seconds=1), accounts=(world.ig,))
    add(world, "p_draft", at=day + timedelta(hours=11), state=PostState.DRAFT, accounts=(world.ig,))
    cancelled = add(world, "p_cancelled", at=day + timedelta(hours=10), accounts=(world.ig,))
    store.update_post(cancelled.cancel(PostStatus.SCHEDULED), expected_version=1,
                      deliveries=[d.cancel() for d in store.get_deliveries("p_cancelled")])
    rejected = add(world, "p_rejected", at=day + timedelta(hours=12), state=PostState.PENDING_APPROVAL,
                   accounts=(world.ig,))
    store.update_post(rejected.reject(PostStatus.PENDING_APPROVAL, "no"), expected_version=1)
    # A failed delivery frees its slot; a published one counts at the time it went out.
    failed = add(world, "p_failed", at=day + timedelta(hours=13), accounts=(world.ig,))
    [f] = store.get_deliveries(failed.id)
    f = store.update_delivery(f.start_publishing(runner_id="r", lease_until=day + timedelta(hours=14)),
                              expected_version=1)
    store.update_delivery(f.mark_failed(error="rejected"), expected_version=2)
    published = add(world, "p_published", at=day - timedelta(days=1), accounts=(world.ig,))
    [p] = store.get_deliveries(published.id)
    p = store.update_delivery(p.start_publishing(runner_id="r", lease_until=day), expected_version=1)
    store.update_delivery(p.mark_published(external_id="1", external_url=None, at=day + timedelta(hours=15)),
                          expected_version=2)

    items = store.account_schedule(world.ig.id, day, day + timedelta(days=1))
    assert [(i.post_id, i.at) for i in items] == [
        ("p_7", day + timedelta(hours=7)), ("p_9", day + timedelta(hours=9)), ("p_draft", day + timedelta(hours=11)),
        ("p_published", day + timedelta(hours=15))]
    assert items[0] == ScheduledItem(account_id=world.ig.id, at=day + timedelta(hours=7), caption="Caption of p_7",
                                     post_id="p_7")
    assert [i.post_id for i in store.account_schedule(world.ig.id, day, day + timedelta(days=1),
                                                      exclude_post_id="p_9")] == ["p_7", "p_draft", "p_published"]
    assert [i.post_id for i in store.account_schedule(world.li.id, day, day + timedelta(days=1))] == [
        "p_other_account", "p_9"]
    assert store.account_schedule("acct_nobody", day, day + timedelta(days=1)) == []


def test_list_posts_newest_first_for_the_posts_pages_past(world):
    """The Posts page lists what already went out latest first, a page at a time."""
    store = world.store
    add(world, "p_a", at=datetime(2030, 3, 1, tzinfo=UTC))
    add(world, "p_b", at=datetime(2030, 3, 5, tzinfo=UTC))
    add(world, "p_c", at=datetime(2030, 3, 9, tzinfo=UTC))
    add(world, "p_unscheduled", at=None, state=PostState.DRAFT)
    ids = lambda posts: [p.id for p in posts]  # noqa: E731
    assert ids(store.list_posts(workspace_id=world.ws.id, newest_first=True)) == ["p_c", "p_b", "p_a",
                                                                                  "p_unscheduled"]
    end = datetime(2030, 3, 9, tzinfo=UTC)   # exclusive, as always
    assert ids(store.list_posts(workspace_id=world.ws.id, end=end, newest_first=True, limit=1)) == ["p_b"]
    assert ids(store.list_posts(workspace_id=world.ws.id, end=end, newest_first=True, limit=1, offset=1)) == ["p_a"]
