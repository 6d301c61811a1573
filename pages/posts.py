"""Posts: what is planned and what happened, and a composer to add one."""
from __future__ import annotations

from datetime import timedelta

import pandas as pd
import streamlit as st

from core.services.accounts import add_account
from core.domain import Account
from core.domain.errors import OutpostError
from core.rules.permissions import Action
from core.platforms.registry import supported_platforms
from core.services.scheduler import Scheduler
from core.services.views import attention_rows, post_rows, workspace_accounts
from pages.compose import composer
from pages.shared import context, settings, show_problems, store

ctx = context()
db = store()
ws = ctx.workspace

st.title("Posts")
st.caption(f"Times are shown in {ws.timezone_name}.")

accounts = workspace_accounts(db, ws.id, actor=ctx.actor)

# ---------------------------------------------------------------- composer
if ctx.can(Action.EDIT_POSTS):
    with st.expander("✍️ New post", expanded=True):
        if not accounts:
            st.info("Connect an account first, on the Accounts page (it walks you through the platform's own "
                    "sign-in). In sandbox mode you can also add a practice account right here.")
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
                        st.rerun()
        if accounts:
            composer(ctx, accounts)

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

# ---------------------------------------------------------------- list (refreshes itself while the runner publishes)
@st.fragment(run_every=timedelta(seconds=10))
def posts_list() -> None:
    rows = post_rows(db, ws.id, tz_name=ws.timezone_name, actor=ctx.actor)
    if not rows:
        st.info("No posts yet. Write one above: choose an account, type a caption and pick a time."
                if ctx.can(Action.EDIT_POSTS) else "No posts yet.")
        return
    frame = pd.DataFrame(rows).drop(columns=["id"])
    status_filter = st.multiselect("Status", sorted(frame["status"].unique()), key="posts_status_filter")
    if status_filter:
        frame = frame[frame["status"].isin(status_filter)]
    st.dataframe(frame, hide_index=True, width="stretch",
                 column_config={"when": "When", "accounts": "Accounts", "caption": "Caption", "status": "Status",
                                "problem": "Last problem", "ai": "",
                                "link": st.column_config.LinkColumn("Published post", display_text="Open ↗")})
    st.caption(f"{len(frame)} post(s). This list updates itself every few seconds.")


posts_list()
