"""The composer: what to say, where, media, a preview per platform, when. Streamlit glue over core.

The rules live in core: the previews' cut points and frames (core.rules.previews), the limits and counters
(core.rules.validation), past times (core.rules.timing), saving (core.services.scheduler). Everything a person
typed is escaped before it goes into the previews' HTML.
"""
from __future__ import annotations

import base64
import logging
from dataclasses import replace
from datetime import datetime, timedelta
from html import escape

import streamlit as st

from core.domain import Account, Post, Schedule, new_id
from core.domain.catalog import Platform
from core.domain.errors import OutpostError, PastTimeError, Problem, ValidationError
from core.domain.lifecycle import PostStatus
from core.domain.timeutil import zone
from core.rules.previews import PreviewData, preview
from core.rules.timing import check_not_past
from core.rules.validation import text_count, validate_post
from core.services.best_time import suggest_times
from core.services.connect import account_health
from core.services.scheduler import Scheduler
from pages.shared import Context, analytics_engine, media_checker, media_library, settings, store

log = logging.getLogger("outpost.compose")

# What is emptied after a save; the chosen accounts and the "When" stay (the next post often goes to the same places).
FIELDS = ("compose_caption", "compose_hashtags", "compose_cta", "compose_link",
          "compose_media")
MODES = ("At a date and time", "Next free queue slot", "Save as draft")

_COLOURS = {Platform.INSTAGRAM: "#d62976", Platform.FACEBOOK: "#1877f2", Platform.LINKEDIN: "#0a66c2",
            Platform.X: "#0f1419", Platform.TIKTOK: "#111111", Platform.YOUTUBE: "#ff0000",
            Platform.THREADS: "#000000", Platform.BLUESKY: "#1185fe", Platform.MASTODON: "#6364ff"}


# ---------------------------------------------------------------- the preview's HTML (pure: tested directly)

def _ratio_words(ratio: float) -> str:
    for words, value in (("1:1", 1.0), ("4:5", 0.8), ("9:16", 9 / 16), ("16:9", 16 / 9), ("3:4", 0.75),
                         ("1.91:1", 1.91)):
        if abs(ratio - value) < 0.005:
            return words
    return f"{ratio:.2f}:1"


def preview_html(view: PreviewData, sources: dict[str, str] | None = None) -> str:
    """One platform's preview card as HTML; every text from the person is escaped. `sources` maps a media link
    to what the browser should load for it (a data: URI for an upload not published yet)."""
    sources = sources or {}
    colour = _COLOURS.get(view.platform, "#444")
    initial = escape((view.name or "?")[:1].upper())
    head = (f'<div style="display:flex;align-items:center;gap:8px;margin-bottom:8px">'
            f'<div style="width:36px;height:36px;border-radius:50%;background:{colour};color:#fff;display:flex;'
            f'align-items:center;justify-content:center;font-weight:700">{initial}</div>'
            f'<div style="line-height:1.2"><div style="font-weight:700">{escape(view.name)}</div>'
            f'<div style="color:#667;font-size:0.85em">{escape(view.handle)}</div></div>'
            f'<div style="margin-left:auto;font-size:0.75em;color:#fff;background:{colour};border-radius:10px;'
            f'padding:2px 8px">{escape(view.platform.label)}</div></div>')
    text_style = "white-space:pre-wrap;word-wrap:break-word;margin:0 0 8px 0"
    rest = ""
    if view.thread:
        posts = [f'<div style="border-left:3px solid #cfd9de;padding:4px 0 4px 10px;margin-bottom:6px;{text_style}">'
                 f'{escape(p)}</div>' for p in view.thread]
        body = (f'<div style="color:#b45309;font-size:0.85em;margin-bottom:6px">Over X\'s 280: as a thread this is '
                f'{len(view.thread)} posts. Outpost sends one post to X, so shorten it for X.</div>{posts[0]}')
        rest = "".join(posts[1:])        # the photos go with the first post of a thread
    else:
        more = f'<span style="color:#667">{escape(view.more)}</span>' if view.more else ""
        body = (f'<p style="{text_style}">{escape(view.shown)}{more}</p>' if view.shown else
                '<p style="color:#98a2b3;margin:0 0 8px 0">Your caption shows here.</p>')
    media = ""
    for frame in view.media:
        src = sources.get(frame.url, frame.url)
        note = ""
        if frame.refused:
            note = (f'<div style="font-size:0.75em;color:#b91c1c">{escape(view.platform.label)} does not take a photo '
                    f'of this shape: see below</div>')
        elif frame.cropped:
            note = f'<div style="font-size:0.75em;color:#667">Cropped to {_ratio_words(frame.ratio)} in the feed</div>'
        if src.startswith(("http://", "https://", "data:image/")):
            inner = (f'<img src="{escape(src, quote=True)}" alt="" '
                     f'style="width:100%;height:100%;object-fit:cover;display:block">')
        else:
            inner = '<div style="color:#fff;padding:8px">▶ video</div>'
        media += (f'<div style="aspect-ratio:{frame.ratio:.4f};width:100%;overflow:hidden;border-radius:8px;'
                  f'background:#222;margin-bottom:4px">{inner}</div>{note}')
    card = ""
    if view.card:
        card = (f'<div style="border:1px solid #dde;border-radius:8px;padding:8px;margin-top:4px">'
                f'<div style="font-size:0.75em;color:#667">{escape(view.card.site)}</div>'
                f'<div style="font-size:0.85em;overflow:hidden;text-overflow:ellipsis;white-space:nowrap">'
                f'{escape(view.card.url)}</div></div>')
    return (f'<div style="border:1px solid #e1e4e8;border-radius:12px;padding:12px;background:#fff;color:#0f1419;'
            f'font-family:system-ui,sans-serif;font-size:14px;max-width:420px">{head}{body}{media}{card}{rest}</div>')


# ---------------------------------------------------------------- the composer

def _uploads(key: str) -> tuple[list[str], dict[str, str], dict[str, tuple[int | None, int | None]]]:
    """The uploaded files, stored in the media library (content-addressed: storing twice keeps one copy):
    their public links, what the preview loads for each, and their sizes."""
    urls, sources, sizes = [], {}, {}
    for f in st.session_state.get(key) or ():
        data = f.getvalue()
        stored = media_library().save(data, filename=f.name, content_type=f.type)
        url = stored.public_url
        urls.append(url)
        if stored.info.kind == "image":
            sizes[url] = (stored.info.width, stored.info.height)
        if stored.info.kind == "image" and len(data) <= 6_000_000:
            sources[url] = f"data:{stored.info.mime};base64,{base64.b64encode(data).decode()}"
        elif stored.info.kind != "image":
            sources[url] = "video"
    return urls, sources, sizes


def _draft(accounts: list[Account], media_urls: list[str], ws_id: str, user_id: str, *, hashtags: bool = True) -> Post:
    s = st.session_state
    return Post(accounts=accounts, caption=s.get("compose_caption") or "",
                hashtags=(s.get("compose_hashtags") or "") if hashtags else "",
                call_to_action=s.get("compose_cta") or "", link=s.get("compose_link") or "",
                media_urls=(s.get("compose_media") or "").splitlines() + media_urls, workspace_id=ws_id,
                created_by=user_id)


def _saved_message(result, mode: str, tz_name: str, labels: list[str]) -> str:
    where = ", ".join(labels)
    if result.status == PostStatus.DRAFT:
        return f"Saved as a draft for {where}. Nothing is published until you give it a time."
    when = Schedule(scheduled_at=result.scheduled_at, timezone_name=tz_name).describe()
    if result.status == PostStatus.PENDING_APPROVAL:
        return f"Sent for approval: once approved it goes out {when} on {where}."
    verb = "Added to the queue" if mode == MODES[1] else "Scheduled"
    return f"{verb}: it goes out {when} on {where}."


def _submit(ctx: Context, by_id: dict[str, Account], upload_key: str) -> None:
    """Save the post (a button callback, so the fields can be emptied before they are drawn again)."""
    s = st.session_state
    ws = ctx.workspace
    s.pop("compose_outcome", None)
    try:
        media, _, _ = _uploads(upload_key)
        chosen = [by_id[i] for i in s.get("compose_accounts") or () if i in by_id]
        post = _draft(chosen, media, ws.id, ctx.user.id)
        mode = s.get("compose_mode", MODES[0])
        scheduler = Scheduler(store(), actor=ctx.actor, refuse_past=True, media_checker=media_checker())
        pid = new_id("post")
        if mode == MODES[0]:
            sched = Schedule.at_local(s["compose_date"], s["compose_time"], ws.timezone_name)
            problems: list[Problem] = []
            try:   # said in the workspace's zone, with every other problem, before the scheduler says it in UTC
                check_not_past(sched.local, datetime.now(zone(ws.timezone_name)))
            except PastTimeError as exc:
                problems += exc.problems
            if problems:
                raise ValidationError(problems + [p for p in validate_post(post) if p.severity == "error"])
            result = scheduler.schedule_post(pid, replace(post, schedule=sched))
        elif mode == MODES[1]:
            result = scheduler.add_to_queue(pid, post)
        else:
            result = scheduler.save_draft(pid, post)
    except ValidationError as exc:
        s["compose_outcome"] = ("error", [p.message for p in exc.problems] or [str(exc)])
        return
    except OutpostError as exc:
        s["compose_outcome"] = ("error", [str(exc)])
        return
    s["compose_outcome"] = ("saved", [_saved_message(result, mode, ws.timezone_name, [a.label for a in chosen])],
                            list(result.notices), [w.message for w in result.warnings])
    for key in FIELDS:               # the next post starts empty: nothing of this one goes into it
        s[key] = ""                  # (set, not removed: a removed key leaves the old text in the browser)
    s["compose_upload_round"] = s.get("compose_upload_round", 0) + 1


def _outcome(already_said: set[str]) -> None:
    outcome = st.session_state.pop("compose_outcome", None)   # said once; the checks above stay live
    if not outcome:
        return
    if outcome[0] == "error":
        messages = [m for m in outcome[1] if m not in already_said]
        if not messages:
            st.error("Not saved yet: fix what is listed above first.")
        elif len(messages) > 1:
            st.error("This needs fixing before it can be saved:\n\n" + "\n".join(f"- {m}" for m in messages))
        else:
            st.error(messages[0])
        return
    _, saved, notices, warnings = outcome
    st.success(saved[0])
    for notice in notices:
        st.info(notice)
    for warning in warnings:
        st.warning(warning)


def _use_time(local: datetime) -> None:
    """'Use this time': the suggested moment into the date and time fields (a callback: before they are drawn)."""
    st.session_state["compose_date"] = local.date()
    st.session_state["compose_time"] = local.time().replace(tzinfo=None, fold=0)


def _best_time_hint(ctx: Context, chosen: list[Account]) -> None:
    """'Best time for these accounts: Tue 18:00 (based on 34 posts, fair confidence)', its next free moment on
    every chosen account, and a button that puts it in the fields (core.services.best_time decides all of it)."""
    try:
        hint = suggest_times(analytics_engine(), store(), ctx.actor, ctx.workspace.id, [a.id for a in chosen])
    except OutpostError:
        return
    except Exception:   # the suggestion is a help: the composer goes on without it
        log.exception("best-time suggestion failed")
        return
    if not hint.moments:
        st.caption(f"{hint.headline}. None of these times is free on every chosen account in the next four weeks.")
        return
    _, res = hint.moments[0]
    left, right = st.columns([5, 1], vertical_alignment="center")
    left.info(f"**{hint.headline}**  \nNext free on every chosen account: {res.local:%a %d %b %H:%M} "
              f"({res.local.tzname()}).", icon="🕒")
    right.button("Use this time", key="compose_use_best_time", on_click=_use_time, args=(res.local,))
    st.caption(hint.recommendation.explanation)


def composer(ctx: Context, accounts: list[Account]) -> None:
    """The composer's fields, previews and checks, for someone who may write posts."""
    ws = ctx.workspace
    by_id = {a.id: a for a in accounts}
    chosen_ids = st.multiselect("Post to", list(by_id), format_func=lambda i: by_id[i].label, key="compose_accounts",
                                placeholder="Choose one or more accounts")
    st.text_area("Caption", height=140, key="compose_caption", placeholder="What do you want to say?")
    c1, c2 = st.columns(2)
    c1.text_input("Hashtags", placeholder="#launch #creator", key="compose_hashtags")
    c2.text_input("Call to action", placeholder="Link in bio", key="compose_cta")
    c1.text_input("Link", placeholder="https://…", key="compose_link")
    c2.text_area("Image or video links (one per line)", height=68, key="compose_media",
                 help="Public links to JPEG/PNG images or MP4 videos. Outpost downloads each one "
                      "and checks its format, size and shape against every platform you chose.")
    if settings().sandbox:
        c2.caption(f"Sandbox sample: `{settings().sandbox_url}/_media/sample.jpg?w=1080&h=1350`")
    upload_key = f"compose_uploads_{st.session_state.get('compose_upload_round', 0)}"
    st.file_uploader("…or upload photos and videos", accept_multiple_files=True,
                     type=["jpg", "jpeg", "png", "gif", "webp", "mp4", "mov", "webm"], key=upload_key)
    st.caption("Counters and previews update when you click outside a field or press Ctrl+Enter "
               "(Streamlit sends text when a field loses focus, so no keystroke is lost).")

    chosen = [by_id[i] for i in chosen_ids]
    problems: list[Problem] = []
    try:
        media, sources, sizes = _uploads(upload_key)
    except OutpostError as exc:
        media, sources, sizes = [], {}, {}
        problems.append(Problem("upload", str(exc), field="media"))
    try:
        draft = _draft(chosen, media, ws.id, ctx.user.id)
    except ValidationError as exc:   # a half-typed hashtag: preview without the tags, say what is wrong
        problems += exc.problems
        draft = _draft(chosen, media, ws.id, ctx.user.id, hashtags=False)

    if chosen:
        st.markdown("**Preview**")
        platforms = list(dict.fromkeys(a.platform for a in chosen))
        counters = st.columns(len(platforms))
        for col, platform in zip(counters, platforms):
            count = text_count(platform, draft.render(platform).text)
            label = f"{platform.label}: {count.used:,} / {count.limit:,} {count.unit}"
            (col.error if count.over else col.caption)(label)
        per_row = 3
        for start in range(0, len(chosen), per_row):
            cols = st.columns(per_row)
            for col, account in zip(cols, chosen[start:start + per_row]):
                with col:
                    st.html(preview_html(preview(draft, account, media_sizes=sizes), sources))
        has_text = any(st.session_state.get(k) for k in ("compose_caption", "compose_hashtags", "compose_cta",
                                                         "compose_link", "compose_media")) or media
        if has_text:
            problems += validate_post(draft)
            if media and not (st.session_state.get("compose_media") or "").strip():
                # uploads are read from disk, so their shapes and sizes are checked now; links when saving
                problems += media_checker()(draft)
        now = datetime.now(zone(ws.timezone_name))
        for account in chosen:
            health = account_health(by_id[account.id], now.astimezone(zone("UTC")))
            if health.status.value in ("reconnect_needed", "revoked", "expired"):
                problems.append(Problem("reconnect", f"{account.label}: {health.message}", severity="warning"))

    mode = st.radio("When", MODES, horizontal=True, key="compose_mode")
    local_now = datetime.now(zone(ws.timezone_name))
    if mode == MODES[0]:
        d1, d2 = st.columns(2)
        day = d1.date_input("Date", value=(local_now + timedelta(days=1)).date(), key="compose_date")
        wall = d2.time_input("Time", value=ws.preferred_time, step=300, key="compose_time")
        st.caption(f"In {ws.timezone_name}. Your preferred posting time is {ws.preferred_time:%H:%M}.")
        if chosen:
            _best_time_hint(ctx, chosen)
            try:
                check_not_past(Schedule.at_local(day, wall, ws.timezone_name).local, local_now)
            except PastTimeError as exc:
                problems += exc.problems
    elif mode == MODES[1]:
        st.caption("Takes the next queue slot that is free on every chosen account (set the slots in Settings).")
    else:
        st.caption("Kept as a draft: nothing is published until you give it a time.")

    said = {p.message for p in problems}
    errors = list(dict.fromkeys(p.message for p in problems if p.severity == "error"))
    warnings = list(dict.fromkeys(p.message for p in problems if p.severity != "error"))
    if errors:
        st.error("Before this can be scheduled:\n\n" + "\n".join(f"- {m}" for m in errors))
    if warnings:
        st.warning("Worth a look:\n\n" + "\n".join(f"- {m}" for m in warnings))
    st.button("Schedule post" if mode != MODES[2] else "Save draft", type="primary", key="compose_submit",
              on_click=_submit, args=(ctx, by_id, upload_key))
    _outcome(said)
