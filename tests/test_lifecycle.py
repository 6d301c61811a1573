"""Every legal and every illegal transition of posts and deliveries, as tables: the editorial moves, the runner's
delivery moves, what a person settles by hand, and the disconnect hand-over to review. Every move table in
core.domain.lifecycle is one of these (test_every_move_of_the_lifecycle_is_checked_here)."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from core import Account, Delivery, IllegalTransitionError, Platform, Post, Schedule
from core.domain.errors import ValidationError
from core.domain.lifecycle import (DELIVERY_MOVES, PERSON_SETTLES, POST_MOVES, TO_REVIEW, DeliveryState as D, Move,
                                   PostState, PostStatus as S, SettleRefused, derive_post_status)

T0 = datetime(2030, 3, 1, 9, 0, tzinfo=timezone.utc)

# (action, status the post is in, resulting editorial state)
LEGAL_POST = [
    ("submit", S.DRAFT, PostState.PENDING_APPROVAL),            # writer asks for approval
    ("submit", S.REJECTED, PostState.PENDING_APPROVAL),         # resubmitted after changes
    ("approve", S.DRAFT, PostState.APPROVED),                   # solo creator schedules directly
    ("approve", S.PENDING_APPROVAL, PostState.APPROVED),        # approver says yes
    ("reject", S.PENDING_APPROVAL, PostState.REJECTED),         # approver says no
    ("revise", S.PENDING_APPROVAL, PostState.DRAFT),            # writer withdraws it
    ("revise", S.REJECTED, PostState.DRAFT),                    # back to work
    ("revise", S.SCHEDULED, PostState.DRAFT),                   # unschedule before it goes out
    ("cancel", S.DRAFT, PostState.CANCELLED),
    ("cancel", S.PENDING_APPROVAL, PostState.CANCELLED),
    ("cancel", S.REJECTED, PostState.CANCELLED),
    ("cancel", S.SCHEDULED, PostState.CANCELLED),
    ("cancel", S.EXPIRED, PostState.CANCELLED),                 # nobody approved it in time: drop it
    ("expire", S.PENDING_APPROVAL, PostState.EXPIRED),          # nobody approved it by its time
    ("renew", S.EXPIRED, PostState.PENDING_APPROVAL),           # a new time (reschedule) puts it back in the queue
    ("back_to_approval", S.SCHEDULED, PostState.PENDING_APPROVAL),  # its content changed after approval
]


def _post(state=PostState.DRAFT):
    acc = Account(platform=Platform.X, handle="@a")
    return Post(account=acc, caption="hi", schedule=Schedule(scheduled_at=T0), id="p1", state=state)


@pytest.mark.parametrize("action,status,target", LEGAL_POST)
def test_legal_post_moves(action, status, target):
    post = _post()
    moved = {"submit": post.submit, "approve": post.approve, "revise": post.revise, "cancel": post.cancel,
             "reject": lambda s: post.reject(s, "off-brand"), "expire": post.expire,
             "back_to_approval": post.back_to_approval,
             "renew": lambda s: post.reschedule(s, Schedule(scheduled_at=T0 + timedelta(days=1)))}[action](status)
    assert moved.state == target


def test_the_legal_post_moves_are_exactly_the_table():
    """Each row above is a row of POST_MOVES with its target, and each row of POST_MOVES is above (edit and
    reschedule keep the editorial state: test_every_other_post_move_is_refused_with_a_reason covers them)."""
    table = {(a, s, m.target) for a, m in POST_MOVES.items() if m.target is not None for s in m.sources}
    assert set(LEGAL_POST) == table and len(LEGAL_POST) == len(table)
    assert {a for a, m in POST_MOVES.items() if m.target is None} == {"edit", "reschedule"}


def test_every_other_post_move_is_refused_with_a_reason():
    legal = {(a, s) for a, s, _ in LEGAL_POST}
    legal |= {(a, s) for a in ("edit", "reschedule") for s in POST_MOVES[a].sources}
    legal.add(("reschedule", S.EXPIRED))   # through "renew"
    refused = 0
    for action in POST_MOVES:
        for status in S:
            if action == "renew":   # no method of its own: reschedule from expired (above)
                continue
            if (action, status) in legal:
                continue
            post = _post()
            with pytest.raises(IllegalTransitionError) as err:
                if action == "reject":
                    post.reject(status, "x")
                elif action == "reschedule":
                    post.reschedule(status, Schedule(scheduled_at=T0))
                elif action == "edit":
                    post.edit(status, caption="new")
                else:
                    getattr(post, action)(status)
            message = str(err.value)
            assert "Cannot" in message and status.value.replace("_", " ") in message
            refused += 1
    assert refused == (len(POST_MOVES) - 1) * len(S) - len(legal) + 1


def test_refusal_after_publishing_started_says_why():
    with pytest.raises(IllegalTransitionError, match="publishing has already started"):
        _post().cancel(S.PUBLISHING)


def test_approving_without_a_time_is_refused():
    post = Post(account=Account(platform=Platform.X, handle="@a"), caption="hi", id="p1")
    with pytest.raises(Exception, match="date and time"):
        post.approve(S.DRAFT)


def _delivery(state):
    return Delivery(post_id="p1", account_id="a1", platform=Platform.X, due_at=T0, state=state, id="d1")


LEASE = T0 + timedelta(minutes=2)
# (action, from, to)
LEGAL_DELIVERY = [
    ("start_publishing", D.QUEUED, D.PUBLISHING),
    ("start_publishing", D.RETRY_WAIT, D.PUBLISHING),
    ("mark_published", D.PUBLISHING, D.PUBLISHED),
    ("mark_published", D.NEEDS_REVIEW, D.PUBLISHED),      # a person confirms it is live
    ("retry_later", D.PUBLISHING, D.RETRY_WAIT),
    ("mark_failed", D.PUBLISHING, D.FAILED),
    ("mark_failed", D.RETRY_WAIT, D.FAILED),              # retries exhausted while waiting
    ("mark_failed", D.NEEDS_REVIEW, D.FAILED),            # a person confirms it is not live
    ("needs_review", D.PUBLISHING, D.NEEDS_REVIEW),
    ("release", D.PUBLISHING, D.QUEUED),                  # shutdown before the platform call
    ("defer", D.PUBLISHING, D.QUEUED),                    # held back by a daily cap or burst limit
    ("requeue", D.FAILED, D.QUEUED),
    ("requeue", D.NEEDS_REVIEW, D.QUEUED),
    ("cancel", D.QUEUED, D.CANCELLED),
    ("cancel", D.RETRY_WAIT, D.CANCELLED),
    ("reschedule", D.QUEUED, D.QUEUED),
    ("reschedule", D.RETRY_WAIT, D.QUEUED),
]


def _apply(d: Delivery, action: str) -> Delivery:
    return {
        "start_publishing": lambda: d.start_publishing(runner_id="r1", lease_until=LEASE),
        "mark_published": lambda: d.mark_published(external_id="123", external_url="https://x.com/a/status/123", at=T0),
        "retry_later": lambda: d.retry_later(at=T0 + timedelta(minutes=1), error="X is busy (503)", code="503"),
        "mark_failed": lambda: d.mark_failed(error="Duplicate content", code="duplicate"),
        "needs_review": lambda: d.needs_review(evidence="response lost"),
        "release": lambda: d.release(),
        "defer": lambda: d.defer(until=T0 + timedelta(hours=1), reason="Daily limit reached", code="daily_cap"),
        "requeue": lambda: d.requeue(at=T0),
        "cancel": lambda: d.cancel(),
        "reschedule": lambda: d.reschedule(due_at=T0 + timedelta(hours=1)),
    }[action]()


@pytest.mark.parametrize("action,source,target", LEGAL_DELIVERY)
def test_legal_delivery_moves(action, source, target):
    assert _apply(_delivery(source), action).state == target


def test_every_other_delivery_move_is_refused():
    legal = {(a, s) for a, s, _ in LEGAL_DELIVERY}
    assert set(LEGAL_DELIVERY) == {(a, s, m.target) for a, m in DELIVERY_MOVES.items() for s in m.sources}
    for action in DELIVERY_MOVES:
        for state in D:
            if (action, state) in legal:
                continue
            with pytest.raises(IllegalTransitionError, match=f"it is {state.value.replace('_', ' ')}"):
                _apply(_delivery(state), action)


# ---------------------------------------------------------------- what a person settles (PERSON_SETTLES)

# What a delivery's progress may say: nothing went out, a send's answer is in doubt, the post itself is live.
PROGRESS = {"nothing": {}, "in_doubt": {"sent": "2030-03-01T09:00:00+00:00"}, "live": {"post:id": "178"}}

# (action, from, progress, to): every settle a person may make.
LEGAL_SETTLE = [
    *[("confirm_published", D.NEEDS_REVIEW, p, D.PUBLISHED) for p in PROGRESS],   # they found it live
    ("give_up", D.NEEDS_REVIEW, "nothing", D.FAILED),                              # they found it is not there
    ("give_up", D.NEEDS_REVIEW, "in_doubt", D.FAILED),                             # the send in doubt did not land
    *[("try_again", D.FAILED, p, D.QUEUED) for p in PROGRESS],                     # a live post: finish its thread
    *[("try_again", D.NEEDS_REVIEW, p, D.QUEUED) for p in PROGRESS],
]


def _settle(d: Delivery, action: str) -> Delivery:
    return {"confirm_published": lambda: d.confirm_published(url="https://x.com/a/status/1", at=T0),
            "give_up": lambda: d.give_up(error="Not published: decided by a person."),
            "try_again": lambda: d.try_again(at=T0)}[action]()


@pytest.mark.parametrize("action,source,progress,target", LEGAL_SETTLE)
def test_legal_person_settles(action, source, progress, target):
    d = Delivery(post_id="p1", account_id="a1", platform=Platform.X, due_at=T0, state=source, id="d1",
                 progress=PROGRESS[progress])
    assert _settle(d, action).state == target


def test_the_legal_settles_are_exactly_the_table_and_every_other_is_refused_in_words():
    """Every (action, state, progress): a row above, or refused. Giving up a live post is refused as a rule (it is on
    the platform), every other refusal as SettleRefused in words, never in the table's own names."""
    table = {(a, s, m.target) for a, m in PERSON_SETTLES.items() for s in m.sources}
    assert {(a, s, t) for a, s, _, t in LEGAL_SETTLE} == table
    legal = {(a, s, p) for a, s, p, _ in LEGAL_SETTLE}
    refused = 0
    for action in PERSON_SETTLES:
        for state in D:
            for progress, values in PROGRESS.items():
                if (action, state, progress) in legal:
                    continue
                d = Delivery(post_id="p1", account_id="a1", platform=Platform.X, due_at=T0, state=state, id="d1",
                             progress=values)
                if (action, state, progress) == ("give_up", D.NEEDS_REVIEW, "live"):
                    with pytest.raises(ValidationError, match="already made this post on the platform"):
                        _settle(d, action)
                else:
                    with pytest.raises(SettleRefused) as err:
                        _settle(d, action)
                    said = str(err.value)
                    assert said.endswith(".") and "_" not in said and not said.startswith("Cannot")
                    assert (err.value.action, err.value.current) == (action, state.value)
                    assert err.value.allowed_from == tuple(sorted(s.value for s in PERSON_SETTLES[action].sources))
                refused += 1
    assert refused == len(PERSON_SETTLES) * len(D) * len(PROGRESS) - len(legal)


# ---------------------------------------------------------------- the disconnect hand-over to review (TO_REVIEW)

def test_only_a_waiting_delivery_that_may_be_live_is_handed_to_review():
    """A disconnected account's waiting delivery that may be on the platform goes to a person; nothing else does."""
    assert TO_REVIEW.target == D.NEEDS_REVIEW
    handed = set()
    for state in D:
        for progress, values in PROGRESS.items():
            d = Delivery(post_id="p1", account_id="a1", platform=Platform.X, due_at=T0, state=state, id="d1",
                         progress=values)
            if state in TO_REVIEW.sources and progress != "nothing":
                after = d.hand_to_review(evidence="Its account was disconnected.", code="account_disconnected")
                assert (after.state, after.last_error, after.next_attempt_at) == (
                    D.NEEDS_REVIEW, "Its account was disconnected.", None)
                handed.add((state, progress))
            else:
                with pytest.raises(IllegalTransitionError, match="may already be live"):
                    d.hand_to_review(evidence="x", code="account_disconnected")
    assert handed == {(s, p) for s in (D.QUEUED, D.RETRY_WAIT) for p in ("in_doubt", "live")}


def test_every_move_of_the_lifecycle_is_checked_here():
    """A table or move added to core.domain.lifecycle fails this until this file checks each of its rows."""
    from core.domain import lifecycle
    tables = {name for name, value in vars(lifecycle).items()
              if isinstance(value, dict) and value and all(isinstance(m, Move) for m in value.values())}
    moves = {name for name, value in vars(lifecycle).items() if isinstance(value, Move)}
    assert tables == {"POST_MOVES", "DELIVERY_MOVES", "PERSON_SETTLES"} and moves == {"TO_REVIEW"}


def test_publishing_counts_attempts_and_release_gives_it_back():
    d = _delivery(D.QUEUED).start_publishing(runner_id="r1", lease_until=LEASE)
    assert (d.attempts, d.claimed_by, d.lease_expires_at) == (1, "r1", LEASE)
    assert d.release().attempts == 0
    published = d.mark_published(external_id="9", external_url="u", at=T0)
    assert (published.external_id, published.claimed_by, published.lease_expires_at) == ("9", None, None)


# (editorial state, delivery states, derived status)
DERIVED = [
    (PostState.DRAFT, [], S.DRAFT),
    (PostState.PENDING_APPROVAL, [D.QUEUED], S.PENDING_APPROVAL),
    (PostState.REJECTED, [D.QUEUED], S.REJECTED),
    (PostState.APPROVED, [D.QUEUED, D.QUEUED], S.SCHEDULED),
    (PostState.APPROVED, [D.PUBLISHING, D.QUEUED], S.PUBLISHING),
    (PostState.APPROVED, [D.RETRY_WAIT, D.PUBLISHED], S.PUBLISHING),
    (PostState.APPROVED, [D.PUBLISHED, D.QUEUED], S.PUBLISHING),        # one account done, one still to go
    (PostState.APPROVED, [D.PUBLISHED, D.PUBLISHED], S.PUBLISHED),
    (PostState.APPROVED, [D.PUBLISHED, D.FAILED], S.PARTIALLY_PUBLISHED),  # LinkedIn ok, Instagram failed
    (PostState.APPROVED, [D.FAILED, D.FAILED], S.FAILED),
    (PostState.APPROVED, [D.NEEDS_REVIEW, D.PUBLISHED], S.NEEDS_REVIEW),
    (PostState.APPROVED, [D.PUBLISHED, D.CANCELLED], S.PUBLISHED),      # a removed target does not count
    (PostState.CANCELLED, [D.CANCELLED], S.CANCELLED),
    (PostState.CANCELLED, [D.PUBLISHED, D.CANCELLED], S.PARTIALLY_PUBLISHED),
]


@pytest.mark.parametrize("state,deliveries,expected", DERIVED)
def test_post_status_is_derived_from_deliveries(state, deliveries, expected):
    assert derive_post_status(state, deliveries) == expected


@pytest.mark.parametrize("progress,live,maybe", [
    ({}, False, False),
    ({"sent": ""}, False, False),                                      # a refused send, cleared: nothing went out
    ({"sent": "2026-03-02T09:00:00+00:00"}, False, True),             # its answer in doubt: it may be there
    ({"post:id": "178", "comment:sent": ""}, True, True),             # the post is live, its comment still to come
    ({"tweet:0": "19"}, True, True),                                  # X: the thread's first post is live
])
def test_a_delivery_that_went_out_is_told_from_its_progress(progress, live, maybe):
    from core.domain.lifecycle import is_live, may_be_live
    assert (is_live(progress), may_be_live(progress)) == (live, maybe)


def test_a_queued_delivery_that_went_out_makes_its_post_publishing_not_scheduled():
    """Handed back to the queue (a shutdown) after its post went live: never editable or cancellable as Scheduled."""
    from core.domain.lifecycle import check_post_move, started_status
    at = datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc)
    queued = Delivery(post_id="p", account_id="a", platform=Platform.INSTAGRAM, due_at=at)
    live = Delivery(post_id="p", account_id="a", platform=Platform.INSTAGRAM, due_at=at, progress={"post:id": "178"})
    assert started_status(S.SCHEDULED, [queued]) == S.SCHEDULED
    assert started_status(S.SCHEDULED, [queued, live]) == S.PUBLISHING
    assert started_status(S.PUBLISHED, [live]) == S.PUBLISHED
    for action in ("cancel", "edit", "reschedule", "revise"):
        with pytest.raises(IllegalTransitionError, match="publishing has already started"):
            check_post_move(action, started_status(S.SCHEDULED, [live]), "p")
