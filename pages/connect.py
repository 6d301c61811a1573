"""The OAuth callback: the platform sends people back here with ?code=...&state=...; the connection completes
and the person lands on Accounts with a message saying so (or what went wrong)."""
from __future__ import annotations

import streamlit as st

from core.services.connect import ConnectService
from core.domain.errors import OutpostError
from pages.shared import adapter_for, context, show_problems, store

ctx = context()
params = st.session_state.pop("pending_connect", None) or dict(st.query_params)
st.title("Connecting your account")
if not params.get("state") and not params.get("code"):
    st.info("Nothing to connect here. Use the Accounts page to connect an account.")
    st.page_link("pages/accounts.py", label="Go to Accounts")
    st.stop()

service = ConnectService(store(), adapter_for)
try:
    account = service.finish(
        actor=ctx.actor, state=params.get("state"), code=params.get("code"), error=params.get("error"),
        error_description=params.get("error_description"))
except OutpostError as exc:
    st.query_params.clear()
    show_problems(exc)
    st.page_link("pages/accounts.py", label="Back to Accounts")
else:
    st.query_params.clear()
    st.session_state["flash"] = [f"{'Reconnected' if service.reconnected else 'Connected'} {account.label}."]
    st.switch_page("pages/accounts.py")
