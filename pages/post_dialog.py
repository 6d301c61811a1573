"""The post dialog: one post with each account's delivery and history, and what the person may do with it.

Shared by the Calendar (and later the Posts list): `show(post_id)` opens it while ``st.session_state[OPEN]``
holds the id. Every action runs in an ``on_click`` callback (the only way buttons inside `st.dialog` act in
AppTest too), goes through core (which refuses what the role may not do), and on success closes the dialog with
a message in ``st.session_state[FLASH]`` for the page to show; a refusal stays in the dialog, in words.
"""
from __future__ import annotations

from dataclasses import replace

from datetime import datetime, timedelta

import streamlit as st

from core.domain import Schedule
from core.domain.errors import OutpostError, ValidationError
from core.domain.lifecycle import POST_MOVES, PostStatus
from core.domain.timeutil import zone
from core.platforms.links import viewable_link
from core.rules.permissions import Action
from core.rules.timing import check_not_past
from core.services.calendar import duplicate_post, post_detail
from core.rules.limits import limits_for
from core.rules.recurrence_builder import describe
from core.services.scheduler import Scheduler
from pages.compose import open_variant, variant_editor, variant_from_fields
from pages.shared import context, media_checker, settings, store

OPEN = "open_post"            # the post id the dialog shows
FLASH = "post_dialog_flash"   # (kind, message) for the page after an action
_ERROR = "post_dialog_error"
LIVE = timedelta(seconds=10)  # how often an open dialog reads the post's status and history again


def _words(exc: OutpostError) -> str:
    problems = exc.problems if isinstance(exc, ValidationError) else []
    return " ".join(p.message for p in problems) if problems else str(exc)


def _act(post_id: str, what: str) -> None:
    """Run one action from the dialog (a button's on_click)."""
    ctx = context()
    db = store()
    ws = ctx.workspace
    # With the media checker: an upload a platform refuses (PNG for Instagram) is converted, as in the composer.
    sched = Scheduler(db, actor=ctx.actor, refuse_past=True, media_checker=media_checker())
    s = st.session_state
    try:
        if what == "save_caption":
            post = sched.get(post_id)
            variants = dict(post.variants)
            base = {"caption": s.get(f"pd_caption_{post_id}", ""), "hashtags": " ".join(post.hashtags),
                    "link": post.link, "title": post.title}
            for platform in post.platforms:   # what is unticked, emptied or left as the post's own falls back to it
                keep = post.variants.get(platform)
                if keep is not None and keep.thread:    # the thread's posts as edited here; all emptied: no thread
                    parts = tuple(p for i in range(len(keep.thread))
                                  if (p := (s.get(_thread_key(post_id, platform, i), keep.thread[i]) or "").strip()))
                    keep = replace(keep, thread=parts or None)
                variant = variant_from_fields(_prefix(post_id), platform, keep=keep, base=base)
                if variant is None:
                    variants.pop(platform, None)
                else:
                    variants[platform] = variant
            changes = {"caption": s.get(f"pd_caption_{post_id}", ""), "variants": variants}
            if f"pd_comment_{post_id}" in s:
                changes["first_comment"] = s.get(f"pd_comment_{post_id}") or ""
            sched.edit(post_id, **changes)
            done = "Changes saved."
        elif what == "reschedule":
            when = Schedule.at_local(s[f"pd_date_{post_id}"], s[f"pd_time_{post_id}"], ws.timezone_name)
            check_not_past(when.local, sched.clock())
            result = sched.reschedule(post_id, when)
            done = f"Moved to {Schedule(result.scheduled_at, ws.timezone_name).describe()}."
        elif what == "approve":
            sched.approve(post_id)
            done = "Approved."
        elif what == "reject":
            sched.reject(post_id, s.get(f"pd_reason_{post_id}", ""))
            done = "Rejected: it goes back to its author as a draft."
        elif what == "cancel":
            sched.cancel(post_id)
            done = "Cancelled: nothing more of it will be published."
        elif what == "duplicate":
            result = duplicate_post(db, ws.id, post_id, actor=ctx.actor)
            done = f"Copied as a new draft ({result.post_id})."
        elif what.startswith("retry:"):
            sched.try_again(what.split(":", 1)[1])
            done = "Sent to the runner again."
        else:
            return
    except OutpostError as exc:
        s[_ERROR] = _words(exc)
        return
    s.pop(_ERROR, None)
    s.pop(OPEN, None)
    s[FLASH] = ("success", done)


def _prefix(post_id: str) -> str:
    return f"pd_{post_id}"


def _thread_key(post_id: str, platform, index: int) -> str:
    return f"pd_{post_id}_thread_{platform.value}_{index}"


def _dismiss() -> None:
    st.session_state.pop(OPEN, None)
    st.session_state.pop(_ERROR, None)


@st.dialog("Post", width="large", on_dismiss=_dismiss)
def _dialog(post_id: str) -> None:
    if st.session_state.get(OPEN) != post_id:   # an action closed it: refresh the whole page
        st.rerun()
    ctx = context()
    ws = ctx.workspace
    try:
        detail = post_detail(store(), ws.id, post_id, tz_name=ws.timezone_name, actor=ctx.actor)
    except OutpostError as exc:
        st.error(_words(exc))
        return
    post, status = detail.post, detail.status
    tz = zone(ws.timezone_name)
    _live(post_id)
    if st.session_state.get(_ERROR):
        st.error(st.session_state[_ERROR])

    if post.is_demo:    # core refuses acting on demo history; say so instead of offering buttons that fail
        st.info("Demo data from the sandbox: you can read it and duplicate it as a real post, not change it.")
    editable = status in POST_MOVES["edit"].sources and ctx.can(Action.EDIT_POSTS) and not post.is_demo
    if editable:
        st.markdown("##### Edit")
        st.text_area("Caption", value=post.caption, key=f"pd_caption_{post_id}", height=110)
        if any(limits_for(p).supports_first_comment for p in post.platforms):
            st.text_area("First comment", value=post.first_comment, key=f"pd_comment_{post_id}", height=68,
                         help="Posted under the post where the platform allows it.")
        # "Customise" starts from the caption as typed here, not as saved.
        base = {"caption": st.session_state.get(f"pd_caption_{post_id}", post.caption),
                "hashtags": " ".join(post.hashtags), "link": post.link, "title": post.title}
        for platform in post.platforms:     # each platform's own text reopens as it was saved
            thread = (post.variants.get(platform) or None) and post.variants[platform].thread
            if thread:
                # A thread is what goes out on that platform, whatever the caption says: its posts are edited here.
                st.caption(f"Goes out on {platform.label} as a thread of {len(thread)} posts (the caption above is "
                           f"not used there). Empty every post to send {platform.label} the caption instead.")
                for i, part in enumerate(thread):
                    st.text_area(f"{platform.label} post {i + 1} of {len(thread)}", value=part, height=68,
                                 key=_thread_key(post_id, platform, i))
                continue
            open_variant(_prefix(post_id), platform, post.variants.get(platform))
            variant_editor(_prefix(post_id), platform, base)
        st.button("Save changes", key=f"pd_save_{post_id}", on_click=_act, args=(post_id, "save_caption"))
        if post.recurrence:
            st.caption(f"Repeats {describe(post.recurrence)} from its first post.")
        local = post.due_at.astimezone(tz) if post.due_at else datetime.now(tz)
        c1, c2, c3 = st.columns([2, 2, 1], vertical_alignment="bottom")
        c1.date_input("Date", value=local.date(), key=f"pd_date_{post_id}")
        c2.time_input("Time", value=local.time().replace(second=0, microsecond=0), step=300,
                      key=f"pd_time_{post_id}")
        c3.button("Reschedule", key=f"pd_move_{post_id}", on_click=_act, args=(post_id, "reschedule"))
    else:
        st.caption(f"{post.caption}")

    buttons = []   # (label, what) in one row, only those this person may use on a post in this state
    if status == PostStatus.PENDING_APPROVAL and ctx.can(Action.APPROVE) and not post.is_demo:
        buttons += [("Approve", "approve"), ("Reject", "reject")]
    if status in POST_MOVES["cancel"].sources and ctx.can(Action.CANCEL) and not post.is_demo:
        buttons.append(("Cancel post", "cancel"))
    if ctx.can(Action.EDIT_POSTS):
        buttons.append(("Duplicate", "duplicate"))
    if buttons:
        row = st.container(horizontal=True)
        for label, what in buttons:
            col = row
            if what == "reject":
                with col.popover("Reject"):
                    st.text_input("Why (the author reads this)", key=f"pd_reason_{post_id}")
                    st.button("Reject", key=f"pd_reject_{post_id}", on_click=_act, args=(post_id, "reject"))
            else:
                col.button(label, key=f"pd_{what}_{post_id}", type="primary" if what == "approve" else "secondary",
                           on_click=_act, args=(post_id, what))

    _history(post_id)


def _read(post_id: str):
    """The post as it is now, or None (said in words) when it cannot be shown; closes the dialog after an action."""
    if st.session_state.get(OPEN) != post_id:   # an action in a fragment closed it: refresh the whole page
        st.rerun(scope="app")
    ctx = context()
    try:
        return post_detail(store(), ctx.workspace.id, post_id, tz_name=ctx.workspace.timezone_name, actor=ctx.actor)
    except OutpostError as exc:
        st.error(_words(exc))
        return None


@st.fragment(run_every=LIVE)
def _live(post_id: str) -> None:
    """Its status and each account's delivery, read again every LIVE: what the runner does shows up by itself."""
    detail = _read(post_id)
    if detail is None:
        return
    ctx = context()
    ws = ctx.workspace
    post, status = detail.post, detail.status
    when = post.due_at.astimezone(zone(ws.timezone_name)).strftime("%a %d %b %Y %H:%M") if post.due_at \
        else "no time yet"
    st.markdown(f"**{status.label}** · {when} ({ws.timezone_name}) · {', '.join(a.label for a in post.accounts)}")
    if post.rejection_reason:
        st.caption(f"Rejected because: {post.rejection_reason}")
    st.markdown("##### Where it goes")
    if not detail.deliveries:
        st.caption("No deliveries yet: they are created when the post is scheduled.")
    for d in detail.deliveries:
        cols = st.columns([3, 2, 3, 2])
        cols[0].markdown(f"**{d['account']}**")
        cols[1].markdown(d["status"])
        cols[2].caption(f"{d['when']} · {d['attempts']} attempt(s)" + (f" · {d['problem']}" if d["problem"] else ""))
        if d["url"] and post.is_demo:    # demo history was never on a platform: nothing to open
            cols[3].caption("Demo: not on any platform")
        elif d["url"]:
            cols[3].link_button("Open the post", viewable_link(d["url"], settings()))   # sandbox: the emulator's page
        elif d["retryable"] and ctx.can(Action.SETTLE):
            cols[3].button("Try again", key=f"pd_retry_{d['delivery_id']}", on_click=_act,
                           args=(post_id, f"retry:{d['delivery_id']}"))


@st.fragment(run_every=LIVE)
def _history(post_id: str) -> None:
    """Who did what to the post and its deliveries, in plain words, read again every LIVE."""
    detail = _read(post_id)
    if detail is None:
        return
    with st.expander(f"History ({len(detail.history)})"):
        if not detail.history:
            st.caption("Nothing has happened to this post yet.")
        for h in detail.history:
            line = f"{h['when']} · {h['what']}" + (f" on {h['account']}" if h["account"] else "") \
                + f" · by {h['who']}"
            st.caption(line + (f" · {h['reason']}" if h["reason"] else ""))


def show(post_id: str) -> None:
    """Open the dialog for `post_id` (call on every run while ``st.session_state[OPEN]`` holds it)."""
    st.session_state[OPEN] = post_id
    _dialog(post_id)
