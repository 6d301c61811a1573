"""Activity: is the automation running, what needs a person, the notifications, and what happened (the log)."""
from __future__ import annotations

from datetime import timedelta

import pandas as pd
import streamlit as st

from core.domain.errors import IllegalTransitionError, OutpostError
from core.domain.timeutil import utcnow, zone
from core.rules.permissions import Action
from core.services.notifications import mark_read
from core.services.scheduler import Scheduler
from core.services.status import activity_log, automation_status, describe_age, unread_count
from core.services.views import attention_rows, notification_rows
from pages.shared import context, settings, show_problems, store, waiting_for_accounts

ctx = context()
db = store()
ws = ctx.workspace
tz = zone(ws.timezone_name)

st.title("Activity")
done = st.session_state.pop("activity_done", None)
if done:
    st.success(done)


def _local(at) -> str:
    return at.astimezone(tz).strftime("%a %d %b %H:%M") if at else "—"


def _late(delta) -> str:
    return "on time" if delta < timedelta(seconds=1) else describe_age(delta)


def _short(at, now) -> str:
    """A time short enough for a metric: "21:05" today, "Fri 09:00" this week, "14 Mar" later."""
    local, today = at.astimezone(tz), now.astimezone(tz).date()
    if local.date() == today:
        return f"{local:%H:%M}"
    return f"{local:%a %H:%M}" if local.date() < today + timedelta(days=6) else f"{local:%d %b}"


# ---------------------------------------------------------------- automation status, refreshed live
@st.fragment(run_every=timedelta(seconds=5))
def automation() -> None:
    now = utcnow()
    status = automation_status(db, ws.id, now=now, actor=ctx.actor)
    runner = status.runner
    st.subheader("Automation")
    say = st.success if runner.running else st.error
    say(runner.describe(), icon=":material/check_circle:" if runner.running else ":material/warning:")
    cols = st.columns([1, 1, 1.3, 1.3, 1.3])
    cols[0].metric("Due now", status.due_now, help="Deliveries whose time has come and that wait for the runner.")
    cols[1].metric("Later today", status.later_today, help=f"Still to go out today ({ws.timezone_name}).")
    cols[2].metric("Next due", _short(status.next_due_at, now) if status.next_due_at else "—",
                   help=_local(status.next_due_at) if status.next_due_at else "Nothing is planned.")
    cols[3].metric("Last publish", f"{describe_age(now - status.last_published_at)} ago"
                   if status.last_published_at else "—",
                   help=_local(status.last_published_at) if status.last_published_at else "Nothing published yet.")
    if status.published_last_hour:
        cols[4].metric("Late, last hour", _late(status.lateness_p50),
                       help="How long after their time the last hour's posts went out (the median); "
                            "the line below has the slowest.")
        n = status.published_last_hour
        st.caption(f"Last hour: {n} published, " + ("all on time (within a second)." if status.lateness_max
                   < timedelta(seconds=1) else f"typically {_late(status.lateness_p50)} after their time, the "
                   f"slowest {describe_age(status.lateness_max)}."))
    else:
        cols[4].metric("Late, last hour", "—", help="Nothing was published in the last hour.")
    st.caption(f"Times in {ws.timezone_name}. Updated every 5 seconds; last at {_local(now)}:"
               f"{now.astimezone(tz):%S}.")


automation()

# ---------------------------------------------------------------- what needs a person
attention = attention_rows(db, ws.id, tz_name=ws.timezone_name, actor=ctx.actor)
blocked = waiting_for_accounts(ctx)
needing = len(attention) + len(blocked)
st.subheader(f"Needs attention ({needing})" if needing else "Needs attention")
if not needing:
    st.caption("Nothing failed and nothing waits for a decision. Problems with publishing show up here.")
for row in blocked:   # accounts that cannot post while planned posts wait for them
    with st.container(border=True):
        n = row["waiting"]
        late = f", {row['overdue']} already due" if row["overdue"] else ""
        st.markdown(f"**Waiting for an account** · {row['account']} · {n} planned post{'s' if n != 1 else ''}{late}")
        st.caption(f"{row['reason']} Until then nothing goes out there; the next one is due {row['next']} "
                   f"({row['caption']}).")
        if st.button(f"Reconnect it on Accounts →", key=f"to_accounts_{row['account_id']}"):
            st.switch_page("pages/accounts.py")
may_settle = ctx.can(Action.SETTLE)
settle = Scheduler(db, actor=ctx.actor)


def _act(fn, message: str) -> None:
    try:
        fn()
    except IllegalTransitionError:   # someone (or the runner) settled it between the page's draw and the click
        st.session_state["activity_stale"] = True
    except OutpostError as exc:
        st.session_state["activity_error"] = exc
    else:
        st.session_state["activity_done"] = message


for row in attention:
    key = row["delivery_id"]
    review = row["state"] == "needs_review"
    with st.container(border=True):
        verdict = "Needs review" if review else "Failed"
        st.markdown(f"**{verdict}** · {row['account']} · due {row['when']} · {row['caption']}")
        st.caption(row["reason"] or "No reason was recorded.")
        if not may_settle:
            continue
        if review:
            st.caption("Outpost could not tell whether this went out. Look on the platform, then decide.")
            link = st.text_input("Link to the live post (if you found it)", key=f"link_{key}",
                                 placeholder="https://…")
            cols = st.columns(3)
            cols[0].button("It is live", key=f"live_{key}", on_click=_act, args=(
                lambda k=key: settle.confirm_published(k, url=st.session_state.get(f"link_{k}") or None),
                "Marked as published."))
            cols[1].button("It is not there: publish it", key=f"again_{key}", on_click=_act, args=(
                lambda k=key: settle.try_again(k), "Queued to publish again now."))
            cols[2].button("Do not publish it", key=f"drop_{key}", on_click=_act, args=(
                lambda k=key: settle.give_up(k), "It will not be published."))
        else:
            cols = st.columns(3)
            cols[0].button("Try again", key=f"again_{key}", on_click=_act, args=(
                lambda k=key: settle.try_again(k), "Queued to publish again now."))
if attention and not may_settle:
    st.caption("Only owners and editors can decide what happens to these; ask one of them.")
if st.session_state.pop("activity_stale", False):
    st.warning("Someone settled that one already, so nothing changed; the list shows where things stand now.")
error = st.session_state.pop("activity_error", None)
if error is not None:
    show_problems(error)

# ---------------------------------------------------------------- notifications
unread = unread_count(db, ws.id, actor=ctx.actor)
st.subheader(f"Notifications ({unread} unread)" if unread else "Notifications")
notes = notification_rows(db, ws.id, tz_name=ws.timezone_name, limit=50, actor=ctx.actor)


def _mark(ids: list[str]) -> None:
    try:
        for nid in ids:
            mark_read(db, ws.id, nid, actor=ctx.actor)
    except OutpostError as exc:
        st.session_state["activity_error"] = exc


if not notes:
    st.caption("No notifications. Outpost tells you here when a post fails, needs review or waits for approval, "
               "and when an account needs reconnecting.")
else:
    if unread:
        st.button("Mark all as read", key="mark_all_read", on_click=_mark,
                  args=([n["id"] for n in notes if n["unread"]],))
    for n in notes:
        with st.container(border=True):
            left, right = st.columns([5, 1])
            dot = ":blue[●] " if n["unread"] else ""
            left.markdown(f"{dot}**{n['title']}** · {n['when']}")
            if n["body"]:
                left.caption(n["body"])
            if n["unread"]:
                right.button("Mark read", key=f"read_{n['id']}", on_click=_mark, args=([n["id"]],))

# ---------------------------------------------------------------- the log
LOG_COLUMNS = {"when": ("When", 160, f"In {ws.timezone_name}."), "who": ("Who", 95, None),
               "what": ("What", 135, None), "about": ("About", 150, "The post, account or person it concerns."),
               "reason": ("Why", 160, "Click a cell to read all of it."), "change": ("Change", 80, None)}
st.subheader("Activity log")
# The filters as last chosen (the options come from every event looked at, so one read serves both).
days = st.session_state.get("log_dates") or ()
if settings().sandbox:
    st.toggle("Show the sandbox demo history", key="log_demo",
              help="The made-up history behind the demo analytics; left out so your own events are easy to read.")
log = activity_log(db, ws.id, who=st.session_state.get("log_who"), action=st.session_state.get("log_what"),
                   post_id=st.session_state.get("log_post"), since=days[0] if len(days) >= 1 else None,
                   until=days[1] if len(days) >= 2 else (days[0] if days else None),
                   demo=bool(st.session_state.get("log_demo")), actor=ctx.actor)
if not log.scanned:
    st.caption("Nothing has happened in this workspace yet. Every change to a post, an account or the settings, "
               "and every publish, is recorded here.")
else:
    captions = log.post_captions
    f1, f2, f3, f4 = st.columns([2, 2, 3, 3])
    f1.selectbox("Who", [None, *log.people], format_func=lambda v: "Anyone" if v is None else v, key="log_who")
    f2.selectbox("What", [None, *log.actions], format_func=lambda v: "Anything" if v is None else v, key="log_what")
    f3.selectbox("Post", [None, *log.post_ids], key="log_post",
                 format_func=lambda v: "Any post" if v is None else captions.get(v, v))
    f4.date_input("Dates", value=(), key="log_dates", help=f"Days in {ws.timezone_name}: one day, or a range.")
    if log.rows:
        frame = pd.DataFrame(log.rows)
        # what a person recognises, named in core: a post's caption start, an account's handle, a person's name
        frame["about"] = [r["about"] for r in log.rows]
        # Widths in pixels, together what the page has at 1280 px with the sidebar open (~780): nothing is out of
        # sight sideways; a long "Why" or "About" is cut in its cell (a click on the cell shows all of it).
        st.dataframe(frame[["when", "who", "what", "about", "reason", "change"]], hide_index=True, width="stretch",
                     column_config={name: st.column_config.TextColumn(label, width=px, help=help_)
                                    for name, (label, px, help_) in LOG_COLUMNS.items()})
        st.caption(f"{len(log.rows)} event{'' if len(log.rows) == 1 else 's'}, newest first.")
    else:
        st.info("No events match these filters. Choose “Anyone”, “Anything”, “Any post” or clear the dates.")
