"""The Scheduler: what scripts and the dashboard call to plan posts.

    store = InMemoryPostStore()            # or SqlPostStore(engine, cipher)
    scheduler = Scheduler(store)           # acts as the system actor "script"
    result = scheduler.schedule_post("post-001", post)

    Scheduler(store, actor=Actor.for_user(user.id, memberships))   # what the dashboard does

Who acts: every public operation checks its actor (`core.rules.permissions`) against the workspace of the post
it touches before it reads or writes anything, and refuses with PermissionDenied what the actor's role does
not allow or what belongs to another workspace. Reads (`list_posts`, `upcoming`, `due`) return only what
the actor may see. The default actor is `core.rules.permissions.SCRIPT`, a system actor allowed everything
(scripts, the README's example); posts with no workspace are visible and changeable by system actors only.
The activity log names the actor (``user:<id>``, ``system:<name>``).

Every change goes through the lifecycle tables (`core.domain.lifecycle`), is validated
against the platform declarations (`core.rules.validation`) and the scheduling rules
(`core.rules.timing`), and lands in the activity log in the same write.

Times in the past: the dashboard refuses them (``refuse_past=True``). Scripts
may schedule a time that has passed (imports, backfills, examples written
earlier); the post is stored with a ``past_time`` warning, and the runner will
not publish a delivery that is far overdue without a person's review.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Callable, Iterable, Sequence

from core.domain import (EDITABLE_POST_FIELDS, Account, ActivityEvent, Delivery, Post, Schedule, Workspace,
                         check_editable, check_post_id, check_text, post_status)
from core.domain.errors import DuplicateError, NotFoundError, PermissionDenied, Problem, ValidationError
from core.rules.permissions import SCRIPT, Action, Actor, check
from core.services import notifications
from core.domain.lifecycle import WAITING_DELIVERY_STATES, DeliveryState, PostState, PostStatus, started_status
from core.rules import timing as scheduling
from core.store import PostStore
from core.domain.timeutil import to_utc, utcnow, zone


@dataclass(frozen=True)
class ScheduleResult:
    """What happened to a post, with what a person should know about it."""

    post_id: str
    status: PostStatus
    scheduled_at: datetime | None
    timezone_name: str | None
    warnings: tuple[Problem, ...] = ()
    notices: tuple[str, ...] = ()
    deliveries: tuple[Delivery, ...] = ()


@dataclass(frozen=True)
class StatusReport:
    post_id: str
    status: PostStatus
    scheduled_at: datetime | None
    deliveries: tuple[Delivery, ...]
    last_error: str | None = None


class Scheduler:
    def __init__(self, store: PostStore, *, clock: Callable[[], datetime] = utcnow, actor: Actor = SCRIPT,
                 refuse_past: bool = False, media_checker: Callable[[Post], list[Problem]] | None = None):
        if not isinstance(actor, Actor):  # a bare "user:..." string must never act with a script's rights
            raise TypeError("Scheduler(actor=...) takes an Actor: Actor.for_user(user_id, memberships) for a person, "
                            "Actor.system('name') for a script.")
        self.store = store
        # Fetches and checks each media item against each platform (core.media.MediaChecker); None skips it.
        self.media_checker = media_checker
        self.clock = clock
        self.actor = actor
        self.refuse_past = refuse_past

    # ------------------------------------------------------------ creating
    def schedule_post(self, post_id: str, post: Post, *, submit_for_approval: bool | None = None) -> ScheduleResult:
        """Store `post` under `post_id` and schedule it at ``post.schedule``.

        The post is approved straight away unless its workspace requires approval
        (or ``submit_for_approval=True``), in which case it waits for an approver.
        Raises ValidationError listing every problem (content limits, caps, gaps).
        """
        self._check(Action.EDIT_POSTS, post.workspace_id)
        check_post_id(post_id)      # before anything is read or written: the stores' id column takes 64 characters
        if post.schedule is None:
            raise ValidationError(Problem("no_schedule", "This post has no date and time. Give it a Schedule, "
                                          "or use add_to_queue to take the next free slot.", field="schedule"))
        workspace = self._workspace(post.workspace_id)
        approval = submit_for_approval if submit_for_approval is not None else bool(workspace and workspace.requires_approval)
        post = replace(post, id=post_id, state=PostState.PENDING_APPROVAL if approval else PostState.APPROVED,
                       series_id=post.series_id or (post_id if post.recurrence else None))
        return self._create(post)

    def save_draft(self, post_id: str, post: Post) -> ScheduleResult:
        """Keep a post as a draft (a time is optional); nothing will be published."""
        self._check(Action.EDIT_POSTS, post.workspace_id)
        post = replace(post, id=post_id, state=PostState.DRAFT)     # _create checks the id before anything is read
        return self._create(post, check_slots=False)

    def add_to_queue(self, post_id: str, post: Post, *, after: datetime | None = None,
                     submit_for_approval: bool | None = None) -> ScheduleResult:
        """Schedule `post` in the next queue slot that is free on every target account."""
        self._check(Action.EDIT_POSTS, post.workspace_id)
        check_post_id(post_id)      # before the queue is read for a free slot
        self._check_target_access(post)
        workspace = self._workspace(post.workspace_id)
        tz = workspace.timezone_name if workspace else (post.schedule.timezone_name if post.schedule else "UTC")
        slots = workspace.queue_slots if workspace else scheduling.DEFAULT_QUEUE_SLOTS
        start = to_utc(after, "after") if after is not None else self.clock()
        self._check_targets(post)
        candidate = start
        for _ in range(200):
            taken: list[datetime] = []
            caps = []
            for acc in post.accounts:
                known = self._known_account(acc)
                taken += [i.at for i in self.store.account_schedule(acc.id, candidate - timedelta(days=1),
                                                                    candidate + timedelta(days=120))]
                caps.append(known.effective_daily_cap)
            res = scheduling.next_free_slot(slots, tz, after=candidate, taken=taken,
                                            min_gap=min(a.min_gap for a in post.accounts),
                                            daily_cap=min(caps) if caps else None)
            problems = self._slot_problems(post, res.at, tz)
            if not any(p.severity == "error" for p in problems):
                sched = Schedule(scheduled_at=res.at, timezone_name=tz, notice=res.notice)
                return self.schedule_post(post_id, replace(post, schedule=sched), submit_for_approval=submit_for_approval)
            candidate = res.at
        raise ValidationError(Problem("no_free_slot", "No free queue slot was found for all of these accounts.",
                                      field="schedule"))

    def _create(self, post: Post, *, check_slots: bool = True) -> ScheduleResult:
        check_post_id(post.id)      # every way of creating a post: a store keeps no id it cannot show
        self._check_target_access(post)
        if post.is_demo:            # a copy of a demo post is a real post (only the sandbox demo writes demo rows)
            post = replace(post, is_demo=False)
        if post.created_by is None and self.actor.user_id is not None:   # its author (approval by another person)
            post = replace(post, created_by=self.actor.user_id)
        self._check_targets(post)
        post = self._prepare_media(post)
        from core.rules.validation import OVERSIZED_CODES, validate_post
        problems = [p for p in validate_post(post)]
        if any(p.code in OVERSIZED_CODES for p in problems):   # far too long for any platform: nothing more to check
            raise ValidationError([p for p in problems if p.severity == "error"])
        problems = self._with_media_checked(post, problems)
        warnings: list[Problem] = [p for p in problems if p.severity != "error"]
        errors = [p for p in problems if p.severity == "error"]
        notices: list[str] = []
        if post.recurrence:
            post = replace(post, recurrence=scheduling.validate_rule(post.recurrence))
        if post.schedule is not None:
            if post.schedule.notice:
                notices.append(post.schedule.notice)
            warnings += self._past_check(post.schedule.scheduled_at, tz_name=post.schedule.timezone_name)
            if check_slots:
                slot = self._slot_problems(post, post.schedule.scheduled_at, post.schedule.timezone_name)
                errors += [p for p in slot if p.severity == "error"]
                warnings += [p for p in slot if p.severity != "error"]
        if errors:
            raise ValidationError(errors)
        # A refused post leaves nothing behind: its new accounts are saved only once the post can be added.
        # (Two scripts racing for one id can still both pass this check; the store refuses the second post.)
        if self._has_post(post.id):
            raise DuplicateError(f"A post with id {post.id} already exists.")
        for acc in post.accounts:
            if not self._has_account(acc.id):
                self.store.save_account(acc if acc.workspace_id or not post.workspace_id
                                        else replace(acc, workspace_id=post.workspace_id))
        deliveries = self._deliveries_for(post, [])
        status = post_status(post, deliveries)
        event = self._event(post, "post.created" if post.state == PostState.DRAFT else
                            ("post.submitted" if post.state == PostState.PENDING_APPROVAL else "post.scheduled"),
                            None, status)
        stored = self.store.add_post(post, deliveries, events=[event])
        return self._result(stored, warnings, notices)

    # ------------------------------------------------------------ changing
    def reschedule(self, post_id: str, when: datetime | Schedule, timezone_name: str | None = None) -> ScheduleResult:
        post, deliveries, status = self._load(post_id, Action.EDIT_POSTS)
        if isinstance(when, Schedule):
            schedule = when
        else:
            tz = timezone_name or (post.schedule.timezone_name if post.schedule else "UTC")
            schedule = Schedule(scheduled_at=when, timezone_name=tz)
        changed = post.reschedule(status, schedule)
        warnings = self._past_check(schedule.scheduled_at, tz_name=schedule.timezone_name)
        slot = self._slot_problems(changed, schedule.scheduled_at, schedule.timezone_name)
        if any(p.severity == "error" for p in slot):
            raise ValidationError([p for p in slot if p.severity == "error"])
        warnings += [p for p in slot if p.severity != "error"]
        new_deliveries = self._deliveries_for(changed, deliveries)
        event = self._event(changed, "post.rescheduled", status, post_status(changed, self._merge(deliveries, new_deliveries)),
                            details={"from": post.due_at.isoformat() if post.due_at else None,
                                     "to": schedule.scheduled_at.isoformat()})
        stored = self.store.update_post(changed, expected_version=post.version, deliveries=new_deliveries, events=[event])
        return self._result(stored, warnings, [schedule.notice] if schedule.notice else [])

    def edit(self, post_id: str, **changes) -> ScheduleResult:
        """Change a post's content (caption, hashtags, media, accounts...) before it is published."""
        post, deliveries, status = self._load(post_id, Action.EDIT_POSTS)
        check_editable(changes)     # content only: the time, state, workspace... change through their own rules
        unread: list[Problem] = []
        try:
            changed = post.edit(status, **changes)
        except ValidationError as exc:
            if "hashtags" not in changes:
                raise
            # Hashtags that are not hashtags: said with every other problem of the edit, not alone.
            unread = list(exc.problems)
            changed = post.edit(status, **{k: v for k, v in changes.items() if k != "hashtags"})
        if {"accounts", "account"} & set(changes):   # new targets: the actor's own workspace's accounts only
            self._check_target_access(changed)
            self._check_targets(changed)
        changed = self._prepare_media(changed)
        from core.rules.validation import validate_post
        problems = unread + validate_post(changed)
        problems = self._with_media_checked(changed, problems)
        if any(p.severity == "error" for p in problems):
            raise ValidationError([p for p in problems if p.severity == "error"])
        reason, notices, again = None, [], False
        if status == PostStatus.SCHEDULED and approved_content_changed(post, changed):
            workspace = self._workspace(post.workspace_id)
            if workspace is not None and workspace.requires_approval:
                if self._approves_own_edit(workspace):
                    reason = f"Approved by {self._name()} with the edit."
                else:      # what goes out is what someone approved: its deliveries wait (only approved posts are due)
                    changed, again = changed.back_to_approval(status), True
                    reason = "Its content changed after it was approved, so it waits for approval again."
                    notices.append(WAITS_FOR_APPROVAL_AGAIN)
        new_deliveries = self._deliveries_for(changed, deliveries)
        new_status = post_status(changed, self._merge(deliveries, new_deliveries))
        event = self._event(changed, "post.edited", status, new_status, reason=reason,
                            details={"fields": sorted(changes)})
        stored = self.store.update_post(changed, expected_version=post.version, deliveries=new_deliveries, events=[event])
        if again:          # its approvers are told, as of any post waiting for them
            self.store.add_notification(notifications.approval_needed_again(stored, workspace.timezone_name, at=self.clock()))
        return self._result(stored, [p for p in problems if p.severity != "error"], notices)

    def _approves_own_edit(self, workspace: Workspace) -> bool:
        """Whoever edits an approved post keeps it approved only if they may approve it themselves: their role
        approves and the workspace does not want a second person (a script may do anything)."""
        if self.actor.is_system:
            return True
        return self.actor.can(Action.APPROVE, workspace.id) and not workspace.approval_by_other

    def _name(self) -> str:
        """The actor as people read them: a person's name (or email), a script's label."""
        if self.actor.user_id is None:
            return self.actor.label
        try:
            user = self.store.get_user(self.actor.user_id)
        except NotFoundError:
            return self.actor.label
        return user.display_name or user.email

    def _with_media_checked(self, post: Post, problems: list[Problem]) -> list[Problem]:
        """`problems` (the post's validation) with what the media checker finds in each link, every problem at once:
        a link refused or unreachable is said even when other media problems stand. Where the checker reads every
        link itself (MediaChecker), validation's guess of a link's type from its name gives way to what the link holds
        or to why it could not be read (a refused link's type is moot)."""
        if self.media_checker is None or not post.media_urls or not _media_worth_checking(problems, post):
            return problems
        found = self.media_checker(post)
        if getattr(self.media_checker, "reads_each_link", False):
            problems = [p for p in problems if p.code != "media_type"]
        return problems + found

    def _prepare_media(self, post: Post) -> Post:
        """Uploads a platform does not take in their type get a converted copy for it (MediaChecker.prepare)."""
        prepare = getattr(self.media_checker, "prepare", None)
        return prepare(post) if prepare is not None else post

    def schedule_draft(self, post_id: str) -> ScheduleResult:
        """A draft goes out at its time by the same rule as `schedule_post`: where the workspace needs no approval,
        whoever may write posts schedules it (approved straight away, as the composer does); where it does, it is
        sent to the approvers. A draft without a time, or with one already past, is refused in words."""
        post, _, status = self._load(post_id, Action.EDIT_POSTS)
        if post.schedule is None:
            raise ValidationError(Problem("no_schedule", "Give the post a date and time first.", field="schedule"))
        self._past_check(post.due_at, refuse=True, tz_name=post.schedule.timezone_name)
        workspace = self._workspace(post.workspace_id)
        if workspace is not None and workspace.requires_approval:
            return self.submit(post_id)
        return self._editorial(post_id, Action.EDIT_POSTS, lambda p, s: p.approve(s), "post.scheduled")

    def submit(self, post_id: str) -> ScheduleResult:
        return self._editorial(post_id, Action.SUBMIT, lambda p, s: p.submit(s), "post.submitted")

    def approve(self, post_id: str) -> ScheduleResult:
        """Approve a post; where the workspace wants a second person, its author may not (PermissionDenied)."""
        return self._editorial(post_id, Action.APPROVE, lambda p, s: self._may_approve(p, s).approve(s),
                               "post.approved")

    def _may_approve(self, post: Post, status: PostStatus) -> Post:
        """A person approves neither a post whose time has passed while it waited (it expires) nor, where the
        workspace wants a second person, their own."""
        if status == PostStatus.PENDING_APPROVAL and not self.actor.is_system and post.due_at is not None \
                and post.due_at <= self.clock():
            raise ValidationError(Problem("time_passed", "This post's time has passed, so it can no longer be "
                                          "approved. Give it a new time first.", field="schedule"))
        workspace = self._workspace(post.workspace_id)
        if workspace is not None and workspace.approval_by_other and not self.actor.is_system:
            if post_author(self.store, post) == self.actor.user_id:
                raise PermissionDenied("Someone other than the author must approve this post.", action=Action.APPROVE,
                                       workspace_id=post.workspace_id, code="own_post")
            if self.actor.label in changed_after_approval(self.store, post):   # their words, not the author's
                raise PermissionDenied("You changed this post after it was approved, so someone else must approve "
                                       "it.", action=Action.APPROVE, workspace_id=post.workspace_id, code="own_post")
        return post

    def reject(self, post_id: str, reason: str = "") -> ScheduleResult:
        """Send a post back to its author as a rejected draft; the reason is required and the author is told."""
        from core.rules.validation import check_reason
        check_reason(reason)
        check_text(reason, field="reason", what="reason", multiline=True)
        reason = (reason or "").strip()
        post = self.get(post_id)
        self._check(Action.APPROVE, post.workspace_id)
        if not reason:
            raise ValidationError(Problem("no_reason", "Say why it is rejected, so its author knows what to change.",
                                          field="reason"))
        result = self._editorial(post_id, Action.APPROVE, lambda p, s: p.reject(s, reason), "post.rejected",
                                 reason=reason)
        if post.workspace_id is not None:
            self.store.add_notification(notifications.post_rejected(
                post, reason, author_id=post_author(self.store, post), at=self.clock()))
        return result

    def revise(self, post_id: str) -> ScheduleResult:
        return self._editorial(post_id, Action.EDIT_POSTS, lambda p, s: p.revise(s), "post.returned_to_draft")

    def cancel(self, post_id: str, reason: str = "") -> ScheduleResult:
        from core.rules.validation import check_reason
        check_reason(reason)
        check_text(reason, field="reason", what="reason", multiline=True)
        return self._editorial(post_id, Action.CANCEL, lambda p, s: p.cancel(s), "post.cancelled", reason=reason)

    def _editorial(self, post_id: str, action: Action, move, event_name: str,
                   reason: str | None = None) -> ScheduleResult:
        post, deliveries, status = self._load(post_id, action)
        changed = move(post, status)
        warnings: list[Problem] = []
        if changed.state in (PostState.APPROVED, PostState.PENDING_APPROVAL) and changed.due_at is not None:
            warnings += self._past_check(changed.due_at, refuse=False,
                                          tz_name=changed.schedule.timezone_name if changed.schedule else None)
        new_deliveries = self._deliveries_for(changed, deliveries)
        new_status = post_status(changed, self._merge(deliveries, new_deliveries))
        event = self._event(changed, event_name, status, new_status, reason=reason or None)
        stored = self.store.update_post(changed, expected_version=post.version, deliveries=new_deliveries, events=[event])
        return self._result(stored, warnings, [])

    # ------------------------------------------------------------ a person settles what the runner could not
    # Each acts only on what waits for a person (core.domain.lifecycle.PERSON_SETTLES): never on a delivery the
    # runner is still sending or checking, which may be live (refused with SettleRefused, in words).
    def confirm_published(self, delivery_id: str, *, url: str | None = None) -> Delivery:
        """The person looked: the post is live on the platform (from needs review)."""
        check_text(url, field="url", what="link")
        d, post = self._load_delivery(delivery_id)
        url = (url or "").strip() or None
        return self._settle(d, post, d.confirm_published(url=url, at=self.clock()), "delivery.confirmed_published")

    def give_up(self, delivery_id: str) -> Delivery:
        """The person decided this one will not go out (from needs review)."""
        d, post = self._load_delivery(delivery_id)
        return self._settle(d, post, d.give_up(error=f"Not published: decided by {self.actor.label}."),
                            "delivery.given_up")

    def try_again(self, delivery_id: str) -> Delivery:
        """Send a failed or reviewed delivery again now, with a fresh set of attempts.

        The person has checked that the post is not on the platform, so the runner publishes
        without first looking for an earlier attempt.
        """
        d, post = self._load_delivery(delivery_id)
        return self._settle(d, post, d.try_again(at=self.clock()), "delivery.requeued")

    def _load_delivery(self, delivery_id: str) -> tuple[Delivery, Post]:
        d = self.store.get_delivery(delivery_id)
        post = self.store.get_post(d.post_id)
        self._check(Action.SETTLE, post.workspace_id)
        _not_demo(post)
        return d, post

    def _settle(self, before: Delivery, post: Post, after: Delivery, action: str) -> Delivery:
        event = ActivityEvent(action=action, subject_type="delivery", subject_id=before.id, at=self.clock(),
                              actor=self.actor.label, workspace_id=post.workspace_id, from_state=before.state.value,
                              to_state=after.state.value, details={"post_id": post.id})
        return self.store.update_delivery(after, expected_version=before.version, events=[event])

    # ------------------------------------------------------------ reading
    def get(self, post_id: str) -> Post:
        post = self.store.get_post(post_id)
        self._check(Action.VIEW, post.workspace_id)
        return post

    def status(self, post_id: str) -> StatusReport:
        post = self.get(post_id)
        deliveries = self.store.get_deliveries(post_id)
        errors = [d.last_error for d in deliveries if d.last_error]
        return StatusReport(post_id=post_id, status=post_status(post, deliveries), scheduled_at=post.due_at,
                            deliveries=tuple(deliveries), last_error=errors[-1] if errors else None)

    def due(self, now: datetime | None = None, *, limit: int = 100) -> list[Delivery]:
        """Deliveries whose time has come (approved posts only), oldest first; a person sees their workspaces' only
        (filtered after the store's `limit`, so they may get fewer)."""
        due = self.store.due_deliveries(to_utc(now, "now") if now is not None else self.clock(), limit=limit)
        if self.actor.is_system:
            return due
        workspaces = {pid: self.store.get_post(pid).workspace_id for pid in {d.post_id for d in due}}
        return [d for d in due if self.actor.sees(workspaces[d.post_id])]

    def list_posts(self, **filters) -> list[Post]:
        """The store's `list_posts`, limited to what the actor may see (another workspace's id is refused)."""
        if filters.get("workspace_id") is not None:
            self._check(Action.VIEW, filters["workspace_id"])
        return [p for p in self.store.list_posts(**filters) if self.actor.sees(p.workspace_id)]

    def upcoming(self, *, days: int = 7, workspace_id: str | None = None) -> list[Post]:
        now = self.clock()
        return self.list_posts(workspace_id=workspace_id, start=now, end=now + timedelta(days=days),
                               statuses=[PostStatus.SCHEDULED, PostStatus.PENDING_APPROVAL])

    # ------------------------------------------------------------ helpers
    def _check(self, action: Action, workspace_id: str | None) -> None:
        check(self.actor, action, workspace_id)

    def _check_target_access(self, post: Post) -> None:
        """A person posts only through their own workspace's accounts, and adds new ones only if they may
        connect accounts (scripts may pass any Account, as the README's example does)."""
        if self.actor.is_system:
            return
        for acc in post.accounts:
            try:
                known = self.store.get_account(acc.id)
            except NotFoundError:
                check(self.actor, Action.CONNECT_ACCOUNTS, post.workspace_id, subject="account")
                continue
            check(self.actor, Action.VIEW, known.workspace_id, subject="account")

    def _load(self, post_id: str, action: Action):
        post = self.store.get_post(post_id)
        self._check(action, post.workspace_id)
        if action != Action.VIEW:
            _not_demo(post)
        deliveries = self.store.get_deliveries(post_id)
        # A delivery whose post is (or may be) live counts as publishing even if it waits in the queue: a post
        # that is on the platform is never edited, rescheduled or cancelled (core.domain.lifecycle.started_status).
        return post, deliveries, started_status(post_status(post, deliveries), deliveries)

    def _workspace(self, workspace_id: str | None) -> Workspace | None:
        if workspace_id is None:
            return None
        return self.store.get_workspace(workspace_id)

    def _has_post(self, post_id: str) -> bool:
        try:
            self.store.get_post(post_id)
            return True
        except NotFoundError:
            return False

    def _has_account(self, account_id: str) -> bool:
        try:
            self.store.get_account(account_id)
            return True
        except NotFoundError:
            return False

    def _known_account(self, acc: Account) -> Account:
        try:
            return self.store.get_account(acc.id)
        except NotFoundError:
            return acc

    def _check_targets(self, post: Post) -> None:
        if not post.accounts:   # with every other problem of the post, at once (an empty composer: all of it)
            from core.rules.validation import validate_post
            raise ValidationError([p for p in validate_post(post) if p.severity == "error"])
        if post.workspace_id is not None:
            for acc in post.accounts:
                known = self._known_account(acc)
                if known.workspace_id not in (None, post.workspace_id):
                    raise ValidationError(Problem("account_workspace", f"{acc.label} belongs to another workspace.",
                                                  field="accounts"))

    def _past_check(self, when: datetime, *, refuse: bool | None = None, tz_name: str | None = None) -> list[Problem]:
        """A time already past: refused, or a warning; either way said in the post's own (the workspace's) zone."""
        now = self.clock()
        if when >= now:
            return []
        when = when.astimezone(zone(tz_name)) if tz_name else to_utc(when)
        if self.refuse_past if refuse is None else refuse:
            scheduling.check_not_past(when, now)
        return [Problem("past_time", f"{when:%a %d %b %Y %H:%M} {when.tzname()} has already passed, so this post is due now. "
                        "The runner publishes it on its next pass unless it is long overdue, in which case it waits "
                        "for your review.", field="schedule", severity="warning")]

    def _slot_problems(self, post: Post, at: datetime, tz_name: str) -> list[Problem]:
        """Caps and gaps (errors) and same-hour / repeated-caption warnings, for every target account."""
        problems: list[Problem] = []
        workspace = self._workspace(post.workspace_id)
        tz = workspace.timezone_name if workspace else tz_name
        for acc in post.accounts:
            known = self._known_account(acc)
            existing = (self.store.account_schedule(acc.id, at - timedelta(days=4), at + timedelta(days=4),
                                                    exclude_post_id=post.id) if self._has_account(acc.id) else [])
            times = [i.at for i in existing]
            for problem in (scheduling.check_daily_cap(cap=known.effective_daily_cap, tz_name=tz, candidate=at,
                                                       existing=times, account_label=known.label),
                            scheduling.check_min_gap(min_gap=known.min_gap, candidate=at, existing=times,
                                                     account_label=known.label)):
                if problem is not None:
                    problems.append(replace(problem, platform=acc.platform.value))
            problems += scheduling.scheduling_warnings(
                account_id=acc.id, account_label=known.label, candidate_at=at,
                caption=post.render(acc.platform).caption, existing=existing, tz_name=tz, exclude_post_id=post.id)
        return _dedupe(problems)

    def _deliveries_for(self, post: Post, existing: Sequence[Delivery]) -> list[Delivery]:
        """The deliveries to write so that each target has one, due at the post's time.

        Drafts without deliveries get none; waiting deliveries follow a new time;
        cancelled posts cancel their waiting deliveries; removed targets are cancelled.
        """
        by_account = {d.account_id: d for d in existing}
        out: list[Delivery] = []
        targets = {a.id for a in post.accounts}
        if post.state == PostState.CANCELLED:
            return [d.cancel() for d in existing if d.state in WAITING_DELIVERY_STATES]
        if post.due_at is None or (post.state in (PostState.DRAFT, PostState.REJECTED) and not existing):
            return []
        for acc in post.accounts:
            d = by_account.get(acc.id)
            if d is None:
                out.append(Delivery(post_id=post.id, account_id=acc.id, platform=acc.platform, due_at=post.due_at))
            elif d.state in WAITING_DELIVERY_STATES and d.due_at != post.due_at:
                out.append(d.reschedule(due_at=post.due_at))
            elif d.state == DeliveryState.CANCELLED:
                continue
        for d in existing:
            if d.account_id not in targets and d.state in WAITING_DELIVERY_STATES:
                out.append(d.cancel())
        return out

    @staticmethod
    def _merge(old: Iterable[Delivery], new: Iterable[Delivery]) -> list[Delivery]:
        merged = {d.id: d for d in old}
        merged.update({d.id: d for d in new})
        return list(merged.values())

    def _event(self, post: Post, action: str, before: PostStatus | None, after: PostStatus, *,
               reason: str | None = None, details: dict | None = None) -> ActivityEvent:
        return ActivityEvent(action=action, subject_type="post", subject_id=post.id, at=self.clock(),
                             actor=self.actor.label, workspace_id=post.workspace_id,
                             from_state=before.value if before else None,
                             to_state=after.value, reason=reason, details=details or {})

    def _result(self, post: Post, warnings: list[Problem], notices: list[str]) -> ScheduleResult:
        deliveries = self.store.get_deliveries(post.id)
        return ScheduleResult(post_id=post.id, status=post_status(post, deliveries), scheduled_at=post.due_at,
                              timezone_name=post.schedule.timezone_name if post.schedule else None,
                              warnings=tuple(_dedupe(warnings)), notices=tuple(dict.fromkeys(notices)),
                              deliveries=tuple(deliveries))


def _not_demo(post: Post) -> None:
    """Demo history is there to read: acting on it (trying a failed demo post again, editing, cancelling) would
    publish or keep something that disappears with the demo."""
    if post.is_demo:
        raise ValidationError(Problem("demo_post", "This is demo data from the sandbox: it can be read but not "
                                      "changed. Remove the demo on the Analytics page when you are done exploring."))


def post_author(store: PostStore, post: Post) -> str | None:
    """The user id of the person who wrote `post`: its ``created_by``, or for posts stored before that was
    recorded, the person who created or submitted it in the activity log (None when a script did)."""
    if post.created_by:
        return post.created_by
    events = store.list_events(subject_id=post.id, limit=1000)
    for event in reversed(events):   # oldest first: the creation comes before any later submission
        if event.action in ("post.created", "post.submitted", "post.scheduled") and event.actor.startswith("user:"):
            return event.actor.split(":", 1)[1]
    return None


def changed_after_approval(store: PostStore, post: Post) -> set[str]:
    """Who (actor labels) sent `post` back for approval by changing it since it was last approved."""
    actors = set()
    for event in store.list_events(subject_id=post.id, limit=1000):     # newest first
        if event.action == "post.approved":
            break
        if event.action == "post.edited" and event.to_state == PostStatus.PENDING_APPROVAL.value \
                and event.from_state == PostStatus.SCHEDULED.value:
            actors.add(event.actor)
    return actors


# Said when a change sends an approved post back to its approvers (the post dialog shows it).
WAITS_FOR_APPROVAL_AGAIN = "Changes saved: it waits for approval again, and goes out only once it is approved."

# What an approver approved: the content an edit changes (the words, media and links each platform gets). The time is
# not in it (a reschedule needs no new approval), nor removing an account (less goes out); a new account is (it gets
# something nobody approved there).
_APPROVED_CONTENT = tuple(sorted(EDITABLE_POST_FIELDS - {"accounts", "account"}))


def approved_content_changed(before: Post, after: Post) -> bool:
    """Whether `after` (an edit of `before`) sends something its approver did not approve."""
    if any(getattr(before, name) != getattr(after, name) for name in _APPROVED_CONTENT):
        return True
    return bool({a.id for a in after.accounts} - {a.id for a in before.accounts})


def _media_worth_checking(problems: list[Problem], post: Post) -> bool:
    """Fetch a post's media unless a text was refused or is far too long, or it has more links than any platform
    takes (said first): other media problems (a type, a count) do not stop it, since a refused link is said with them."""
    from core.rules.validation import OVERSIZED_CODES
    if any(p.code == "bad_text" or p.code in OVERSIZED_CODES for p in problems):
        return False
    links = {url for platform in post.platforms for url in post.render(platform).media_urls}
    return len(links) <= _MOST_MEDIA


def _most_media() -> int:
    from core.rules.limits import LIMITS
    return max(limits.media_max for limits in LIMITS.values())


_MOST_MEDIA = _most_media()     # the most media items any platform takes in one post


def _dedupe(problems: list[Problem]) -> list[Problem]:
    seen, out = set(), []
    for p in problems:
        key = (p.code, p.message)
        if key not in seen:
            seen.add(key)
            out.append(p)
    return out
