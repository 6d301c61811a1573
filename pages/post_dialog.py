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

from core.domain import Post, PostVariant, Schedule
from core.domain.catalog import Platform
from core.domain.errors import OutpostError, Problem, ValidationError
from core.domain.lifecycle import POST_MOVES, PostStatus
from core.domain.timeutil import zone
from core.platforms.links import viewable_link
from core.rules.permissions import Action
from core.rules.previews import preview, x_thread
from core.rules.timing import check_not_past
from core.rules.validation import text_count, validate_post
from core.services import hashtag_groups
from core.services.calendar import duplicate_post, post_detail
from core.rules.limits import limits_for
from core.rules.recurrence_builder import describe
from core.services.scheduler import ScheduleResult, Scheduler
from pages.compose import _converted, _uploads, comment_counter, open_variant, variant_editor, variant_from_fields
from pages.media_view import looks, post_urls
from pages.preview_card import preview_html
from pages.shared import context, media_checker, problem_words, settings, show_problems, store

OPEN = "open_post"            # the post id the dialog shows
FLASH = "post_dialog_flash"   # (kind, message) for the page after an action
_ERROR = "post_dialog_error"  # the OutpostError an action was refused with, shown once (shared.show_problems)
_NOTE = "post_dialog_note"    # what an action that keeps the dialog open did (said once)
LIVE = timedelta(seconds=10)  # how often an open dialog reads the post's status and history again


def _act(post_id: str, what: str) -> None:
    """Run one action from the dialog (a button's on_click)."""
    ctx = context()
    db = store()
    ws = ctx.workspace
    # With the media checker: an upload a platform refuses (PNG for Instagram) is converted, as in the composer,
    # and every media link is fetched safely and checked against every platform of the post.
    sched = Scheduler(db, actor=ctx.actor, refuse_past=True, media_checker=media_checker())
    s = st.session_state
    try:
        if what == "save_caption":
            saved = _save_typed(sched, post_id, always=True)
            # core says when the change sends an approved post back to its approvers
            done = " ".join(saved.notices) if saved is not None and saved.notices else "Changes saved."
        elif what == "reschedule":
            when = Schedule.at_local(s[f"pd_date_{post_id}"], s[f"pd_time_{post_id}"], ws.timezone_name)
            check_not_past(when.local, sched.clock())
            result = sched.reschedule(post_id, when)
            done = f"Moved to {Schedule(result.scheduled_at, ws.timezone_name).describe()}."
        elif what in ("schedule", "submit"):
            # A draft goes out at the time chosen in the dialog, with what is typed in it (saved first, checked
            # by core as 'Save changes' is): straight away, or once an approver says yes.
            when = Schedule.at_local(s[f"pd_date_{post_id}"], s[f"pd_time_{post_id}"], ws.timezone_name)
            check_not_past(when.local, sched.clock())
            _save_typed(sched, post_id)
            result = sched.reschedule(post_id, when)
            at = Schedule(result.scheduled_at, ws.timezone_name).describe()
            if what == "schedule":
                sched.schedule_draft(post_id)       # core: scheduled where no approval is needed, else sent for it
                done = f"Scheduled: it goes out {at}."
            else:
                sched.submit(post_id)
                done = f"Sent for approval: once approved it goes out {at}."
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
            done = "Copied as a new draft" + _where_copy_is(result.scheduled_at, sched.clock(), ws.timezone_name)
        elif what.startswith("retry:"):
            sched.try_again(what.split(":", 1)[1])
            done = "Sent to the runner again."
        else:
            return
    except OutpostError as exc:
        s[_ERROR] = exc
        return
    _forget(post_id)
    s.pop(OPEN, None)
    s[FLASH] = ("success", done)


def _save_typed(sched: Scheduler, post_id: str, *, always: bool = False) -> ScheduleResult | None:
    """Save what is typed in the dialog through core (every problem at once; nothing saved when one is found).
    Unless `always`, only when something was changed: scheduling an untouched draft adds no 'edited' to its history."""
    post = sched.get(post_id)
    changes, problems, _, _ = _typed(post_id, post)
    if problems:     # a per-platform hashtag or an upload core could not read: with every other problem
        rest = replace(post, **{k: v for k, v in changes.items() if k != "hashtags"})
        raise ValidationError(problems + [p for p in validate_post(rest) if p.severity == "error"])
    if always or replace(post, **changes) != post:
        return sched.edit(post_id, **changes)
    return None


def _where_copy_is(at: datetime | None, now: datetime, tz_name: str) -> str:
    """Where the person finds the copy a Duplicate made (it keeps the original's time; nothing goes out)."""
    if at is None:
        return ": find it in Posts under Upcoming, after the dated posts, with the status Draft."
    when = Schedule(at, tz_name).describe()
    if at > now:
        return (f" for the same time, {when}: find it on the Calendar that day, or in Posts under Upcoming with the "
                "status Draft. Nothing goes out until it is scheduled.")
    return (f" at the same time, {when}, which has passed: find it in Posts under Past with the status Draft, and "
            "give it a new time there.")


# ---------------------------------------------------------------- the post as typed in the dialog

def _media_key(post_id: str) -> str:
    return f"pd_media_{post_id}"


def _upload_key(post_id: str) -> str:
    return f"pd_uploads_{post_id}_{st.session_state.get(f'pd_upround_{post_id}', 0)}"


def _forget(post_id: str) -> None:
    """The dialog closed: what was typed and not saved is not kept for the next time it opens."""
    s = st.session_state
    s.pop(_ERROR, None)
    s.pop(_media_key(post_id), None)
    s[f"pd_upround_{post_id}"] = s.get(f"pd_upround_{post_id}", 0) + 1


def _media(post_id: str, post: Post) -> list[str]:
    """The post's media as kept in this dialog (items removed here are gone; the saved post is untouched until
    'Save changes'). Read again from the post when it changed since the dialog kept them."""
    s = st.session_state
    kept = s.get(_media_key(post_id))
    if kept is None or kept[0] != post.version:
        kept = (post.version, list(post.media_urls))
        s[_media_key(post_id)] = kept
    return list(kept[1])


def _links(post_id: str) -> list[str]:
    """The media links typed to be added."""
    text = st.session_state.get(f"pd_links_{post_id}") or ""
    return [line.strip() for line in text.splitlines() if line.strip()]


def _drop_media(post_id: str, index: int) -> None:
    version, urls = st.session_state[_media_key(post_id)]
    if 0 <= index < len(urls):
        urls = urls[:index] + urls[index + 1:]
    st.session_state[_media_key(post_id)] = (version, urls)


def _typed(post_id: str, post: Post):
    """The changes typed in the dialog (caption, hashtags, call to action, link, media, first comment and each
    platform's own text), the problems found while reading them (all of them), and what the preview loads for the
    uploads (sources, sizes). Uploads are stored in the media library, as in the composer."""
    s = st.session_state
    problems: list[Problem] = []
    try:
        uploaded, sources, sizes = _uploads(_upload_key(post_id))
    except OutpostError as exc:
        uploaded, sources, sizes = [], {}, {}
        problems.append(Problem("upload", str(exc), field="media"))
    links = _links(post_id)
    caption = s.get(f"pd_caption_{post_id}", post.caption) or ""
    hashtags = s.get(f"pd_hashtags_{post_id}", " ".join(post.hashtags)) or ""
    link = s.get(f"pd_link_{post_id}", post.link) or ""
    base = {"caption": caption, "hashtags": hashtags, "link": link, "title": post.title}
    variants = dict(post.variants)
    for platform in post.platforms:   # what is unticked, emptied or left as the post's own falls back to it
        keep = post.variants.get(platform)
        if keep is not None and keep.thread:    # the thread's posts as edited here; all emptied: no thread
            parts = tuple(p for i in range(len(keep.thread))
                          if (p := (s.get(_thread_key(post_id, platform, i), keep.thread[i]) or "").strip()))
            keep = replace(keep, thread=parts or None)
        try:
            variant = variant_from_fields(_prefix(post_id), platform, keep=keep, base=base)
        except ValidationError as exc:
            problems += exc.problems
            variant = keep
        if variant is None:
            variants.pop(platform, None)
        else:
            variants[platform] = variant
    changes = {"caption": caption, "hashtags": hashtags, "link": link,
               "call_to_action": s.get(f"pd_cta_{post_id}", post.call_to_action) or "",
               "media_urls": tuple(_media(post_id, post) + links + uploaded), "variants": variants}
    if f"pd_comment_{post_id}" in s:
        changes["first_comment"] = s.get(f"pd_comment_{post_id}") or ""
    return changes, problems, sources, sizes


def _prefix(post_id: str) -> str:
    return f"pd_{post_id}"


def _thread_key(post_id: str, platform, index: int) -> str:
    return f"pd_{post_id}_thread_{platform.value}_{index}"


def _dismiss() -> None:
    post_id = st.session_state.pop(OPEN, None)
    st.session_state.pop(_ERROR, None)
    if post_id:
        _forget(post_id)


@st.dialog("Post", width="large", on_dismiss=_dismiss)
def _dialog(post_id: str) -> None:
    if st.session_state.get(OPEN) != post_id:   # an action closed it: refresh the whole page
        st.rerun()
    ctx = context()
    ws = ctx.workspace
    try:
        detail = post_detail(store(), ws.id, post_id, tz_name=ws.timezone_name, actor=ctx.actor)
    except OutpostError as exc:
        show_problems(exc)
        return
    post, status = detail.post, detail.status
    tz = zone(ws.timezone_name)
    _live(post_id)
    said = st.session_state.pop(_ERROR, None)     # said once, as in the composer; the checks below stay live
    note = st.session_state.pop(_NOTE, None)
    with st.container():    # always there: a message appearing must not move the tabs below (they would reset)
        if said is not None:
            show_problems(said)
        if note:
            st.success(note)

    if post.is_demo:    # core refuses acting on demo history; say so instead of offering buttons that fail
        st.info("Demo data from the sandbox: you can read it and duplicate it as a real post, not change it.")
    editable = status in POST_MOVES["edit"].sources and ctx.can(Action.EDIT_POSTS) and not post.is_demo
    if editable:
        left, right = st.columns([3, 2], gap="medium")
        kept = _media(post_id, post)
        sources, sizes, kinds = looks(kept + _links(post_id))   # read once a run (library files from disk)
        with left:
            _editor(ctx, post_id, post, kept, sources, kinds)
        changes, problems, up_sources, up_sizes = _typed(post_id, post)
        sources, sizes = {**sources, **up_sources}, {**sizes, **up_sizes}
        try:
            draft = replace(post, **changes)
        except ValidationError as exc:   # a half-typed hashtag: previewed without the tags, said below
            problems += exc.problems
            draft = replace(post, **{**changes, "hashtags": ()})
        draft = _converted(draft, sources, sizes)
        problems += validate_post(draft)
        with right:
            _previews(draft, sources, sizes, post_id=post_id)
        with left:
            # Just refused: what the save said above is the whole story (the live checks show again next time).
            errors = [] if said else list(dict.fromkeys(p.message for p in problems if p.severity == "error"))
            warnings = list(dict.fromkeys(p.message for p in problems if p.severity != "error"))
            if errors:
                st.error("Before this can be saved:\n\n" + "\n".join(f"- {m}" for m in errors))
            if warnings:
                st.warning("Worth a look:\n\n" + "\n".join(f"- {m}" for m in warnings))
            st.button("Save changes", key=f"pd_save_{post_id}", type="primary", on_click=_act,
                      args=(post_id, "save_caption"),
                      help="Checks everything again first (media links are fetched and checked for every "
                           "platform); nothing is changed if something is wrong.")
        st.markdown("##### When")
        if post.recurrence:
            st.caption(f"Repeats {describe(post.recurrence)} from its first post.")
        local = post.due_at.astimezone(tz) if post.due_at else datetime.now(tz)
        is_draft = status in POST_MOVES["submit"].sources   # a draft (or one sent back): it can go out from here
        c1, c2, c3 = st.columns([2, 2, 3] if is_draft else [2, 2, 1], vertical_alignment="bottom")
        c1.date_input("Date", value=local.date(), key=f"pd_date_{post_id}")
        c2.time_input("Time", value=local.time().replace(second=0, microsecond=0), step=300,
                      key=f"pd_time_{post_id}")
        if is_draft:
            row = c3.container(horizontal=True)
            _go_buttons(ctx, post_id, status, row)
            row.button("Save the time only" if status == PostStatus.DRAFT else "Change the time",
                       key=f"pd_move_{post_id}", on_click=_act, args=(post_id, "reschedule"),
                       help="Keeps it as it is: nothing goes out until it is scheduled.")
        else:
            c3.button("Reschedule", key=f"pd_move_{post_id}", on_click=_act, args=(post_id, "reschedule"))
    else:
        sources, sizes, _ = looks(post_urls(post))
        with st.expander("Preview", expanded=True):
            _previews(post, sources, sizes, columns=3)

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
            elif what == "cancel":      # cannot be undone: asked first
                with col.popover("Cancel post"):
                    st.markdown("**Cancel this post? It will not go out.**")
                    st.caption("It stays in the history as cancelled; Duplicate makes a new draft of it.")
                    st.button("Yes, cancel it", key=f"pd_cancel_{post_id}", type="primary", on_click=_act,
                              args=(post_id, "cancel"))
            else:
                col.button(label, key=f"pd_{what}_{post_id}", type="primary" if what == "approve" else "secondary",
                           on_click=_act, args=(post_id, what))

    _history(post_id)


def _go_buttons(ctx, post_id: str, status: PostStatus, row) -> None:
    """A draft's way out, at the date and time above: scheduled where the workspace needs no approval (by anyone who
    writes posts, as in the composer), otherwise sent to the approvers; a post sent back can only be sent again."""
    may_schedule = not ctx.workspace.requires_approval and ctx.can(Action.EDIT_POSTS) and status == PostStatus.DRAFT
    if may_schedule:
        row.button("Schedule", key=f"pd_schedule_{post_id}", type="primary", on_click=_act,
                   args=(post_id, "schedule"), help="Saves what is typed above and puts it in the queue at this time.")
    elif ctx.can(Action.SUBMIT):
        row.button("Send for approval", key=f"pd_submit_{post_id}", type="primary", on_click=_act,
                   args=(post_id, "submit"), help="Saves what is typed above; it goes out at this time once an "
                                                  "owner or approver says yes on the Approvals page.")


def _editor(ctx, post_id: str, post: Post, media: list[str], sources: dict, kinds: dict) -> None:
    """The post's text, media and each platform's own text, in tabs (the preview beside them follows them)."""
    s = st.session_state
    # Fixed labels: a tab whose label changes (a count) sends the person back to the first tab on the next run.
    text_tab, media_tab, platform_tab = st.tabs(["Text", "Media", "Per platform"])
    with text_tab:
        st.text_area("Caption", value=post.caption, key=f"pd_caption_{post_id}", height=110)
        c1, c2 = st.columns(2)
        c1.text_input("Hashtags", value=" ".join(post.hashtags), key=f"pd_hashtags_{post_id}",
                      placeholder="#launch #creator")
        _groups(ctx, post_id, c2)
        c1, c2 = st.columns(2)
        c1.text_input("Call to action", value=post.call_to_action, key=f"pd_cta_{post_id}",
                      placeholder="Link in bio")
        c2.text_input("Link", value=post.link, key=f"pd_link_{post_id}", placeholder="https://…")
        if any(limits_for(p).supports_first_comment for p in post.platforms):
            st.text_area("First comment", value=post.first_comment, key=f"pd_comment_{post_id}", height=68,
                         help="Posted under the post where the platform allows it.")
            comment_counter(list(post.platforms), s.get(f"pd_comment_{post_id}", post.first_comment) or "")
    with media_tab:
        _media_editor(post_id, media, sources, kinds)
    with platform_tab:
        # "Customise" starts from the text as typed here, not as saved.
        base = {"caption": s.get(f"pd_caption_{post_id}", post.caption),
                "hashtags": s.get(f"pd_hashtags_{post_id}", " ".join(post.hashtags)),
                "link": s.get(f"pd_link_{post_id}", post.link), "title": post.title}
        for platform in post.platforms:     # each platform's own text reopens as it was saved
            thread = (post.variants.get(platform) or None) and post.variants[platform].thread
            if thread:
                # A thread is what goes out on that platform, whatever the caption says: its posts are edited here.
                undo = " (or untick 'Post as a thread on X' under its preview)" if platform == Platform.X else ""
                size = "one post" if len(thread) == 1 else f"a thread of {len(thread)} posts"
                st.caption(f"Goes out on {platform.label} as {size} (the caption is "
                           f"not used there). Empty every post{undo} to send {platform.label} the caption instead.")
                for i, part in enumerate(thread):
                    st.text_area(f"{platform.label} post {i + 1} of {len(thread)}", value=part, height=68,
                                 key=_thread_key(post_id, platform, i))
                continue
            open_variant(_prefix(post_id), platform, post.variants.get(platform))
            variant_editor(_prefix(post_id), platform, base)


def _media_editor(post_id: str, media: list[str], sources: dict, kinds: dict) -> None:
    """The media kept (a thumbnail for photos, each removable), and more by link or upload."""
    typed = len(_links(post_id))
    if media:
        st.caption(f"{len(media)} {'photo or video' if len(media) == 1 else 'photos or videos'} on this post. "
                   "Removing one takes effect when you save.")
    else:
        st.caption("No photos or videos on this post yet." + (" The links typed below are added when you save."
                                                               if typed else ""))
    for i, url in enumerate(media):
        c1, c2, c3 = st.columns([1, 4, 1], vertical_alignment="center")
        src = sources.get(url, url)
        if kinds.get(url) == "missing":
            c1.markdown(":material/warning:")
        elif src == "video":
            c1.markdown("▶ video")
        else:
            c1.image(src, width=64)
        kind = kinds.get(url)
        if kind == "missing":
            c2.caption(f"{i + 1}. An upload no longer in the media library: remove it or upload it again.")
        elif kind and kind != "video":
            c2.caption(f"{i + 1}. Uploaded {kind}")
        else:
            c2.caption(f"{i + 1}. {'Video link' if kind else 'Link'}: `{url}`")   # as typed (no Markdown)
        c3.button("Remove", key=f"pd_drop_{post_id}_{i}", on_click=_drop_media, args=(post_id, i))
    c1, c2 = st.columns(2)
    c1.text_area("Add image or video links (one per line)", key=f"pd_links_{post_id}", height=68,
                 help="Public links to JPEG/PNG images or MP4 videos. When you save, Outpost downloads each one "
                      "and checks its format, size and shape against every platform of this post.")
    if settings().sandbox:
        c1.caption(f"Sandbox sample: `{settings().sandbox_url}/_media/sample.jpg?w=1080&h=1350`")
    c2.file_uploader("…or upload photos and videos", accept_multiple_files=True,
                     type=["jpg", "jpeg", "png", "gif", "webp", "mp4", "mov", "webm"], key=_upload_key(post_id))


def _add_group(post_id: str, groups: dict) -> None:
    """A saved group picked: its tags after the ones typed, none twice (core.services.hashtag_groups)."""
    s = st.session_state
    group = groups.get(s.get(f"pd_group_{post_id}") or "")
    s[f"pd_group_{post_id}"] = None
    if group is None:
        return
    try:
        s[f"pd_hashtags_{post_id}"] = hashtag_groups.add_group_tags(s.get(f"pd_hashtags_{post_id}") or "",
                                                                    group.hashtags)
    except ValidationError as exc:
        s[_ERROR] = ValidationError("Fix the hashtags typed first: " + " ".join(problem_words(exc)))


def _groups(ctx, post_id: str, where) -> None:
    """The workspace's saved hashtag groups, to add to the post's hashtags (they are managed in the composer)."""
    try:
        groups = {g.id: g for g in hashtag_groups.list_groups(store(), ctx.actor, ctx.workspace.id)}
    except OutpostError:
        return
    if not groups:
        where.caption("Saved hashtag groups (made in the composer) can be added here.")
        return
    where.selectbox("Add a saved hashtag group", list(groups), index=None, key=f"pd_group_{post_id}",
                    format_func=lambda i: f"{groups[i].name}: {' '.join(groups[i].hashtags)}",
                    placeholder="Choose a group to add its hashtags", on_change=_add_group, args=(post_id, groups))


def _previews(post: Post, sources: dict, sizes: dict, *, columns: int = 1, post_id: str | None = None) -> None:
    """What the post looks like on each of its accounts, with each platform's counter (core.rules.previews). In the
    editor's side column each account has its tab (five accounts stacked would make the dialog a wall); there
    (`post_id` given: the post can be edited) an X text over X's limit offers "Post as a thread on X" under its
    card, the box the card's note asks to tick."""
    offered = False
    accounts = list(post.accounts)
    if columns == 1:
        st.markdown("##### Preview")
        labels = [a.platform.label if sum(b.platform == a.platform for b in accounts) == 1 else a.label
                  for a in accounts]
        places = st.tabs(labels) if len(accounts) > 1 else [st.container()]
    else:
        places = [col for start in range(0, len(accounts), columns)
                  for col in st.columns(columns)[:len(accounts[start:start + columns])]]
    for place, account in zip(places, accounts):
        platform = account.platform
        rendered = post.render(platform)
        with place:
            if rendered.thread:
                parts = (rendered.text, *rendered.thread)
                over = any(text_count(platform, p).over for p in parts)
                (st.error if over else st.caption)(f"{platform.label}: a thread of {len(parts)} posts")
            else:
                count = text_count(platform, rendered.text)
                (st.error if count.over else st.caption)(
                    f"{platform.label}: {count.used:,} / {count.limit:,} {count.unit}")
            view = preview(post, account, media_sizes=sizes)
            st.html(preview_html(view, sources, threaded=bool(rendered.thread), comment=view.first_comment))
            threaded = bool((post.variants.get(platform) or PostVariant()).thread)
            if post_id and platform == Platform.X and not offered and (threaded or count.over):
                offered = True
                _thread_box(post_id, threaded)


def _thread_on_key(post_id: str) -> str:
    return f"pd_thread_on_{post_id}"


def _thread_box(post_id: str, on: bool) -> None:
    """'Post as a thread on X', ticked while X gets a thread: ticking splits the X text and saves it as the
    thread (its posts are then edited under Per platform); unticking sends X the caption again."""
    st.session_state[_thread_on_key(post_id)] = on      # as the post is (a thread emptied and saved is gone)
    st.checkbox("Post as a thread on X", key=_thread_on_key(post_id), on_change=_toggle_thread, args=(post_id,),
                help="X takes 280 characters a post: the text goes out as numbered posts, each replying to the one "
                     "before. Split at sentence ends; change any post under Per platform.")


def _toggle_thread(post_id: str) -> None:
    """The thread box was ticked or unticked: what is typed is saved through core (Scheduler.edit checks it as
    'Save changes' does) with the X text split into a thread, or with X back to one post; the dialog stays open."""
    s = st.session_state
    on = bool(s.get(_thread_on_key(post_id)))
    ctx = context()
    sched = Scheduler(store(), actor=ctx.actor, refuse_past=True, media_checker=media_checker())
    try:
        post = sched.get(post_id)
        changes, problems, _, _ = _typed(post_id, post)
        if problems:
            raise ValidationError(problems)
        variants = dict(changes["variants"])
        keep = variants.get(Platform.X) or PostVariant()
        if on:
            parts = x_thread(replace(post, **changes).render(Platform.X).text)
            variants[Platform.X] = replace(keep, thread=tuple(parts))
            done = (f"Split into {len(parts)} posts for X and saved with your changes: change any of them under "
                    "Per platform. Untick the box to send X the caption instead.")
        else:
            plain = replace(keep, thread=None)
            if plain == PostVariant():
                variants.pop(Platform.X, None)
            else:
                variants[Platform.X] = plain
            done = "X gets the caption as one post again (saved with your changes)."
        saved = sched.edit(post_id, **{**changes, "variants": variants})
        done = " ".join([done, *saved.notices])     # an approved post back with its approvers: said too
    except OutpostError as exc:
        s[_ERROR] = exc
        return
    for key in [k for k in s if isinstance(k, str) and k.startswith(f"pd_{post_id}_thread_x_")]:
        del s[key]          # the posts of an earlier thread must not fill the new one's boxes
    s[_NOTE] = done


def _read(post_id: str):
    """The post as it is now, or None (said in words) when it cannot be shown; closes the dialog after an action."""
    if st.session_state.get(OPEN) != post_id:   # an action in a fragment closed it: refresh the whole page
        st.rerun(scope="app")
    ctx = context()
    try:
        return post_detail(store(), ctx.workspace.id, post_id, tz_name=ctx.workspace.timezone_name, actor=ctx.actor)
    except OutpostError as exc:
        show_problems(exc)
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
        st.caption("Nothing goes out yet: once the post is scheduled, each of its accounts is listed here with how its post went.")
    for d in detail.deliveries:
        cols = st.columns([3, 2, 3, 2])
        cols[0].markdown(f"**{d['account']}**")
        cols[1].markdown(d["status"])
        tries = f"{d['attempts']} attempt{'' if d['attempts'] == 1 else 's'}"
        cols[2].caption(f"{d['when']} · {tries}" + (f" · {d['problem']}" if d["problem"] else ""))
        if d["url"] and post.is_demo:    # demo history was never on a platform: nothing to open
            cols[3].caption("Demo: not on any platform")
        elif d["url"]:
            cols[3].link_button("Open the post", viewable_link(d["url"], settings()))   # sandbox: the emulator's page
        elif d["retryable"] and ctx.can(Action.SETTLE):
            cols[3].button("Try again", key=f"pd_retry_{d['delivery_id']}", on_click=_act,
                           args=(post_id, f"retry:{d['delivery_id']}"))
        if d["figures"]:
            st.caption(f":material/insights: {d['figures']}")
    if any(d["figures"] for d in detail.deliveries):
        st.caption("How its figures grew since publishing: Analytics, \"One post since publication\".")


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
