"""Accounts: connect social accounts through each platform's consent page, and see their health."""
from __future__ import annotations

import pandas as pd
import streamlit as st

from core.connect import ConnectService, account_health
from core.errors import OutpostError
from core.platforms.registry import supported_platforms
from core.timeutil import utcnow
from pages.shared import adapter_for, context, settings, show_problems, store

ctx = context()
db = store()
ws = ctx.workspace

st.title("Accounts")
accounts = db.list_accounts(workspace_id=ws.id)
now = utcnow()

if accounts:
    rows = []
    for acc in accounts:
        health = account_health(acc, now)
        rows.append({"Account": acc.handle, "Platform": acc.platform.label, "Health": health.message,
                     "Daily limit": acc.effective_daily_cap, "Connected": acc.connected_at.strftime("%d %b %Y")
                     if acc.connected_at else ""})
    st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch")
else:
    st.info("No accounts connected yet.")

if ctx.membership.role.can_connect_accounts:
    st.subheader("Connect an account")
    if settings().sandbox:
        st.caption("Sandbox mode: each platform's consent page is served by Outpost's local emulator, "
                   "so you can practise the whole flow without real developer apps.")
    service = ConnectService(db, adapter_for)
    cols = st.columns(3)
    for i, platform in enumerate(supported_platforms()):
        col = cols[i % 3]
        if col.button(f"Connect {platform.label}", key=f"connect_{platform.value}", width="stretch"):
            try:
                url = service.start(user_id=ctx.user.id, workspace_id=ws.id, platform=platform)
            except OutpostError as exc:
                show_problems(exc)
            else:
                st.session_state["connect_url"] = (platform.label, url)
    pending = st.session_state.get("connect_url")
    if pending:
        label, url = pending
        st.link_button(f"Continue to {label} to allow access →", url, type="primary")
        st.caption("You will come back here when you have allowed access. The link works once, for 10 minutes.")
else:
    st.caption("Only a workspace owner can connect accounts.")
