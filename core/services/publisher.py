"""One attempt at one claimed delivery: pace, reconcile, publish, record. The runner calls `Publisher.run`.

The order of things is what keeps "never twice" true:

1. Too late? A delivery found more than an hour after it was meant to go out (the runner was down,
   the account waited for a reconnect) is not published blindly: it goes to ``needs_review``.
2. Paced? The account's daily cap (in the workspace's time zone) and burst limit are checked; a
   delivery over either is held back (``defer``: back in the queue, the attempt given back). A delivery of which
   something is or may be on the platform (its post made, a send in doubt: ``lifecycle.may_be_live``) is never
   put back in the queue: every wait of it (pacing, a reconnect, a doubt) is in ``retry_wait`` (``_hold_back``),
   so its post shows as publishing and can no longer be edited, rescheduled or cancelled.
3. Does it still break a limit (a script, an import, or a rule changed since it was scheduled)? Fail it with
   the composer's own words (core.rules.validation), before any platform call.
4. An earlier attempt may have posted (``progress["sent"]`` is set: its answer was lost or ambiguous, or
   its runner died mid-call)? It is **in doubt** (core.rules.outcomes, "In doubt"): ask the platform first.
   Found: published. Not found: publish again only when the platform's own idempotency makes a second
   request harmless, or once its settle window has passed since the send *and* its listing, checked after
   that and again after its listing lag, still does not have it; a platform that cannot list reliably goes
   to ``needs_review`` with the evidence, after the same wait.
5. Write ``progress["sent"]`` (the platform is about to be called), then call it. A token the platform
   calls expired is refreshed once and the call made again.
6. Record the outcome (core.rules.outcomes.decide) if this runner still holds the delivery. An unexpected error
   anywhere in the attempt counts as an attempt too: retried by the policy, then ``needs_review``.

What follows the post (issue 11: a thread's replies, the first comment; `PlatformAdapter.publish_post`) never
makes the post again: once the post exists its id is checkpointed, an attempt in doubt that finds it goes on with
what is left (looked up before anything is sent again, like the post itself), and pacing and the too-late rule
no longer apply. A reply or comment that fails for good leaves the delivery published with its link; the missing
part is logged (``delivery.followup_failed``) and told in words (a ``followup_failed`` notification).

Every write goes through the store's fenced methods (``save_progress`` / ``finish_delivery``): a runner
whose lease was taken over stops, and its late answer never overwrites the new holder's.
"""
from __future__ import annotations

import logging
import random
import threading
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Callable
from zoneinfo import ZoneInfo

from core.services.connect import UNREADABLE_REASON, credentials, mark_reconnect_needed, refresh_account
from core.services import notifications
from core.domain import PUBLISHABLE_ACCOUNT_STATUSES, Account, ActivityEvent, Delivery, Notification, Post
from core.domain.errors import NotFoundError, OutcomeUnknown, PlatformError, Rejected, TokenExpired
from core.domain.lifecycle import DeliveryState, is_live, may_be_live
from core.services.notifications import InAppNotifier, Notifier
from core.platforms.base import (MediaItem, PlatformAdapter, PublishRequest, PublishResult, checkpoint_time,
                                 media_kind)
from core.rules.limits import limits_for
from core.rules.outcomes import DEFAULT_MAX_LATENESS, RECONCILE_AFTER, Decision, RetryPolicy, decide, lateness
from core.infra.secrets import redact
from core.store import PostStore
from core.domain.timeutil import utcnow
from core.rules.validation import validate_content

log = logging.getLogger("outpost.publisher")

# Reconciliation looks for the post from a little before the delivery was due.
RECONCILE_SLACK = timedelta(minutes=5)
# A platform's "come back at" this far ahead or more holds the whole account (shorter waits are not worth it).
ACCOUNT_HOLD_MIN = timedelta(seconds=30)
ACCOUNT_HOLD_MAX = timedelta(hours=25)         # the longest platform window (a daily quota) and some


class LeaseLost(Exception):
    """Another runner holds this delivery now (our lease ran out): stop touching it."""


@dataclass(frozen=True)
class Pacing:
    """Per-account pacing the runner enforces on top of the platforms' own limits."""

    burst_limit: int = 3                         # at most this many publishes per account ...
    burst_window: timedelta = timedelta(minutes=10)   # ... in any window this long
    enforce_daily_cap: bool = True


class Publisher:
    def __init__(self, store: PostStore, adapter_for: Callable[[object], PlatformAdapter], *, runner_id: str,
                 clock: Callable[[], datetime] = utcnow, policy: RetryPolicy = RetryPolicy(),
                 pacing: Pacing = Pacing(), max_lateness: timedelta = DEFAULT_MAX_LATENESS,
                 media_library=None, rng: random.Random | None = None,
                 reconcile_after: timedelta = RECONCILE_AFTER,
                 on_published: Callable[[Post, Delivery], None] | None = None, notifier: Notifier | None = None):
        self.store = store
        self.notifier = notifier or InAppNotifier(store)
        self.adapter_for = adapter_for
        self.runner_id = runner_id
        self.clock = clock
        self.policy = policy
        self.pacing = pacing
        self.max_lateness = max_lateness
        self.media_library = media_library
        self.rng = rng or random.Random()
        self.on_published = on_published
        self.reconcile_after = reconcile_after
        # One refresh at a time per account (two deliveries of one account never run at once, but the
        # token job may refresh while a publish does).
        self._refresh_locks: dict[str, threading.Lock] = {}
        self._locks_guard = threading.Lock()

    # ------------------------------------------------------------ the attempt
    def run(self, delivery: Delivery) -> Delivery | None:
        """Take one claimed delivery as far as it goes now; returns what was recorded (None: not ours any more)."""
        try:
            return self._run(delivery)
        except LeaseLost:
            log.warning("delivery %s: another runner holds it now; leaving it alone", delivery.id)
            return None
        except Exception as exc:  # noqa: BLE001 - a bug or a bad row must cost an attempt, not loop forever
            log.exception("delivery %s: the attempt stopped unexpectedly", delivery.id)
            try:
                return self._unexpected(delivery, exc)
            except LeaseLost:
                return None

    def _unexpected(self, d: Delivery, exc: Exception) -> Delivery | None:
        """An error nobody planned for (a bug, a damaged row): an attempt like any other, recorded with its reason;
        retried by the policy, then a person decides. Whether it went out is unknown if it was sent."""
        what = redact(f"{type(exc).__name__}: {exc}")[:300]
        in_doubt = bool(d.progress.get("sent"))
        at = self.policy.next_attempt(d.attempts, self.clock(), rng=self.rng)
        if at is not None:
            return self._finish(d.retry_later(at=at, error=f"Outpost hit an unexpected problem ({what}); it will "
                                                           "try again.", code="unexpected_error"),
                                "delivery.retry_wait")
        post = self._post_or_none(d)
        return self._finish(d.needs_review(
            evidence=(f"Outpost hit an unexpected problem on each of {d.attempts} attempts (last: {what}). "
                      + ("An attempt may have reached the platform: check the account, then mark it published or "
                         "try again." if in_doubt else "Nothing was sent to the platform: try again, or cancel it.")),
            code="unexpected_error"), "delivery.needs_review", post=post, notify=True)

    def _post_or_none(self, d: Delivery) -> Post | None:
        try:
            return self.store.get_post(d.post_id)
        except Exception:  # noqa: BLE001 - only for the notification's wording
            return None

    def _run(self, d: Delivery) -> Delivery | None:
        now = self.clock()
        try:
            post = self.store.get_post(d.post_id)
            # The post comes with its target accounts read in the same transaction: no second read (and no second
            # decryption of the tokens) per delivery. A target no longer on the post is read on its own.
            account = next((a for a in post.accounts if a.id == d.account_id), None) \
                or self.store.get_account(d.account_id)
        except NotFoundError as exc:
            return self._finish(d.mark_failed(error=f"Nothing to publish: {exc}", code="missing"), "delivery.failed")
        if d.attempts > self.crash_limit:
            # Only attempts that never finished get here (every outcome above ends before): the runner holding
            # it stopped each time (a crash, a kill) and the next took it over. A person decides.
            return self._finish(d.needs_review(
                evidence=(f"Outpost started publishing this {d.attempts} times and stopped each time before it "
                          "finished (the runner crashed or was stopped). "
                          + ("An attempt may have reached the platform: check the account, then mark it published "
                             "or try again." if d.progress.get("sent") else "Nothing was sent to the platform.")),
                code="crash_loop"), "delivery.needs_review", post=post, notify=True)
        meant_for = d.next_attempt_at or d.due_at
        if not d.progress.get("sent") and not is_live(d.progress) and lateness(now, meant_for) > self.max_lateness:
            late = lateness(now, meant_for)
            return self._finish(d.needs_review(
                evidence=(f"This was due {_ago(late)} ago ({_local(meant_for, post)}) and was not sent then "
                          "(Outpost was not running, or the account was waiting to be reconnected). Publishing it "
                          "this late could surprise your audience: publish it now or cancel it."),
                code="too_late"), "delivery.needs_review", post=post, notify=True)
        if account.secrets_unreadable is not None:
            # Its stored access cannot be decrypted (a lost or rotated key, a damaged row): only a person can help,
            # and nothing was sent in this attempt.
            return self._wait_for_reconnect(d, post, account, announce=True, reason=UNREADABLE_REASON,
                                            keep_doubt=True)
        if account.status not in PUBLISHABLE_ACCOUNT_STATUSES:
            return self._wait_for_reconnect(d, post, account, announce=False)
        if not d.progress.get("sent"):
            broken = [p for p in validate_content(post.render(d.platform), limits_for(d.platform))
                      if p.severity == "error"]
            if broken:      # the composer's words, before any platform call
                return self._finish(d.mark_failed(error=" ".join(p.message for p in broken), code=broken[0].code),
                                    "delivery.failed", post=post, notify=True)
        adapter = self.adapter_for(d.platform)
        request = self._request(d, post, account)
        if d.progress.get("sent"):
            # Looking sends nothing, so it comes before pacing: a doubt is settled while the post is still among
            # the account's latest (a listing reads one page), not after a day's wait behind the daily cap.
            checked = self._reconcile(d, post, account, adapter, request)
            if checked is not None:
                return checked
        if adapter.live_post(request.progress) is None:    # finishing a live post's thread or comment is not pacing
            held = self._pace(d, post, account, now)
            if held is not None:
                return held
        return self._publish(d, post, account, adapter, request)

    @property
    def crash_limit(self) -> int:
        """More claims than this and a delivery is in a crash loop: every planned outcome ends sooner (checking a
        lost answer may take up to twice the retry attempts, core.rules.outcomes.decide)."""
        return 2 * self.policy.max_attempts + 2

    def _settle_at(self, adapter: PlatformAdapter, request: PublishRequest, sent_at: datetime) -> datetime | None:
        """An answer in doubt is looked at again no sooner than this (None: the platform's own idempotency makes
        sending again harmless, e.g. the record key the attempt saved). The window runs from now, when the doubt
        arose, not from `sent_at`: the risky request went out somewhere in between (after media uploads, a
        refresh), and only its latest possible time is safe."""
        now = self.clock()
        if adapter.idempotent_retry(request, sent_at=now, now=now):
            return None
        return now + self.settle(adapter)

    @staticmethod
    def settle(adapter: PlatformAdapter) -> timedelta:
        """How long after a send the platform may still apply it (the adapter's window, or Settings.settle_s)."""
        return adapter.settle_window

    def _publish(self, d: Delivery, post: Post, account: Account, adapter: PlatformAdapter,
                 request: PublishRequest) -> Delivery | None:
        refreshed = False
        if account.token_expires_at is not None and account.token_expires_at <= self.clock():
            try:                                   # expired while waiting: renew before calling
                account, refreshed = self._refresh(account, adapter), True
            except PlatformError as exc:
                return self._apply(d, post, account, self._decide(d, exc), exc)
        sent_at = self.clock()
        self._save(d, "sent", sent_at.isoformat())

        def live() -> PublishResult | None:       # what this attempt or an earlier one already put on the platform
            found = adapter.live_post(request.progress)
            if found is None:
                return None
            comment_left = adapter.first_comment_wanted(request) and not request.progress.get("comment:id")
            thread = request.progress.get("thread:failed") or not comment_left   # the thread comes before the comment
            return replace(found, extra={**found.extra, "followup": "thread" if thread else "comment"})
        while True:
            try:
                result = adapter.publish_post(credentials(account), request)
            except TokenExpired as exc:
                if refreshed:
                    return self._apply(d, post, account, self._decide(d, exc, refreshed=True), exc, self._settle_at(adapter, request, sent_at), live())
                try:
                    account, refreshed = self._refresh(account, adapter), True
                except PlatformError as again:
                    return self._apply(d, post, account, self._decide(d, again), again, self._settle_at(adapter, request, sent_at), live())
                continue
            except Rejected as exc:
                if (d.progress.get("sent") or refreshed) and exc.code in adapter.duplicate_codes:
                    # The platform already has this text, and an earlier attempt of ours was in doubt: it is most
                    # likely ours, landed late (X's duplicate refusal, the second net). Look it up, never fail it.
                    unknown = OutcomeUnknown(f"{d.platform.label} says this was already posted ({exc}).",
                                             platform=d.platform.value, code="duplicate_after_doubt")
                    return self._apply(d, post, account, self._decide(d, unknown), unknown, self._settle_at(adapter, request, sent_at), live())
                return self._apply(d, post, account, self._decide(d, exc), exc, self._settle_at(adapter, request, sent_at), live())
            except PlatformError as exc:
                return self._apply(d, post, account, self._decide(d, exc), exc, self._settle_at(adapter, request, sent_at), live())
            return self._published(d, post, result, reconciled=False,
                                   followup_error=_followup_error(d.platform.label, None, result))

    def _decide(self, d: Delivery, error: PlatformError, refreshed: bool = False) -> Decision:
        return decide(error, attempts_made=d.attempts, now=self.clock(), policy=self.policy, refreshed=refreshed,
                      rng=self.rng, reconcile_after=self.reconcile_after)

    def _reconcile(self, d: Delivery, post: Post, account: Account, adapter: PlatformAdapter,
                   request: PublishRequest) -> Delivery | None:
        """An earlier attempt may have posted: ask the platform. None means "not there, safe to publish"."""
        sent_at = checkpoint_time(d.progress.get("sent")) or d.due_at
        since = min(d.due_at, sent_at) - RECONCILE_SLACK
        try:
            found = adapter.live_post(request.progress) or adapter.find_published(credentials(account), request,
                                                                                   since=since)
        except PlatformError as exc:
            at = self.policy.next_attempt(d.attempts, self.clock(), rng=self.rng,
                                          retry_at=getattr(exc, "retry_at", None))
            if at is None:
                return self._finish(d.needs_review(
                    evidence=f"An earlier attempt may have posted this, and {d.platform.label} could not be asked "
                             f"whether it did ({exc}). Check the account, then mark it published or try again.",
                    code="unverified"), "delivery.needs_review", post=post, notify=True)
            return self._finish(d.retry_later(at=at, error=f"Checking whether an earlier attempt posted this: {exc}",
                                              code="reconcile_retry"), "delivery.retry_wait")
        # What followed the post and was refused for good before the earlier runner could record it (it lost the
        # delivery after saving "comment:failed" or "thread:failed"): still told, never silently dropped, and
        # never sent again (the adapter's checkpoint says refused).
        refused = {extra: request.progress[key] for key, extra in (("comment:failed", "first_comment_error"),
                                                                   ("comment:unknown", "first_comment_unknown"),
                                                                   ("thread:failed", "thread_error"))
                   if request.progress.get(key)}
        if found is not None and adapter.followups_pending(request) and "thread_error" not in refused:
            # The post is there; what follows it is not finished: go on from where it stopped (the adapter looks
            # up a step whose answer was lost before sending it again), never making the post a second time.
            if adapter.live_post(request.progress) is None:
                adapter.mark_live(request, found)
            return None
        if found is not None:
            return self._published(d, post, found, reconciled=True, followup_error=_followup_error(
                d.platform.label, None, replace(found, extra={**found.extra, **refused})))
        now = self.clock()
        label = d.platform.label
        # When the doubt arose: recorded with the outcome, or, when the attempt ended with nothing recorded (its
        # runner died, an unexpected error), now: its request may have gone out any time until then.
        doubt_at = checkpoint_time(d.progress.get("doubt_at"))
        unrecorded = doubt_at is None or doubt_at < sent_at
        if unrecorded:
            doubt_at = now
        if adapter.idempotent_retry(request, sent_at=doubt_at, now=now):
            log.info("delivery %s: not on %s yet; sending again under the same idempotency key", d.id, label)
            return None
        settle_at, lag = doubt_at + self.settle(adapter), adapter.listing_lag
        mark = {"doubt_at": doubt_at} if unrecorded else {}
        if not adapter.reliable_listing:
            if now < settle_at + lag:      # let it land and show before a person looks for it
                return self._wait_in_doubt(d, post, settle_at + lag, f"{label} may still show it", **mark)
            return self._finish(d.needs_review(
                evidence=(f"An earlier attempt reached {label} but its answer was lost or unclear, and "
                          f"{label} cannot reliably list this account's posts, so Outpost cannot tell "
                          "whether it went out. Look at the account: mark it published if it is there, or try again."),
                code="unverifiable"), "delivery.needs_review", post=post, notify=True)
        if now < settle_at:                # the platform may still apply the earlier request
            return self._wait_in_doubt(d, post, settle_at, f"{label} may still apply the earlier request", **mark)
        absent = checkpoint_time(d.progress.get("absent_at"))
        if absent is None or absent < settle_at:
            # Not there after the settle window: look once more after the listing's lag before sending again.
            return self._wait_in_doubt(d, post, now + lag, f"{label}'s listing may lag", absent_at=now)
        if now < absent + lag:
            return self._wait_in_doubt(d, post, absent + lag, f"{label}'s listing may lag")
        if d.attempts > self.policy.max_attempts:
            # Proven not there, but every attempt the policy allows was made: give up like any retry would.
            why = d.progress.get("doubt") or d.last_error or "no answer"
            return self._finish(replace(d, attempts=d.attempts - 1).mark_failed(   # this claim sent nothing
                error=f"Gave up after {d.attempts - 1} attempts: {why}", code="gave_up"),
                "delivery.failed", post=post, notify=True)
        log.info("delivery %s: not on %s %s after the send, checked twice; publishing again", d.id, label,
                 _ago(now - sent_at))
        return None

    def _wait_in_doubt(self, d: Delivery, post: Post, until: datetime, why: str, *, absent_at: datetime | None = None,
                       doubt_at: datetime | None = None) -> Delivery | None:
        """Not sent again yet: an earlier attempt may still turn up. Waiting is not an attempt (given back)."""
        progress = {k: v.isoformat() for k, v in (("absent_at", absent_at), ("doubt_at", doubt_at)) if v is not None}
        earlier = (d.progress.get("doubt") or "its answer was lost").rstrip(".")
        return self._finish(self._hold_back(d, until=until, code="in_doubt", progress=progress,
                                            reason=(f"An earlier attempt may have gone out ({earlier}); Outpost looks "
                                                    f"again at {_local(until, post, '%H:%M:%S %Z')} before doing "
                                                    f"anything else ({why}).")),
                            "delivery.in_doubt", progress=progress, details={"check_at": until.isoformat()})

    # ------------------------------------------------------------ outcomes
    def _published(self, d: Delivery, post: Post, result: PublishResult, *, reconciled: bool,
                   followup_error: str | None = None) -> Delivery | None:
        done = d.mark_published(external_id=result.external_id, external_url=result.url, at=self.clock())
        progress = {}
        if followup_error:
            progress["followup_error"] = followup_error[:500]
        if result.extra.get("first_comment_id"):
            progress["comment:id"] = str(result.extra["first_comment_id"])
        if result.extra.get("pending_id"):
            progress["pending_id"] = "1"      # the platform's public id comes later (TikTok moderation)
        if reconciled:
            progress["reconciled"] = "1"
        events = []
        if followup_error:
            events.append(ActivityEvent(action="delivery.followup_failed", subject_type="delivery", subject_id=d.id,
                                        at=self.clock(), actor=f"runner:{self.runner_id}",
                                        workspace_id=post.workspace_id, reason=followup_error,
                                        details={"post_id": d.post_id, "platform": d.platform.value,
                                                 "external_id": result.external_id, "url": result.url}))
        final = self._finish(done, "delivery.published", post=post, progress=progress, more_events=events,
                             details={"external_id": result.external_id, "url": result.url, "reconciled": reconciled,
                                      "attempt": d.attempts,
                                      **({"first_comment_id": str(result.extra["first_comment_id"])}
                                         if result.extra.get("first_comment_id") else {})})
        if final is not None and followup_error and post.workspace_id:
            try:
                self.notifier.notify(Notification(
                    workspace_id=post.workspace_id, kind="followup_failed", subject_id=post.id,
                    title=followup_error.split(":", 1)[0] if ":" in followup_error else followup_error,
                    body=f"{notifications.summary(post)} on {_account_label(post, d)}: {followup_error.rstrip('. ')}. "
                         "The post itself is published" + (f" ({result.url})." if result.url else ".")))
            except Exception:  # telling people must not undo a publish
                log.exception("could not notify about delivery %s's comment or thread", d.id)
        if final is not None and self.on_published is not None:
            try:
                self.on_published(post, final)
            except Exception:  # the series or the hook failing must not undo a publish
                log.exception("after publishing delivery %s", d.id)
        return final

    def _apply(self, d: Delivery, post: Post, account: Account, decision: Decision,
               error: PlatformError | None = None, settle_at: datetime | None = None,
               live: PublishResult | None = None) -> Delivery | None:
        kind = decision.kind
        if live is not None and kind not in ("retry", "check_later"):
            # The post is on the platform; only what follows it (a thread's reply, the first comment) failed for
            # good. The delivery is published with its link; the part that is missing is recorded and told.
            if kind == "reconnect":            # the account's other posts need the reconnect too
                mark_reconnect_needed(self.store, account, decision.reason, actor=f"runner:{self.runner_id}",
                                      clock=self.clock, notifier=self.notifier)
            doubt = isinstance(error, OutcomeUnknown)     # its answer was lost for good: said as a doubt
            return self._published(d, post, live, reconciled=False, followup_error=_followup_error(
                d.platform.label, f"{error}" if doubt else decision.reason, live, doubt=doubt))
        if kind == "retry":
            details = {"retry_at": decision.at.isoformat()}
            reset = getattr(error, "retry_at", None) if getattr(error, "rate_limited", False) else None
            if reset is not None and reset - self.clock() >= ACCOUNT_HOLD_MIN:
                reset = min(reset, self.clock() + ACCOUNT_HOLD_MAX)     # a wrong date must not park it for good
                # The platform said when this account may post again: its other posts wait too, instead of
                # each being sent to meet the same refusal (X's 15-minute window, Meta's hourly quota...).
                try:
                    self.store.hold_account(account.id, reset, f"{d.platform.label} asked to wait: {decision.reason}")
                    details["account_held_until"] = reset.isoformat()
                except Exception:                    # an optimisation: the delivery's own wait stands regardless
                    log.exception("could not hold account %s until %s", account.id, reset)
            reason = decision.reason
            if getattr(error, "retry_at", None) is not None and decision.at - self.clock() >= ACCOUNT_HOLD_MIN:
                # The platform said when (YouTube's quota resets at midnight Pacific): told in the post's own zone.
                reason = f"{reason.rstrip()} Outpost tries again at {_local(decision.at, post)}."
            return self._finish(d.retry_later(at=decision.at, error=reason, code=decision.code),
                                "delivery.retry_wait", progress={"sent": ""}, details=details)
        if kind == "check_later":
            # In doubt: nothing is sent again before the settle window ends, so look no earlier than that.
            at = max(decision.at, settle_at) if settle_at is not None else decision.at
            return self._finish(d.retry_later(at=at, code=decision.code,
                                              error=f"{decision.reason} Outpost will check whether it went out before "
                                                    "doing anything else."), "delivery.retry_wait",
                                progress={"doubt": decision.reason[:500], "doubt_at": self.clock().isoformat()},
                                details={"check_at": at.isoformat()})
        if kind == "reconnect":
            return self._wait_for_reconnect(d, post, account, announce=True, reason=decision.reason)
        if kind == "failed":
            return self._finish(d.mark_failed(error=decision.reason, code=decision.code), "delivery.failed",
                                post=post, notify=True)
        return self._finish(d.needs_review(evidence=decision.reason, code=decision.code), "delivery.needs_review",
                            post=post, notify=True)

    def _wait_for_reconnect(self, d: Delivery, post: Post, account: Account, *, announce: bool,
                            reason: str = "", keep_doubt: bool = False) -> Delivery | None:
        """Wait for a person to reconnect the account. `announce`: this attempt found out (mark it, tell people once).
        "sent" is cleared only when this attempt's own send was refused (`keep_doubt` False with `announce`): an
        earlier attempt still in doubt stays in doubt, to be looked up after the reconnect."""
        if announce:
            mark_reconnect_needed(self.store, account, reason, actor=f"runner:{self.runner_id}", clock=self.clock,
                                  notifier=self.notifier)
        progress = {"sent": ""} if announce and not keep_doubt else None
        waiting = self._hold_back(d, until=self.clock() + timedelta(minutes=10), code="reconnect_needed",
                                  reason=f"Waiting for you to reconnect {account.label}.", progress=progress)
        return self._finish(waiting, "delivery.waiting", post=post, progress=progress)

    @staticmethod
    def _hold_back(d: Delivery, *, until: datetime, reason: str, code: str,
                   progress: dict | None = None) -> Delivery:
        """Not now (pacing, a reconnect, a doubt to settle) and not the platform's fault: the attempt is given back.
        A delivery nothing of which may be on the platform goes back to the queue; one that may (its post made, only
        a comment or reply left, or a send in doubt: core.domain.lifecycle.may_be_live) waits in retry_wait, so its
        post is never shown as scheduled, nor edited, rescheduled or cancelled while it is live. `progress`: what the
        outcome writes with it."""
        if not may_be_live({**d.progress, **(progress or {})}):
            return d.defer(until=until, reason=reason, code=code)
        return replace(d.retry_later(at=until, error=reason, code=code), attempts=max(0, d.attempts - 1))

    def _pace(self, d: Delivery, post: Post, account: Account, now: datetime) -> Delivery | None:
        p = self.pacing
        tz = ZoneInfo(post.schedule.timezone_name if post.schedule else "UTC")
        midnight = now.astimezone(tz).replace(hour=0, minute=0, second=0, microsecond=0)
        # Both counts include this delivery (in flight): subtract it.
        recent, today = (n - 1 for n in self.store.published_counts(
            account.id, [now - p.burst_window, midnight.astimezone(now.tzinfo)]))
        if recent >= p.burst_limit:
            until = now + p.burst_window / max(p.burst_limit, 1)
            return self._finish(self._hold_back(d, until=until, code="burst_limit",
                                                reason=f"Spacing posts out: {account.label} already had {recent} in "
                                                       f"the last {_ago(p.burst_window)}; this one goes out at "
                                                       f"{_local(until, post, '%H:%M %Z')}."), "delivery.deferred")
        cap = account.effective_daily_cap
        if p.enforce_daily_cap and today >= cap:
            tomorrow = (midnight + timedelta(days=1, minutes=1)).astimezone(now.tzinfo)
            return self._finish(self._hold_back(d, until=tomorrow, code="daily_cap",
                                                reason=f"{account.label} reached its limit of {cap} posts today; "
                                                       "this one goes out just after midnight."), "delivery.deferred")
        return None

    # ------------------------------------------------------------ plumbing
    def _request(self, d: Delivery, post: Post, account: Account) -> PublishRequest:
        content = post.render(d.platform)
        media = tuple(self._media_item(u) for u in content.media_urls)
        progress = {k: v for k, v in d.progress.items() if k not in ("sent", "absent_at", "doubt", "doubt_at")}

        def checkpoint(key: str, value: str) -> None:
            self._save(d, key, value)
            # Seen by the rest of this attempt too: a publish tried again after a token refresh must find the
            # container or record key its first try saved, not the claim-time snapshot (and make a second).
            progress[key] = value

        options = dict(account.meta.get("publish_options") or {})
        if content.thread:                 # the replies after the first post (the adapter reply-chains them)
            options["thread"] = list(content.thread)
        if content.first_comment:          # posted under the post where the platform takes one
            options["first_comment"] = content.first_comment
        return PublishRequest(content=content, media=media, marker=d.marker or d.id, progress=progress,
                              checkpoint=checkpoint, options=options)

    def _media_item(self, url: str) -> MediaItem:
        data = None
        if self.media_library is not None:
            name = self.media_library.name_of(url)
            if name is not None:
                with self.media_library.open(name) as fh:
                    data = fh.read()
        return MediaItem(url=url, kind=media_kind(url), data=data)

    def _save(self, d: Delivery, key: str, value: str) -> None:
        if not self.store.save_progress(d.id, self.runner_id, key, value):
            raise LeaseLost(d.id)

    def _refresh(self, account: Account, adapter: PlatformAdapter) -> Account:
        with self._locks_guard:
            lock = self._refresh_locks.setdefault(account.id, threading.Lock())
        with lock:
            current = self.store.get_account(account.id)
            if current.oauth_token != account.oauth_token:      # someone refreshed it meanwhile
                return current
            return refresh_account(self.store, adapter, current, clock=self.clock, actor=f"runner:{self.runner_id}")

    def _finish(self, d: Delivery, action: str, *, post: Post | None = None, notify: bool = False,
                details: dict | None = None, progress: dict | None = None,
                more_events: list[ActivityEvent] | None = None) -> Delivery | None:
        # Only the progress keys this outcome means to change are written; everything else stays as the
        # database has it. (The delivery in hand carries the progress read at claim time: writing that back
        # would undo what this attempt saved since, such as "sent" just before the platform call.)
        d = replace(d, progress=dict(progress or {}))
        now = self.clock()
        workspace_id = post.workspace_id if post is not None else None
        event = ActivityEvent(action=action, subject_type="delivery", subject_id=d.id, at=now,
                              actor=f"runner:{self.runner_id}", workspace_id=workspace_id,
                              from_state=DeliveryState.PUBLISHING.value, to_state=d.state.value, reason=d.last_error,
                              details={"post_id": d.post_id, "platform": d.platform.value, **(details or {})})
        final = self.store.finish_delivery(d, runner_id=self.runner_id, events=[event, *(more_events or ())])
        if final is None:
            raise LeaseLost(d.id)
        log.info("delivery %s (%s) -> %s%s", d.id, d.platform.value, final.state.value,
                 f": {final.last_error}" if final.last_error and final.state != DeliveryState.PUBLISHED else "")
        if notify and post is not None and post.workspace_id:
            self.notifier.notify(notifications.delivery_outcome(post, final))
        return final


def _followup_error(label: str, reason: str | None, result: PublishResult, *, doubt: bool = False) -> str | None:
    """What did not follow a published post, in words (None: everything did). `doubt`: the platform never said
    whether it did (an answer lost until the attempts ran out), so it is said as "may not have been posted"."""
    extra = result.extra or {}
    if extra.get("first_comment_error") and extra.get("first_comment_unknown"):
        # Its answer was lost and the platform cannot be asked: a doubt, said as one (the person looks).
        return f"The first comment on your {label} post may not have been posted: {extra['first_comment_error']}"
    if extra.get("first_comment_error"):
        return f"The first comment on your {label} post was not posted: {extra['first_comment_error']}"
    if extra.get("thread_error"):
        return f"Your {label} thread was not posted in full: {extra['thread_error']}"
    if reason is None:
        return None
    if doubt:
        look = f"{reason.rstrip('. ')}. Look at the post and add what is missing by hand."
        if extra.get("followup") == "comment":
            return f"The first comment on your {label} post may not have been posted: {look}"
        return f"Your {label} thread may not have been posted in full: {look}"
    if extra.get("followup") == "comment":
        return f"The first comment on your {label} post was not posted: {reason}"
    return f"Your {label} thread was not posted in full: {reason}"


def _account_label(post: Post, d: Delivery) -> str:
    """Which account a delivery went to, as people know it ("@brand on Instagram"): a workspace may have two on
    one platform."""
    return next((a.label for a in post.accounts if a.id == d.account_id), d.platform.label)


def _local(when: datetime, post: Post, fmt: str = "%d %b %H:%M %Z") -> str:
    """A time as the post's author reads it: in the zone the post was scheduled in."""
    tz = ZoneInfo(post.schedule.timezone_name) if post.schedule else ZoneInfo("UTC")
    return when.astimezone(tz).strftime(fmt)


def _ago(delta: timedelta) -> str:
    minutes = int(delta.total_seconds() // 60)
    if minutes < 120:
        return f"{minutes} minute{'s' if minutes != 1 else ''}"
    hours = minutes // 60
    if hours < 48:
        return f"{hours} hours"
    return f"{hours // 24} days"
