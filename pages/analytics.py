"""Analytics: what worked. The period's figures against the period before, trends, followers, one post's curve, the
best time to post, top and bottom posts, hashtags, content types, AI against hand-written, the approval workflow
and publishing reliability; every table as CSV, the whole history as Parquet, a read-only SQL box.

Every figure comes from core.services.analytics (the named queries of core.analytics.queries, permission-checked
and cached per engine version); this page only lays them out. A figure a platform did not report is "not
available", never 0."""
from __future__ import annotations

import math
from datetime import timedelta

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from core.domain.catalog import Platform
from core.domain.errors import OutpostError, PermissionDenied
from core.domain.timeutil import utcnow, zone
from core.platforms.links import viewable_link
from core.rules.permissions import Action
from core.services import analytics
from core.services import best_time
from core.services import demo
from core.services.views import workspace_accounts
from pages.shared import analytics_engine, analytics_problem, context, settings, show_problems, store

ctx = context()
db = store()
ws = ctx.workspace
FLASH = "analytics_flash"
NA = "not available"
WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
PRESETS = {"Last 7 days": 7, "Last 30 days": 30, "Last 90 days": 90, "Custom dates": None}
# (column, label) of the post metrics, in the order people read them
METRICS = (("views", "Views"), ("reach", "Reach"), ("likes", "Likes"), ("comments", "Comments"), ("shares", "Shares"),
           ("saves", "Saves"), ("clicks", "Clicks"), ("video_views", "Video views"), ("engagements", "Engagements"))
PERCENT_KPIS = {"engagement_rate", "success_rate"}
# One colour per platform in every chart (Trends, Follower growth, Failures); accounts of one platform share it and
# differ by dash and marker, so lines that lie on top of each other are still told apart.
PLATFORM_COLOURS = {"instagram": "#d62976", "facebook": "#1877f2", "linkedin": "#0a66c2", "x": "#0f1419",
                    "tiktok": "#00a8a8", "youtube": "#ff0000", "threads": "#8c8c8c", "bluesky": "#6cb4ff",
                    "mastodon": "#6364ff"}
PLATFORM_SYMBOLS = {"instagram": "circle", "facebook": "square", "linkedin": "diamond", "x": "triangle-up",
                    "tiktok": "cross", "youtube": "x", "threads": "star", "bluesky": "hexagon",
                    "mastodon": "pentagon"}
DASHES = ("solid", "dash", "dot", "dashdot", "longdash")


# ---------------------------------------------------------------- formatting (NaN is "not available", never 0)

def _missing(value) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA or value is pd.NaT


def _count(value) -> str:
    if _missing(value):
        return NA
    value = float(value)
    if abs(value) >= 1_000_000:
        return f"{value / 1_000_000:.1f}M"
    if abs(value) >= 10_000:
        return f"{value / 1_000:.1f}k"
    return f"{value:,.0f}"


def _percent(value) -> str:
    return NA if _missing(value) else f"{float(value) * 100:.1f}%"


def _duration(seconds) -> str:
    if _missing(seconds):
        return NA
    seconds = float(seconds)
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 90 * 60:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def _plural(n, word: str, words: str | None = None) -> str:
    """ "1 post", "2 posts", "0 posts" (a count with its noun, as people write it)."""
    n = int(n)
    return f"{n:,} {word if n == 1 else (words or word + 's')}"


def _platform(slug) -> str:
    """A platform's name as people read it ("LinkedIn", not "linkedin")."""
    try:
        return Platform.parse(slug).label
    except (ValueError, KeyError, OutpostError):
        return str(slug)


def _named(frame: pd.DataFrame) -> pd.DataFrame:
    """The frame with its platforms by name and, where it has accounts, `who`: "demo_brand · Instagram"."""
    if "platform" not in frame or not len(frame):
        return frame
    frame = frame.assign(platform_slug=frame["platform"], platform=frame["platform"].map(_platform))
    if "handle" in frame:
        frame = frame.assign(who=frame["handle"].fillna("") + " · " + frame["platform"])
    return frame


def _csv(name: str, f, label: str = "Download CSV", **extra) -> None:
    """A CSV of the named query's table for this period (made when clicked)."""
    st.download_button(label, data=lambda: analytics.export_csv(engine, ctx.actor, name, f, **extra),
                       file_name=analytics.export_filename(ws.name, name.replace("_", "-"), "csv", day=period.last),
                       mime="text/csv",
                       key=f"an_csv_{name}", icon=":material/download:", on_click="ignore")


def _styles(frame: pd.DataFrame, group: str) -> dict:
    """Each line's look when lines are platforms or accounts: its platform's colour (PLATFORM_COLOURS) and marker;
    the second, third... account of a platform dashed differently."""
    if "platform_slug" not in frame:
        return {}
    slugs = frame.groupby(group, sort=True)["platform_slug"].first()
    seen: dict[str, int] = {}
    styles = {}
    for name, slug in slugs.items():
        n = seen[slug] = seen.get(slug, -1) + 1
        styles[name] = dict(line=dict(color=PLATFORM_COLOURS.get(slug), dash=DASHES[n % len(DASHES)]),
                            marker=dict(color=PLATFORM_COLOURS.get(slug), symbol=PLATFORM_SYMBOLS.get(slug, "circle"),
                                        size=7))
    return styles


def _lines(frame: pd.DataFrame, x: str, y: str, color: str, *, x_title: str = "", y_title: str = "",
           order: list | None = None) -> go.Figure:
    """One line with markers per value of `color` (plotly.graph_objects: a fifth of plotly.express's time); lines
    of platforms or accounts in their platform's colour."""
    groups = dict(tuple(frame.groupby(color, sort=True)))
    styles = _styles(frame, color)
    fig = go.Figure([go.Scatter(x=groups[name][x], y=groups[name][y], name=str(name), mode="lines+markers",
                                **styles.get(name, {}))
                     for name in (order or groups) if name in groups])
    fig.update_layout(xaxis_title=x_title, yaxis_title=y_title)
    return fig


DAY_MS = 24 * 3600 * 1000
WEEK = 7        # the shortest span a day axis shows: one day of data is one day in a week, not a point in time


def _day_axis(fig: go.Figure, days, until=None, since=None) -> None:
    """An x axis of whole local days ("04 Dec"): the period's, from `since` to `until` when given (not only the
    days with data), at least a week, one tick a day while it is short: with one day of data plotly would otherwise
    stretch that day into milliseconds ("23:59:59.9995")."""
    days = pd.to_datetime(pd.Series(list(days))).dropna()
    fig.update_xaxes(type="date", tickformat="%d %b", hoverformat="%a %d %b %Y")
    if days.empty:
        return
    first, last = days.min().normalize(), days.max().normalize()
    if until is not None:
        last = max(last, pd.Timestamp(until).normalize())
    if since is not None:
        first = min(first, pd.Timestamp(since).normalize())
        fig.update_xaxes(range=[first - pd.Timedelta(hours=12), last + pd.Timedelta(hours=12)])
    if (last - first).days < WEEK:
        first = min(first, last - pd.Timedelta(days=WEEK - 1))
        fig.update_xaxes(range=[first - pd.Timedelta(hours=12), last + pd.Timedelta(hours=12)], dtick=DAY_MS)
    elif (last - first).days <= 2 * WEEK:
        fig.update_xaxes(dtick=DAY_MS)


def _top(values) -> float:
    top = pd.to_numeric(pd.Series(list(values), dtype="object"), errors="coerce").max()
    return 0.0 if pd.isna(top) else float(top)


def _count_axis(fig: go.Figure, values, *, axis: str = "y", from_zero: bool = True) -> None:
    """An axis of counts: from 0 (never below it), whole numbers only while the counts are small (no "0.5 posts",
    no -1 when everything is 0). `from_zero=False` (followers) lets a count that moves read on its own scale; one
    that stays put is drawn from 0 (around a single figure plotly would invent "3,199.5")."""
    values = pd.to_numeric(pd.Series(list(values), dtype="object"), errors="coerce").dropna()
    top = _top(values)
    update = fig.update_yaxes if axis == "y" else fig.update_xaxes
    if not from_zero and len(values) and values.max() - values.min() >= 6:
        update(rangemode="nonnegative", tickformat=",d")
        return
    update(rangemode="tozero")
    if top < 6:     # a whisker below 0 so that a dot at 0 is drawn whole; no tick there
        update(dtick=1, tick0=0, range=[-0.03 * max(top, 1), max(top, 1) * 1.15], tickformat="d")
    elif not from_zero:
        update(range=[0, top * 1.15], tickformat=",d")


def _rate_axis(fig: go.Figure, values) -> None:
    """An axis of rates (fractions shown as "2.5%"), from 0."""
    top = _top(values)
    fig.update_yaxes(rangemode="tozero", tickformat=".1%")
    if top <= 0:
        fig.update_yaxes(range=[-0.0003, 0.01], tick0=0)


def _chart(fig, key: str) -> None:
    fig.update_layout(margin=dict(l=10, r=10, t=30, b=10), legend_title_text="", height=340)
    st.plotly_chart(fig, key=key, config={"displaylogo": False})


def _best_time_panel() -> None:
    """The recommendation for the workspace, and per platform and account, with how sure each is."""
    try:
        times = best_time.best_times(engine, db, ctx.actor, ws.id, now=now)
    except OutpostError as exc:
        show_problems(exc)
        return
    rec = times.workspace
    slots = ", ".join(s.label for s in rec.slots[1:3])
    st.success(f"**Best time to post: {rec.summary}**" + (f" · next best: {slots}" if slots else "") +
               f"  \n{rec.explanation}", icon=":material/schedule:")
    rows = [{"For": _platform(p), "Best times": ", ".join(s.label for s in r.slots[:3]), "Posts": r.posts_used,
             "Confidence": r.label, "Based on": r.basis} for p, r in times.by_platform.items()]
    rows += [{"For": names_by_id.get(a, a), "Best times": ", ".join(s.label for s in r.slots[:3]),
              "Posts": r.posts_used, "Confidence": r.label, "Based on": r.basis} for a, r in times.by_account.items()]
    if rows:
        with st.expander("Per platform and account"):
            table = pd.DataFrame(rows)
            st.dataframe(table, hide_index=True, key="an_best_times")
            st.download_button("Download CSV", data=lambda: analytics.table_csv(table), mime="text/csv",
                               file_name=analytics.export_filename(ws.name, "best-times", "csv", day=today),
                               key="an_csv_best_times", icon=":material/download:", on_click="ignore")
            st.caption(f"Learned from posts published {times.start.astimezone(tz):%d %b} – "
                       f"{times.end.astimezone(tz):%d %b %Y} (the last 16 weeks, leaving out the last two days while "
                       "their figures still grow). With too few posts an account borrows from the workspace, then "
                       "from a generic default, and says so.")


@st.fragment
def _trends(trends: pd.DataFrame) -> None:
    """The daily chart; its own choices redraw only it."""
    c1, c2 = st.columns([3, 2])
    measure = c1.segmented_control("Show", ["engagements", "reach", "views", "posts", "engagement_rate"],
                                   default="engagements", key="an_trend_measure",
                                   format_func=lambda m: m.replace("_", " ").capitalize())
    measure = measure or "engagements"
    split = c2.segmented_control("By", ["platform", "account"], default="platform", key="an_trend_split",
                                 format_func=str.capitalize) or "platform"
    if measure == "engagement_rate":
        split = "account"           # a rate is per account; adding rates up across accounts would mislead
        st.caption("Engagement rate is shown per account.")
    group = "platform" if split == "platform" else "who"
    # (each platform or account keeps its platform: its colour)
    series = trends.groupby(["day", group, "platform_slug"], as_index=False)[measure].sum(min_count=1) \
        if measure != "engagement_rate" else trends[["day", group, "platform_slug", measure]]
    fig = _lines(series.sort_values("day"), "day", measure, group, y_title=measure.replace("_", " ").capitalize())
    _day_axis(fig, series["day"], until=period.last, since=period.first)
    if measure == "engagement_rate":
        _rate_axis(fig, series[measure])
    else:
        _count_axis(fig, series[measure])
    _chart(fig, "an_trends")
    if measure in ("views", "engagement_rate"):
        for note in analytics.series_notes(sorted(set(trends["platform"]))):
            st.caption(f"ℹ️ {note}")
    _csv("daily_trends", f)


@st.fragment
def _ranked(posts: pd.DataFrame) -> None:
    """Top and bottom posts; ranking them another way redraws only this."""
    rank_by = st.segmented_control("Rank by", ["engagement_rate", "engagements", "reach", "views"],
                                   default="engagement_rate", key="an_rank_by",
                                   format_func=lambda m: m.replace("_", " ").capitalize()) or "engagement_rate"
    ranking = analytics.rank_posts(posts, rank_by, now)
    links = posts["link"].map(lambda u: viewable_link(u, settings()) if isinstance(u, str) else u)
    if "is_demo" in posts:     # demo history was never on a platform (nor in the emulator): nothing to open
        links = links.where(~posts["is_demo"].fillna(False).astype(bool), None)
    shown = _named(posts).assign(
        engagement_rate=posts["engagement_rate"] * 100,
        published=posts["published_at"].dt.tz_convert(tz).dt.strftime("%a %d %b %H:%M"),
        origin=posts["is_ai_generated"].map({True: "AI", False: ""}),
        thumbnail=posts["thumbnail"].where(posts["thumbnail"].notna(), ""),
        link=links)
    columns = ["thumbnail", "published", "who", "caption", "views", "reach", "likes", "comments",
               "shares", "saves", "engagements", "engagement_rate", "origin", "link"]
    # The ranking figure first, one other figure beside it: the lists fit 1280 px without scrolling sideways.
    second = "engagements" if rank_by == "engagement_rate" else "engagement_rate"
    brief = ["thumbnail", rank_by, second, "published", "who", "caption", "link"]
    config = {"thumbnail": st.column_config.ImageColumn("", width=44),
              # wide enough for "not available" (demo posts were never on a platform)
              "link": st.column_config.LinkColumn("Link", display_text="Open ↗", width=96),
              "caption": st.column_config.TextColumn("Caption", width=150),
              "engagement_rate": st.column_config.NumberColumn("Eng. rate", format="%.2f%%", width=80),
              # wide enough for "not available" where a platform does not report the metric
              **{m: st.column_config.NumberColumn(label, format="localized", width=92) for m, label in METRICS},
              "published": st.column_config.TextColumn("Published", width=112),
              "who": st.column_config.TextColumn("Account", width=152), "origin": "AI"}
    what = rank_by.replace("_", " ")
    if not ranking.order:
        st.caption(f"No post to rank by {what} yet.")
    elif ranking.one_list:      # too few for a Top 5 and a Bottom 5 that do not repeat the same posts
        st.markdown(f"**All {_plural(len(ranking.order), 'ranked post')}** by {what}, best first "
                    f"(Top and Bottom 5 once there are {2 * analytics.RANK_SIZE})")
        st.dataframe(shown.loc[list(ranking.order), brief], hide_index=True, column_config=config, key="an_ranked",
                     row_height=56, placeholder=NA)
    else:
        st.markdown(f"**Top {analytics.RANK_SIZE}** by {what}")
        st.dataframe(shown.loc[list(ranking.top), brief], hide_index=True, column_config=config, key="an_top",
                     row_height=56, placeholder=NA)
        st.markdown(f"**Bottom {analytics.RANK_SIZE}** by {what}")
        st.dataframe(shown.loc[list(ranking.bottom), brief], hide_index=True, column_config=config,
                     key="an_bottom", row_height=56, placeholder=NA)
    for note in ranking.left_out():
        st.caption(note)
    with st.expander("The one published post in this period" if len(posts) == 1 else
                     f"All {len(posts)} published posts in this period"):
        st.dataframe(shown[columns], hide_index=True, column_config=config, key="an_all_posts", placeholder=NA)
    _csv("post_table", f, label="Download posts (CSV)")


@st.fragment
def _post_curve(posts: pd.DataFrame) -> None:
    """One post's figures since publication; picking another redraws only this."""
    st.subheader("One post since publication")
    newest = posts.sort_values("published_at", ascending=False)
    choice = {r.delivery_id: f"{r.published_at.astimezone(tz):%d %b %H:%M} · {_platform(r.platform)} {r.handle} · "
                             f"{(r.caption or '')[:60]}" for r in newest.itertuples(index=False)}
    picked_post = st.selectbox("Post", list(choice), format_func=choice.get, key="an_drill")
    curve = _frame("post_curve", delivery_id=picked_post)
    if curve.empty:
        st.caption("Its platform has not reported figures for this post yet.")
    else:
        reported = [m for m, _ in METRICS if m in curve and curve[m].notna().any()]
        missing = [label for m, label in METRICS if m not in reported]
        long = curve.rename(columns=dict(METRICS)).melt(
            id_vars=["hours_since_publish"], value_vars=[dict(METRICS)[m] for m in reported], var_name="metric",
            value_name="value").dropna(subset=["value"])
        fig = _lines(long, "hours_since_publish", "value", "metric", x_title="Hours since publication",
                     order=[label for m, label in METRICS if m in reported])
        _count_axis(fig, long["hours_since_publish"], axis="x")     # whole hours while it is young
        _count_axis(fig, long["value"])
        _chart(fig, "an_curve")
        if missing:
            st.caption(f"{', '.join(missing)}: {NA} for this post (its platform does not report them).")
        _csv("post_curve", f, label="Download this post's curve (CSV)", delivery_id=picked_post)


@st.fragment
def _sql_box() -> None:
    """The read-only SQL box; running a query redraws only it."""
    with st.expander("SQL for power users (read-only)"):
        st.caption("One SELECT over this workspace's analytics tables; nothing can be changed, files and the network "
                   "are out of reach, and answers stop at 1,000 rows or 5 seconds. The first query on the metric "
                   "history copies it into the box first, which can take longer on a large one (the box says so).")
        st.caption("Tables: " + "; ".join(f"`{name}` ({what})" for name, what in analytics.sql_tables().items()))
        sql = st.text_area("SQL", value="SELECT platform, count(*) AS posts, sum(likes) AS likes\nFROM post_metrics "
                                        "GROUP BY platform ORDER BY posts DESC", key="an_sql", height=120)
        if st.button("Run", key="an_sql_run"):
            # The first query on the metric history copies it into the box (seconds on millions of rows): the
            # box says so before it starts, and the note stays up until the answer is there.
            note = st.empty()
            try:
                with st.spinner("Running the query..."):
                    answer = analytics.run_sql(engine, ctx.actor, ws.id, sql, on_copy=note.info)
            except OutpostError as exc:
                note.empty()
                show_problems(exc)
            else:
                note.empty()
                st.dataframe(answer.df, hide_index=True, key="an_sql_result")
                copied = (f" (getting the box's copy of the data ready took {answer.copy_ms / 1000:.1f} s first)"
                          if answer.copy_ms >= 1000 else "")
                st.caption(f"{len(answer.df):,} row{'' if len(answer.df) == 1 else 's'}{' (cut at the limit)' if answer.truncated else ''} in "
                           f"{answer.elapsed_ms:.0f} ms{copied}.")


def _frame(name: str, **extra) -> pd.DataFrame:
    return analytics.run_query(engine, ctx.actor, name, f, **extra)


# ---------------------------------------------------------------- the engine, and the demo in sandbox mode

engine = analytics_engine()
now = utcnow()
st.title("Analytics")
try:
    accounts = workspace_accounts(db, ws.id, actor=ctx.actor)
except PermissionDenied as exc:     # core's rule: only the workspace's members read its figures
    st.error(str(exc))
    st.stop()

for kind, message in st.session_state.pop(FLASH, []):
    getattr(st, kind)(message)

demo_state = "none"
if settings().sandbox:
    # A first visit to a sandbox workspace with no history: 90 days of demo history, so there is something to read
    # (sandbox.demo decides: only someone who may write posts, only once; removed, it does not come back).
    from sandbox.demo import auto_seed_demo, planted_words
    with st.spinner("Preparing 90 days of demo history for this sandbox workspace…"):
        try:
            seeded = auto_seed_demo(db, settings(), actor=ctx.actor, workspace_id=ws.id, user_id=ctx.user.id,
                                    now=now)
        except OutpostError as exc:
            show_problems(exc)
            seeded = None
        except Exception as exc:            # the emulator is down, say: the page still shows what there is
            st.warning(f"The demo history could not be prepared ({exc}); is the sandbox emulator running?")
            seeded = None
    if seeded is not None:
        engine = analytics_engine(refresh=True)
    demo_state = demo.demo_status(db, actor=ctx.actor, workspace_id=ws.id)

if analytics_problem():
    st.warning("The figures could not be brought up to date just now, so they may miss the latest posts; Outpost "
               f"tries again on the next visit. ({analytics_problem()})")
if getattr(engine, "mode", "") == "memory" and getattr(engine, "note", ""):
    st.caption(f"ℹ️ {engine.note}")      # another dashboard holds the analytics file: this one works in memory

if demo_state == "present":
    with st.container(border=True):
        left, right = st.columns([5, 1], vertical_alignment="center")
        left.markdown(":material/science: **Demo data.** These figures are 90 days of made-up history for the sandbox accounts, so "
                      "you can see how Analytics reads; its best times are planted on "
                      f"{planted_words(ws.timezone_name)}. Your own posts' figures join them as they are published.")
        if ctx.can(Action.REMOVE_DEMO) and right.button("Remove demo data", key="an_remove_demo"):
            try:
                demo.remove_demo(db, actor=ctx.actor, workspace_id=ws.id)
            except OutpostError as exc:
                show_problems(exc)
            else:
                analytics_engine(refresh=True)
                st.session_state[FLASH] = [("success", "Demo data removed: its posts, figures and demo accounts are "
                                                       "gone; your own posts and figures are untouched.")]
                st.rerun()

# ---------------------------------------------------------------- filters

tz = zone(ws.timezone_name)
today = now.astimezone(tz).date()
row = st.columns([2, 3, 3, 3], vertical_alignment="bottom")
preset = row[0].selectbox("Period", list(PRESETS), index=1, key="an_period")
if PRESETS[preset] is None:
    picked = row[1].date_input("From – to", value=(today - timedelta(days=29), today), max_value=today,
                               key="an_dates", format="YYYY-MM-DD")
    picked = tuple(picked) if isinstance(picked, (tuple, list)) else (picked,)
    if len(picked) == 1:
        st.caption("Pick the last day of the period too (showing the first day alone until then).")
        picked = (picked[0], picked[0])
    period = analytics.Period(*picked)
else:
    period = analytics.last_days(PRESETS[preset], today)
    row[1].markdown(f"**{period.describe()}**")
platforms = sorted({a.platform.value for a in accounts})
labels = {a.platform.value: a.platform.label for a in accounts}
chosen_platforms = row[2].multiselect("Platforms", platforms, format_func=lambda p: labels.get(p, p),
                                      placeholder="All platforms", key="an_platforms")
offered = [a for a in accounts if not chosen_platforms or a.platform.value in chosen_platforms]
names = {a.id: a.label for a in offered}
names_by_id = {a.id: a.label for a in accounts}
chosen_accounts = row[3].multiselect("Accounts", list(names), format_func=names.get, placeholder="All accounts",
                                     key="an_accounts")
try:
    f = analytics.filters_for(ws.id, ws.timezone_name, period, platforms=chosen_platforms,
                              account_ids=[a for a in chosen_accounts if a in names])
except OutpostError as exc:
    show_problems(exc)
    st.stop()
st.caption(f"Each figure is compared with {analytics.comparison_words(f, now)}. Days and hours are in "
           f"{ws.timezone_name}. A figure a platform does not report shows as “{NA}”.")

# ---------------------------------------------------------------- overview

st.subheader("Overview")
to_date = analytics.overview_now(f, now)      # a running period: compared to date, not with whole days
overview = _frame("overview", **to_date)
cards = st.columns(4) + st.columns(4)
for card, kpi in zip(cards, overview.itertuples(index=False)):
    as_text = _percent if kpi.kpi in PERCENT_KPIS else _count
    delta = analytics.change_words(kpi.kpi, kpi.change_pct, kpi.change_pts)      # rates in points: "+2.0 pts"
    basis = f" ({kpi.basis})" if isinstance(kpi.basis, str) and kpi.basis else ""
    value = as_text(kpi.value)
    if value == NA:      # said under a dash: the words do not fit the card's large figure
        value, delta = "—", NA
    card.metric(kpi.label, value, delta, border=True, delta_color="off" if delta in ("0.0%", "0.0 pts", NA) else "normal",
                delta_arrow="off" if delta == NA else "auto",
                help=f"{kpi.definition}{basis}. Previous period: {as_text(kpi.previous)}.")
_csv("overview", f, label="Download the overview (CSV)", **to_date)

posts = _frame("post_table")
if posts.empty:
    st.info("No published posts in this period yet. Posts appear here once they are published and their platform "
            "has reported figures; try a longer period.")

# ---------------------------------------------------------------- trends and followers

st.subheader("Trends")
trends = _named(_frame("daily_trends"))
if trends.empty:
    st.caption("No published posts in this period yet.")
else:
    _trends(trends)

st.subheader("Follower growth")
followers = _named(_frame("follower_growth"))
if followers.empty or followers["followers"].isna().all():
    st.caption("No follower counts in this period yet (they are read once a day per account).")
else:
    fig = _lines(followers.sort_values("day"), "day", "followers", "who", y_title="Followers")
    _day_axis(fig, followers["day"], until=period.last, since=period.first)
    _count_axis(fig, followers["followers"], from_zero=False)     # growth reads on its own scale, never below 0
    lone = {c.who: c for c in analytics.lone_counts(followers)}
    for trace in fig.data:      # a lone count is said beside its dot, not left as a dot without words
        if trace.name in lone:
            c = lone[trace.name]
            words = f"{'first count' if c.first else 'one count here'}, {c.day:%d %b}"
            trace.update(mode="markers+text", textposition="top center",
                         text=[words if pd.notna(v) else "" for v in trace.y])
    _chart(fig, "an_followers")
    for note in analytics.follower_notes(followers):
        st.caption(f":material/info: {note}")
    _csv("follower_growth", f)

# ---------------------------------------------------------------- best time to post

st.subheader("Best time to post")
grid = _frame("best_time_grid")
if grid.empty:
    st.caption("No published posts in this period yet: the heatmap fills in as posts go out.")
else:
    rates = grid.pivot_table(index="weekday", columns="hour", values="avg_engagement_rate", aggfunc="first")
    counts = grid.pivot_table(index="weekday", columns="hour", values="posts", aggfunc="first")
    rates = rates.reindex(index=range(7), columns=range(24))
    counts = counts.reindex(index=range(7), columns=range(24))
    text = counts.map(lambda n: "" if _missing(n) or n == 0 else f"{int(n)}")
    words = counts.map(lambda n: "" if _missing(n) else _plural(n, "post"))
    top = (rates * 100).max().max()
    heat = go.Figure(go.Heatmap(
        z=(rates * 100).values, x=[f"{h:02d}" for h in range(24)], y=list(WEEKDAYS), text=text.values,
        # From a light blue, not white: a cell at 0% still shows that a post went out then (empty cells stay blank).
        customdata=words.values, texttemplate="%{text}", hoverongaps=False,
        colorscale=[[0, "rgb(222,235,247)"], [0.5, "rgb(107,174,214)"], [1, "rgb(8,48,107)"]],
        # A rate is never below 0: the scale starts there (one post at 0% would otherwise span -0.4 to 0.4).
        zmin=0, zmax=float(top) if not _missing(top) and top > 0 else 1,
        colorbar=dict(title="Eng. rate %", ticksuffix="%"),
        hovertemplate="%{y} %{x}:00 · %{customdata} · engagement rate %{z:.2f}%<extra></extra>"))
    heat.update_yaxes(autorange="reversed")
    heat.update_xaxes(type="category")
    heat.update_layout(xaxis_title=f"Hour of the day ({ws.timezone_name})")
    _chart(heat, "an_heatmap")
    st.caption("Each cell: the average engagement rate of this period's posts published in that local hour; the "
               "number is how many posts it rests on. Empty cells had no posts. The recommendation below learns "
               "from the last 16 weeks, whatever the period.")
    _csv("best_time_grid", f)
_best_time_panel()

# ---------------------------------------------------------------- posts: top and bottom, one post's curve

st.subheader("Top and bottom posts")
if posts.empty:
    st.caption("No published posts in this period yet.")
else:
    _ranked(posts)
    _post_curve(posts)

# ---------------------------------------------------------------- what kind of content works

st.subheader("What works")
c1, c2 = st.columns(2)
with c1:
    st.markdown("**Hashtags**")
    tags = _frame("hashtags")
    if tags.empty:
        st.caption("No hashtags in this period's published posts.")
    else:
        top_tags = tags.sort_values("avg_engagements", ascending=False).head(15)
        top_tags = top_tags.iloc[::-1]
        bars = go.Figure(go.Bar(x=top_tags["avg_engagements"], y=top_tags["hashtag"], orientation="h",
                                customdata=list(zip(top_tags["posts"].map(lambda n: _plural(n, "post")),
                                                    top_tags["avg_engagement_rate"])),
                                hovertemplate="%{y}: %{x:.0f} engagements on average · %{customdata[0]} · "
                                              "engagement rate %{customdata[1]:.1%}<extra></extra>"))
        bars.update_layout(xaxis_title="Average engagements")
        _count_axis(bars, top_tags["avg_engagements"], axis="x")
        _chart(bars, "an_hashtags")
        _csv("hashtags", f)
with c2:
    st.markdown("**Content type**")
    kinds = _frame("content_types")
    if kinds.empty:
        st.caption("No published posts in this period yet.")
    else:
        bars = go.Figure(go.Bar(x=kinds["content_type"], y=kinds["avg_engagements"], text=kinds["posts"],
                                customdata=list(zip(kinds["avg_engagement_rate"],
                                                    kinds["posts"].map(lambda n: _plural(n, "post")))),
                                hovertemplate="%{x}: %{y:.0f} engagements on average · %{customdata[1]} · "
                                              "engagement rate %{customdata[0]:.1%}<extra></extra>"))
        bars.update_layout(yaxis_title="Average engagements")
        _count_axis(bars, kinds["avg_engagements"])
        _chart(bars, "an_content")
        st.caption("The number on each bar is how many posts it rests on.")
        _csv("content_types", f)
c1, c2 = st.columns(2)
with c1:
    st.markdown("**AI-generated against hand-written**")
    origin = _frame("ai_vs_human")
    if origin.empty:
        st.caption("No published posts in this period yet.")
    else:
        for r in origin.itertuples(index=False):
            st.markdown(f"- **{r.origin}**: {_plural(r.posts, 'post')}, {_count(r.avg_engagements)} engagements on "
                        f"average, engagement rate {_percent(r.avg_engagement_rate)}")
        _csv("ai_vs_human", f)
with c2:
    st.markdown("**Workflow**")
    flow = _frame("workflow")
    if flow.empty:
        st.caption("No posts in this period yet.")
    else:
        w = flow.iloc[0]
        st.markdown(f"- Generated with AI: **{_count(w.generated)}**\n- Approved: **{_count(w.approved)}**, rejected: "
                    f"**{_count(w.rejected)}** (approval rate {_percent(w.approval_rate)})\n- Posts published (on any account): "
                    f"**{_count(w.published)}**\n- Time to approve (median): "
                    f"**{NA if _missing(w.median_hours_to_approve) else f'{w.median_hours_to_approve:.1f} h'}**")
        st.caption(analytics.definition("workflow_published"))
        _csv("workflow", f)

# ---------------------------------------------------------------- publishing reliability

st.subheader("Publishing reliability")
rel = _frame("reliability")
if rel.empty or not rel.iloc[0]["due"]:
    st.caption("Nothing was due to go out in this period.")
else:
    r = rel.iloc[0]
    cards = st.columns(5)
    cards[0].metric("On time", _percent(r.on_time_rate), border=True,
                    help=analytics.definition("on_time_rate"))
    cards[1].metric("Median delay", _duration(r.lateness_p50_s), border=True,
                    help=analytics.definition("lateness"))
    cards[2].metric("Slowest 5% delay", _duration(r.lateness_p95_s), border=True,
                    help=analytics.definition("lateness"))
    cards[3].metric("Retries", _count(r.retries), border=True, help=analytics.definition("retries"))
    cards[4].metric("Failed / need review", f"{int(r.failed)} / {int(r.needs_review)}", border=True,
                    help=f"Of {_plural(r.due, 'post')} due, {int(r.published)} "
                         f"{'was' if int(r.published) == 1 else 'were'} published.")
    _csv("reliability", f, label="Download these figures (CSV)")
    by_platform = _named(_frame("reliability_by_platform"))
    c1, c2 = st.container(), st.container()
    with c1:
        st.markdown("**By platform**")
        st.dataframe(by_platform.assign(on_time_rate=by_platform["on_time_rate"] * 100)
                     .drop(columns="platform_slug", errors="ignore"), hide_index=True,
                     key="an_rel_platform", placeholder=NA, column_config={
                         "platform": "Platform", "due": "Due", "published": "Published", "failed": "Failed",
                         "retries": "Retries",
                         "on_time_rate": st.column_config.NumberColumn("On time", format="%.1f%%"),
                         "lateness_p50_s": st.column_config.NumberColumn("Median delay (s)", format="%.0f"),
                         "lateness_p95_s": st.column_config.NumberColumn("p95 delay (s)", format="%.0f")})
        _csv("reliability_by_platform", f)
    with c2:
        st.markdown("**Failures by reason**")
        fails = _named(_frame("failures"))
        if fails.empty:
            st.caption("No failures in this period.")
        else:
            fails["reason"] = fails["reason"].str.replace("_", " ").str.capitalize()
            bars = go.Figure([go.Bar(x=part["failures"], y=part["reason"], name=name, orientation="h",
                                     marker_color=PLATFORM_COLOURS.get(part["platform_slug"].iloc[0]))
                              for name, part in fails.groupby("platform")])
            bars.update_layout(barmode="stack", xaxis_title="Failures")
            _count_axis(bars, fails.groupby("reason")["failures"].sum(), axis="x")
            _chart(bars, "an_failures")
            _csv("failures", f)

# ---------------------------------------------------------------- the whole history, and SQL

st.subheader("Export and SQL")
st.download_button("Download the whole metric history (Parquet)",
                   data=lambda: analytics.export_parquet(engine, ctx.actor, ws.id),
                   file_name=analytics.export_filename(ws.name, "metric-history", "parquet", day=today),
                   mime="application/vnd.apache.parquet",
                   key="an_parquet", icon=":material/download:", on_click="ignore",
                   help="Every metric snapshot of every post and every follower count, not only this period.")
_sql_box()
