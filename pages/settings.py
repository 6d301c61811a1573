"""Settings: the workspace's name, timezone, posting times, approval, and each account's daily limit and gap.

The owner edits; everyone else sees the same values read-only. Core checks and validates
(`core.services.workspaces`, `core.services.accounts.edit_account`); this page only lays out and asks.
"""
from __future__ import annotations

import logging
from zoneinfo import available_timezones

import streamlit as st

from core.domain.errors import OutpostError
from core.domain.timeutil import utcnow
from core.rules.permissions import Action
from core.rules.timing import DEFAULT_MIN_GAP
from core.services.accounts import edit_account
from core.services import hashtag_groups
from core.services.best_time import suggest_queue_slots, with_slots_added
from core.services.views import workspace_accounts
from core.services.workspaces import settings_of, timezone_change_impact, update_settings
from pages.shared import analytics_engine, context, show_problems, store

ctx = context()
db = store()
ws = settings_of(db, ctx.actor, ctx.workspace.id)
owner = ctx.can(Action.MANAGE_MEMBERS)
WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")

st.title("Settings")
if not owner:
    st.info("Only the workspace owner can change these settings. You can see them here.")
done = st.session_state.pop("settings_saved", None)
if done:
    st.success(done)


def _save(changes: dict) -> None:
    try:
        update_settings(db, ctx.actor, ws.id, changes)
    except OutpostError as exc:
        st.session_state["settings_error"] = exc
    else:
        st.session_state["settings_saved"] = "Settings saved."
    st.session_state.pop("settings_pending", None)


zones = sorted(available_timezones())
if ws.timezone_name not in zones:
    zones.insert(0, ws.timezone_name)

st.subheader("Workspace")
with st.form("settings_form"):
    name = st.text_input("Workspace name", value=ws.name, key="settings_name", disabled=not owner)
    tz = st.selectbox("Timezone", zones, index=zones.index(ws.timezone_name), key="settings_tz", disabled=not owner,
                      help="Every time in Outpost is shown and chosen in this zone.")
    preferred = st.time_input("Preferred posting time", value=ws.preferred_time, key="settings_preferred",
                              disabled=not owner, step=300,
                              help="What a new post's time starts at when you pick only a day.")
    st.markdown("**Queue slots** (times a post added to the queue can take, per weekday; empty: none that day)")
    slots = {}
    cols = [*st.columns(4), *st.columns(4)[:3]]
    for day, label in enumerate(WEEKDAYS):
        times = ws.queue_slots.get(day, ())
        slots[day] = cols[day].text_input(label, value=", ".join(f"{t:%H:%M}" for t in times),
                                          key=f"settings_slots_{day}", disabled=not owner, placeholder="09:00, 17:00")
    needs = st.checkbox("Posts need approval before they go out", value=ws.requires_approval,
                        key="settings_requires_approval", disabled=not owner)
    other = st.checkbox("A second person approves (nobody approves their own post)", value=ws.approval_by_other,
                        key="settings_approval_by_other", disabled=not owner)
    submitted = st.form_submit_button("Save settings", type="primary", key="settings_save", disabled=not owner)

if submitted and owner:
    changes = {"name": name, "timezone_name": tz, "preferred_time": preferred, "requires_approval": needs,
               "approval_by_other": other,
               "queue_slots": {day: [t.strip() for t in text.split(",") if t.strip()] for day, text in slots.items()}}
    if tz != ws.timezone_name:
        try:
            impact = timezone_change_impact(db, ctx.actor, ws.id, tz, now=utcnow())
        except OutpostError as exc:
            show_problems(exc)
        else:
            st.session_state["settings_pending"] = (changes, impact)
    else:
        _save(changes)
        st.rerun()

pending = st.session_state.get("settings_pending")
if pending and owner:
    changes, impact = pending
    st.warning(f"**Change the timezone from {impact.old_zone} to {impact.new_zone}?** {impact.message}")
    if impact.moves:
        st.table([{f"Now ({impact.old_zone})": f"{m.old_local:%a %d %b %H:%M}",
                   f"Then ({impact.new_zone})": f"{m.new_local:%a %d %b %H:%M}"} for m in impact.moves[:10]])
        if len(impact.moves) > 10:
            st.caption(f"…and {len(impact.moves) - 10} more.")
    left, right = st.columns(2)
    left.button("Yes, change the timezone and save", type="primary", key="settings_confirm_tz",
                on_click=_save, args=(changes,))
    right.button("Keep the old timezone", key="settings_cancel_tz",
                 on_click=lambda: st.session_state.pop("settings_pending", None))

error = st.session_state.pop("settings_error", None)
if error is not None:
    show_problems(error)


def _add_best_slots(slots) -> None:
    """Add the suggested slots to the queue (a callback), and show them in the queue fields above."""
    merged = with_slots_added(settings_of(db, ctx.actor, ws.id).queue_slots, slots)
    try:
        update_settings(db, ctx.actor, ws.id, {"queue_slots": merged})
    except OutpostError as exc:
        st.session_state["settings_error"] = exc
        return
    for day in range(7):
        st.session_state[f"settings_slots_{day}"] = ", ".join(merged.get(day, ()))
    st.session_state["settings_saved"] = f"Added {', '.join(s.label for s in slots)} to the queue slots."


st.subheader("Suggested queue slots")
try:
    suggestion = suggest_queue_slots(analytics_engine(), db, ctx.actor, ws.id)
except OutpostError as exc:
    show_problems(exc)
    suggestion = None
except Exception:   # a help, not the settings themselves: the page goes on without it
    logging.getLogger("outpost.settings").exception("queue-slot suggestion failed")
    st.caption("Suggestions from your posts' figures are not available right now.")
    suggestion = None
if suggestion is not None:
    rec = suggestion.recommendation
    learned = rec.basis != "default"
    if suggestion.new:
        words = ", ".join(f"**{s.label}**" + (f" ({s.lift_words})" if learned else "") for s in suggestion.new)
        st.markdown(f"{'Your best times' if learned else 'Generic starting times'} not in the queue yet: {words}")
        if owner:
            st.button(f"Add {'them' if len(suggestion.new) > 1 else 'it'} to the queue", key="settings_add_best_slots",
                      on_click=_add_best_slots, args=(suggestion.new,))
    else:
        st.markdown(f"The queue already has every suggested time: {', '.join(s.label for s in rec.slots)}.")
    if suggestion.already:
        st.caption(f"Already queue slots: {', '.join(s.label for s in suggestion.already)}.")
    st.caption(f"{rec.explanation} Times are in {ws.timezone_name}.")

st.subheader("Daily limits and gaps per account")
accounts = workspace_accounts(db, ws.id, actor=ctx.actor)
if not accounts:
    st.info("No accounts connected yet. Connect one on the Accounts page, then set its daily limit and gap here.")
else:
    default_gap = int(DEFAULT_MIN_GAP.total_seconds() // 60)
    with st.form("limits_form"):
        st.caption("How many posts each account may publish per day (in this workspace's timezone) and the least "
                   "time between two of its posts.")
        values = {}
        for acc in accounts:
            a, b, c = st.columns([2, 1, 1])
            a.markdown(f"**{acc.label}**")
            cap = b.number_input("Posts per day", min_value=1, max_value=1000, value=acc.effective_daily_cap,
                                 key=f"cap_{acc.id}", disabled=not owner)
            gap = c.number_input("Minutes between posts", min_value=0, max_value=24 * 60,
                                 value=acc.min_gap_minutes if acc.min_gap_minutes is not None else default_gap,
                                 key=f"gap_{acc.id}", disabled=not owner)
            values[acc.id] = (acc, int(cap), int(gap))
        if st.form_submit_button("Save limits", key="limits_save", disabled=not owner) and owner:
            changed = 0
            try:
                for acc, cap, gap in values.values():
                    change = {}
                    if cap != acc.effective_daily_cap:
                        change["daily_cap"] = cap
                    if gap != (acc.min_gap_minutes if acc.min_gap_minutes is not None else default_gap):
                        change["min_gap_minutes"] = gap
                    if change:
                        edit_account(db, ctx.actor, acc.id, **change)
                        changed += 1
            except OutpostError as exc:
                show_problems(exc)
            else:
                st.success(f"Saved the limits of {changed} account{'s' if changed != 1 else ''}." if changed
                           else "Nothing to save: the limits are as they were.")


# ---------------------------------------------------------------- saved hashtag groups (editors and owners change them)

def _group_action(what: str) -> None:
    """Add, change or delete a saved hashtag group (a callback); core checks who may and what is allowed."""
    s = st.session_state
    try:
        if what == "add":
            group = hashtag_groups.create_group(db, ctx.actor, ws.id, s.get("settings_group_name") or "",
                                                s.get("settings_group_tags") or "")
            s["settings_group_name"] = s["settings_group_tags"] = ""
            done = f"Saved the hashtag group '{group.name}'."
        elif what == "change":
            group = hashtag_groups.update_group(db, ctx.actor, ws.id, s.get("settings_group_pick") or "",
                                                name=s.get("settings_group_rename") or "",
                                                hashtags=s.get("settings_group_retag") or "")
            done = f"Saved the hashtag group '{group.name}'."
        else:
            group = hashtag_groups.delete_group(db, ctx.actor, ws.id, s.get("settings_group_pick") or "")
            s.pop("settings_group_pick", None)
            done = f"Deleted the hashtag group '{group.name}'. Posts that used its hashtags keep them."
    except OutpostError as exc:
        s["settings_group_error"] = exc
    else:
        s["settings_group_done"] = done


def _group_picked(groups) -> None:
    """Another group chosen: its name and hashtags into the fields to change."""
    group = groups.get(st.session_state.get("settings_group_pick"))
    if group is not None:
        st.session_state["settings_group_rename"] = group.name
        st.session_state["settings_group_retag"] = " ".join(group.hashtags)


st.subheader("Saved hashtag groups")
st.caption("Named sets of hashtags the composer adds in one click. Editors and owners change them; everyone "
           "in the workspace uses them.")
groups = {g.id: g for g in hashtag_groups.list_groups(db, ctx.actor, ws.id)}
may_edit_groups = ctx.can(Action.MANAGE_HASHTAGS)
if groups:
    st.table([{"Group": g.name, "Hashtags": " ".join(g.hashtags)} for g in groups.values()])
else:
    st.info("No saved hashtag groups yet." + (" Add one below, or save the hashtags you type in the composer."
                                             if may_edit_groups else ""))
if may_edit_groups:
    add, change = st.columns(2)
    with add.container(border=True):
        st.markdown("**New group**")
        st.text_input("Name", key="settings_group_name", placeholder="Spring launch")
        st.text_input("Hashtags", key="settings_group_tags", placeholder="#spring #launch #newin")
        st.button("Add the group", key="settings_group_add", on_click=_group_action, args=("add",))
    if groups:
        with change.container(border=True):
            st.markdown("**Change a group**")
            if st.session_state.get("settings_group_pick") not in groups:
                st.session_state["settings_group_pick"] = next(iter(groups))
                _group_picked(groups)
            st.selectbox("Group", list(groups), format_func=lambda i: groups[i].name, key="settings_group_pick",
                         on_change=_group_picked, args=(groups,))
            st.text_input("Name", key="settings_group_rename")
            st.text_input("Hashtags", key="settings_group_retag")
            row = st.container(horizontal=True)
            row.button("Save the group", key="settings_group_save", on_click=_group_action, args=("change",))
            row.button("Delete the group", key="settings_group_delete", on_click=_group_action, args=("delete",))
group_done = st.session_state.pop("settings_group_done", None)
if group_done:
    st.success(group_done)
group_error = st.session_state.pop("settings_group_error", None)
if group_error is not None:
    show_problems(group_error)
