"""Outpost's dashboard: sign-in, workspace choice, and the router. Pages live in pages/."""
from __future__ import annotations

import streamlit as st

from core.services import auth, views
from core.domain.errors import OutpostError, SchemaOutOfDateError
from pages.shared import Context, settings, show_problems, store

st.set_page_config(page_title="Outpost", page_icon="📮", layout="wide")


def _open_store():
    try:
        return store()
    except SchemaOutOfDateError as exc:
        st.error(str(exc))
        st.stop()


def sign_in(db) -> None:
    st.title("Outpost")
    if not auth.has_users(db):
        st.subheader("Welcome! Create the owner account")
        st.caption("This is a fresh Outpost. The first account owns the first workspace; you can invite others later.")
        with st.form("signup"):
            name = st.text_input("Your name", key="signup_name")
            email = st.text_input("Email", key="signup_email")
            password = st.text_input("Password (at least 10 characters)", type="password", key="signup_password")
            ws_name = st.text_input("Workspace name", value="My brand", key="signup_workspace")
            tz = st.text_input("Workspace timezone", value="UTC", key="signup_tz",
                               help="An IANA name such as Europe/Berlin or America/New_York.")
            if st.form_submit_button("Create account", type="primary"):
                try:
                    user, _ = auth.create_owner(db, email=email, password=password, display_name=name,
                                                workspace_name=ws_name, timezone_name=tz)
                except OutpostError as exc:
                    show_problems(exc)
                else:
                    st.session_state["user_id"] = user.id
                    st.rerun()
        return
    st.subheader("Sign in")
    with st.form("signin"):
        email = st.text_input("Email", key="signin_email")
        password = st.text_input("Password", type="password", key="signin_password")
        if st.form_submit_button("Sign in", type="primary"):
            user = auth.authenticate(db, email, password)
            if user is None:
                st.error("That email and password do not match an account.")
            else:
                st.session_state["user_id"] = user.id
                st.rerun()


def main() -> None:
    db = _open_store()
    # A platform sent the person back from its consent page; keep the answer through sign-in.
    if st.query_params.get("state") and ("code" in st.query_params or "error" in st.query_params) \
            and "pending_connect" not in st.session_state:
        st.session_state["pending_connect"] = dict(st.query_params)
    user_id = st.session_state.get("user_id")
    if not user_id:
        st.session_state.pop("ctx", None)
        # Coming back from a platform's consent page: sign in right here, then the connection completes.
        st.navigation([st.Page(lambda: sign_in(db), title="Sign in", url_path="signin")], position="hidden").run()
        return
    me = views.signed_in(db, user_id)
    user, workspaces = me.user, me.workspaces
    if not workspaces:
        st.error("You are not a member of any workspace yet. Ask a workspace owner to invite you.")
        st.stop()
    with st.sidebar:
        names = {w.id: w.name for w in workspaces}
        current = st.session_state.get("workspace_id") if st.session_state.get("workspace_id") in names else workspaces[0].id
        chosen = st.selectbox("Workspace", list(names), index=list(names).index(current), format_func=names.get,
                              key="workspace_picker")
        st.session_state["workspace_id"] = chosen
        st.caption(f"Signed in as {user.email}")
        if settings().sandbox:
            st.caption("🧪 Sandbox mode: platforms are emulated locally.")
        if st.button("Sign out", key="signout"):
            for k in ("user_id", "workspace_id", "ctx"):
                st.session_state.pop(k, None)
            st.rerun()
    st.session_state["ctx"] = Context(user=user, workspace=next(w for w in workspaces if w.id == chosen),
                                      membership=me.membership(chosen), person=me.actor)
    connecting = "pending_connect" in st.session_state
    pages = [st.Page("pages/posts.py", title="Posts", icon="📝", default=not connecting),
             st.Page("pages/calendar.py", title="Calendar", icon="📅"),
             st.Page("pages/approvals.py", title="Approvals", icon="✅"),
             st.Page("pages/accounts.py", title="Accounts", icon="🔗"),
             st.Page("pages/activity.py", title="Activity", icon="📣"),
             st.Page("pages/members.py", title="Members", icon="👥"),
             st.Page("pages/settings.py", title="Settings", icon="⚙️")]
    if connecting:  # the OAuth callback page exists only while a platform is sending someone back
        pages.append(st.Page("pages/connect.py", title="Connecting", icon="🔄", url_path="connect", default=True))
    st.navigation(pages, position="sidebar").run()


main()
