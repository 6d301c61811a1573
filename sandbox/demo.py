"""Demo history for sandbox mode: 90 days of a brand's posting, so a newcomer's Analytics page is alive at once.

`seed_demo` writes, for the workspace's sandbox accounts (connecting three through the emulator's real consent
flow when it has none: Instagram, LinkedIn and X as "demo_brand", marked ``meta["demo"]``):

- published posts over the last `days` days: captions with hashtags by topic, text, image, carousel and video
  posts (media on the emulator's media server, ``/_media/sample.*``), some AI-generated, some through approval
  (``post.submitted``, ``post.approved``, a few ``post.rejected`` first and approved once rewritten);
- their deliveries as the runner leaves them: published with a small lateness, a few after a retry, a few failed
  with the platforms' own error codes, with the runner's events;
- metric snapshots on the runner's schedule (hourly for the first 48 hours after publication, then daily up to
  30 days, never after `now`), the values from the emulator's growth model (`sandbox.insights.final_metrics` and
  `progress`) with each platform's own metric keys (X has no reach, LinkedIn no saves);
- a daily follower count per account, growing (and ending at what the emulator says the account has now, so
  the real pulls that follow carry on from it).

The planted pattern: posts published on Tuesdays and Thursdays between 18:00 and 19:00 in the workspace's own
time zone reach more people and get clearly more engagement per person reached (`PLANTED`); the best-time
analysis should find it. Every row is marked demo (``is_demo``) and written in one transaction
(`core.store.demo.DemoStore.add_demo_history`); a second call finds the demo there and writes nothing.
Removing it is `core.services.demo.remove_demo`.

Everything random is drawn from generators keyed by `DEMO_SEED` and the day's offset from `now`, so the same
`now` and accounts give the same history (tests compare exact numbers).
"""
from __future__ import annotations

import random
from dataclasses import dataclass, field, replace
from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

from core.domain import Account, AccountStatus, ActivityEvent, Delivery, Post, Schedule, new_id
from core.domain.catalog import Platform
from core.domain.lifecycle import DeliveryState, PostState
from core.domain.timeutil import to_utc
from core.infra.settings import Settings
from core.rules.permissions import Action, Actor, check
from core.services.demo import DEMO_META_KEY   # account.meta["demo"]: connected for the demo, removed with it
from core.store import AccountSnapshot, MetricSnapshot, PostStore
from sandbox import insights

UTC = timezone.utc
DEMO_SEED = 20261203
DEMO_HANDLE = "demo_brand"
DEMO_PLATFORMS = (Platform.INSTAGRAM, Platform.LINKEDIN, Platform.X)
MAX_ACCOUNTS = 5                       # a workspace with more sandbox accounts gets history for its first five

# (weekday 0=Mon, local hour): the best slots, planted. Neighbouring hours on those days do a little better too.
PLANTED = frozenset({(1, 18), (3, 18)})
PLANTED_REACH, PLANTED_APPEAL = 2.0, 2.4
NEAR_REACH, NEAR_APPEAL = 1.1, 1.15
# When the brand posts (local time); minutes on the quarter hour as people schedule.
POSTING_HOURS = (9, 12, 15, 18, 20)
HOUR_WEIGHTS = (3, 3, 2, 3, 2)
# Chance of a post on a given day, by platform (weekday, weekend).
POST_CHANCE = {Platform.INSTAGRAM: (0.75, 0.55), Platform.LINKEDIN: (0.65, 0.1), Platform.X: (0.85, 0.6)}
DEFAULT_CHANCE = (0.6, 0.4)
# Content types each platform takes in the demo, with weights.
CONTENT_TYPES = {Platform.INSTAGRAM: (("image", 5), ("carousel", 3), ("video", 2)),
                 Platform.LINKEDIN: (("text", 4), ("image", 4), ("carousel", 1), ("video", 1)),
                 Platform.X: (("text", 6), ("image", 3), ("video", 1)),
                 Platform.YOUTUBE: (("video", 1),), Platform.TIKTOK: (("video", 4), ("carousel", 1))}
DEFAULT_TYPES = (("text", 3), ("image", 4), ("video", 1))
TYPE_APPEAL = {"text": 0.9, "image": 1.0, "carousel": 1.15, "video": 1.1}
TYPE_REACH = {"text": 0.85, "image": 1.0, "carousel": 1.05, "video": 1.3}

# The runner's insight schedule (core.services.insights): hourly while young, then daily.
HOURLY_FOR = timedelta(hours=48)
DAILY_UNTIL = timedelta(days=30)
PULL_MINUTE = 2                        # the hourly pull lands two minutes past the hour
DAILY_PULL_HOUR = 4                    # daily pulls and follower counts at 04:02 UTC

# Topics: caption openings, hashtags, how much people like them.
TOPICS = {
    "launch": (1.1, ("New this week: the {product}. {detail}", "It's here. Meet the {product}: {detail}",
                     "Say hello to the {product}. {detail}"),
               ("#newrelease", "#smallbusiness", "#coffee")),
    "behind": (1.2, ("Behind the scenes at the roastery: {detail}", "A morning with our roasting team. {detail}",
                     "How a batch of {product} is made, start to finish. {detail}"),
               ("#behindthescenes", "#roastery", "#craft")),
    "tips": (1.0, ("Brewing tip: {tip}", "Quick tip for better coffee at home: {tip}",
                   "Three things we wish we'd known sooner. First: {tip}"),
             ("#coffeetips", "#homebrew", "#pourover")),
    "community": (1.05, ("Thank you for 5 years of mornings together. {detail}",
                         "Your photos this week made our day. {detail}", "Meet Sam, who runs our Leeds café. {detail}"),
                  ("#community", "#coffeelovers")),
    "promo": (0.8, ("This weekend only: 20% off the {product}. {detail}",
                    "Free shipping on every order until Sunday. {detail}"),
              ("#sale", "#coffee", "#deal")),
}
PRODUCTS = ("Ethiopia Guji single origin", "Autumn Blend", "cold brew kit", "Colombia decaf", "espresso sampler",
            "ceramic dripper")
DETAILS = ("Roasted on Monday, in your cup by Thursday.", "Notes of cherry, cocoa and a long sweet finish.",
           "Link in bio.", "Tell us how you brew it.", "Limited batch: 300 bags.", "Grown at 2,000 m by the Ayele family.")
TIPS = ("weigh your coffee, 60 g per litre is a good start.", "let boiled water rest 30 seconds before pouring.",
        "grind right before brewing; aroma fades in minutes.", "rinse paper filters to keep the taste clean.")
REJECTIONS = ("The discount is not confirmed yet; hold the price.", "Please use the new product photo.",
              "Tone is too salesy for LinkedIn; rewrite the opening.")
# Failures the platforms really answer (code, words), by platform; a delivery that failed after retries says so.
FAILURES = {Platform.INSTAGRAM: ("2207009", "Instagram refused the picture: its aspect ratio is not supported "
                                            "(2207009). Crop it to between 4:5 and 1.91:1."),
            Platform.LINKEDIN: ("DUPLICATE_POST", "LinkedIn refused the post as a duplicate of a recent one."),
            Platform.X: ("duplicate", "X refuses duplicate posts: this exact text was already posted.")}
DEFAULT_FAILURE = ("429", "The platform kept rate limiting this account; gave up after 4 attempts.")
RETRY_REASON = "The platform had a temporary problem (503); trying again in 1 minute."


@dataclass(frozen=True)
class DemoSummary:
    """What `seed_demo` did (seeded False: the workspace already had demo history; nothing was written)."""

    seeded: bool
    accounts: tuple[Account, ...] = ()
    connected: int = 0                 # accounts connected for the demo
    posts: int = 0
    deliveries: int = 0
    snapshots: int = 0
    account_snapshots: int = 0
    events: int = 0
    planted: str = ""                  # the planted best slots, in words
    start: datetime | None = None
    end: datetime | None = None


def planted_words(timezone_name: str) -> str:
    return f"Tuesdays and Thursdays, 18:00–19:00 ({timezone_name})"


def seed_demo(store: PostStore, settings: Settings, *, actor: Actor, workspace_id: str, user_id: str,
              now: datetime, days: int = 90) -> DemoSummary:
    """Write `days` days of demo history ending at `now` for the workspace's sandbox accounts (see the module)."""
    check(actor, Action.EDIT_POSTS, workspace_id, subject="workspace")
    if not settings.sandbox:
        raise ValueError("Demo data is only for sandbox mode; this Outpost publishes to the real platforms.")
    if not 1 <= int(days) <= 365:
        raise ValueError("Demo history covers between 1 and 365 days.")
    now = to_utc(now, "now")
    if store.has_demo_data(workspace_id):
        return DemoSummary(seeded=False)
    workspace = store.get_workspace(workspace_id)
    accounts, connected = _demo_accounts(store, settings, actor, workspace_id, user_id)
    history = DemoHistory(workspace_id=workspace_id, tz=workspace.timezone_name, user_id=user_id, now=now,
                          days=int(days), media_base=settings.sandbox_url.rstrip("/") + "/_media")
    for account in accounts:
        history.add_account(account, _followers_now(settings, account, now))
    written = store.add_demo_history(workspace_id, posts=history.posts, snapshots=history.snapshots,
                                     account_snapshots=history.account_snapshots, events=history.events)
    if not written:
        return DemoSummary(seeded=False)
    return DemoSummary(seeded=True, accounts=tuple(accounts), connected=connected, posts=len(history.posts),
                       deliveries=sum(len(d) for _, d in history.posts), snapshots=len(history.snapshots),
                       account_snapshots=len(history.account_snapshots), events=len(history.events),
                       planted=planted_words(workspace.timezone_name), start=now - timedelta(days=int(days)), end=now)


def auto_seed_demo(store: PostStore, settings: Settings, *, actor: Actor, workspace_id: str, user_id: str,
                   now: datetime, days: int = 90) -> DemoSummary | None:
    """What the Analytics page calls on every visit: seed the demo only on a first visit in sandbox mode, by
    someone who may write posts (and connect accounts, when the workspace has none), to a workspace with no
    metric history and no demo before (status 'none': once removed it never comes back by itself).
    None when it did not seed."""
    from core.services.demo import demo_status
    if not settings.sandbox or not actor.can(Action.EDIT_POSTS, workspace_id):
        return None
    if demo_status(store, actor=actor, workspace_id=workspace_id) != "none":
        return None
    if store.list_metric_snapshots(workspace_id=workspace_id, limit=1):
        return None
    usable = [a for a in store.list_accounts(workspace_id=workspace_id) if a.status != AccountStatus.REVOKED]
    if not usable and not actor.can(Action.CONNECT_ACCOUNTS, workspace_id):
        return None
    summary = seed_demo(store, settings, actor=actor, workspace_id=workspace_id, user_id=user_id, now=now, days=days)
    return summary if summary.seeded else None


def _demo_accounts(store: PostStore, settings: Settings, actor: Actor, workspace_id: str,
                   user_id: str) -> tuple[list[Account], int]:
    usable = [a for a in store.list_accounts(workspace_id=workspace_id) if a.status != AccountStatus.REVOKED]
    if usable:
        return sorted(usable, key=lambda a: (a.connected_at or datetime.min.replace(tzinfo=UTC), a.id))[:MAX_ACCOUNTS], 0
    check(actor, Action.CONNECT_ACCOUNTS, workspace_id, subject="workspace")
    from sandbox.seed import connect_accounts
    out = []
    for platform in DEMO_PLATFORMS:
        account = connect_accounts(store, settings, user_id=user_id, workspace_id=workspace_id, platform=platform,
                                   handles=[DEMO_HANDLE])[0]
        out.append(store.save_account(replace(account, meta={**dict(account.meta or {}), DEMO_META_KEY: True})))
    return out, len(out)


def _followers_now(settings: Settings, account: Account, now: datetime) -> int | None:
    """What the emulator says the account has now (None when it cannot be asked: no tokens, emulator down)."""
    import httpx

    from core.platforms.registry import build_adapter
    from core.services.connect import credentials
    if not account.oauth_token:
        return None
    try:
        with httpx.Client(timeout=3, trust_env=False) as client:
            return build_adapter(account.platform, settings, client).account_metrics(credentials(account)).followers
    except Exception:   # the demo does not depend on it: the growth model gives a count instead
        return None


def _pick(rng: random.Random, weighted) -> str:
    names, weights = zip(*weighted)
    return rng.choices(names, weights=weights)[0]


def _metric_table(account: Account, video: bool):
    """The platform's metric table (`core.platforms.metric_names`) its adapter reads this kind of post with."""
    from core.platforms.metric_names import TABLES
    platform = account.platform.value
    kind = "post"
    if platform == "facebook" and video:
        kind = "video"
    elif platform == "linkedin" and not str(account.external_id or "").startswith("urn:li:organization:"):
        kind = "member"
    return TABLES[(platform, kind)]


def _metric_values(table, final: dict[str, float], p: float, video: bool) -> tuple[dict, dict]:
    """(normalised metrics, the platform's own names) at progress `p`: the model's numbers put under the names the
    platform reports them by (a sum split across its parts, X's retweets and quotes), then normalised by the same
    table the adapter uses, so a demo snapshot has exactly the keys a real one has."""
    raw: dict[str, int] = {}
    for key, names in table.keys.items():
        if key == "video_views" and not video:
            continue
        value = int(final[key] * p)
        if table.combine.get(key) == "first" or len(names) == 1:
            raw.setdefault(names[0], value)
            continue
        parts = [int(value * 0.75)] + [0] * (len(names) - 1)
        parts[-1] += value - sum(parts)
        for name, part in zip(names, parts):
            raw.setdefault(name, part)
    values = table.normalise(raw)
    nested: dict = {}
    for name, value in raw.items():
        head, _, tail = name.partition(".")
        if tail:
            nested.setdefault(head, {})[tail] = value
        else:
            nested[name] = value
    return values, nested


def _external(platform: Platform, rng: random.Random, handle: str) -> tuple[str, str]:
    """A public id and link shaped like the platform's (the emulator's own are shaped the same)."""
    if platform == Platform.X:
        tweet = str(rng.randrange(10 ** 18, 2 * 10 ** 18))
        return tweet, f"https://x.com/{handle.lstrip('@')}/status/{tweet}"
    if platform == Platform.LINKEDIN:
        urn = f"urn:li:share:{rng.randrange(7 * 10 ** 18, 8 * 10 ** 18)}"
        return urn, f"https://www.linkedin.com/feed/update/{urn}/"
    if platform == Platform.INSTAGRAM:
        code = "".join(rng.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-") for _ in range(11))
        return str(rng.randrange(17 * 10 ** 15, 18 * 10 ** 15)), f"https://www.instagram.com/p/{code}/"
    ident = f"demo{rng.randrange(10 ** 12, 10 ** 13)}"
    return ident, f"https://{platform.value}.example/{handle.lstrip('@')}/{ident}"


@dataclass
class DemoHistory:
    """The rows of one workspace's demo history, built account by account (nothing is written here)."""

    workspace_id: str
    tz: str
    user_id: str
    now: datetime
    days: int
    media_base: str
    posts: list[tuple[Post, list[Delivery]]] = field(default_factory=list)
    snapshots: list[MetricSnapshot] = field(default_factory=list)
    account_snapshots: list[AccountSnapshot] = field(default_factory=list)
    events: list[ActivityEvent] = field(default_factory=list)
    _n: int = 0

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.tz)

    def add_account(self, account: Account, followers_now: int | None) -> None:
        platform = account.platform
        local_today = self.now.astimezone(self.zone).date()
        key = f"{platform.value}:{account.handle}"
        # Followers grow at a steady daily rate, ending at what the platform says now (or the growth model's
        # count for an account of this size when it cannot be asked).
        rate = _rng("growth", key).uniform(0.0008, 0.0025)
        end = followers_now if followers_now is not None else int(
            insights.followers(DEMO_SEED, platform.value, key, 0.0, 0.0) * (1 + rate * self.days))
        start = end / (1 + rate * self.days)
        growth = start * rate
        for offset in range(self.days, -1, -1):
            self._day(account, local_today - timedelta(days=offset), offset, start, growth)
        self._followers(account, end, growth)

    def _audience(self, start: float, growth: float, at: datetime) -> int:
        return int(start + growth * max(0.0, (at - (self.now - timedelta(days=self.days))).total_seconds() / 86400))

    def _day(self, account: Account, day: date, offset: int, start: float, growth: float) -> None:
        platform = account.platform
        rng = _rng("day", platform.value, account.handle, offset)
        weekday = day.weekday()
        chance = POST_CHANCE.get(platform, DEFAULT_CHANCE)[1 if weekday >= 5 else 0]
        planted_day = any(weekday == d for d, _ in PLANTED)
        if rng.random() >= (max(chance, 0.7) if planted_day else chance):
            return
        hour = 18 if planted_day and rng.random() < 0.6 else rng.choices(POSTING_HOURS, weights=HOUR_WEIGHTS)[0]
        local = datetime.combine(day, time(hour, rng.choice((0, 0, 0, 15, 30, 45))), tzinfo=self.zone)
        due = local.astimezone(UTC)
        if not self.now - timedelta(days=self.days) <= due <= self.now - timedelta(hours=1):
            return
        self._n += 1
        n = self._n
        topic = rng.choice(sorted(TOPICS))
        appeal_topic, openings, tags = TOPICS[topic]
        kind = _pick(rng, CONTENT_TYPES.get(platform, DEFAULT_TYPES))
        caption = rng.choice(openings).format(product=rng.choice(PRODUCTS), detail=rng.choice(DETAILS),
                                              tip=rng.choice(TIPS))
        hashtags = tuple(rng.sample(tags, k=min(len(tags), rng.randint(1, 3))))
        media = self._media(kind, rng, n)
        ai = rng.random() < 0.3
        post_id = new_id("post")
        author = f"user:{self.user_id}"
        created = due - timedelta(days=rng.uniform(0.5, 6.0))
        approval = rng.random()
        ws = self.workspace_id
        events: list[ActivityEvent] = []

        def event(action: str, at: datetime, before, after, actor: str = author, **extra) -> None:
            events.append(ActivityEvent(action=action, subject_type="post", subject_id=post_id, at=at, actor=actor,
                                        workspace_id=ws, from_state=before, to_state=after,
                                        details={"demo": True}, **extra))

        post = Post(caption=caption, accounts=(account,), hashtags=hashtags, media_urls=media,
                    link="https://demo-brand.example/shop" if platform == Platform.LINKEDIN and rng.random() < 0.4 else "",
                    schedule=Schedule(scheduled_at=due, timezone_name=self.tz), is_ai_generated=ai, workspace_id=ws,
                    id=post_id, state=PostState.APPROVED, created_by=self.user_id, created_at=created, is_demo=True)
        # Through approval, a few sent back once first. No demo post is left rejected (or in any state a person
        # could pick up again): demo history is only read, never continued.
        if approval < 0.45:
            event("post.submitted", created, None, "pending_approval")
            at = created
            if approval < 0.10:
                at += timedelta(hours=rng.uniform(1, 8))
                event("post.rejected", at, "pending_approval", "rejected", reason=rng.choice(REJECTIONS))
                at += timedelta(hours=rng.uniform(1, 6))
                event("post.submitted", at, "draft", "pending_approval")
            at = min(at + timedelta(hours=rng.lognormvariate(1.2, 0.9)), due - timedelta(minutes=30))
            event("post.approved", at, "pending_approval", "scheduled", actor=author)
        else:
            event("post.scheduled", created, None, "scheduled")

        delivery, published_at = self._delivery(account, post_id, due, rng, events)
        self.posts.append((post, [delivery]))
        self.events += events
        if published_at is not None:
            audience = self._audience(start, growth, published_at)
            self._snapshots(account, delivery, published_at, audience, kind, appeal_topic, n)

    def _media(self, kind: str, rng: random.Random, n: int) -> tuple[str, ...]:
        base = self.media_base
        if kind == "image":
            return (f"{base}/sample.jpg?w=1080&h=1350&demo={n}",)
        if kind == "carousel":
            return tuple(f"{base}/sample.jpg?w=1080&h=1080&demo={n}-{i}" for i in range(rng.randint(3, 5)))
        if kind == "video":
            return (f"{base}/sample.mp4?seconds={rng.choice((8, 15, 30))}&demo={n}",)
        return ()

    def _delivery(self, account: Account, post_id: str, due: datetime, rng: random.Random,
                  events: list[ActivityEvent]) -> tuple[Delivery, datetime | None]:
        platform = account.platform
        runner = "runner:outpost-demo"
        delivery_id = new_id("dlv")

        def event(action: str, at: datetime, after: str, reason: str | None = None) -> None:
            events.append(ActivityEvent(action=action, subject_type="delivery", subject_id=delivery_id, at=at,
                                        actor=runner, workspace_id=self.workspace_id, from_state="publishing",
                                        to_state=after, reason=reason,
                                        details={"post_id": post_id, "platform": platform.value, "demo": True}))

        fate = rng.random()
        lateness = timedelta(seconds=min(rng.lognormvariate(1.6, 0.8), 120.0))   # mostly 2–15 s
        if fate < 0.025:                                                          # failed
            code, words = FAILURES.get(platform, DEFAULT_FAILURE)
            event("delivery.failed", due + lateness, "failed", words)
            return Delivery(post_id=post_id, account_id=account.id, platform=platform, due_at=due, id=delivery_id,
                            state=DeliveryState.FAILED, attempts=1, last_error=words, last_error_code=code,
                            marker=delivery_id), None
        attempts = 1
        if fate < 0.09:                                                           # one retry, two for a few
            attempts = 3 if fate < 0.04 else 2
            at = due + lateness
            for delay in (60, 300)[:attempts - 1]:
                event("delivery.retry_wait", at, "retry_wait", RETRY_REASON)
                at += timedelta(seconds=delay + rng.uniform(0.5, 4.0))
            lateness = at - due
        published = due + lateness
        external_id, url = _external(platform, rng, account.handle)
        event("delivery.published", published, "published")
        return Delivery(post_id=post_id, account_id=account.id, platform=platform, due_at=due, id=delivery_id,
                        state=DeliveryState.PUBLISHED, attempts=attempts, external_id=external_id,
                        external_url=url, published_at=published, marker=delivery_id), published

    def _snapshots(self, account: Account, d: Delivery, published: datetime, audience: int, kind: str,
                   appeal_topic: float, n: int) -> None:
        local = published.astimezone(self.zone)
        slot = (local.weekday(), local.hour)
        near = any(slot[0] == day and abs(slot[1] - hour) == 1 for day, hour in PLANTED)
        reach_boost = PLANTED_REACH if slot in PLANTED else NEAR_REACH if near else 1.0
        appeal_boost = PLANTED_APPEAL if slot in PLANTED else NEAR_APPEAL if near else 1.0
        timing = (insights.WEEKDAY_FACTOR[local.weekday()] * insights.HOUR_FACTOR[local.hour]
                  * reach_boost * TYPE_REACH[kind])
        video = kind == "video"
        final = insights.final_metrics(DEMO_SEED, account.platform.value, f"demo-{n}", published.timestamp(), audience,
                                       video=video, timing=timing, appeal=appeal_boost * appeal_topic * TYPE_APPEAL[kind])
        table = _metric_table(account, video)
        for taken in pull_times(published, self.now):
            values, raw = _metric_values(table, final, insights.progress((taken - published).total_seconds()), video)
            self.snapshots.append(MetricSnapshot(
                delivery_id=d.id, post_id=d.post_id, account_id=account.id, workspace_id=self.workspace_id,
                platform=account.platform.value, external_id=d.external_id, taken_at=taken, metrics=values, raw=raw,
                is_demo=True))

    def _followers(self, account: Account, end: int, growth: float) -> None:
        first = (self.now - timedelta(days=self.days)).replace(hour=DAILY_PULL_HOUR, minute=PULL_MINUTE, second=0,
                                                               microsecond=0)
        rng = _rng("followers", account.platform.value, account.handle)
        taken = first if first >= self.now - timedelta(days=self.days) else first + timedelta(days=1)
        while taken <= self.now:
            days_left = (self.now - taken).total_seconds() / 86400
            value = end - growth * days_left + rng.gauss(0, growth * 0.3)
            self.account_snapshots.append(AccountSnapshot(
                account_id=account.id, workspace_id=self.workspace_id, platform=account.platform.value,
                taken_at=taken, followers=max(0, int(value)), raw={"followers_count": max(0, int(value))},
                is_demo=True))
            taken += timedelta(days=1)


def pull_times(published: datetime, now: datetime) -> list[datetime]:
    """When the runner takes a delivery's snapshots: every hour (two past) for its first 48 hours, then daily at
    04:02 UTC until it is 30 days old; none after `now`."""
    out = []
    t = published.replace(minute=PULL_MINUTE, second=0, microsecond=0)
    if t <= published:
        t += timedelta(hours=1)
    while t - published <= HOURLY_FOR and t <= now:
        out.append(t)
        t += timedelta(hours=1)
    t = (published + HOURLY_FOR).replace(hour=DAILY_PULL_HOUR, minute=PULL_MINUTE, second=0, microsecond=0)
    if t <= published + HOURLY_FOR:
        t += timedelta(days=1)
    while t - published <= DAILY_UNTIL and t <= now:
        out.append(t)
        t += timedelta(days=1)
    return out


def _rng(*key: object) -> random.Random:
    return random.Random(":".join(map(str, (DEMO_SEED, *key))))


__all__ = ["seed_demo", "auto_seed_demo", "DemoSummary", "DemoHistory", "PLANTED", "DEMO_META_KEY", "DEMO_HANDLE", "pull_times",
           "planted_words"]
