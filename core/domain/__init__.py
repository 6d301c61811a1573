"""Outpost's domain types: small, frozen, timezone-aware.

Transitions return new objects (``delivery.mark_published(...)``); stores save
them. The state tables live in `core.domain.lifecycle`.
"""
from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field, replace
from datetime import date, datetime, time, timedelta
from enum import StrEnum
from typing import Any, Mapping

from core.domain.errors import Problem, ValidationError
from core.domain.lifecycle import (DeliveryState, PostState, PostStatus, check_delivery_move, check_person_settle,
                                   check_post_move, check_to_review, derive_post_status)
from core.domain.catalog import Platform
from core.domain.timeutil import require_aware, to_utc, zone


def new_id(prefix: str) -> str:
    """A short, unique, URL-safe id such as ``post_3f9c...``."""
    return f"{prefix}_{uuid.uuid4().hex[:20]}"


# ---------------------------------------------------------------- text every store and platform accepts
#
# The one rule for characters in text a person types (captions, hashtags, titles, links, handles, names):
# no lone surrogate (no encoder accepts it), no NUL (PostgreSQL refuses it), no other C0 control, DEL or C1
# control. Tab, line feed and carriage return are allowed where the text may span lines (a caption).
# Domain types that are built from what a person typed refuse at construction (accounts, workspaces, users,
# hashtags); a post's texts are reported by `core.rules.validation.validate_post`, which the Scheduler runs before
# it writes anything, so the composer can still count what is being typed.

_SURROGATE = re.compile("[\ud800-\udfff]")
_CONTROL_ONE_LINE = re.compile("[\x00-\x1f\x7f-\x9f]")
_CONTROL_MULTI_LINE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")


def text_problem(value: str | None, *, field: str, what: str, multiline: bool = False,
                 platform: str | None = None) -> Problem | None:
    """Why `value` cannot be stored or sent (a broken or control character), in plain words; None when it can.

    `what` names the text for the person ("caption", "X title", "account name"); the message never repeats
    the bad character itself, which could not be displayed or logged either.
    """
    if not value or not isinstance(value, str):
        return None
    if _SURROGATE.search(value):
        message = (f"The {what} contains a broken character (half of an emoji or symbol, usually left by copying "
                   "and pasting). Delete it or type it again.")
    elif (match := (_CONTROL_MULTI_LINE if multiline else _CONTROL_ONE_LINE).search(value)) is None:
        return None
    elif match.group() == "\x00":
        message = (f"The {what} contains a null character (U+0000), which cannot be saved. Delete it; it usually "
                   "comes from copying text out of another program.")
    elif match.group() in "\t\n\r":
        message = f"The {what} must fit on one line: remove the line break or tab."
    else:
        message = (f"The {what} contains an invisible control character (U+{ord(match.group()):04X}) that "
                   "platforms refuse. Delete it; it usually comes from copying text out of another program.")
    return Problem("bad_text", message, field=field, platform=platform)


def clean_text(value: str | None, *, multiline: bool = False) -> str | None:
    """`value` made to pass the text rule: surrogate pairs joined, lone surrogates replaced by U+FFFD, control
    characters dropped (in one-line text a line break or tab becomes a space).

    For text no person typed into Outpost, which is kept rather than refused: a name a platform sends when an
    account connects, a row stored before the rule existed.
    """
    if not value or not isinstance(value, str) or text_problem(value, field="", what="", multiline=multiline) is None:
        return value
    value = value.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")
    if not multiline:
        value = re.sub("[\t\n\r]", " ", value)
    return (_CONTROL_MULTI_LINE if multiline else _CONTROL_ONE_LINE).sub("", value)


def check_text(value: str | None, *, field: str, what: str, multiline: bool = False) -> None:
    """Raise ValidationError when `value` breaks the text rule (`text_problem`)."""
    problem = text_problem(value, field=field, what=what, multiline=multiline)
    if problem is not None:
        raise ValidationError(problem)


# The longest id the stores keep (core.db.schema ID: a 64-character column; PostgreSQL refuses longer).
MAX_ID_LENGTH = 64


def check_post_id(post_id: object) -> None:
    """Raise ValidationError, in words, unless `post_id` is 1 to MAX_ID_LENGTH printable characters (no control
    character, NUL or broken half of an emoji, which a store refuses or keeps as something no page can show)."""
    if not isinstance(post_id, str) or not post_id.strip():
        message = "A post needs an id, such as post-001."
    elif len(post_id) > MAX_ID_LENGTH:
        message = f"A post id is at most {MAX_ID_LENGTH} characters; this one has {len(post_id):,}."
    elif not post_id.isprintable() or post_id != post_id.strip():
        message = ("A post id may contain only visible characters and spaces inside it (no line break, tab, control "
                   "or broken character, and no space at either end), such as post-001.")
    else:
        return
    raise ValidationError(Problem("post_id", message, field="id"))


class Role(StrEnum):
    OWNER = "owner"
    EDITOR = "editor"
    APPROVER = "approver"
    VIEWER = "viewer"

    @property
    def can_edit(self) -> bool:
        return self in (Role.OWNER, Role.EDITOR)

    @property
    def can_approve(self) -> bool:
        return self in (Role.OWNER, Role.APPROVER)

    @property
    def can_connect_accounts(self) -> bool:
        return self == Role.OWNER

    @property
    def can_manage_workspace(self) -> bool:
        return self == Role.OWNER


# ---------------------------------------------------------------- workspace & people

def _default_slots() -> dict[int, tuple[time, ...]]:
    from core.rules.timing import DEFAULT_QUEUE_SLOTS
    return {int(k): tuple(v) for k, v in DEFAULT_QUEUE_SLOTS.items()}


@dataclass(frozen=True)
class Workspace:
    name: str
    timezone_name: str = "UTC"
    preferred_time: time = time(9, 0)
    queue_slots: Mapping[int, tuple[time, ...]] = field(default_factory=_default_slots)
    requires_approval: bool = False
    # With requires_approval: a second person approves (nobody approves their own post).
    approval_by_other: bool = False
    id: str = field(default_factory=lambda: new_id("ws"))
    created_at: datetime | None = None

    def __post_init__(self):
        problems: list[Problem] = []
        if not (self.name or "").strip():
            problems.append(Problem("workspace_name", "A workspace needs a name.", field="name"))
        else:
            try:
                check_text(self.name, field="name", what="workspace name")
            except ValidationError as exc:
                problems.extend(exc.problems)
        try:
            zone(self.timezone_name)
        except ValidationError as exc:
            problems.extend(exc.problems)
        if problems:    # every problem at once (a name and a zone can both be wrong)
            raise ValidationError(problems)
        from core.rules.timing import validate_queue_slots
        object.__setattr__(self, "queue_slots", validate_queue_slots(self.queue_slots))


@dataclass(frozen=True)
class User:
    email: str
    display_name: str = ""
    password_hash: str | None = field(default=None, repr=False)
    id: str = field(default_factory=lambda: new_id("user"))
    created_at: datetime | None = None

    def __post_init__(self):
        check_text(self.email, field="email", what="email address")
        check_text(self.display_name, field="display_name", what="name")
        email = (self.email or "").strip().lower()
        if not re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", email):
            raise ValidationError(Problem("email", f"'{self.email}' does not look like an email address."
                                          if (self.email or "").strip() else "Enter an email address.", field="email"))
        object.__setattr__(self, "email", email)


@dataclass(frozen=True)
class Membership:
    user_id: str
    workspace_id: str
    role: Role = Role.VIEWER

    def __post_init__(self):
        object.__setattr__(self, "role", Role(self.role))


# ---------------------------------------------------------------- accounts

class AccountStatus(StrEnum):
    CONNECTED = "connected"
    EXPIRING = "expiring"
    EXPIRED = "expired"
    REVOKED = "revoked"
    RECONNECT_NEEDED = "reconnect_needed"


# Accounts the runner publishes for (an expired token is refreshed first); the others wait for a person.
PUBLISHABLE_ACCOUNT_STATUSES = frozenset({AccountStatus.CONNECTED, AccountStatus.EXPIRING, AccountStatus.EXPIRED})


@dataclass(frozen=True)
class Account:
    """A connected social account. Tokens never appear in repr, logs or pages."""

    platform: Platform
    handle: str
    display_name: str = ""
    oauth_token: str | None = field(default=None, repr=False)
    refresh_token: str | None = field(default=None, repr=False)
    token_expires_at: datetime | None = None
    refresh_expires_at: datetime | None = None
    scopes: tuple[str, ...] = ()
    external_id: str | None = None        # the platform's id for this account (IG user id, page id, person URN...)
    id: str = field(default_factory=lambda: new_id("acct"))
    workspace_id: str | None = None
    daily_cap: int | None = None          # None: the platform's default
    min_gap_minutes: int | None = None    # None: the default gap
    status: AccountStatus = AccountStatus.CONNECTED
    connected_at: datetime | None = None
    meta: Mapping[str, Any] = field(default_factory=dict)  # platform extras (e.g. TikTok privacy options)
    # Other secrets a platform hands out at connect time (a Facebook Page's own token): encrypted at rest.
    secrets: Mapping[str, str] = field(default_factory=dict, repr=False)
    # Set (to why, never to a token) when the stored tokens could not be decrypted on loading (a lost or rotated
    # key, a damaged row): the token fields are then empty and `core.services.connect.credentials` refuses the account.
    # Not stored: it is what loading found. Saving such an account keeps the stored tokens as they are (restoring
    # the key brings them back); reconnecting clears it and writes new ones.
    secrets_unreadable: str | None = None

    def __post_init__(self):
        object.__setattr__(self, "platform", Platform.parse(self.platform))
        problems = [p for p in (text_problem(self.handle, field="handle", what="account handle"),
                                text_problem(self.display_name, field="display_name", what="account name"))
                    if p is not None]
        if problems:
            raise ValidationError(problems)
        handle = (self.handle or "").strip()
        if not handle:
            raise ValidationError(Problem("handle", "An account needs a handle, such as @creator.", field="handle"))
        object.__setattr__(self, "handle", handle)
        object.__setattr__(self, "status", AccountStatus(self.status))
        object.__setattr__(self, "scopes", tuple(self.scopes or ()))
        for name in ("token_expires_at", "refresh_expires_at", "connected_at"):
            value = getattr(self, name)
            if value is not None:
                object.__setattr__(self, name, to_utc(value, name.replace("_", " ")))
        if self.daily_cap is not None and int(self.daily_cap) < 1:
            raise ValidationError(Problem("daily_cap", "A daily limit must be at least 1 post.", field="daily_cap"))

    def __hash__(self) -> int:  # dict fields make the generated hash fail; an account is its id
        return hash(("account", self.id))

    @property
    def label(self) -> str:
        return f"{self.handle} on {self.platform.label}"

    def with_unreadable_secrets(self, why: str) -> "Account":
        """This account as it loads when its stored tokens cannot be decrypted: no tokens, and `why` (no secrets)."""
        return replace(self, oauth_token=None, refresh_token=None, secrets={},
                       secrets_unreadable=why or "The stored tokens cannot be decrypted.")

    @property
    def effective_daily_cap(self) -> int:
        if self.daily_cap is not None:
            return int(self.daily_cap)
        from core.rules.limits import limits_for
        return limits_for(self.platform).daily_cap

    @property
    def min_gap(self) -> timedelta:
        from core.rules.timing import DEFAULT_MIN_GAP
        return DEFAULT_MIN_GAP if self.min_gap_minutes is None else timedelta(minutes=int(self.min_gap_minutes))


# ---------------------------------------------------------------- schedule

@dataclass(frozen=True)
class Schedule:
    """An exact moment, stored in UTC, with the IANA zone it was chosen in."""

    scheduled_at: datetime
    timezone_name: str = "UTC"
    # Set when daylight saving moved or disambiguated the wall time the user asked for.
    notice: str | None = None

    def __post_init__(self):
        object.__setattr__(self, "scheduled_at", to_utc(self.scheduled_at, "scheduled time"))
        zone(self.timezone_name)

    @property
    def local(self) -> datetime:
        return self.scheduled_at.astimezone(zone(self.timezone_name))

    @classmethod
    def at_local(cls, day: date, wall: time | None, timezone_name: str,
                 preferred: time = time(9, 0)) -> "Schedule":
        """A day and a wall-clock time in a zone (the workspace's preferred time when `wall` is None)."""
        from core.rules.timing import resolve_local_time
        res = resolve_local_time(day, wall or preferred, timezone_name)
        return cls(scheduled_at=res.at, timezone_name=timezone_name, notice=res.notice)

    def describe(self) -> str:
        local = self.local
        return f"{local:%a} {local.day} {local:%b %Y %H:%M %Z}"


# ---------------------------------------------------------------- content

@dataclass(frozen=True)
class PostVariant:
    """Per-platform overrides; None means "use the post's own"."""

    caption: str | None = None
    hashtags: tuple[str, ...] | None = None
    media_urls: tuple[str, ...] | None = None
    title: str | None = None  # YouTube video title, TikTok photo title
    link: str | None = None
    # The whole text as a thread of numbered posts for this platform (the first element is the first post, the
    # rest its replies in order); None: one post. Only where the platform can thread (limits.supports_thread).
    thread: tuple[str, ...] | None = None
    # The first comment on this platform instead of the post's own (None: the post's; "": none here).
    first_comment: str | None = None

    def __post_init__(self):
        if self.thread is not None:
            if isinstance(self.thread, str):
                raise ValidationError(Problem("thread", "A thread is a list of posts, not one text.", field="thread"))
            object.__setattr__(self, "thread", tuple(str(t) for t in self.thread))
        if self.hashtags is not None:
            object.__setattr__(self, "hashtags", normalize_hashtags(self.hashtags))
        if self.media_urls is not None:
            object.__setattr__(self, "media_urls", clean_urls(self.media_urls))


def clean_urls(urls) -> tuple[str, ...]:
    """A list of links with blanks removed; a single string is one link, not a list of characters."""
    if isinstance(urls, str):
        urls = urls.splitlines()
    return tuple(u.strip() for u in (urls or ()) if isinstance(u, str) and u.strip())


def _contains_token(text: str, token: str) -> bool:
    """`token` appears in `text` on its own (``#launch`` is not inside ``#launchday``)."""
    return re.search(r"(?<![\w#/])" + re.escape(token) + r"(?![\w/.-]*\w)", text, re.IGNORECASE) is not None


def normalize_hashtags(tags) -> tuple[str, ...]:
    """'launch', '#Launch ' -> '#launch'-style tags (case kept), deduplicated case-insensitively."""
    if isinstance(tags, str):
        tags = re.split(r"[\s,]+", tags)
    out: list[str] = []
    seen: set[str] = set()
    for raw in tags or ():
        tag = str(raw).strip()
        if not tag:
            continue
        check_text(tag, field="hashtags", what="hashtag")
        tag = "#" + tag.lstrip("#")
        if tag == "#" or not re.fullmatch(r"#[\w]+", tag):
            raise ValidationError(Problem("hashtag", f"'{raw}' is not a hashtag: use letters, digits and underscores only, like #launch.",
                                          field="hashtags"))
        if tag.lower() not in seen:
            seen.add(tag.lower())
            out.append(tag)
    return tuple(out)


@dataclass(frozen=True)
class RenderedContent:
    """What is actually sent to one platform: the post with its variant applied."""

    platform: Platform
    text: str
    caption: str
    hashtags: tuple[str, ...]
    media_urls: tuple[str, ...]
    link: str
    title: str | None
    # The replies that follow `text` as a thread (the variant's thread after its first post); () for one post.
    thread: tuple[str, ...] = ()
    # Posted as the first comment under the post where the platform allows it ("" for none).
    first_comment: str = ""


@dataclass(frozen=True)
class Post:
    """One piece of content aimed at one or more accounts.

    ``account=`` is shorthand for a single target; ``accounts`` holds them all.
    """

    caption: str = ""
    account: Account | None = None
    accounts: tuple[Account, ...] = ()
    hashtags: tuple[str, ...] = ()
    call_to_action: str = ""
    link: str = ""
    media_urls: tuple[str, ...] = ()
    title: str = ""                       # YouTube video title, TikTok photo title (variants may override)
    first_comment: str = ""               # posted under the post where the platform allows it (variants may override)
    variants: Mapping[Platform, PostVariant] = field(default_factory=dict)
    schedule: Schedule | None = None
    recurrence: str | None = None         # RFC 5545 RRULE text, anchored to the schedule
    is_ai_generated: bool = False
    batch_id: str | None = None
    workspace_id: str | None = None
    id: str | None = None
    state: PostState = PostState.DRAFT
    created_by: str | None = None
    rejection_reason: str | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None
    version: int = 0
    series_id: str | None = None          # recurring posts: every occurrence shares it
    is_demo: bool = False                 # sandbox demo history (sandbox.demo): removed in one click, never pulled

    def __post_init__(self):
        targets: list[Account] = []
        for acc in ((self.account,) if self.account is not None else ()) + tuple(self.accounts or ()):
            if not isinstance(acc, Account):
                raise ValidationError(Problem("account", "Each target must be an Account.", field="accounts"))
            if all(a.id != acc.id for a in targets):
                targets.append(acc)
        object.__setattr__(self, "accounts", tuple(targets))
        object.__setattr__(self, "account", targets[0] if targets else None)
        object.__setattr__(self, "hashtags", normalize_hashtags(self.hashtags))
        object.__setattr__(self, "media_urls", clean_urls(self.media_urls))
        object.__setattr__(self, "caption", self.caption or "")
        object.__setattr__(self, "first_comment", (self.first_comment or "").strip())
        object.__setattr__(self, "title", (self.title or "").strip())
        object.__setattr__(self, "state", PostState(self.state))
        object.__setattr__(self, "variants", {Platform.parse(k): v for k, v in (self.variants or {}).items()})
        if self.schedule is not None and not isinstance(self.schedule, Schedule):
            raise ValidationError(Problem("schedule", "schedule must be a Schedule(scheduled_at=..., timezone_name=...).",
                                          field="schedule"))

    def __hash__(self) -> int:
        return hash(("post", self.id, self.version))

    # -- content
    def render(self, platform: Platform | str) -> RenderedContent:
        """The text and media this post sends to `platform` (variant applied)."""
        platform = Platform.parse(platform)
        v = self.variants.get(platform) or PostVariant()
        caption = v.caption if v.caption is not None else self.caption
        hashtags = v.hashtags if v.hashtags is not None else self.hashtags
        link = v.link if v.link is not None else self.link
        media = v.media_urls if v.media_urls is not None else self.media_urls
        parts = [caption.strip()]
        if self.call_to_action.strip():
            parts.append(self.call_to_action.strip())
        if link.strip() and not _contains_token(caption, link.strip()):
            parts.append(link.strip())
        # Hashtags the caption already contains are not added twice.
        extra = [t for t in hashtags if not _contains_token(caption, t)]
        if extra:
            parts.append(" ".join(extra))
        text = "\n\n".join(p for p in parts if p)
        thread: tuple[str, ...] = ()
        if v.thread:      # the person's own numbered posts: sent as written (hashtags, link are in them or not)
            text, thread = v.thread[0], tuple(v.thread[1:])
        comment = v.first_comment if v.first_comment is not None else self.first_comment
        return RenderedContent(platform=platform, text=text, caption=caption.strip(), hashtags=tuple(hashtags),
                               media_urls=tuple(media), link=link.strip(),
                               title=v.title if v.title is not None else (self.title or None),
                               thread=thread, first_comment=(comment or "").strip())

    @property
    def platforms(self) -> tuple[Platform, ...]:
        return tuple(dict.fromkeys(a.platform for a in self.accounts))

    @property
    def due_at(self) -> datetime | None:
        return self.schedule.scheduled_at if self.schedule else None

    # -- editorial transitions (checked against the derived status)
    def _move(self, action: str, current: PostStatus, **changes) -> "Post":
        move = check_post_move(action, current, self.id)
        if move.target is not None:
            changes.setdefault("state", move.target)
        return replace(self, **changes)

    def submit(self, current: PostStatus) -> "Post":
        return self._move("submit", current, rejection_reason=None)

    def approve(self, current: PostStatus) -> "Post":
        if self.schedule is None:
            check_post_move("approve", current, self.id)
            raise ValidationError(Problem("no_schedule", "Give the post a date and time before approving it.", field="schedule"))
        return self._move("approve", current)

    def reject(self, current: PostStatus, reason: str = "") -> "Post":
        return self._move("reject", current, rejection_reason=(reason or "").strip() or None)

    def revise(self, current: PostStatus) -> "Post":
        return self._move("revise", current)

    def cancel(self, current: PostStatus) -> "Post":
        return self._move("cancel", current)

    def edit(self, current: PostStatus, **changes) -> "Post":
        """The post with its content changed (`EDITABLE_POST_FIELDS` only: see `check_editable`)."""
        check_editable(changes)
        if "accounts" in changes and "account" not in changes:   # the new targets replace the old, first one too
            changes["account"] = None
        return self._move("edit", current, **changes)

    def back_to_approval(self, current: PostStatus) -> "Post":
        """Approved, then its content changed where posts need approval: it waits for an approver again."""
        return self._move("back_to_approval", current)

    def reschedule(self, current: PostStatus, schedule: Schedule) -> "Post":
        if current == PostStatus.EXPIRED:   # a new time puts an expired post back in the approval queue
            return self._move("renew", current, schedule=schedule)
        return self._move("reschedule", current, schedule=schedule)

    def expire(self, current: PostStatus) -> "Post":
        """Nobody approved it by its time: it is not published (a new time puts it back in the queue)."""
        return self._move("expire", current)


# What a person changes by editing a post: its content and where it goes. Everything else moves only through its
# own operation, which checks its own rule: the time through `reschedule` (no past time from the dashboard), the
# editorial state through submit/approve/reject/revise/cancel (a second person approves), and the workspace, id,
# author, version, demo mark and series never (an edit cannot move a post to another workspace or hide it as demo).
EDITABLE_POST_FIELDS = frozenset({"caption", "hashtags", "call_to_action", "link", "media_urls", "title",
                                  "first_comment", "variants", "accounts", "account"})
_FIELD_WORDS = {"schedule": "the date and time (reschedule the post instead)",
                "state": "whether it is a draft, waiting, approved or cancelled (submit, approve, reject or cancel it "
                         "instead)",
                "rejection_reason": "the rejection reason (reject the post instead)"}


def check_editable(changes: Mapping[str, Any]) -> None:
    """Raise ValidationError naming every field of `changes` an edit may not change, with where it is changed."""
    refused = sorted(set(changes) - EDITABLE_POST_FIELDS)
    if refused:
        said = [_FIELD_WORDS.get(name, name.replace("_", " ")) for name in refused]
        raise ValidationError(Problem(
            "not_editable", "Editing a post changes only its content (text, title, hashtags, call to action, link, "
            "media, first comment, each platform's own version) and its accounts; it cannot change "
            f"{', '.join(said)}.", field=refused[0]))


def post_text_problems(post: Post) -> list[Problem]:
    """Every text of `post` (and of its variants) that breaks the text rule (`text_problem`)."""
    problems = []

    def check(value: str | None, field: str, what: str, multiline: bool = False, platform: Platform | None = None):
        where = f"{platform.label} " if platform is not None else ""
        problem = text_problem(value, field=field, what=where + what, multiline=multiline,
                               platform=platform.value if platform is not None else None)
        if problem is not None:
            problems.append(problem)

    for platform, content in [(None, post)] + list(post.variants.items()):
        check(content.caption, "caption", "caption", multiline=True, platform=platform)
        check(content.title, "title", "title", platform=platform)
        check(content.link, "link", "link", platform=platform)
        check(content.first_comment, "first_comment", "first comment", multiline=True, platform=platform)
        for n, part in enumerate(getattr(content, "thread", None) or (), start=1):
            check(part, "thread", f"thread post {n}", multiline=True, platform=platform)
        for n, url in enumerate(content.media_urls or (), start=1):
            check(url, "media", f"link of media item {n}", platform=platform)
    check(post.call_to_action, "call_to_action", "call to action", multiline=True)
    return problems


# ---------------------------------------------------------------- deliveries

@dataclass(frozen=True)
class Delivery:
    """One post going to one account, with its own state and attempts."""

    post_id: str
    account_id: str
    platform: Platform
    due_at: datetime
    id: str = field(default_factory=lambda: new_id("dlv"))
    state: DeliveryState = DeliveryState.QUEUED
    attempts: int = 0
    next_attempt_at: datetime | None = None
    external_id: str | None = None
    external_url: str | None = None
    last_error: str | None = None
    last_error_code: str | None = None
    claimed_by: str | None = None
    lease_expires_at: datetime | None = None
    # Written before the platform call so a lost response can be reconciled.
    marker: str | None = None
    published_at: datetime | None = None
    updated_at: datetime | None = None
    version: int = 0
    # What an attempt got done before it stopped ({"sent": ..., "ig_container": ...}); see PublishRequest.progress.
    progress: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self):
        object.__setattr__(self, "platform", Platform.parse(self.platform))
        object.__setattr__(self, "state", DeliveryState(self.state))
        object.__setattr__(self, "progress", dict(self.progress or {}))
        for name in ("due_at", "next_attempt_at", "lease_expires_at", "published_at", "updated_at"):
            value = getattr(self, name)
            if value is not None:
                object.__setattr__(self, name, to_utc(value, name.replace("_", " ")))
        if self.next_attempt_at is None and self.state == DeliveryState.QUEUED:
            object.__setattr__(self, "next_attempt_at", self.due_at)

    # Text a platform (or an exception from its client) hands back: kept as the evidence a person reads, made
    # storable (no NUL for PostgreSQL, no lone surrogate for the driver, no control characters) rather than refused.
    _PLATFORM_TEXT = {"last_error": True, "external_id": False, "external_url": False}

    def _move(self, action: str, **changes) -> "Delivery":
        move = check_delivery_move(action, self.state, self.id)
        for name, multiline in self._PLATFORM_TEXT.items():
            if isinstance(changes.get(name), str):
                changes[name] = clean_text(changes[name], multiline=multiline)
        return replace(self, state=move.target, **changes)

    def start_publishing(self, *, runner_id: str, lease_until: datetime, marker: str | None = None) -> "Delivery":
        return self._move("start_publishing", claimed_by=runner_id, lease_expires_at=lease_until,
                          attempts=self.attempts + 1, marker=marker or self.marker)

    def mark_published(self, *, external_id: str | None, external_url: str | None, at: datetime) -> "Delivery":
        return self._move("mark_published", external_id=external_id, external_url=external_url,
                          published_at=to_utc(at), last_error=None, last_error_code=None,
                          claimed_by=None, lease_expires_at=None, next_attempt_at=None)

    def retry_later(self, *, at: datetime, error: str, code: str | None = None) -> "Delivery":
        return self._move("retry_later", next_attempt_at=to_utc(at), last_error=error, last_error_code=code,
                          claimed_by=None, lease_expires_at=None)

    def mark_failed(self, *, error: str, code: str | None = None) -> "Delivery":
        return self._move("mark_failed", last_error=error, last_error_code=code, claimed_by=None,
                          lease_expires_at=None, next_attempt_at=None)

    def needs_review(self, *, evidence: str, code: str | None = None) -> "Delivery":
        return self._move("needs_review", last_error=evidence, last_error_code=code, claimed_by=None,
                          lease_expires_at=None, next_attempt_at=None)

    def hand_to_review(self, *, evidence: str, code: str) -> "Delivery":
        """Waiting, may already be live, and no runner can check any more (its account was disconnected): a person
        looks (core.domain.lifecycle.TO_REVIEW)."""
        check_to_review(self.state, self.progress, self.id)
        return replace(self, state=DeliveryState.NEEDS_REVIEW, last_error=evidence, last_error_code=code,
                       claimed_by=None, lease_expires_at=None, next_attempt_at=None)

    # -- a person settles what waits for them (core.domain.lifecycle.PERSON_SETTLES), never what the runner has
    def confirm_published(self, *, url: str | None, at: datetime) -> "Delivery":
        """The person found it live on the platform (from needs review)."""
        check_person_settle("confirm_published", self.state, self.progress, self.id)
        return self.mark_published(external_id=self.external_id, external_url=url or self.external_url, at=at)

    def give_up(self, *, error: str) -> "Delivery":
        """The person decided it will not go out (from needs review; never once its post is made)."""
        check_person_settle("give_up", self.state, self.progress, self.id)
        return self.mark_failed(error=error, code="given_up")

    def try_again(self, *, at: datetime) -> "Delivery":
        """The person checked it is not on the platform: publish it again from `at`, with a fresh set of attempts
        and no earlier send to look for (what an earlier attempt made, a thread's first post, is kept)."""
        check_person_settle("try_again", self.state, self.progress, self.id)
        return replace(self.requeue(at=at), attempts=0, progress={**self.progress, "sent": ""})

    def __hash__(self) -> int:  # the progress dict makes the generated hash fail; a delivery is its id and version
        return hash(("delivery", self.id, self.version))

    def defer(self, *, until: datetime, reason: str, code: str | None = None) -> "Delivery":
        """Not now, and not the platform's fault (daily cap, burst limit): back in the queue, the attempt given back."""
        return self._move("defer", claimed_by=None, lease_expires_at=None, attempts=max(0, self.attempts - 1),
                          next_attempt_at=to_utc(until), last_error=reason, last_error_code=code)

    def release(self) -> "Delivery":
        # The platform was never called: give the attempt back.
        return self._move("release", claimed_by=None, lease_expires_at=None,
                          attempts=max(0, self.attempts - 1), next_attempt_at=self.next_attempt_at or self.due_at)

    def requeue(self, *, at: datetime) -> "Delivery":
        return self._move("requeue", next_attempt_at=to_utc(at), last_error=None, last_error_code=None)

    def cancel(self) -> "Delivery":
        return self._move("cancel", next_attempt_at=None, claimed_by=None, lease_expires_at=None)

    def reschedule(self, *, due_at: datetime) -> "Delivery":
        due = to_utc(due_at)
        return self._move("reschedule", due_at=due, next_attempt_at=due)


def post_status(post: Post, deliveries: list[Delivery] | tuple[Delivery, ...]) -> PostStatus:
    return derive_post_status(post.state, (d.state for d in deliveries))


@dataclass(frozen=True)
class OAuthState:
    """One "Connect account" attempt: single-use, short-lived, bound to a user and a workspace.

    Only a hash of the state value is stored; the PKCE verifier is a secret (encrypted by the SQL store).
    """

    state_hash: str
    user_id: str
    workspace_id: str
    platform: Platform
    expires_at: datetime
    code_verifier: str | None = field(default=None, repr=False)
    created_at: datetime | None = None
    used_at: datetime | None = None
    account_id: str | None = None        # set when reconnecting a known account

    def __post_init__(self):
        object.__setattr__(self, "platform", Platform.parse(self.platform))
        object.__setattr__(self, "expires_at", to_utc(self.expires_at, "expiry"))


# ---------------------------------------------------------------- batches, activity, notifications

class BatchState(StrEnum):
    GENERATING = "generating"
    PENDING_APPROVAL = "pending_approval"
    APPROVED = "approved"
    PARTIALLY_APPROVED = "partially_approved"
    REJECTED = "rejected"


@dataclass(frozen=True)
class Batch:
    """A generated week of posts awaiting approval."""

    workspace_id: str
    week_start: date
    id: str = field(default_factory=lambda: new_id("batch"))
    state: BatchState = BatchState.PENDING_APPROVAL
    prompt: str = ""
    created_at: datetime | None = None
    decided_at: datetime | None = None
    decided_by: str | None = None

    def __post_init__(self):
        object.__setattr__(self, "state", BatchState(self.state))


@dataclass(frozen=True)
class ActivityEvent:
    """Who or what did what, when, and why. Never holds a token."""

    action: str
    subject_type: str
    subject_id: str
    at: datetime
    actor: str = "system"            # "user:<id>", "runner:<id>", "system"
    workspace_id: str | None = None
    from_state: str | None = None
    to_state: str | None = None
    reason: str | None = None
    details: Mapping[str, Any] = field(default_factory=dict)
    id: str = field(default_factory=lambda: new_id("evt"))

    def __post_init__(self):
        object.__setattr__(self, "at", to_utc(self.at, "event time"))


@dataclass(frozen=True)
class Notification:
    workspace_id: str
    kind: str                         # "approval_needed", "publish_failed", "reconnect_needed", ...
    title: str
    body: str = ""
    created_at: datetime | None = None
    user_id: str | None = None        # None: everyone in the workspace who should know
    subject_id: str | None = None
    read_at: datetime | None = None
    sent_at: datetime | None = None
    id: str = field(default_factory=lambda: new_id("ntf"))
