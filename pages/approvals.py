"""Approvals: posts waiting for a yes, grouped by batch, each as it will look on every platform; approve a whole
batch after a confirmation that says how many posts go out and when, approve or reject one, open one to edit, and
give expired posts a new time. Every rule is core's (core.services.approvals); this page lays out and asks."""
from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta

import streamlit as st

from core.domain import Schedule
from core.domain.errors import OutpostError
from core.domain.timeutil import zone
from core.rules.limits import limits_for
from core.rules.permissions import Action
from core.rules.previews import preview
from core.services import approvals
from core.services.scheduler import Scheduler
from pages import post_dialog
from pages.media_view import looks, post_urls
from pages.preview_card import preview_html
from pages.shared import context, show_problems, store

ctx = context()
db = store()
ws = ctx.workspace
FLASH = "approvals_flash"     # [(kind, message)] to show after the rerun an action causes
CONFIRM = "approvals_confirm"  # the group whose "approve all" waits for a yes
_MD = str.maketrans({c: "\\" + c for c in "\\`*_{}[]()#+-.!|<>~$"})


def _flash(kind: str, message: str) -> None:
    st.session_state.setdefault(FLASH, []).append((kind, message))


def _key(batch_id: str | None) -> str:
    return batch_id or "none"


queue = approvals.approval_queue(db, ws.id, actor=ctx.actor)
waiting = queue.pending_count
may_approve = ctx.can(Action.APPROVE)
may_edit = ctx.can(Action.EDIT_POSTS)

st.title(f"Approvals ({waiting})" if waiting else "Approvals")
st.caption(f"Times are shown in {ws.timezone_name}. Nothing here is published until it is approved; a post not "
           "approved by its time expires.")

for kind, message in st.session_state.pop(FLASH, []):
    getattr(st, kind)(message)
if post_dialog.FLASH in st.session_state:
    kind, message = st.session_state.pop(post_dialog.FLASH)
    getattr(st, kind)(message)
if not may_approve:
    st.info("You can look at what is waiting; owners and approvers approve it.")

if not queue.groups and not queue.expired:
    if ws.requires_approval:
        st.info("Nothing is waiting for approval. Posts written in Posts or on the Calendar wait here until an owner "
                "or approver says yes.")
    else:
        st.info("Nothing is waiting for approval. Posts in this workspace go out without one; an owner can ask for "
                "approval in Settings, and posts submitted for approval appear here.")


def _approve_group(group: approvals.BatchGroup) -> None:
    try:
        result = approvals.approve_batch(db, ws.id, group.batch_id, post_ids=[w.post_id for w in group.approvable],
                                         actor=ctx.actor)
    except OutpostError as exc:
        show_problems(exc)
        return
    st.session_state.pop(CONFIRM, None)
    if result.approved:
        n = len(result.approved)
        what = (f"{n} single post{'s' if n != 1 else ''}" if group.batch_id is None
                else f"{n} post{'s' if n != 1 else ''} from {group.title}")
        _flash("success", f"Approved {what}: {'it goes' if n == 1 else 'they go'} out at "
                          f"{'its' if n == 1 else 'their'} time.")
    for post_id, reason in result.refused:
        _flash("warning", f"Not approved ({post_id}): {reason}")
    st.rerun()


def _own_version(post, platform) -> bool:
    """Whether `platform` gets words of its own (text, hashtags, link, title, thread or first comment) rather than
    the post's: a photo converted for it (Instagram's JPEG of a PNG) is not a version of the post."""
    if platform not in post.variants:
        return False
    own = post.render(platform)
    plain = replace(post, variants={p: v for p, v in post.variants.items() if p != platform}).render(platform)
    return (own.text, own.link, own.title, own.thread, own.first_comment) != \
        (plain.text, plain.link, plain.title, plain.thread, plain.first_comment)


def _cards(item: approvals.Waiting) -> None:
    """The post as each target account's feed will show it: side by side, up to three to a row."""
    post = item.post
    sources, sizes, _ = looks(post_urls(post))
    accounts = post.accounts
    per_row = min(len(accounts), 3) or 1     # one or two cards get the room; a card is never wider than a phone
    for start in range(0, len(accounts), per_row):
        cols = st.columns(per_row)
        for col, account in zip(cols, accounts[start:start + per_row]):
            view = preview(post, account, media_sizes=sizes)
            rest = view.media[1:]
            if rest:           # the first item, as the feed opens on it; the rest counted (the queue stays short)
                view = replace(view, media=view.media[:1])
            with col:
                st.html(preview_html(view, sources, threaded=view.threaded, comment=view.first_comment))
                notes = []
                title = post.render(account.platform).title
                if title and limits_for(account.platform).title_max:
                    notes.append(f"Title: {title.translate(_MD)}")
                if rest:
                    videos = [sources.get(f.url) == "video" for f in rest]
                    kind = "video" if all(videos) else "photo" if not any(videos) else "item"
                    notes.append(f"…and {len(rest)} more {kind}{'s' if len(rest) != 1 else ''} in this post")
                if _own_version(post, account.platform):
                    notes.append(f"Its own version for {account.platform.label}")
                if notes:
                    st.caption("  \n".join(notes))


def _post(item: approvals.Waiting, *, expired: bool = False) -> None:
    """One row per post: when, who and the actions on the left, its previews on the right."""
    with st.container(border=True):
        side, cards = st.columns([1, 3])
        with cards:
            _cards(item)
        with side:
            _actions(item, expired=expired)


def _actions(item: approvals.Waiting, *, expired: bool) -> None:
    """When, who wrote it, where it goes, and what the person looking may do with it."""
    post = item.post
    st.markdown(f"**{item.when}**")
    lines = [", ".join(a.label.translate(_MD) for a in post.accounts)]
    if item.author:
        lines.append(f"Written by {item.author.translate(_MD)}" + (" (you)" if item.own else ""))
    if post.is_ai_generated:
        lines.append("AI-generated")
    st.caption("  \n".join(lines))
    if expired:
        st.caption("Nobody approved it by its time, so it was not published.")
    pid = post.id
    if expired:
        if may_edit:
            local = datetime.now(zone(ws.timezone_name)) + timedelta(days=1)
            day = st.date_input("New date", value=local.date(), key=f"ap_day_{pid}")
            wall = st.time_input("New time", value=ws.preferred_time, step=300, key=f"ap_time_{pid}")
            if st.button("Reschedule", key=f"ap_resched_{pid}", help="It waits for approval again"):
                try:
                    result = Scheduler(db, actor=ctx.actor, refuse_past=True).reschedule(
                        pid, Schedule.at_local(day, wall, ws.timezone_name))
                except OutpostError as exc:
                    show_problems(exc)
                else:
                    _flash("success", "Rescheduled for " + Schedule(result.scheduled_at, ws.timezone_name).describe()
                           + ": it waits for approval again.")
                    st.rerun()
        else:
            st.caption("An owner or editor can give it a new time.")
        return
    if item.why_not and may_approve:
        st.caption(item.why_not)
    row = st.container(horizontal=True)
    if may_approve and item.may_approve:
        if row.button("Approve", key=f"ap_approve_{pid}", type="primary"):
            try:
                approvals.approve(db, ws.id, pid, actor=ctx.actor)
            except OutpostError as exc:
                show_problems(exc)
            else:
                _flash("success", f"Approved: it goes out {item.when}.")
                st.rerun()
    if may_approve:
        with row.popover("Reject"):
            reason = st.text_input("Why (its author reads this)", key=f"ap_reason_{pid}")
            if st.button("Send back to its author", key=f"ap_reject_{pid}"):
                try:
                    approvals.reject(db, ws.id, pid, reason, actor=ctx.actor)
                except OutpostError as exc:
                    show_problems(exc)
                else:
                    _flash("info", "Sent back to its author as a draft, with your reason.")
                    st.rerun()
    if row.button("Open", key=f"ap_open_{pid}", help="See its history, edit or reschedule it"):
        st.session_state[post_dialog.OPEN] = pid

for group in queue.groups:
    gkey = _key(group.batch_id)
    n = len(group.posts)
    st.subheader(f"{group.title} · {n} post{'s' if n != 1 else ''}")     # core's: a week by its name, or "Single posts"
    ready = len(group.approvable)
    if may_approve and ready:
        if st.session_state.get(CONFIRM) == gkey:
            with st.container(border=True):
                st.warning(group.confirmation())
                row = st.container(horizontal=True)
                if row.button(f"Yes, approve {ready}", key=f"ap_yes_{gkey}", type="primary"):
                    _approve_group(group)
                if row.button("Not now", key=f"ap_no_{gkey}"):
                    st.session_state.pop(CONFIRM, None)
                    st.rerun()
        elif st.button("Approve 1 post" if n == 1 else f"Approve all {ready}" if ready == n else f"Approve {ready} of {n}", key=f"ap_all_{gkey}",
                           type="primary"):
            st.session_state[CONFIRM] = gkey
            st.rerun()
    for item in group.posts:
        _post(item)

if queue.expired:
    st.subheader(f"Expired · {len(queue.expired)} not approved in time")
    for item in queue.expired:
        _post(item, expired=True)

if st.session_state.get(post_dialog.OPEN):
    post_dialog.show(st.session_state[post_dialog.OPEN])
