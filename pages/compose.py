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

import streamlit as st

from core.domain import Account, Post, PostVariant, Schedule, new_id, normalize_hashtags
from core.domain.catalog import Platform
from core.domain.errors import OutpostError, PastTimeError, Problem, ValidationError
from core.domain.lifecycle import PostStatus
from core.domain import timeutil
from core.domain.timeutil import zone
from core.rules import recurrence_builder as repeat
from core.rules.limits import limits_for
from core.rules.permissions import Action
from core.rules.previews import preview, x_thread
from core.rules.timing import check_not_past, default_post_time
from core.rules.validation import LINK_CEILING, TEXT_CEILING, TITLE_CEILING, comment_count, text_count, validate_post
from core.services import composer_drafts, hashtag_groups
from core.services.best_time import suggest_times
from core.services.connect import account_health
from core.services.scheduler import Scheduler
from core.media.renditions import convert_for_platforms, rendition_source
from pages.preview_card import preview_html
from pages.shared import Context, analytics_engine, media_checker, media_library, settings, show_messages, store

log = logging.getLogger("outpost.compose")

# What is emptied after a save: the text, media and first comment. The chosen accounts and the kind of "When" stay
# (the next post often goes to the same places); the date and time go back to the next free default (`_default_when`:
# the same moment twice would put two posts on top of each other). Per-platform variants (compose_v_*) and the X
# thread (compose_thread*) are emptied too (`_empty`), and a repeat rule is never carried into the next post.
FIELDS = ("compose_caption", "compose_hashtags", "compose_cta", "compose_link",
          "compose_media", "compose_first_comment")
AT, REPEAT, QUEUE, DRAFT = "At a date and time", "Repeat on a schedule", "Next free queue slot", "Save as draft"
MODES = (AT, REPEAT, QUEUE, DRAFT)
VARIANT_FIELDS = ("caption", "hashtags", "link", "title")

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


def _converted(draft: Post, sources: dict[str, str], sizes: dict[str, tuple[int | None, int | None]]) -> Post:
    """The draft with core's JPEG renditions for platforms that refuse an upload's type (Instagram and a PNG); each
    rendition previews as the file it was made from."""
    library = media_library()
    draft = convert_for_platforms(draft, library)
    for variant in draft.variants.values():
        for url in variant.media_urls or ():
            name = library.name_of(url)
            made_from = rendition_source(library, name) if name else None
            if made_from:
                original = library.public_url(made_from)
                if original in sources:
                    sources.setdefault(url, sources[original])
                if original in sizes:
                    sizes.setdefault(url, sizes[original])
    return draft


# ---------------------------------------------------------------- per-platform variants (the post dialog uses them too)

COMPOSE = "compose"    # the composer's prefix for its variant fields (the dialog uses its own)


def variant_key(prefix: str, platform: Platform, field: str | None = None) -> str:
    return f"{prefix}_v_{platform.value}" + (f"_{field}" if field else "")


def _fields_of(platform: Platform) -> tuple[str, ...]:
    return VARIANT_FIELDS if limits_for(platform).title_max else VARIANT_FIELDS[:3]


def _fill_variant(prefix: str, platform: Platform, base: dict[str, str]) -> None:
    """'Customise for X' ticked: its fields start from the post's own, to be changed rather than retyped."""
    s = st.session_state
    if s.get(variant_key(prefix, platform)):
        for f in _fields_of(platform):
            if not s.get(variant_key(prefix, platform, f)):
                s[variant_key(prefix, platform, f)] = base.get(f, "")


def open_variant(prefix: str, platform: Platform, variant: PostVariant | None) -> None:
    """Put a saved variant into its editor's fields, the first time the editor is drawn (the post dialog)."""
    s = st.session_state
    if variant_key(prefix, platform) in s:
        return
    s[variant_key(prefix, platform)] = variant is not None and any(getattr(variant, f) is not None
                                                                   for f in VARIANT_FIELDS)
    for f in _fields_of(platform):
        value = getattr(variant, f) if variant is not None else None
        s[variant_key(prefix, platform, f)] = (" ".join(value) if f == "hashtags" else value) if value else ""


def variant_editor(prefix: str, platform: Platform, base: dict[str, str]) -> None:
    """The optional 'Customise for <Platform>' editor: what is typed here replaces the post's own caption, hashtags,
    link (and title, where the platform has one) on that platform; an empty field uses the post's own."""
    on = st.checkbox(f"Customise for {platform.label}", key=variant_key(prefix, platform),
                     on_change=_fill_variant, args=(prefix, platform, base))
    if not on:
        return
    with st.container(border=True):
        st.text_area(f"Caption on {platform.label}", key=variant_key(prefix, platform, "caption"), height=100,
                     max_chars=TEXT_CEILING)
        c1, c2 = st.columns(2)
        c1.text_input(f"Hashtags on {platform.label}", key=variant_key(prefix, platform, "hashtags"),
                      max_chars=TEXT_CEILING)
        c2.text_input(f"Link on {platform.label}", key=variant_key(prefix, platform, "link"), max_chars=LINK_CEILING)
        if "title" in _fields_of(platform):
            st.text_input(f"Title on {platform.label}", key=variant_key(prefix, platform, "title"),
                          max_chars=TITLE_CEILING, help=f"At most {limits_for(platform).title_max} characters.")
        st.caption(f"An empty field uses the post's own. Untick to send {platform.label} the post's own text.")


def variant_from_fields(prefix: str, platform: Platform, *, keep: PostVariant | None = None,
                        base: dict[str, str] | None = None) -> PostVariant | None:
    """The variant typed in `platform`'s editor, over `keep`'s other parts (media, thread, first comment); None when
    nothing is left. A field left as the post's own (`base`) is not an override, so it follows later changes to the
    post. Hashtags that are not hashtags: a ValidationError whose message names the platform."""
    s = st.session_state
    keep = keep or PostVariant()
    base = base or {}
    values: dict[str, object] = {f: None for f in VARIANT_FIELDS}
    if s.get(variant_key(prefix, platform)):
        for f in _fields_of(platform):
            text = s.get(variant_key(prefix, platform, f)) or ""
            same = text.strip() == (base.get(f) or "").strip()
            values[f] = (text if f == "caption" else text.strip()) if text.strip() and not same else None
        if values["hashtags"] is not None:
            try:
                values["hashtags"] = normalize_hashtags(values["hashtags"])
            except ValidationError as exc:
                raise ValidationError([Problem(p.code, f"Hashtags on {platform.label}: {p.message}", field="hashtags",
                                               platform=platform.value) for p in exc.problems]) from None
    variant = replace(keep, **values)
    return None if variant == PostVariant() else variant


# ---------------------------------------------------------------- the X thread

def thread_parts() -> list[str]:
    s = st.session_state
    return [s.get(f"compose_thread_{i}") or "" for i in range(s.get("compose_thread_n") or 0)]


def _set_thread(parts: list[str]) -> None:
    s = st.session_state
    for i, part in enumerate(parts):
        s[f"compose_thread_{i}"] = part
    s["compose_thread_n"] = len(parts)


def _start_thread(x_text: str) -> None:
    """'Post as a thread' ticked: the X text split at sentence boundaries into numbered posts, to edit."""
    if st.session_state.get("compose_thread"):
        try:
            parts = x_thread(x_text) or [""]
        except ValidationError as exc:         # not 100+ boxes to edit: say so instead
            st.session_state["compose_thread"] = False
            st.session_state["compose_thread_refused"] = str(exc)
            return
        _set_thread(parts)
        st.session_state["compose_thread_from"] = x_text


def _add_thread_post() -> None:
    _set_thread(thread_parts() + [""])


def _drop_thread_post() -> None:
    parts = thread_parts()
    if len(parts) > 1:
        _set_thread(parts[:-1])


def _thread_editor(x_text: str) -> None:
    """Offered while the X text is over X's limit (or a thread is on): the thread's posts, each with its counter."""
    limit = limits_for(Platform.X).text_max
    on = st.checkbox("Post as a thread on X", key="compose_thread", on_change=_start_thread, args=(x_text,),
                     help="X takes 280 characters a post: the text goes out as numbered posts, each replying to "
                          "the one before. Split at sentence ends; change any post as you like.")
    if refused := st.session_state.pop("compose_thread_refused", None):
        st.warning(refused)
    if not on:
        return
    parts = thread_parts()
    with st.container(border=True):
        if st.session_state.get("compose_thread_from") not in (None, x_text):
            st.caption("The caption changed since this thread was split: these posts are sent as they are. Untick "
                       "and tick 'Post as a thread on X' to split the new text.")
        for i in range(len(parts)):
            st.text_area(f"X post {i + 1} of {len(parts)}", key=f"compose_thread_{i}", height=90, max_chars=TEXT_CEILING)
            count = text_count(Platform.X, st.session_state.get(f"compose_thread_{i}") or "")
            (st.error if count.over else st.caption)(f"{count.used:,} / {limit:,} {count.unit}")
        row = st.container(horizontal=True)
        row.button("Add a post", key="compose_thread_add", on_click=_add_thread_post)
        if len(parts) > 1:
            row.button("Remove the last post", key="compose_thread_drop", on_click=_drop_thread_post)


# ---------------------------------------------------------------- the post as typed

def _variants(platforms: list[Platform], *, thread: bool) -> tuple[dict[Platform, PostVariant], list[Problem]]:
    """Each chosen platform's variant as typed, the X thread (when `thread` and it is on), and the first comment
    left off where the platform takes none (said in the composer, so not warned about again)."""
    s = st.session_state
    variants: dict[Platform, PostVariant] = {}
    problems: list[Problem] = []
    comment = (s.get("compose_first_comment") or "").strip()
    base = _base()
    for platform in platforms:
        keep = None
        if comment and not limits_for(platform).supports_first_comment:
            keep = PostVariant(first_comment="")
        if platform == Platform.X and thread and s.get("compose_thread"):
            keep = replace(keep or PostVariant(), thread=tuple(thread_parts()))
        try:
            variant = variant_from_fields(COMPOSE, platform, keep=keep, base=base)
        except ValidationError as exc:
            problems += exc.problems
            variant = keep
        if variant is not None:
            variants[platform] = variant
    return variants, problems


def _base() -> dict[str, str]:
    """The post's own text as typed: what a variant's fields start from and are compared with."""
    s = st.session_state
    return {"caption": s.get("compose_caption") or "", "hashtags": s.get("compose_hashtags") or "",
            "link": s.get("compose_link") or "", "title": ""}


def _draft(accounts: list[Account], media_urls: list[str], ws_id: str, user_id: str, *, hashtags: bool = True,
           variants: dict[Platform, PostVariant] | None = None) -> Post:
    s = st.session_state
    return Post(accounts=accounts, caption=s.get("compose_caption") or "",
                hashtags=(s.get("compose_hashtags") or "") if hashtags else "",
                call_to_action=s.get("compose_cta") or "", link=s.get("compose_link") or "",
                media_urls=(s.get("compose_media") or "").splitlines() + media_urls, workspace_id=ws_id,
                created_by=user_id, first_comment=s.get("compose_first_comment") or "", variants=variants or {})


def _repeat_choices(first_day) -> repeat.RepeatChoices:
    s = st.session_state
    return repeat.RepeatChoices(pattern=s.get("compose_rep_pattern", "weekly"), every=int(s.get("compose_rep_every", 1)),
                                days=tuple(s.get("compose_rep_days") or ()),
                                month_day=int(s.get("compose_rep_monthday", first_day.day)),
                                ends=s.get("compose_rep_ends", "never"), count=int(s.get("compose_rep_count", 10)),
                                until=s.get("compose_rep_until"))


def _saved_message(result, mode: str, tz_name: str, labels: list[str], rule: str | None = None) -> str:
    where = ", ".join(labels)
    if result.status == PostStatus.DRAFT:
        return f"Saved as a draft for {where}. Nothing is published until you give it a time."
    when = Schedule(scheduled_at=result.scheduled_at, timezone_name=tz_name).describe()
    if rule:
        words = repeat.describe(rule)
        if result.status == PostStatus.PENDING_APPROVAL:
            return f"Sent for approval: once approved it repeats {words}, the first post {when}, on {where}."
        return f"Repeats {words}: the first post goes out {when} on {where}."
    if result.status == PostStatus.PENDING_APPROVAL:
        return f"Sent for approval: once approved it goes out {when} on {where}."
    verb = "Added to the queue" if mode == QUEUE else "Scheduled"
    return f"{verb}: it goes out {when} on {where}."


def _default_when(ws) -> datetime:
    """The date and time the composer starts from, in the workspace's zone (core.rules.timing decides: today's
    preferred time while it is at least 15 minutes ahead, else the next queue time today, else tomorrow's)."""
    return default_post_time(timeutil.utcnow(), ws.timezone_name, ws.preferred_time, ws.queue_slots).local


def _empty(ws) -> None:
    """After a save: nothing of this post goes into the next one (text fields set, not removed: a removed key
    leaves the old text in the browser); the date and time go back to the default."""
    s = st.session_state
    for key in FIELDS:
        s[key] = ""
    _use_time(_default_when(ws))
    for platform in Platform:
        if variant_key(COMPOSE, platform) in s:
            s[variant_key(COMPOSE, platform)] = False
        for f in VARIANT_FIELDS:
            if variant_key(COMPOSE, platform, f) in s:
                s[variant_key(COMPOSE, platform, f)] = ""
    s["compose_thread"] = False
    s.pop("compose_thread_from", None)
    for i in range(s.pop("compose_thread_n", 0) or 0):
        s.pop(f"compose_thread_{i}", None)
    if s.get("compose_mode") == REPEAT:      # a repeating series is chosen anew each time, never inherited
        s["compose_mode"] = AT
        for key in [k for k in s if str(k).startswith("compose_rep_")]:
            del s[key]
    s["compose_upload_round"] = s.get("compose_upload_round", 0) + 1


def _submit(ctx: Context, by_id: dict[str, Account], upload_key: str) -> None:
    """Save the post (a button callback, so the fields can be emptied before they are drawn again)."""
    s = st.session_state
    ws = ctx.workspace
    s.pop("compose_outcome", None)
    rule = None
    try:
        media, _, _ = _uploads(upload_key)
        chosen = [by_id[i] for i in s.get("compose_accounts") or () if i in by_id]
        variants, problems = _variants(list(dict.fromkeys(a.platform for a in chosen)), thread=True)
        if problems:
            raise ValidationError(problems)
        post = convert_for_platforms(_draft(chosen, media, ws.id, ctx.user.id, variants=variants), media_library())
        mode = s.get("compose_mode", AT)
        scheduler = Scheduler(store(), actor=ctx.actor, refuse_past=True, media_checker=media_checker())
        pid = new_id("post")
        if mode in (AT, REPEAT):
            sched = Schedule.at_local(s["compose_date"], s["compose_time"], ws.timezone_name)
            problems = []
            if mode == REPEAT:
                try:
                    rule = repeat.build_rule(_repeat_choices(s["compose_date"]), first_day=s["compose_date"])
                except ValidationError as exc:
                    problems += exc.problems
            try:   # said in the workspace's zone, with every other problem, before the scheduler says it in UTC
                check_not_past(sched.local, timeutil.utcnow().astimezone(zone(ws.timezone_name)))
            except PastTimeError as exc:
                problems += exc.problems
            if problems:
                raise ValidationError(problems + [p for p in validate_post(post) if p.severity == "error"])
            result = scheduler.schedule_post(pid, replace(post, schedule=sched, recurrence=rule))
        elif mode == QUEUE:
            result = scheduler.add_to_queue(pid, post)
        else:
            result = scheduler.save_draft(pid, post)
    except ValidationError as exc:
        s["compose_outcome"] = ("error", [p.message for p in exc.problems] or [str(exc)])
        return
    except OutpostError as exc:
        s["compose_outcome"] = ("error", [str(exc)])
        return
    s["compose_outcome"] = ("saved", [_saved_message(result, mode, ws.timezone_name, [a.label for a in chosen], rule)],
                            list(result.notices), [w.message for w in result.warnings])
    _empty(ws)
    s.pop("compose_restored_at", None)     # saved: what was kept is forgotten on this run (_keep_typed)


# ---------------------------------------------------------------- saved hashtag groups

def _add_group(groups: dict[str, hashtag_groups.HashtagGroup]) -> None:
    """A group picked: its tags after the ones typed, none twice; the picker is ready for the next one."""
    s = st.session_state
    group = groups.get(s.get("compose_group_pick") or "")
    s["compose_group_pick"] = None
    if group is None:
        return
    try:
        s["compose_hashtags"] = hashtag_groups.add_group_tags(s.get("compose_hashtags") or "", group.hashtags)
    except ValidationError as exc:
        s["compose_group_msg"] = ("error", "Fix the hashtags typed first: " + " ".join(p.message for p in exc.problems))
    else:
        s["compose_group_msg"] = ("info", f"Added '{group.name}'.")


def _manage_group(ctx: Context, what: str) -> None:
    """Save the typed hashtags as a group, rename or delete one (core checks who may and what is allowed)."""
    s = st.session_state
    ws_id = ctx.workspace.id
    try:
        if what == "create":
            group = hashtag_groups.create_group(store(), ctx.actor, ws_id, s.get("compose_group_name") or "",
                                                s.get("compose_hashtags") or "")
            s["compose_group_name"] = ""
            done = f"Saved the group '{group.name}' ({' '.join(group.hashtags)})."
        elif what == "rename":
            group = hashtag_groups.update_group(store(), ctx.actor, ws_id, s.get("compose_group_edit") or "",
                                                name=s.get("compose_group_rename") or "")
            s["compose_group_rename"] = ""
            done = f"Renamed to '{group.name}'."
        elif what == "retag":
            group = hashtag_groups.update_group(store(), ctx.actor, ws_id, s.get("compose_group_edit") or "",
                                                hashtags=s.get("compose_hashtags") or "")
            done = f"'{group.name}' now holds {' '.join(group.hashtags)}."
        else:
            group = hashtag_groups.delete_group(store(), ctx.actor, ws_id, s.get("compose_group_edit") or "")
            s["compose_group_edit"] = None
            done = f"Deleted the group '{group.name}'. Posts that used its hashtags keep them."
    except ValidationError as exc:
        s["compose_group_msg"] = ("error", " ".join(p.message for p in exc.problems) or str(exc))
    except OutpostError as exc:
        s["compose_group_msg"] = ("error", str(exc))
    else:
        s["compose_group_msg"] = ("success", done)


def _hashtag_groups(ctx: Context, where) -> None:
    """The saved groups beside the Hashtags field: pick one to add its tags; manage them (editors and owners)."""
    try:
        groups = {g.id: g for g in hashtag_groups.list_groups(store(), ctx.actor, ctx.workspace.id)}
    except OutpostError as exc:
        where.caption(str(exc))
        return
    with where:
        if groups:
            st.selectbox("Add a saved hashtag group", list(groups), index=None, key="compose_group_pick",
                         format_func=lambda i: f"{groups[i].name}: {' '.join(groups[i].hashtags)}",
                         placeholder="Choose a group to add its hashtags", on_change=_add_group, args=(groups,))
        else:
            st.caption("No saved hashtag groups yet: type hashtags, then save them as a group to reuse them.")
        if ctx.can(Action.MANAGE_HASHTAGS):
            with st.popover("Manage hashtag groups"):
                st.text_input("New group's name", key="compose_group_name", placeholder="Spring launch")
                st.button("Save the hashtags typed as a group", key="compose_group_create", on_click=_manage_group,
                          args=(ctx, "create"))
                if groups:
                    st.divider()
                    st.selectbox("Group", list(groups), key="compose_group_edit",
                                 format_func=lambda i: f"{groups[i].name}: {' '.join(groups[i].hashtags)}")
                    st.text_input("New name", key="compose_group_rename")
                    row = st.container(horizontal=True)
                    row.button("Rename", key="compose_group_rename_btn", on_click=_manage_group, args=(ctx, "rename"))
                    row.button("Use the hashtags typed", key="compose_group_retag", on_click=_manage_group,
                               args=(ctx, "retag"), help="Replace this group's hashtags with the ones typed above.")
                    row.button("Delete", key="compose_group_delete", on_click=_manage_group, args=(ctx, "delete"))
        msg = st.session_state.pop("compose_group_msg", None)
        if msg:
            getattr(st, msg[0])(msg[1])


def _outcome(already_said: set[str]) -> None:
    outcome = st.session_state.pop("compose_outcome", None)   # said once; the checks above stay live
    if not outcome:
        return
    if outcome[0] == "error":
        messages = [m for m in outcome[1] if m not in already_said]
        if not messages:
            st.error("Not saved yet: fix what is listed above first.")
        else:
            show_messages(messages)
        return
    _, saved, notices, warnings = outcome
    st.success(saved[0])
    for notice in notices:
        st.info(notice)
    for warning in warnings:
        st.warning(warning)


def comment_counter(platforms: list[Platform], text: str) -> None:
    """Under the first comment: what it uses of the tightest chosen platform's limit, red when over (core counts)."""
    if len(text) > TEXT_CEILING:      # far too long: validate_post says so, without counting it
        return
    found = comment_count(platforms, text)
    if found is None:
        return
    platform, count = found
    others = [p for p in platforms if p != platform and limits_for(p).supports_first_comment]
    tightest = f"{platform.label}'s limit for a comment" + (", the smallest of the chosen platforms" if others else "")
    said = f"First comment: {count.used:,} / {count.limit:,} {count.unit}"
    if count.over:
        st.error(f"{said}, {count.used - count.limit:,} over {tightest}. Shorten it.")
    else:
        st.caption(f"{said} ({tightest}).")


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
              f"({res.local.tzname()}).", icon=":material/schedule:")
    right.button("Use this time", key="compose_use_best_time", on_click=_use_time, args=(res.local,))
    st.caption(hint.recommendation.explanation)


def _repeat_builder(ws, day, wall) -> list[Problem]:
    """The repeat rule builder under the first post's date and time: the rule in words and its next five posts in
    the workspace's zone (core.rules.recurrence_builder builds and expands it)."""
    s = st.session_state
    s.setdefault("compose_rep_pattern", "weekly")
    s.setdefault("compose_rep_every", 1)
    s.setdefault("compose_rep_days", [repeat.DAY_CODES[day.weekday()]])
    s.setdefault("compose_rep_monthday", day.day)
    s.setdefault("compose_rep_ends", "never")
    s.setdefault("compose_rep_count", 10)
    s.setdefault("compose_rep_until", day + timedelta(days=30))
    c1, c2 = st.columns(2)
    pattern = c1.selectbox("Repeats", list(repeat.PATTERNS), format_func=repeat.PATTERNS.get,
                           key="compose_rep_pattern")
    unit = {"daily": "days", "monthly": "months"}.get(pattern, "weeks")
    c2.number_input(f"Every how many {unit}", min_value=1, max_value=99, step=1, key="compose_rep_every")
    if pattern == "weekly":
        st.multiselect("On", repeat.DAY_CODES, format_func=repeat.DAY_NAMES.get, key="compose_rep_days")
    elif pattern == "monthly":
        st.number_input("On day of the month", min_value=1, max_value=31, step=1, key="compose_rep_monthday")
    e1, e2 = st.columns(2)
    ends = e1.radio("Ends", list(repeat.ENDS), format_func=repeat.ENDS.get, key="compose_rep_ends")
    if ends == "after":
        e2.number_input("Number of posts (the first included)", min_value=1, max_value=500, step=1,
                        key="compose_rep_count")
    elif ends == "on":
        e2.date_input("Last day", key="compose_rep_until")
    try:
        rule = repeat.build_rule(_repeat_choices(day), first_day=day)
        first = Schedule.at_local(day, wall, ws.timezone_name)
        posts = repeat.upcoming(rule, first.scheduled_at, ws.timezone_name, 5)
    except ValidationError as exc:
        return list(exc.problems)
    lines = "\n".join(f"- {p.local:%a %d %b %Y %H:%M} {p.local.tzname()}" for p in posts)
    more = "" if len(posts) < 5 else "\n- …"
    st.info(f"**Repeats {repeat.describe(rule)}.** The next posts, in {ws.timezone_name}:\n{lines}{more}")
    if repeat.off_rule_start(rule, first.scheduled_at, ws.timezone_name):
        st.caption(f"The first post goes out on {first.local:%A %d %b} as chosen, although the rule does not pick "
                   "that day; the ones after follow the rule.")
    return []


# ---------------------------------------------------------------- kept as the person writes
# What is kept (core.services.composer_drafts) while the text fields have something in them: they and the chosen
# accounts. A new session (a reload, another tab, the next day) starts from it.
KEPT = (*FIELDS, "compose_accounts")


def _typed() -> dict[str, object]:
    s = st.session_state
    out: dict[str, object] = {k: str(s.get(k) or "") for k in FIELDS}
    out["compose_accounts"] = [str(a) for a in s.get("compose_accounts") or ()]
    return out


def _clear_typed() -> None:
    """Empty what is kept: the text fields (set, not removed: a removed key leaves the old text in the browser) and
    the chosen accounts."""
    s = st.session_state
    for key in FIELDS:
        s[key] = ""
    s["compose_accounts"] = []


def _restore_kept(ctx: Context, by_id: dict[str, Account]) -> None:
    """Before the fields are drawn, whenever they are not alive (a new session, back from another page, the
    composer opened again: Streamlit forgets a field's value once a run does not draw it): what was kept, into the
    empty composer. On switching workspace, what was typed for the other one (kept there) leaves the fields first."""
    s = st.session_state
    ws_id = ctx.workspace.id
    fresh = not any(key in s for key in FIELDS)
    if s.get("compose_kept_ws") not in (None, ws_id):  # another workspace's post: kept with it, not carried over
        _clear_typed()
        fresh = True
    s["compose_kept_ws"] = ws_id
    if not fresh:
        return
    s.pop("compose_restored_at", None)
    s["compose_kept"] = _typed()
    try:
        found = composer_drafts.kept(store(), ctx.actor, ws_id)
    except OutpostError:
        return
    if found is None:
        return
    for key in FIELDS:
        value = found.fields.get(key)
        s[key] = value if isinstance(value, str) else ""
    s["compose_accounts"] = [a for a in found.fields.get("compose_accounts") or () if a in by_id]   # still there
    s["compose_kept"] = _typed()
    s["compose_restored_at"] = found.kept_at


def _keep_typed(ctx: Context) -> None:
    """After the fields are drawn: keep what changed since it was last kept (nothing typed: forget it)."""
    s = st.session_state
    now = _typed()
    if now == s.get("compose_kept"):
        return
    try:
        if any(now[k] for k in FIELDS):
            composer_drafts.keep(store(), ctx.actor, ctx.workspace.id, now, now=timeutil.utcnow())
        else:
            composer_drafts.forget(store(), ctx.actor, ctx.workspace.id)
    except OutpostError as exc:           # too long to keep, say: the composer still works, it just is not kept
        log.info("not kept: %s", exc)
        return
    s["compose_kept"] = now


def _discard(ctx: Context) -> None:
    """'Discard': the restored text goes, here and where it was kept."""
    s = st.session_state
    _clear_typed()
    s.pop("compose_restored_at", None)
    s["compose_kept"] = _typed()
    composer_drafts.forget(store(), ctx.actor, ctx.workspace.id)


def composer(ctx: Context, accounts: list[Account]) -> None:
    """The composer's fields, previews and checks, for someone who may write posts."""
    s = st.session_state
    ws = ctx.workspace
    by_id = {a.id: a for a in accounts}
    _restore_kept(ctx, by_id)
    if s.get("compose_restored_at"):
        when = s["compose_restored_at"].astimezone(zone(ws.timezone_name))
        row = st.container(horizontal=True, vertical_alignment="center")
        row.info(f"Restored what you were writing (kept {when:%a %d %b %H:%M}). It is kept as you write until you "
                 "save it.", icon=":material/restore:")
        row.button("Discard it", key="compose_discard", on_click=_discard, args=(ctx,), icon=":material/delete:")
    chosen_ids = st.multiselect("Post to", list(by_id), format_func=lambda i: by_id[i].label, key="compose_accounts",
                                placeholder="Choose one or more accounts")
    chosen = [by_id[i] for i in chosen_ids]
    platforms = list(dict.fromkeys(a.platform for a in chosen))
    st.text_area("Caption", height=140, key="compose_caption", placeholder="What do you want to say?",
                 max_chars=TEXT_CEILING)   # a guard only: core.rules.validation refuses what is far too long
    c1, c2 = st.columns(2)
    c1.text_input("Hashtags", placeholder="#launch #creator", key="compose_hashtags", max_chars=TEXT_CEILING)
    _hashtag_groups(ctx, c2)
    c1, c2 = st.columns(2)
    c1.text_input("Call to action", placeholder="Link in bio", key="compose_cta", max_chars=TEXT_CEILING)
    c2.text_input("Link", placeholder="https://…", key="compose_link", max_chars=LINK_CEILING)
    c1, c2 = st.columns(2)
    c1.text_area("Image or video links (one per line)", height=68, key="compose_media",
                 help="Public links to JPEG/PNG images or MP4 videos. Outpost downloads each one "
                      "and checks its format, size and shape against every platform you chose.")
    if settings().sandbox:
        c1.caption(f"Sandbox sample: `{settings().sandbox_url}/_media/sample.jpg?w=1080&h=1350`")
    upload_key = f"compose_uploads_{s.get('compose_upload_round', 0)}"
    c2.file_uploader("…or upload photos and videos", accept_multiple_files=True,
                     type=["jpg", "jpeg", "png", "gif", "webp", "mp4", "mov", "webm"], key=upload_key)

    commenting = [p for p in platforms if limits_for(p).supports_first_comment]
    if commenting:
        # No max_chars: Streamlit's own counter would show its guard (100,000), and a paste past the platform's
        # limit would be cut silently. The counter below says the chosen platforms' limit; saving refuses past it.
        st.text_area("First comment", height=68, key="compose_first_comment",
                     placeholder="Posted as the first comment under the post (more hashtags, a link, a question…)")
        comment_counter(platforms, s.get("compose_first_comment") or "")
        silent = [p.label for p in platforms if p not in commenting]
        st.caption(f"Posted under the post on {', '.join(p.label for p in commenting)}."
                   + (f" {', '.join(silent)} {'does' if len(silent) == 1 else 'do'} not let Outpost add a first "
                      "comment, so it is left off there." if silent else ""))
    elif platforms:
        st.caption(f"First comment: {', '.join(p.label for p in platforms)} "
                   f"{'does' if len(platforms) == 1 else 'do'} not let Outpost add one.")

    if platforms:
        st.markdown("**Per platform** (optional: a different caption, hashtags or link for one platform)")
        for platform in platforms:
            variant_editor(COMPOSE, platform, _base())
    st.caption("Counters and previews update when you click outside a field or press Ctrl+Enter "
               "(Streamlit sends text when a field loses focus, so no keystroke is lost).")

    problems: list[Problem] = []
    try:
        media, sources, sizes = _uploads(upload_key)
    except OutpostError as exc:
        media, sources, sizes = [], {}, {}
        problems.append(Problem("upload", str(exc), field="media"))
    variants, variant_problems = _variants(platforms, thread=False)
    problems += variant_problems
    try:
        draft = _draft(chosen, media, ws.id, ctx.user.id, variants=variants)
    except ValidationError as exc:   # a half-typed hashtag: preview without the tags, say what is wrong
        problems += exc.problems
        draft = _draft(chosen, media, ws.id, ctx.user.id, hashtags=False, variants=variants)

    if Platform.X in platforms:
        x_text = draft.render(Platform.X).text
        if s.get("compose_thread") or text_count(Platform.X, x_text).over:
            _thread_editor(x_text)
        if s.get("compose_thread"):
            variants, _ = _variants(platforms, thread=True)
            draft = replace(draft, variants=variants)
    draft = _converted(draft, sources, sizes)

    if chosen:
        st.markdown("**Preview**")
        counters = st.columns(len(platforms))
        for col, platform in zip(counters, platforms):
            rendered = draft.render(platform)
            if rendered.thread:
                posts = (rendered.text, *rendered.thread)
                over = any(text_count(platform, p).over for p in posts)
                (col.error if over else col.caption)(f"{platform.label}: a thread of {len(posts)} posts")
                continue
            count = text_count(platform, rendered.text)
            label = f"{platform.label}: {count.used:,} / {count.limit:,} {count.unit}"
            (col.error if count.over else col.caption)(label)
        per_row = 3
        for start in range(0, len(chosen), per_row):
            cols = st.columns(per_row)
            for col, account in zip(cols, chosen[start:start + per_row]):
                rendered = draft.render(account.platform)
                view = preview(draft, account, media_sizes=sizes)     # a thread comes capped (core)
                with col:
                    st.html(preview_html(view, sources, threaded=bool(rendered.thread),
                                         comment=rendered.first_comment))
        has_text = any(s.get(k) for k in FIELDS) or media or bool(variants)
        if has_text:
            problems += validate_post(draft)
            if media and not (s.get("compose_media") or "").strip() and not any(p.field == "media" for p in problems):
                # uploads are read from disk, so their shapes and sizes are checked now; links when saving
                problems += media_checker()(draft)
        now = timeutil.utcnow().astimezone(zone(ws.timezone_name))
        for account in chosen:
            health = account_health(by_id[account.id], now.astimezone(zone("UTC")))
            if health.status.value in ("reconnect_needed", "revoked", "expired"):
                problems.append(Problem("reconnect", f"{account.label}: {health.message}", severity="warning"))

    mode = st.radio("When", MODES, horizontal=True, key="compose_mode")
    local_now = timeutil.utcnow().astimezone(zone(ws.timezone_name))
    if mode in (AT, REPEAT):
        d1, d2 = st.columns(2)
        default = _default_when(ws)     # used until the person picks (the keys then hold their choice)
        day = d1.date_input("Date" if mode == AT else "First post on", value=default.date(), key="compose_date")
        wall = d2.time_input("Time", value=default.time().replace(tzinfo=None, fold=0), step=300, key="compose_time")
        st.caption(f"In {ws.timezone_name}. Your preferred posting time is {ws.preferred_time:%H:%M}.")
        if mode == REPEAT:
            problems += _repeat_builder(ws, day, wall)
        if chosen and mode == AT:
            _best_time_hint(ctx, chosen)
        if chosen:
            try:
                check_not_past(Schedule.at_local(day, wall, ws.timezone_name).local, local_now)
            except PastTimeError as exc:
                problems += exc.problems
    elif mode == QUEUE:
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
    label = {DRAFT: "Save draft", REPEAT: "Schedule the series"}.get(mode, "Schedule post")
    if mode != DRAFT and ctx.workspace.requires_approval:     # it waits for an approver before it can go out
        label = "Send the series for approval" if mode == REPEAT else "Send for approval"
    st.button(label, type="primary", key="compose_submit", on_click=_submit, args=(ctx, by_id, upload_key))
    _outcome(said)
    _keep_typed(ctx)
