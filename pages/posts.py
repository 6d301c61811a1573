"""Posts: what is planned and what happened, and a composer to add one."""
from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta

import pandas as pd
import streamlit as st

from core.services.accounts import add_account
from core.domain import Account, Post, Schedule, new_id
from core.domain.errors import OutpostError
from core.rules.permissions import Action
from core.platforms.registry import supported_platforms
from core.services.scheduler import Scheduler
from core.domain.timeutil import zone
from core.rules.validation import text_count
from core.services.views import attention_rows, post_rows, workspace_accounts
from pages.shared import context, media_checker, media_library, settings, show_problems, store

ctx = context()
db = store()
ws = ctx.workspace

st.title("Posts")
st.caption(f"Times are shown in {ws.timezone_name}.")

accounts = workspace_accounts(db, ws.id, actor=ctx.actor)

# ---------------------------------------------------------------- composer
if ctx.can(Action.EDIT_POSTS):
    with st.expander("✍️ New post", expanded=not accounts or st.session_state.get("composer_open", False)):
        if not accounts:
            st.info("Connect an account first. In sandbox mode you can add a practice account here; "
                    "real connections arrive with the Accounts page.")
        if settings().sandbox and ctx.can(Action.CONNECT_ACCOUNTS):
            with st.popover("Add a sandbox account"):
                plat = st.selectbox("Platform", supported_platforms(), format_func=lambda p: p.label, key="new_acc_platform")
                handle = st.text_input("Handle", placeholder="@yourbrand", key="new_acc_handle")
                if st.button("Add account", key="new_acc_add"):
                    try:
                        add_account(db, ctx.actor, Account(platform=plat, handle=handle, display_name=handle,
                                                           workspace_id=ws.id))
                    except OutpostError as exc:
                        show_problems(exc)
                    else:
                        st.session_state["composer_open"] = True
                        st.rerun()
        if accounts:
            by_id = {a.id: a for a in accounts}
            chosen = st.multiselect("Post to", list(by_id), format_func=lambda i: by_id[i].label, key="compose_accounts")
            caption = st.text_area("Caption", height=140, key="compose_caption")
            c1, c2 = st.columns(2)
            hashtags = c1.text_input("Hashtags", placeholder="#launch #creator", key="compose_hashtags")
            cta = c2.text_input("Call to action", placeholder="Link in bio", key="compose_cta")
            link = c1.text_input("Link", placeholder="https://…", key="compose_link")
            media = c2.text_area("Image or video links (one per line)", height=68, key="compose_media",
                                 help="Public links to JPEG/PNG images or MP4 videos. Outpost downloads each one "
                                      "and checks its format, size and shape against every platform you chose.")
            if settings().sandbox:
                c2.caption(f"Sandbox sample: `{settings().sandbox_url}/_media/sample.jpg?w=1080&h=1350`")
            uploads = st.file_uploader("…or upload photos and videos", accept_multiple_files=True,
                                       type=["jpg", "jpeg", "png", "gif", "webp", "mp4", "mov", "webm"],
                                       key="compose_uploads")

            try:
                draft = Post(caption=caption, hashtags=hashtags, call_to_action=cta, link=link)
            except OutpostError as exc:  # a half-typed hashtag: count without the tags, say what is wrong
                draft = Post(caption=caption, call_to_action=cta, link=link)
                st.caption(str(exc))
            platforms = list(dict.fromkeys(by_id[i].platform for i in chosen))
            if platforms:
                cols = st.columns(len(platforms))
                for col, platform in zip(cols, platforms):
                    count = text_count(platform, draft.render(platform).text)
                    label = f"{platform.label}: {count.used:,} / {count.limit:,} {count.unit}"
                    (col.error if count.over else col.caption)(label)

            mode = st.radio("When", ["At a date and time", "Next free queue slot", "Save as draft"], horizontal=True,
                            key="compose_mode")
            local_now = datetime.now(zone(ws.timezone_name))
            if mode == "At a date and time":
                d1, d2 = st.columns(2)
                day = d1.date_input("Date", value=(local_now + timedelta(days=1)).date(), key="compose_date")
                wall = d2.time_input("Time", value=ws.preferred_time, step=300, key="compose_time")
            if st.button("Schedule post" if mode != "Save as draft" else "Save draft", type="primary",
                         key="compose_submit"):
                scheduler = Scheduler(db, actor=ctx.actor, refuse_past=True, media_checker=media_checker())
                try:
                    uploaded = [media_library().save(f.getvalue(), filename=f.name, content_type=f.type).public_url
                                for f in uploads or ()]
                    post = Post(accounts=[by_id[i] for i in chosen], caption=caption, hashtags=hashtags,
                                call_to_action=cta, link=link, media_urls=media.splitlines() + uploaded,
                                workspace_id=ws.id, created_by=ctx.user.id)
                    pid = new_id("post")
                    if mode == "At a date and time":
                        sched = Schedule.at_local(day, wall, ws.timezone_name)
                        result = scheduler.schedule_post(pid, replace(post, schedule=sched))
                    elif mode == "Next free queue slot":
                        result = scheduler.add_to_queue(pid, post)
                    else:
                        result = scheduler.save_draft(pid, post)
                except OutpostError as exc:
                    show_problems(exc)
                else:
                    when = (Schedule(scheduled_at=result.scheduled_at, timezone_name=ws.timezone_name).describe()
                            if result.scheduled_at else "no time yet")
                    st.success(f"Saved: {result.status.label.lower()} for {when}.")
                    for notice in result.notices:
                        st.info(notice)
                    for warning in result.warnings:
                        st.warning(warning.message)

# ---------------------------------------------------------------- what needs a person
attention = attention_rows(db, ws.id, tz_name=ws.timezone_name, actor=ctx.actor)
if attention:
    st.subheader(f"Needs your attention ({len(attention)})")
    settle = Scheduler(db, actor=ctx.actor)
    for row in attention:
        with st.container(border=True):
            verdict = "Needs review" if row["state"] == "needs_review" else "Failed"
            st.markdown(f"**{verdict}** · {row['account']} · due {row['when']} · {row['caption']}")
            st.caption(row["reason"])
            cols = st.columns(3)
            key = row["delivery_id"]
            if not ctx.can(Action.SETTLE):
                continue
            try:
                if row["state"] == "needs_review":
                    if cols[0].button("It is live", key=f"live_{key}", help="You found it on the platform"):
                        settle.confirm_published(key)
                        st.rerun()
                    if cols[1].button("It is not there: publish it", key=f"again_{key}"):
                        settle.try_again(key)
                        st.rerun()
                    if cols[2].button("Do not publish it", key=f"drop_{key}"):
                        settle.give_up(key)
                        st.rerun()
                elif cols[0].button("Try again", key=f"again_{key}"):
                    settle.try_again(key)
                    st.rerun()
            except OutpostError as exc:
                show_problems(exc)

# ---------------------------------------------------------------- list
rows = post_rows(db, ws.id, tz_name=ws.timezone_name, actor=ctx.actor)
if not rows:
    st.info("No posts yet. Write one above.")
else:
    frame = pd.DataFrame(rows).drop(columns=["id"])
    status_filter = st.multiselect("Status", sorted(frame["status"].unique()), key="posts_status_filter")
    if status_filter:
        frame = frame[frame["status"].isin(status_filter)]
    st.dataframe(frame, hide_index=True, width="stretch",
                 column_config={"when": "When", "accounts": "Accounts", "caption": "Caption", "status": "Status",
                                "problem": "Last problem", "ai": ""})
    st.caption(f"{len(frame)} post(s).")
