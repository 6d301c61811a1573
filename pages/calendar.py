"""Calendar: the month, week or list of posts in the workspace's timezone; drag to move, click to open.

The component's traps (library-notes): it has a key; the last callback value comes back on every rerun, so each
callback is acted on once, told apart by a counter (`cal_rev`) that every event carries and that moves on after
each handled callback (a second click on the same post is then a new value, and a refused drop snaps back: the
events given to the component changed); it is not inside st.tabs; all times it sees and returns are wall times in
the workspace's zone (core.services.calendar).

One calendar, never remounted by what happens on the page: its key names only the view and the dates (a new key
is a new iframe, drawn from nothing), and the elements above it are the same in number on every run (messages go
into one container), so it keeps its place in the page. A publish, a click, a drag, the dialog's actions and the
refresh redraw its events in the same iframe; only choosing another view or other dates mounts a new one.
"""
from __future__ import annotations

from datetime import date, datetime, timedelta

import streamlit as st
from streamlit_calendar import calendar

from core.domain import Schedule
from core.domain.errors import OutpostError
from core.domain.timeutil import zone
from core.rules.permissions import Action
from core.services import calendar as cal
from core.services.views import data_version, workspace_accounts
from pages import post_dialog
from pages.shared import context, show_problems, store

REFRESH = timedelta(seconds=12)   # how often the visible dates are read again while the page is open
HEIGHT = 720                      # the calendar's height in pixels, whatever the view
CACHE_TTL = timedelta(seconds=30)  # the longest a cached answer is kept, whatever the version says

ctx = context()
db = store()
ws = ctx.workspace
tz = ws.timezone_name
s = st.session_state
can_edit = ctx.can(Action.EDIT_POSTS)

st.title("Calendar")
st.caption(f"Times are in {tz}. " + ("Drag a post to another day or time to move it; click it to open it."
                                     if can_edit else "Click a post to open it.")
           + f" A day with more than {cal.DAY_LIMIT} posts in the month ({cal.WEEK_DAY_LIMIT} in the week) shows"
             " how many of each status; click it to see that day. Demo posts (grey) are sample history: read-only."
             " ↻ dashed entries are a repeating post's coming dates: each is made from the series after the"
             " previous one goes out.")

# ---------------------------------------------------------------- messages from the last action
# In one container, whatever they are: the page has as many elements above the calendar on every run, so a message
# appearing or going never moves the calendar to another place in the page (Streamlit would mount it again there,
# a second iframe beside the old one until the run ends).
messages = st.container()
flash = s.pop(post_dialog.FLASH, None)
if flash:
    # The dialog acted after the last drag: Undo undoes the last action only, and that drag is no longer it (its
    # undo would put a post rescheduled in the dialog back where it was dragged from).
    s.pop("cal_moved", None)
    getattr(messages, flash[0])(flash[1])
note = s.pop("cal_note", None)
if note:
    messages.info(note)
refused = s.pop("cal_refused", None)
if refused:
    messages.error(f"Not moved: {refused}")
moved: cal.Moved | None = s.get("cal_moved")
if moved is not None:
    c1, c2 = messages.columns([6, 1], vertical_alignment="center")
    c1.success(f"Moved to {Schedule(moved.result.scheduled_at, tz).describe()}."
               + "".join(f" {w.message}" for w in moved.result.warnings))
    if c2.button("Undo", key="cal_undo"):
        s.pop("cal_moved", None)
        try:
            cal.undo_move(db, moved, actor=ctx.actor)
        except OutpostError as exc:
            show_problems(exc)
        else:
            s[post_dialog.FLASH] = ("info", f"Moved back to {moved.previous.describe()}.")
            st.rerun()

# Another view or other dates mount a new calendar (FullCalendar reads them only when it starts): its iframe is
# 0 px high until it has drawn itself, so it keeps the calendar's height meanwhile instead of the page folding up.
st.html(f"<style>.stElementContainer[class*='st-key-cal-'] iframe{{min-height:{HEIGHT}px}}</style>")

# ---------------------------------------------------------------- legend
st.markdown(" ".join(
    f"<span style='background:{style.colour};color:{style.text};padding:2px 8px;border-radius:10px;"
    f"font-size:0.8rem;white-space:nowrap'>{style.label}</span>" for style in (*cal.LEGEND.values(), cal.DEMO))
    + f" <span style='background:{cal.REPEAT.colour};color:{cal.REPEAT.text};padding:1px 7px;border-radius:10px;"
      f"border:1px dashed #64748B;font-size:0.8rem;white-space:nowrap'>↻ {cal.REPEAT.label}</span>",
    unsafe_allow_html=True)

# ---------------------------------------------------------------- where and what
today = datetime.now(zone(tz)).date()
goto = s.pop("cal_goto", None)   # a busy day's summary was clicked: open that day (before the view's widget exists)
if goto is not None:
    s["cal_view"], s["cal_anchor"] = "Day", goto
anchor: date = s.setdefault("cal_anchor", today)
bar = st.columns([3, 1, 1, 1, 3], vertical_alignment="bottom")
view = bar[0].segmented_control("View", list(cal.VIEWS), default="Month", key="cal_view", required=True) or "Month"
step = timedelta(days=1) if view == "Day" else timedelta(days=7)
if bar[1].button("◀ Earlier", key="cal_prev"):
    s["cal_anchor"] = (anchor.replace(day=1) - timedelta(days=1)) if view == "Month" else anchor - step
    st.rerun()
if bar[2].button("Today", key="cal_today"):
    s["cal_anchor"] = today
    st.rerun()
if bar[3].button("Later ▶", key="cal_next"):
    s["cal_anchor"] = (anchor.replace(day=1) + timedelta(days=32)).replace(day=1) if view == "Month" else anchor + step
    st.rerun()

accounts = workspace_accounts(db, ws.id, actor=ctx.actor)
by_id = {a.id: a for a in accounts}
batches = cal.batch_names(db, ws.id, actor=ctx.actor)
with st.expander("Filters"):
    f1, f2, f3, f4 = st.columns(4)
    f_accounts = f1.multiselect("Account", list(by_id), format_func=lambda i: by_id[i].label, key="cal_f_accounts")
    platforms = sorted({a.platform for a in accounts}, key=lambda p: p.label)
    f_platforms = f2.multiselect("Platform", [p.value for p in platforms],
                                 format_func=lambda v: next(p.label for p in platforms if p.value == v),
                                 key="cal_f_platforms")
    f_status = f3.multiselect("Status", list(cal.LEGEND), format_func=lambda c: cal.LEGEND[c].label,
                              key="cal_f_status")
    f_batch = f4.selectbox("Batch", [None, *batches], format_func=lambda b: "All" if b is None else batches[b],
                           key="cal_f_batch")

# ---------------------------------------------------------------- the calendar
key = f"cal-{view}-{anchor.isoformat()}"
start, end = cal.visible_range(view, anchor, tz)
filtered = bool(f_accounts or f_platforms or f_status or f_batch)
options = {
    "initialView": cal.VIEWS[view], "initialDate": anchor.isoformat(), "timeZone": tz, "firstDay": 1,
    "editable": can_edit, "eventDurationEditable": False, "headerToolbar": {"left": "", "center": "title",
                                                                           "right": ""},
    "eventTimeFormat": {"hour": "2-digit", "minute": "2-digit", "hour12": False},
    "slotLabelFormat": {"hour": "2-digit", "minute": "2-digit", "hour12": False},
    "eventDisplay": "block", "dayHeaderFormat": {"weekday": "short"},
    "views": {"timeGridWeek": {"dayHeaderFormat": {"weekday": "short", "day": "numeric", "month": "short"}},
              "timeGridDay": {"dayHeaderFormat": {"weekday": "long", "day": "numeric", "month": "long"}}},
    "dayMaxEvents": cal.DAY_LIMIT, "height": HEIGHT, "nowIndicator": True, "scrollTime": "07:00:00",
    "eventOrder": "start,-duration,allDay,order,title",
}


@st.cache_data(ttl=CACHE_TTL, max_entries=64, show_spinner=False)
def _events(workspace_id: str, tz_name: str, view_name: str, first: datetime, last: datetime, account_ids: tuple,
            platform_values: tuple, categories: tuple, batch_id: str | None, editable: bool, version: str, *,
            _ctx) -> list[dict]:
    """The visible dates' events, kept while the workspace's posts have not changed (`version`): the refresh
    every REFRESH, a filter set back and a view visited again read nothing more than the version (2,000 posts
    in a month are ~0.2 s of CPU to read and turn into events)."""
    entries = cal.calendar_entries(db, workspace_id, start=first, end=last, actor=_ctx.actor,
                                   account_ids=account_ids, platforms=platform_values, categories=categories,
                                   batch_id=batch_id)
    repeats = cal.planned_repeats(db, workspace_id, start=first, end=last, actor=_ctx.actor,
                                  account_ids=account_ids, platforms=platform_values, categories=categories,
                                  batch_id=batch_id, entries=entries)
    return cal.to_events(entries, tz_name, can_edit=editable, summarise_over=cal.summarise_over(view_name)) \
        + cal.repeat_events(repeats, tz_name)


@st.fragment(run_every=REFRESH)
def _calendar() -> None:
    """The visible dates, read again every REFRESH so what the runner publishes shows up by itself. The key stays
    the same between these runs: the component keeps its state (a drag in progress included) and only redraws
    the events (streamlit-calendar >= 1.3.2)."""
    rev = s.get("cal_rev", 0)
    version = data_version(db, ws.id, actor=ctx.actor)   # VIEW checked on every run, cached answer or not
    events = _events(ws.id, tz, view, start, end, tuple(f_accounts), tuple(f_platforms), tuple(f_status), f_batch,
                     can_edit, version, _ctx=ctx)
    empty = st.empty()    # always there, so the calendar below keeps its place whether it says something or not
    if not accounts:
        empty.info("Nothing to plan yet: connect an account on the Accounts page, then write a post on the Posts "
                   "page.")
    elif not events:
        empty.info("No posts in these dates" + (" with these filters" if filtered else "")
                   + ". Write one on the Posts page, or look earlier or later.")
    # Every event carries the counter: the callback it sends back says which drawing it was made on.
    events = [{**e, "extendedProps": {**e.get("extendedProps", {}), "rev": rev}} for e in events]
    value = calendar(events=events, options=options,
                     callbacks=["eventClick", "eventChange"], key=key,
                     # the time keeps its width in narrow month cells; the title is cut with an ellipsis instead
                     custom_css=".fc-daygrid-event .fc-event-time{flex-shrink:0}"
                                ".fc-daygrid-event .fc-event-title{overflow:hidden;text-overflow:ellipsis}"
                                ".fc-event{cursor:pointer}"
                                ".outpost-repeat{border-style:dashed!important;border-width:2px!important;"
                                "opacity:.8}") or {}

    # The last value comes back on every rerun: act on each once, then move the counter on (the events are drawn
    # again with it, so the next click on the same post, or a drop back to the same place, is a new value).
    handled: set = s.setdefault("cal_handled", set())
    kind = value.get("callback")
    if kind in ("eventChange", "eventClick"):
        event = (value.get(kind) or {}).get("event") or {}
        mark = (key, kind, str(event.get("id")), event.get("start"), (event.get("extendedProps") or {}).get("rev"))
        if event.get("id") and mark not in handled:
            handled.add(mark)
            s["cal_rev"] = rev + 1
            if kind == "eventClick" and cal.summary_day(event["id"]) is not None:
                s["cal_goto"] = cal.summary_day(event["id"])
            elif kind == "eventClick" and cal.repeat_of(event["id"]) is not None:
                # a coming date of a series is not a post yet: open the series' current post, and say so
                s[post_dialog.OPEN] = cal.repeat_of(event["id"])
                s["cal_note"] = ("That date is a planned repeat: Outpost makes it from this series after the "
                                 "previous one goes out. Here is the series' current post.")
            elif kind == "eventClick":
                s[post_dialog.OPEN] = str(event["id"])
            else:
                s.pop("cal_moved", None)
                try:
                    done = cal.move_post(db, ws.id, str(event["id"]), event.get("start") or "", actor=ctx.actor)
                except OutpostError as exc:
                    problems = getattr(exc, "problems", None) or []
                    s["cal_refused"] = " ".join(p.message for p in problems) or str(exc)
                else:
                    if done is not None:
                        s["cal_moved"] = done
            st.rerun(scope="app")   # the messages, the undo button and the dialog live outside this fragment


_calendar()

if s.get(post_dialog.OPEN):
    post_dialog.show(s[post_dialog.OPEN])
