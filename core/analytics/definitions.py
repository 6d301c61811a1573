"""Every derived analytics figure, defined once: the text the dashboard shows beside it, and its unit.

`core.analytics.queries` computes exactly what these say; a test keeps the two together. Units:
``count``; ``ratio`` (0 to 1, shown as a percentage); ``percent`` (already multiplied by 100);
``points`` (percentage points: the difference of two rates × 100); ``seconds``; ``hours``. A figure that cannot
be computed is "not available" (NULL / NaN), never 0.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from core.platforms import metric_names as _metric_names


@dataclass(frozen=True)
class Definition:
    """One derived figure: its key (a column or KPI name), its label, its formula in words, its unit."""

    name: str
    label: str
    formula: str
    unit: str


@dataclass(frozen=True)
class SeriesNote:
    """A series whose meaning changed on one platform from a given day (the page shows it beside the chart)."""

    platform: str
    series: str
    since: date
    note: str


# A post younger than this is still gathering engagements and would look worse than it is: the best-time model
# learns only from older posts and the Top/Bottom ranking leaves younger ones out (one constant for both).
SETTLE = timedelta(days=2)
SETTLE_WORDS = "2 days"
# KPIs that are rates: their change is the difference in percentage points ("+2.0 pts"), not a relative %.
RATE_KPIS = frozenset({"engagement_rate", "success_rate"})

# The tolerance for "on time": published at most this long after the due time (early counts as on time).
ON_TIME_SECONDS = 60

_ITEMS = (
    Definition("figures", "A post's figures",
               "Each published post's metrics are its latest snapshot (the last one taken). Posts count in the "
               "period they were published in, with the figures they have now. A 'post' here is one post on one "
               "account (a delivery).", "count"),
    Definition("engagements", "Engagements",
               "likes + comments + shares + saves, adding the parts the platform reports; a part the platform "
               "does not report adds nothing. If it reports none of the four, engagements are not available.",
               "count"),
    Definition("engagement_rate", "Engagement rate",
               "engagements ÷ reach; where reach is missing or 0, engagements ÷ views ('rate basis' says which). "
               "For a group of posts: the sum of their engagements ÷ the sum of their bases, over the posts that "
               "have a rate. Not available when no post has both engagements and reach or views.", "ratio"),
    Definition("avg_engagement_rate", "Average engagement rate",
               "The mean of each post's own engagement rate (reach, or views where reach is missing or 0), over "
               "the posts that have one.", "ratio"),
    Definition("avg_engagements", "Average engagements",
               "The mean of each post's engagements, over the posts that report any.", "count"),
    Definition("rate_basis", "Rate basis",
               "'reach' if the post's engagement rate was divided by its reach, 'views' if by its views (reach "
               "missing or 0), empty if it has no rate.", "text"),
    Definition("followers", "Followers",
               "The sum, over the accounts shown, of each account's latest follower count taken before the "
               "period's end (an account with no count yet is left out). The previous figure is the same at the "
               "previous period's end.", "count"),
    Definition("follower_change", "Follower change",
               "An account's last count of the day minus its previous count shown (the last one before the day, "
               "possibly before the period); not available for its first count ever.", "count"),
    Definition("reach", "Reach",
               "The sum of the latest reach of the posts published in the period, over the posts that report it "
               "(unique accounts per post, so a person reached by two posts counts twice).", "count"),
    Definition("views", "Views",
               "The sum of the latest views of the posts published in the period, over the posts that report it.",
               "count"),
    Definition("posts_published", "Posts published",
               "Posts published in the period, each account's copy counted once: a post sent to 3 accounts counts "
               "3. (Workflow's 'Posts published (on any account)' counts that post once.)", "count"),
    Definition("workflow_published", "Posts published (on any account)",
               "Posts published in the period on at least one account, each counted once however many accounts it "
               "went to (the overview's 'Posts published' counts each account's copy).", "count"),
    Definition("success_rate", "Publishing success rate",
               "Of the posts due in the period: published ÷ (published + failed + needs review). Posts still "
               "waiting and cancelled ones do not count.", "ratio"),
    Definition("change_pct", "Change (%)",
               "(this period − previous period) ÷ previous period × 100, the previous period being the same "
               "length just before; when the period ends after now, the period so far against the same stretch "
               "from the previous period's start (today 00:00 to now against yesterday 00:00 to the same time). "
               "Not available when the previous figure is 0 or not available, and for rates (see change_pts).",
               "percent"),
    Definition("change_pts", "Change (percentage points)",
               "For a rate (engagement rate, publishing success rate): this period's rate − the previous period's, "
               "in percentage points (96.3% then 98.3% is +2.0 pts). Not available when either rate is not "
               "available.", "points"),
    Definition("settling", "Settling time",
               f"A post published less than {SETTLE_WORDS} ago is still gathering engagements, so it is left out "
               "of the Top and Bottom ranking and of the best time to post until then.", "text"),
    Definition("on_time_rate", "On-time rate",
               f"Of the posts due in the period: those published at most {ON_TIME_SECONDS} s after their due time "
               "÷ (published + failed + needs review).", "ratio"),
    Definition("lateness", "Lateness",
               "published time − due time in seconds, for the posts due in the period and published; p50 is the "
               "median, p95 the time 95 % of them beat.", "seconds"),
    Definition("retries", "Retries",
               "Publishing attempts beyond the first, summed over the posts due in the period.", "count"),
    Definition("due", "Due", "Posts due in the period, except cancelled ones.", "count"),
    Definition("generated", "Generated", "AI-generated posts created in the period.", "count"),
    Definition("approved", "Approved",
               "Posts whose last approval decision in the period was 'approved'.", "count"),
    Definition("rejected", "Rejected",
               "Posts whose last approval decision in the period was 'rejected'.", "count"),
    Definition("approval_rate", "Approval rate", "approved ÷ (approved + rejected).", "ratio"),
    Definition("median_hours_to_approve", "Time to approve",
               "The median, over the posts approved in the period, of the hours from the post's creation to its "
               "approval.", "hours"),
    Definition("best_time", "Best time grid",
               "Posts by the weekday and hour they were published, in the workspace's timezone (days and hours "
               "follow daylight-saving changes).", "count"),
    Definition("hashtag", "Hashtag",
               "Each hashtag of a published post counts that post once; hashtags are compared without case.",
               "text"),
    Definition("total_reach", "Total reach",
               "The sum of the latest reach of the posts with the hashtag, over those that report it.", "count"),
    Definition("failures", "Failures",
               "Posts due in the period that failed, by platform and by the platform's error code "
               "('unknown' when none was recorded).", "count"),
)

DEFINITIONS: dict[str, Definition] = {d.name: d for d in _ITEMS}

# Where a platform changed what a series means: core.platforms.metric_names keeps these changes once, with the
# platforms' own names (Instagram views from 2025-04-21; Facebook views and reach from 2025-11-15).
SERIES_NOTES: tuple[SeriesNote, ...] = tuple(
    SeriesNote(c.platform, c.key, c.on,
               f"{c.platform.capitalize()} '{c.key}' means {c.after} from {c.on:%d %B %Y}; before that it meant "
               f"{c.before}, so figures on either side are not comparable.")
    for c in _metric_names.CHANGES)


def definition(name: str) -> Definition:
    """The definition called `name` (KeyError names the ones that exist)."""
    try:
        return DEFINITIONS[name]
    except KeyError:
        raise KeyError(f"no analytics definition {name!r}; known: {', '.join(sorted(DEFINITIONS))}") from None


def series_notes(platforms: tuple[str, ...] | list[str] = (), start: date | None = None,
                 end: date | None = None) -> list[SeriesNote]:
    """The notes for these platforms (all when empty), within [start, end] when given: where a chart marks a change."""
    return [n for n in SERIES_NOTES if (not platforms or n.platform in platforms)
            and (start is None or n.since >= start) and (end is None or n.since <= end)]


def metric_sources(platform: str) -> dict[str, tuple[str, ...]]:
    """The platform's own names behind each Outpost metric ({} when unknown), e.g. instagram saves <- ('saved',)."""
    merged: dict[str, tuple[str, ...]] = {}
    for (slug, _kind), table in _metric_names.TABLES.items():
        if slug == platform:
            for key, names in table.keys.items():
                merged[key] = tuple(dict.fromkeys(merged.get(key, ()) + tuple(names)))
    return merged
