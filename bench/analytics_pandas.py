"""The named analytics queries computed again in pandas, from the same raw tables as DataFrames.

`bench.analytics` times each against its DuckDB twin in `core.analytics.queries` and checks both give the same
answer. Written as a competent pandas user would: vectorised masks, `merge`, `groupby`, the same pre-filter by
workspace and by `taken_at >= start - 1 day` as the SQL; the latest snapshot per post by sorting and keeping
the last row per delivery. Definitions are the ones of `core.analytics.definitions`.
"""
from __future__ import annotations

import math
from typing import Callable

import numpy as np
import pandas as pd

from core.analytics.definitions import DEFINITIONS, ON_TIME_SECONDS, RATE_KPIS
from core.analytics.queries import SNAPSHOT_SLACK, Filters
from core.analytics.schema import METRICS

Tables = dict[str, pd.DataFrame]
PARTS = ["likes", "comments", "shares", "saves"]


def _ts(value) -> pd.Timestamp:
    return pd.Timestamp(value).tz_convert("UTC")


def _wkey(T: Tables, f: Filters) -> int:
    hit = T["workspaces"].loc[T["workspaces"]["workspace_id"] == f.workspace_id, "wkey"]
    return int(hit.iloc[0]) if len(hit) else -1


def _deliveries(T: Tables, f: Filters, wkey: int) -> pd.DataFrame:
    d = T["deliveries"]
    m = d["wkey"].to_numpy() == wkey
    if f.platforms:
        m &= d["platform"].isin(f.platforms).to_numpy()
    if f.account_ids:
        m &= d["account_id"].isin(f.account_ids).to_numpy()
    if not f.include_demo:
        m &= ~d["is_demo"].fillna(False).astype(bool).to_numpy()
    return d[m]


def _accounts(T: Tables, f: Filters, wkey: int) -> pd.DataFrame:
    a = T["accounts"]
    m = a["wkey"].to_numpy() == wkey
    if f.platforms:
        m &= a["platform"].isin(f.platforms).to_numpy()
    if f.account_ids:
        m &= a["account_id"].isin(f.account_ids).to_numpy()
    return a[m]


def figures(T: Tables, f: Filters, lo=None, hi=None) -> pd.DataFrame:
    """Published deliveries in [lo, hi) with their latest snapshot's metrics, engagements and rate."""
    wkey = _wkey(T, f)
    lo, hi = _ts(f.start if lo is None else lo), _ts(f.end if hi is None else hi)
    d = _deliveries(T, f, wkey)
    d = d[(d["state"] == "published") & (d["published_at"] >= lo) & (d["published_at"] < hi)]
    s = T["post_snapshots"]
    m = (s["wkey"].to_numpy() == wkey) & (s["taken_at"] >= lo - SNAPSHOT_SLACK).to_numpy()
    s = s[m]
    s = s[s["dkey"].isin(d["dkey"])]
    last = s.sort_values(["dkey", "taken_at", "seq"]).drop_duplicates("dkey", keep="last")
    fig = d.merge(last[["dkey", *METRICS]], on="dkey", how="left")
    fig["engagements"] = fig[PARTS].sum(axis=1, min_count=1)
    reach, views = fig["reach"].to_numpy(dtype=float), fig["views"].to_numpy(dtype=float)
    with np.errstate(invalid="ignore"):
        base = np.where(reach > 0, reach, np.where(views > 0, views, np.nan))
        name = np.where(reach > 0, "reach", np.where(views > 0, "views", None))
    has = fig["engagements"].notna().to_numpy() & ~np.isnan(base)
    fig["rate_base"] = np.where(has, base, np.nan)
    fig["rate_basis"] = np.where(has, name, None)
    fig["engagement_rate"] = fig["engagements"] / fig["rate_base"]
    return fig


def _pooled(g: pd.DataFrame) -> float:
    has = g["rate_base"].notna()
    base = g.loc[has, "rate_base"].sum()
    return g.loc[has, "engagements"].sum() / base if has.any() and base else math.nan


def _agg_rate(df: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """Group sums with SQL's NULL rules (a sum over nothing reported is NaN) and the pooled rate."""
    x = df.assign(eng_rated=df["engagements"].where(df["rate_base"].notna()))
    g = x.groupby(keys, dropna=False, sort=True)
    out = pd.DataFrame({"posts": g.size(), "reach": g["reach"].sum(min_count=1),
                        "views": g["views"].sum(min_count=1), "engagements": g["engagements"].sum(min_count=1),
                        "eng_rated": g["eng_rated"].sum(min_count=1), "base": g["rate_base"].sum(min_count=1)})
    out["engagement_rate"] = out["eng_rated"] / out["base"]
    return out.drop(columns=["eng_rated", "base"]).reset_index()


def _local(series: pd.Series, tz: str) -> pd.Series:
    return series.dt.tz_convert(tz)


def overview(T: Tables, f: Filters, **_) -> pd.DataFrame:
    prev = f.previous()
    fig = figures(T, f, lo=prev.start, hi=f.end)
    fig["cur"] = fig["published_at"] >= _ts(f.start)
    wkey = _wkey(T, f)
    d = _deliveries(T, f, wkey)
    d = d[(d["due_at"] >= _ts(prev.start)) & (d["due_at"] < _ts(f.end))]
    acc = _accounts(T, f, wkey)
    s = T["account_snapshots"]
    s = s[(s["wkey"].to_numpy() == wkey) & s["followers"].notna().to_numpy() & (s["taken_at"] < _ts(f.end)).to_numpy()]
    if not f.include_demo:
        s = s[~s["is_demo"].fillna(False).astype(bool)]
    s = s[s["akey"].isin(acc["akey"])].sort_values(["akey", "taken_at", "seq"])
    rows = []
    for kpi in ("followers", "reach", "views", "engagements", "engagement_rate", "posts_published", "success_rate"):
        vals, basis = [], ""
        for cur, period in ((True, f), (False, prev)):
            part = fig[fig["cur"] == cur]
            if kpi == "followers":
                ss = s[s["taken_at"] < _ts(period.end)].drop_duplicates("akey", keep="last")
                vals.append(float(ss["followers"].sum()) if len(ss) else math.nan)
                if cur:
                    basis = f"{len(ss)} accounts with a follower count"
            elif kpi == "posts_published":
                vals.append(float(len(part)))
            elif kpi == "success_rate":
                dd = d[(d["due_at"] >= _ts(period.start)) & (d["due_at"] < _ts(period.end))]
                settled = int(dd["state"].isin(["published", "failed", "needs_review"]).sum())
                vals.append((dd["state"] == "published").sum() / settled if settled else math.nan)
                if cur:
                    basis = f"{settled} posts due and settled"
            elif kpi == "engagement_rate":
                vals.append(float(_pooled(part)))
                if cur:
                    r, v = int((part["rate_basis"] == "reach").sum()), int((part["rate_basis"] == "views").sum())
                    basis = ("reach" if r and not v else "views" if v and not r
                             else f"reach ({r} posts), views ({v} posts)" if r else "")
            else:
                vals.append(float(part[kpi].sum(min_count=1)))
                if cur:
                    basis = f"{int(part[kpi].notna().sum())} of {len(part)} posts report it"
        value, previous = vals
        if kpi in RATE_KPIS:        # a rate's change in percentage points (core.analytics.queries.overview)
            change, points = math.nan, (value - previous) * 100
        else:
            change = (value - previous) / previous * 100 if previous and not math.isnan(previous) else math.nan
            points = math.nan
        d_ = DEFINITIONS[kpi]
        rows.append({"kpi": kpi, "label": d_.label, "value": float(value), "previous": float(previous),
                     "change_pct": change, "change_pts": points, "definition": d_.formula, "basis": basis})
    return pd.DataFrame(rows)


def daily_trends(T: Tables, f: Filters, **_) -> pd.DataFrame:
    fig = figures(T, f)
    fig["day"] = _local(fig["published_at"], f.tz_name).dt.date
    out = _agg_rate(fig, ["day", "platform", "account_id"])
    out = out.merge(T["accounts"][["account_id", "handle"]], on="account_id", how="left")
    return out[["day", "platform", "account_id", "handle", "posts", "reach", "views", "engagements",
                "engagement_rate"]]


def follower_growth(T: Tables, f: Filters, **_) -> pd.DataFrame:
    wkey = _wkey(T, f)
    acc = _accounts(T, f, wkey)
    s = T["account_snapshots"]
    s = s[(s["wkey"].to_numpy() == wkey) & s["followers"].notna().to_numpy() & (s["taken_at"] < _ts(f.end)).to_numpy()]
    if not f.include_demo:
        s = s[~s["is_demo"].fillna(False).astype(bool)]
    s = s[s["akey"].isin(acc["akey"])].sort_values(["akey", "taken_at", "seq"])
    inside = s["taken_at"] >= _ts(f.start)
    before = s[~inside].drop_duplicates("akey", keep="last").assign(day=None)
    during = s[inside].assign(day=_local(s.loc[inside, "taken_at"], f.tz_name).dt.date)
    during = during.drop_duplicates(["akey", "day"], keep="last")
    u = pd.concat([before, during]).sort_values(["akey", "taken_at"])
    u["change"] = u.groupby("akey")["followers"].diff()
    u = u[u["day"].notna()].merge(acc[["akey", "account_id", "handle", "platform"]], on="akey")
    return u.sort_values(["day", "account_id"])[["day", "account_id", "handle", "platform", "followers", "change"]]


def post_curve(T: Tables, f: Filters, delivery_id: str = "", **_) -> pd.DataFrame:
    wkey = _wkey(T, f)
    d = T["deliveries"]
    d = d[(d["delivery_id"] == delivery_id) & (d["wkey"] == wkey)]
    if not f.include_demo:
        d = d[~d["is_demo"].fillna(False).astype(bool)]
    s = T["post_snapshots"]
    if d.empty:
        s = s.iloc[0:0]
    else:
        s = s[(s["dkey"].to_numpy() == d["dkey"].iloc[0]) & (s["wkey"].to_numpy() == wkey)]
        s = s[s["taken_at"] >= d["published_at"].iloc[0] - pd.Timedelta(days=1)]
    s = s.sort_values(["taken_at", "seq"]).copy()
    pub = d["published_at"].iloc[0] if len(d) else pd.NaT
    s["hours_since_publish"] = (s["taken_at"] - pub) / pd.Timedelta(hours=1)
    s["engagements"] = s[PARTS].sum(axis=1, min_count=1)
    return s[["taken_at", "hours_since_publish", *METRICS, "engagements"]]


def post_table(T: Tables, f: Filters, **_) -> pd.DataFrame:
    fig = figures(T, f)
    p = T["posts"][["post_id", "caption", "media_url", "content_type", "is_ai_generated", "is_demo", "hashtags"]]
    fig = fig.rename(columns={"is_demo": "d_demo"}).merge(p, on="post_id", how="left")
    fig = fig.merge(T["accounts"][["account_id", "handle"]], on="account_id", how="left")
    fig["is_demo"] = fig["d_demo"].fillna(False).astype(bool) | fig["is_demo"].fillna(False).astype(bool)
    fig["hashtags"] = [" ".join("#" + t.lstrip("#") for t in tags) if tags is not None else None
                       for tags in fig["hashtags"]]
    fig = fig.rename(columns={"external_url": "link", "media_url": "thumbnail"})
    fig = fig.sort_values(["published_at", "delivery_id"], ascending=[False, True])
    return fig[["delivery_id", "post_id", "published_at", "platform", "account_id", "handle", "caption", "link",
                "thumbnail", "content_type", "is_ai_generated", "is_demo", "hashtags", *METRICS, "engagements",
                "engagement_rate", "rate_basis"]]


def _averages(df: pd.DataFrame, keys: list[str], **extra) -> pd.DataFrame:
    g = df.groupby(keys, sort=True)
    out = pd.DataFrame({"posts": g.size(), "avg_engagements": g["engagements"].mean(),
                        "avg_engagement_rate": g["engagement_rate"].mean(), **{k: fn(g) for k, fn in extra.items()}})
    return out.reset_index()


def best_time_grid(T: Tables, f: Filters, **_) -> pd.DataFrame:
    fig = figures(T, f)
    local = _local(fig["published_at"], f.tz_name)
    fig["weekday"], fig["hour"] = local.dt.weekday, local.dt.hour
    return _averages(fig, ["weekday", "hour"])[["weekday", "hour", "posts", "avg_engagement_rate",
                                                "avg_engagements"]]


def hashtags(T: Tables, f: Filters, **_) -> pd.DataFrame:
    fig = figures(T, f).merge(T["posts"][["post_id", "hashtags"]], on="post_id", how="left")
    tags = fig[["dkey", "hashtags"]].explode("hashtags").dropna(subset=["hashtags"])
    tags["hashtag"] = "#" + tags["hashtags"].str.lstrip("#").str.lower()
    tags = tags[tags["hashtag"] != "#"].drop_duplicates(["dkey", "hashtag"])
    x = tags[["dkey", "hashtag"]].merge(fig, on="dkey")
    out = _averages(x, ["hashtag"], total_reach=lambda g: g["reach"].sum(min_count=1))
    out = out.sort_values(["posts", "avg_engagements", "hashtag"], ascending=[False, False, True],
                          na_position="last")
    return out[["hashtag", "posts", "avg_engagements", "avg_engagement_rate", "total_reach"]]


def content_types(T: Tables, f: Filters, **_) -> pd.DataFrame:
    fig = figures(T, f).merge(T["posts"][["post_id", "content_type"]], on="post_id", how="left")
    fig["content_type"] = fig["content_type"].fillna("unknown")
    out = _averages(fig, ["content_type"], avg_reach=lambda g: g["reach"].mean())
    return out.sort_values(["posts", "content_type"], ascending=[False, True])[
        ["content_type", "posts", "avg_engagements", "avg_engagement_rate", "avg_reach"]]


def ai_vs_human(T: Tables, f: Filters, **_) -> pd.DataFrame:
    fig = figures(T, f).merge(T["posts"][["post_id", "is_ai_generated"]], on="post_id", how="left")
    fig["origin"] = np.where(fig["is_ai_generated"].fillna(False).astype(bool), "AI-generated", "Hand-written")
    return _averages(fig, ["origin"])[["origin", "posts", "avg_engagements", "avg_engagement_rate"]]


def workflow(T: Tables, f: Filters, **_) -> pd.DataFrame:
    wkey = _wkey(T, f)
    lo, hi = _ts(f.start), _ts(f.end)
    p = T["posts"]
    p = p[p["wkey"] == wkey]
    if not f.include_demo:
        p = p[~p["is_demo"].fillna(False).astype(bool)]
    d = _deliveries(T, f, wkey)
    if f.platforms or f.account_ids:
        p = p[p["post_id"].isin(d["post_id"])]
    x = T["decisions"]
    x = x[(x["wkey"] == wkey) & (x["at"] >= lo) & (x["at"] < hi) & x["action"].isin(["approved", "rejected"])]
    x = x.sort_values(["post_id", "at", "seq"]).drop_duplicates("post_id", keep="last").merge(
        p[["post_id", "created_at"]], on="post_id")
    approved = x[x["action"] == "approved"]
    n_app, n_rej = len(approved), int((x["action"] == "rejected").sum())
    hours = ((approved["at"] - approved["created_at"]) / pd.Timedelta(hours=1)).median() if n_app else math.nan
    pub = d[(d["state"] == "published") & (d["published_at"] >= lo) & (d["published_at"] < hi)
            & d["post_id"].isin(p["post_id"])]
    gen = int((p["is_ai_generated"].fillna(False).astype(bool) & (p["created_at"] >= lo) & (p["created_at"] < hi)).sum())
    return pd.DataFrame([{"generated": gen, "approved": n_app, "rejected": n_rej,
                          "published": int(pub["post_id"].nunique()),
                          "approval_rate": n_app / (n_app + n_rej) if n_app + n_rej else math.nan,
                          "median_hours_to_approve": float(hours)}])


def _reliability_frame(T: Tables, f: Filters) -> pd.DataFrame:
    d = _deliveries(T, f, _wkey(T, f))
    d = d[(d["due_at"] >= _ts(f.start)) & (d["due_at"] < _ts(f.end)) & (d["state"] != "cancelled")].copy()
    pub = (d["state"] == "published") & d["published_at"].notna()
    d["late_s"] = ((d["published_at"] - d["due_at"]) / pd.Timedelta(seconds=1)).where(pub)
    d["on_time"] = d["late_s"] <= ON_TIME_SECONDS
    d["settled"] = d["state"].isin(["published", "failed", "needs_review"])
    d["retry"] = (d["attempts"].fillna(0) - 1).clip(lower=0)
    return d


def _reliability_row(d: pd.DataFrame) -> dict:
    settled = int(d["settled"].sum())
    return {"due": len(d), "published": int((d["state"] == "published").sum()),
            "failed": int((d["state"] == "failed").sum()), "needs_review": int((d["state"] == "needs_review").sum()),
            "on_time_rate": d["on_time"].sum() / settled if settled else math.nan,
            "lateness_p50_s": d["late_s"].quantile(0.5), "lateness_p95_s": d["late_s"].quantile(0.95),
            "retries": int(d["retry"].sum())}


def reliability(T: Tables, f: Filters, **_) -> pd.DataFrame:
    return pd.DataFrame([_reliability_row(_reliability_frame(T, f))])


def reliability_by_platform(T: Tables, f: Filters, **_) -> pd.DataFrame:
    d = _reliability_frame(T, f)
    rows = [{"platform": platform, **_reliability_row(g)} for platform, g in d.groupby("platform", sort=True)]
    return pd.DataFrame(rows, columns=["platform", "due", "published", "failed", "needs_review", "on_time_rate",
                                       "lateness_p50_s", "lateness_p95_s", "retries"]).drop(columns="needs_review")


def failures(T: Tables, f: Filters, **_) -> pd.DataFrame:
    d = _deliveries(T, f, _wkey(T, f))
    d = d[(d["due_at"] >= _ts(f.start)) & (d["due_at"] < _ts(f.end)) & (d["state"] == "failed")]
    reason = d["last_error_code"].replace("", None).fillna("unknown")
    out = d.assign(reason=reason).groupby(["platform", "reason"]).size().rename("failures").reset_index()
    return out.sort_values(["failures", "platform", "reason"], ascending=[False, True, True])


PANDAS: dict[str, Callable[..., pd.DataFrame]] = {q.__name__: q for q in (
    overview, daily_trends, follower_growth, post_curve, post_table, best_time_grid, hashtags, content_types,
    ai_vs_human, workflow, reliability, reliability_by_platform, failures)}
