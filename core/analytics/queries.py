"""The named analytics queries: each answers one question of the dashboard as a DataFrame, in DuckDB SQL.

Every query is ``name(con, f, **extra) -> DataFrame`` with the columns the contract names (the page is built
against them), registered in `QUERIES`. What each figure means is written once in `core.analytics.definitions`
and computed here exactly so:

- A post's figures are its latest snapshot (`arg_max` by ``(taken_at, seq)``); a post is one delivery (one
  post on one account), counted in the period it was *published* in.
- engagements = likes + comments + shares + saves over the parts reported; NULL when none is.
- engagement rate = engagements / reach, or / views where reach is missing or 0 (`rate_basis`).
- Days, weekdays and hours are local to ``Filters.tz_name`` (DuckDB's ICU ``timezone(tz, ts)``), so a post at
  01:30 UTC on the last Sunday of March is a Sunday 03:30 in Berlin, and one on the last Sunday of October
  is 02:30 or 03:30 as the clock said.

Values are always bound as parameters, never formatted into the SQL. Speed: the fact table is read once per
question, pruned by workspace key and by ``taken_at >= start - 1 day`` (a post published in the period has its
latest snapshot after its publication; the feed appends snapshots in time order, so DuckDB's zone maps skip the
older row groups), and joined to the few deliveries of the period by integer key.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Callable

import duckdb
import pandas as pd

from core.analytics.definitions import DEFINITIONS, ON_TIME_SECONDS
from core.analytics.schema import METRICS
from core.domain.errors import Problem, ValidationError
from core.domain.timeutil import to_utc, zone

# A snapshot taken this long before its post's publication is still read (clocks of the runner and of the
# platform may disagree a little); the latest snapshot of a post is always after its publication.
SNAPSHOT_SLACK = timedelta(days=1)
SETTLED = ("published", "failed", "needs_review")


@dataclass(frozen=True)
class Filters:
    """What the dashboard is looking at: a workspace, a period [start, end) in UTC, its zone, and narrowing."""

    workspace_id: str
    start: datetime            # UTC, inclusive  (the period)
    end: datetime              # UTC, exclusive
    tz_name: str = "UTC"       # the workspace's zone (days, weekdays, hours are local)
    platforms: tuple[str, ...] = ()     # empty: all
    account_ids: tuple[str, ...] = ()   # empty: all
    include_demo: bool = True

    def __post_init__(self):
        if not isinstance(self.workspace_id, str) or not self.workspace_id.strip():
            raise ValidationError(Problem("no_workspace", "Choose a workspace to see its analytics.",
                                          field="workspace_id"))
        start, end = to_utc(self.start, "start of the period"), to_utc(self.end, "end of the period")
        if start >= end:
            raise ValidationError(Problem(
                "empty_period", f"The period must end after it starts (it starts {start:%Y-%m-%d %H:%M} UTC and "
                f"ends {end:%Y-%m-%d %H:%M} UTC).", field="end"))
        zone(self.tz_name)
        object.__setattr__(self, "start", start)
        object.__setattr__(self, "end", end)
        object.__setattr__(self, "platforms", tuple(self.platforms or ()))
        object.__setattr__(self, "account_ids", tuple(self.account_ids or ()))

    def previous(self) -> "Filters":
        """The period of the same length just before this one, otherwise the same filters."""
        length = self.end - self.start
        return Filters(self.workspace_id, self.start - length, self.start, self.tz_name, self.platforms,
                       self.account_ids, self.include_demo)


# ---------------------------------------------------------------- shared SQL
def _params(con: duckdb.DuckDBPyConnection, f: Filters, lo: datetime | None = None,
            hi: datetime | None = None) -> dict:
    """The bound values every query uses ($wkey, $lo, $hi, $snap_from, $tz, the filters)."""
    row = con.execute("SELECT wkey FROM workspaces WHERE workspace_id = $w", {"w": f.workspace_id}).fetchone()
    lo = f.start if lo is None else lo
    hi = f.end if hi is None else hi
    return {"wkey": row[0] if row else -1, "lo": lo, "hi": hi, "snap_from": lo - SNAPSHOT_SLACK,
            "tz": f.tz_name, "platforms": list(f.platforms), "all_p": not f.platforms,
            "accounts": list(f.account_ids), "all_a": not f.account_ids, "demo": f.include_demo}


# Deliveries of the workspace that pass the filters (alias d).
_D_WHERE = """d.wkey = $wkey
    AND ($all_p OR list_contains($platforms::VARCHAR[], d.platform))
    AND ($all_a OR list_contains($accounts::VARCHAR[], d.account_id))
    AND ($demo OR NOT coalesce(d.is_demo, false))"""

ENGAGEMENT_PARTS = ("likes", "comments", "shares", "saves")


def _engagements(prefix: str = "") -> str:
    """SQL for engagements: the sum of the parts reported, NULL when none is."""
    parts = [prefix + c for c in ENGAGEMENT_PARTS]
    return (f"CASE WHEN {' AND '.join(f'{c} IS NULL' for c in parts)} THEN NULL "
            f"ELSE {' + '.join(f'coalesce({c}, 0)' for c in parts)} END")

_METRIC_LIST = ", ".join(METRICS)


def _figures(extra_cols: str = "") -> str:
    """CTEs `pd_` (published deliveries in [$lo, $hi)) and `pf` (each with its latest figures and its rate)."""
    latest = ", ".join(f"struct_extract(l.m, '{m}') AS {m}" for m in METRICS)
    return f"""
pd_ AS (
    SELECT d.dkey, d.delivery_id, d.post_id, d.account_id, d.platform, d.published_at{extra_cols}
    FROM deliveries d
    WHERE {_D_WHERE} AND d.state = 'published' AND d.published_at >= $lo AND d.published_at < $hi),
last_ AS (
    SELECT s.dkey, arg_max(struct_pack({_METRIC_LIST}), (s.taken_at, s.seq)) AS m
    FROM post_snapshots s SEMI JOIN pd_ ON s.dkey = pd_.dkey
    WHERE s.wkey = $wkey AND s.taken_at >= $snap_from
    GROUP BY s.dkey),
fig_ AS (
    SELECT pd_.*, {latest} FROM pd_ LEFT JOIN last_ l ON l.dkey = pd_.dkey),
eng_ AS (SELECT *, {_engagements()} AS engagements,
                CASE WHEN reach > 0 THEN reach WHEN views > 0 THEN views END AS basis_n,
                CASE WHEN reach > 0 THEN 'reach' WHEN views > 0 THEN 'views' END AS basis_name FROM fig_),
pf AS (
    SELECT * EXCLUDE (basis_n, basis_name),
           CASE WHEN engagements IS NOT NULL AND basis_n IS NOT NULL THEN basis_n END AS rate_base,
           CASE WHEN engagements IS NOT NULL AND basis_n IS NOT NULL THEN basis_name END AS rate_basis,
           CASE WHEN engagements IS NOT NULL AND basis_n IS NOT NULL THEN engagements / basis_n END
               AS engagement_rate
    FROM eng_)"""


# Pooled rate of a group: sum of engagements / sum of bases, over posts with a rate.
_POOLED_RATE = "sum(engagements) FILTER (WHERE rate_base IS NOT NULL) / sum(rate_base)"


def _fetch(con: duckdb.DuckDBPyConnection, sql: str, params: dict) -> pd.DataFrame:
    """Run `sql` with the parameters it names (DuckDB refuses unused ones)."""
    used = set(re.findall(r"\$([a-z_]+)", sql))
    return con.execute(sql, {k: v for k, v in params.items() if k in used}).fetchdf()


def _run(con: duckdb.DuckDBPyConnection, sql: str, params: dict, columns: list[str]) -> pd.DataFrame:
    df = _fetch(con, sql, params)
    df = df[columns]
    return df.reset_index(drop=True)


def _local_date(df: pd.DataFrame, col: str = "day") -> pd.DataFrame:
    if len(df):
        df[col] = pd.to_datetime(df[col]).dt.date
    else:
        df[col] = pd.Series([], dtype=object)
    return df


def _utc(df: pd.DataFrame, *cols: str) -> pd.DataFrame:
    for col in cols:
        df[col] = pd.to_datetime(df[col], utc=True)
    return df


# ---------------------------------------------------------------- the queries
_KPIS = ("followers", "reach", "views", "engagements", "engagement_rate", "posts_published", "success_rate")


def overview(con: duckdb.DuckDBPyConnection, f: Filters, **_) -> pd.DataFrame:
    """One row per KPI: this period's value, the previous period's, the change in percent, its definition."""
    prev = f.previous()
    p = _params(con, f, lo=prev.start, hi=f.end)
    p["mid"] = f.start
    posts = _fetch(con, f"""
WITH {_figures()}
SELECT (published_at >= $mid) AS cur, count(*) AS posts_published,
       sum(reach)::DOUBLE AS reach, count(reach) AS n_reach,
       sum(views)::DOUBLE AS views, count(views) AS n_views,
       sum(engagements)::DOUBLE AS engagements, count(engagements) AS n_eng,
       ({_POOLED_RATE})::DOUBLE AS engagement_rate,
       count(*) FILTER (WHERE rate_basis = 'reach') AS n_rate_reach,
       count(*) FILTER (WHERE rate_basis = 'views') AS n_rate_views
FROM pf GROUP BY ALL""", p)
    rel = _fetch(con, f"""
SELECT (d.due_at >= $mid) AS cur,
       count(*) FILTER (WHERE d.state = 'published') AS published,
       count(*) FILTER (WHERE d.state IN ('published', 'failed', 'needs_review')) AS settled
FROM deliveries d WHERE {_D_WHERE} AND d.due_at >= $lo AND d.due_at < $hi GROUP BY ALL""", p)
    fol = _fetch(con, f"""
WITH acc AS (SELECT a.akey FROM accounts a WHERE a.wkey = $wkey
                 AND ($all_p OR list_contains($platforms::VARCHAR[], a.platform))
                 AND ($all_a OR list_contains($accounts::VARCHAR[], a.account_id))),
s AS (SELECT s.akey, s.taken_at, s.seq, s.followers FROM account_snapshots s SEMI JOIN acc ON acc.akey = s.akey
      WHERE s.wkey = $wkey AND s.followers IS NOT NULL AND s.taken_at < $hi
        AND ($demo OR NOT coalesce(s.is_demo, false)))
SELECT at_end.cur, sum(at_end.followers)::DOUBLE AS followers, count(*) AS n FROM (
    SELECT true AS cur, akey, arg_max(followers, (taken_at, seq)) AS followers FROM s GROUP BY akey
    UNION ALL
    SELECT false AS cur, akey, arg_max(followers, (taken_at, seq)) AS followers FROM s
    WHERE taken_at < $mid GROUP BY akey) AS at_end
GROUP BY at_end.cur""", p)

    def pick(frame: pd.DataFrame, cur: bool, col: str, default=math.nan):
        hit = frame[frame["cur"] == cur]
        if hit.empty:
            return default
        value = hit[col].iloc[0]
        return default if value is None or pd.isna(value) else value

    rows = []
    for kpi in _KPIS:
        values, basis = [], ""
        for cur in (True, False):
            if kpi == "followers":
                values.append(float(pick(fol, cur, "followers")))
                if cur:
                    basis = f"{int(pick(fol, True, 'n', 0))} accounts with a follower count"
            elif kpi == "posts_published":
                values.append(float(pick(posts, cur, "posts_published", 0)))
            elif kpi == "success_rate":
                settled = pick(rel, cur, "settled", 0)
                values.append(pick(rel, cur, "published", 0) / settled if settled else math.nan)
                if cur:
                    basis = f"{int(settled)} posts due and settled"
            elif kpi == "engagement_rate":
                values.append(float(pick(posts, cur, "engagement_rate")))
                if cur:
                    by_reach, by_views = int(pick(posts, True, "n_rate_reach", 0)), int(pick(posts, True,
                                                                                           "n_rate_views", 0))
                    basis = ("reach" if by_reach and not by_views else "views" if by_views and not by_reach
                             else f"reach ({by_reach} posts), views ({by_views} posts)" if by_reach else "")
            else:
                values.append(float(pick(posts, cur, kpi)))
                if cur:
                    n = {"reach": "n_reach", "views": "n_views", "engagements": "n_eng"}[kpi]
                    basis = (f"{int(pick(posts, True, n, 0))} of {int(pick(posts, True, 'posts_published', 0))}"
                             " posts report it")
        value, previous = values
        change = (value - previous) / previous * 100 if previous and not math.isnan(previous) else math.nan
        d = DEFINITIONS[kpi]
        rows.append({"kpi": kpi, "label": d.label, "value": value, "previous": previous, "change_pct": change,
                     "definition": d.formula, "basis": basis})
    return pd.DataFrame(rows, columns=["kpi", "label", "value", "previous", "change_pct", "definition", "basis"])


def daily_trends(con: duckdb.DuckDBPyConnection, f: Filters, **_) -> pd.DataFrame:
    """Per local day of publication, platform and account: posts and their summed latest figures."""
    df = _run(con, f"""
WITH {_figures()}
SELECT CAST(timezone($tz, pf.published_at) AS DATE) AS day, pf.platform, pf.account_id, a.handle,
       count(*) AS posts, sum(reach)::DOUBLE AS reach, sum(views)::DOUBLE AS views,
       sum(engagements)::DOUBLE AS engagements, ({_POOLED_RATE})::DOUBLE AS engagement_rate
FROM pf LEFT JOIN accounts a ON a.account_id = pf.account_id
GROUP BY ALL ORDER BY day, pf.platform, pf.account_id""", _params(con, f),
              ["day", "platform", "account_id", "handle", "posts", "reach", "views", "engagements",
               "engagement_rate"])
    return _local_date(df)


def follower_growth(con: duckdb.DuckDBPyConnection, f: Filters, **_) -> pd.DataFrame:
    """Per account and local day with a count: the day's last follower count and its change since the one before."""
    df = _run(con, """
WITH acc AS (SELECT a.akey, a.account_id, a.handle, a.platform FROM accounts a WHERE a.wkey = $wkey
                 AND ($all_p OR list_contains($platforms::VARCHAR[], a.platform))
                 AND ($all_a OR list_contains($accounts::VARCHAR[], a.account_id))),
s AS (SELECT s.akey, s.taken_at, s.seq, s.followers FROM account_snapshots s SEMI JOIN acc ON acc.akey = s.akey
      WHERE s.wkey = $wkey AND s.followers IS NOT NULL AND s.taken_at < $hi
        AND ($demo OR NOT coalesce(s.is_demo, false))),
u AS (
    SELECT akey, CAST(timezone($tz, taken_at) AS DATE) AS day, arg_max(followers, (taken_at, seq)) AS followers
    FROM s WHERE taken_at >= $lo GROUP BY ALL
    UNION ALL
    SELECT akey, NULL::DATE AS day, arg_max(followers, (taken_at, seq)) AS followers
    FROM s WHERE taken_at < $lo GROUP BY akey),
w AS (SELECT akey, day, followers,
             followers - lag(followers) OVER (PARTITION BY akey ORDER BY day NULLS FIRST) AS change FROM u)
SELECT w.day, acc.account_id, acc.handle, acc.platform, w.followers, w.change::DOUBLE AS change
FROM w JOIN acc ON acc.akey = w.akey WHERE w.day IS NOT NULL ORDER BY w.day, acc.account_id""", _params(con, f),
              ["day", "account_id", "handle", "platform", "followers", "change"])
    return _local_date(df)


def post_curve(con: duckdb.DuckDBPyConnection, f: Filters, delivery_id: str = "", **_) -> pd.DataFrame:
    """Every snapshot of one published post of the workspace since its publication (its metrics' curves)."""
    p = _params(con, f)
    p["delivery_id"] = delivery_id
    metrics = ", ".join(f"s.{m}::DOUBLE AS {m}" for m in METRICS)
    df = _run(con, f"""
WITH d AS (SELECT d.dkey, d.published_at FROM deliveries d
           WHERE d.delivery_id = $delivery_id AND d.wkey = $wkey AND ($demo OR NOT coalesce(d.is_demo, false)))
SELECT s.taken_at, (epoch_us(s.taken_at) - epoch_us(d.published_at)) / 3.6e9 AS hours_since_publish, {metrics},
       ({_engagements("s.")})::DOUBLE AS engagements
FROM post_snapshots s JOIN d ON d.dkey = s.dkey
WHERE s.wkey = $wkey AND s.taken_at >= d.published_at - INTERVAL 1 DAY
ORDER BY s.taken_at, s.seq""", p, ["taken_at", "hours_since_publish", *METRICS, "engagements"])
    return _utc(df, "taken_at")


_POST_TABLE_COLUMNS = ["delivery_id", "post_id", "published_at", "platform", "account_id", "handle", "caption",
                       "link", "thumbnail", "content_type", "is_ai_generated", "is_demo", "hashtags", *METRICS,
                       "engagements", "engagement_rate", "rate_basis"]


def post_table(con: duckdb.DuckDBPyConnection, f: Filters, **_) -> pd.DataFrame:
    """One row per post published in the period with its latest figures, newest first."""
    df = _run(con, f"""
WITH {_figures(", d.external_url, d.is_demo AS d_demo")}
SELECT pf.delivery_id, pf.post_id, pf.published_at, pf.platform, pf.account_id, a.handle, p.caption,
       pf.external_url AS link, p.media_url AS thumbnail, p.content_type, p.is_ai_generated,
       (coalesce(pf.d_demo, false) OR coalesce(p.is_demo, false)) AS is_demo,
       array_to_string(list_transform(p.hashtags, lambda t: '#' || ltrim(t, '#')), ' ') AS hashtags,
       {", ".join(f"pf.{m}::DOUBLE AS {m}" for m in METRICS)}, pf.engagements::DOUBLE AS engagements, pf.engagement_rate, pf.rate_basis
FROM pf LEFT JOIN posts p ON p.post_id = pf.post_id LEFT JOIN accounts a ON a.account_id = pf.account_id
ORDER BY pf.published_at DESC, pf.delivery_id""", _params(con, f), _POST_TABLE_COLUMNS)
    df = _utc(df, "published_at")
    df["rate_basis"] = df["rate_basis"].astype(object).where(df["rate_basis"].notna(), None)
    return df


def best_time_grid(con: duckdb.DuckDBPyConnection, f: Filters, **_) -> pd.DataFrame:
    """Posts by local weekday (0 = Monday) and hour of publication, with their average results (cells with posts)."""
    return _run(con, f"""
WITH {_figures()}, t AS (SELECT timezone($tz, published_at) AS local, engagements, engagement_rate FROM pf)
SELECT (isodow(local) - 1)::INTEGER AS weekday, hour(local)::INTEGER AS hour, count(*) AS posts,
       avg(engagement_rate) AS avg_engagement_rate, avg(engagements) AS avg_engagements
FROM t GROUP BY ALL ORDER BY weekday, hour""", _params(con, f),
                ["weekday", "hour", "posts", "avg_engagement_rate", "avg_engagements"])


def hashtags(con: duckdb.DuckDBPyConnection, f: Filters, **_) -> pd.DataFrame:
    """Per hashtag (case folded) of the posts published in the period: posts and their average results."""
    return _run(con, f"""
WITH {_figures()},
tags AS (SELECT DISTINCT pf.dkey, '#' || lower(ltrim(t.tag, '#')) AS hashtag
         FROM pf JOIN posts p ON p.post_id = pf.post_id, unnest(p.hashtags) AS t(tag)
         WHERE ltrim(t.tag, '#') <> '')
SELECT tags.hashtag, count(*) AS posts, avg(pf.engagements) AS avg_engagements,
       avg(pf.engagement_rate) AS avg_engagement_rate, sum(pf.reach)::DOUBLE AS total_reach
FROM tags JOIN pf ON pf.dkey = tags.dkey
GROUP BY ALL ORDER BY posts DESC, avg_engagements DESC NULLS LAST, hashtag""", _params(con, f),
                ["hashtag", "posts", "avg_engagements", "avg_engagement_rate", "total_reach"])


def content_types(con: duckdb.DuckDBPyConnection, f: Filters, **_) -> pd.DataFrame:
    """Per content type (text, image, carousel, video) of the posts published in the period."""
    return _run(con, f"""
WITH {_figures()}
SELECT coalesce(p.content_type, 'unknown') AS content_type, count(*) AS posts,
       avg(pf.engagements) AS avg_engagements, avg(pf.engagement_rate) AS avg_engagement_rate,
       avg(pf.reach) AS avg_reach
FROM pf LEFT JOIN posts p ON p.post_id = pf.post_id
GROUP BY ALL ORDER BY posts DESC, content_type""", _params(con, f),
                ["content_type", "posts", "avg_engagements", "avg_engagement_rate", "avg_reach"])


def ai_vs_human(con: duckdb.DuckDBPyConnection, f: Filters, **_) -> pd.DataFrame:
    """AI-generated against hand-written posts published in the period."""
    return _run(con, f"""
WITH {_figures()}
SELECT CASE WHEN coalesce(p.is_ai_generated, false) THEN 'AI-generated' ELSE 'Hand-written' END AS origin,
       count(*) AS posts, avg(pf.engagements) AS avg_engagements, avg(pf.engagement_rate) AS avg_engagement_rate
FROM pf LEFT JOIN posts p ON p.post_id = pf.post_id
GROUP BY ALL ORDER BY origin""", _params(con, f), ["origin", "posts", "avg_engagements", "avg_engagement_rate"])


def workflow(con: duckdb.DuckDBPyConnection, f: Filters, **_) -> pd.DataFrame:
    """One row: AI posts generated, posts approved and rejected, posts published, approval rate, time to approve."""
    return _run(con, f"""
WITH p AS (
    SELECT p.post_id, p.created_at, p.is_ai_generated FROM posts p
    WHERE p.wkey = $wkey AND ($demo OR NOT coalesce(p.is_demo, false))
      AND (($all_p AND $all_a) OR EXISTS (SELECT 1 FROM deliveries d WHERE d.post_id = p.post_id AND {_D_WHERE}))),
dec AS (
    SELECT x.post_id, arg_max(x.action, (x."at", x.seq)) AS action, max(x."at") AS decided_at
    FROM decisions x WHERE x.wkey = $wkey AND x."at" >= $lo AND x."at" < $hi
      AND x.action IN ('approved', 'rejected') GROUP BY x.post_id),
counts AS (
    SELECT count(*) FILTER (WHERE dec.action = 'approved') AS approved,
           count(*) FILTER (WHERE dec.action = 'rejected') AS rejected,
           median(epoch(dec.decided_at - p.created_at) / 3600.0) FILTER (WHERE dec.action = 'approved') AS hours
    FROM dec JOIN p ON p.post_id = dec.post_id)
SELECT (SELECT count(*) FROM p WHERE p.is_ai_generated AND p.created_at >= $lo AND p.created_at < $hi)
           AS generated,
       counts.approved, counts.rejected,
       (SELECT count(DISTINCT d.post_id) FROM deliveries d SEMI JOIN p ON p.post_id = d.post_id
        WHERE {_D_WHERE} AND d.state = 'published' AND d.published_at >= $lo AND d.published_at < $hi)
           AS published,
       CASE WHEN counts.approved + counts.rejected > 0
            THEN counts.approved / (counts.approved + counts.rejected) END::DOUBLE AS approval_rate,
       counts.hours::DOUBLE AS median_hours_to_approve
FROM counts""", _params(con, f),
                ["generated", "approved", "rejected", "published", "approval_rate", "median_hours_to_approve"])


def _reliability_sql(group: str) -> str:
    return f"""
WITH r AS (
    SELECT d.platform, d.state, d.attempts,
           CASE WHEN d.state = 'published' AND d.published_at IS NOT NULL
                THEN epoch(d.published_at - d.due_at) END AS late_s
    FROM deliveries d
    WHERE {_D_WHERE} AND d.due_at >= $lo AND d.due_at < $hi AND d.state <> 'cancelled')
SELECT {group} count(*) AS due,
       count(*) FILTER (WHERE state = 'published') AS published,
       count(*) FILTER (WHERE state = 'failed') AS failed,
       count(*) FILTER (WHERE state = 'needs_review') AS needs_review,
       (count(*) FILTER (WHERE late_s <= {ON_TIME_SECONDS})
        / nullif(count(*) FILTER (WHERE state IN ('published', 'failed', 'needs_review')), 0))::DOUBLE
           AS on_time_rate,
       quantile_cont(late_s, 0.5)::DOUBLE AS lateness_p50_s, quantile_cont(late_s, 0.95)::DOUBLE AS lateness_p95_s,
       coalesce(sum(greatest(coalesce(attempts, 0) - 1, 0)), 0)::BIGINT AS retries
FROM r"""


def reliability(con: duckdb.DuckDBPyConnection, f: Filters, **_) -> pd.DataFrame:
    """One row: posts due in the period, how they ended, how many on time, how late (p50, p95), retries."""
    return _run(con, _reliability_sql(""), _params(con, f),
                ["due", "published", "failed", "needs_review", "on_time_rate", "lateness_p50_s", "lateness_p95_s",
                 "retries"])


def reliability_by_platform(con: duckdb.DuckDBPyConnection, f: Filters, **_) -> pd.DataFrame:
    """The reliability figures per platform."""
    return _run(con, _reliability_sql("platform,") + " GROUP BY platform ORDER BY platform", _params(con, f),
                ["platform", "due", "published", "failed", "on_time_rate", "lateness_p50_s", "lateness_p95_s",
                 "retries"])


def failures(con: duckdb.DuckDBPyConnection, f: Filters, **_) -> pd.DataFrame:
    """Posts due in the period that failed, per platform and error code, most frequent first."""
    return _run(con, f"""
SELECT d.platform, coalesce(nullif(d.last_error_code, ''), 'unknown') AS reason, count(*) AS failures
FROM deliveries d WHERE {_D_WHERE} AND d.due_at >= $lo AND d.due_at < $hi AND d.state = 'failed'
GROUP BY ALL ORDER BY failures DESC, platform, reason""", _params(con, f), ["platform", "reason", "failures"])


QUERIES: dict[str, Callable[..., pd.DataFrame]] = {q.__name__: q for q in (
    overview, daily_trends, follower_growth, post_curve, post_table, best_time_grid, hashtags, content_types,
    ai_vs_human, workflow, reliability, reliability_by_platform, failures)}
