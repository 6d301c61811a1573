"""The OAuth callback: the platform sends people back here with ?code=...&state=..."""
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

try:
    account = ConnectService(store(), adapter_for).finish(
        actor=ctx.actor, state=params.get("state"), code=params.get("code"), error=params.get("error"),
        error_description=params.get("error_description"))
except OutpostError as exc:
    show_problems(exc)
else:
    st.success(f"Connected {account.label}.")
finally:
    st.query_params.clear()
st.page_link("pages/accounts.py", label="Back to Accounts")
