"""Your account: your name, your password, and where you are signed in.

Changing the password signs out every other browser (someone who knew the old one must not stay in); "Sign out
everywhere else" does the same without a new password. Core checks and stores (`core.services.auth`); this page
only lays out and asks.
"""
from __future__ import annotations

import streamlit as st

from core.domain.errors import OutpostError
from core.domain.timeutil import utcnow
from core.services import auth
from pages.shared import context, settings, show_problems, store

ctx = context()
db = store()
me = auth.own_account(db, ctx.user.id)
cookie = st.context.cookies.get(auth.COOKIE_NAME)

st.title("Your account")
st.caption(f"Signed in as **{me.email}**.")
done = st.session_state.pop("profile_done", None)
if done:
    st.success(done)

st.subheader("Your name")
with st.form("profile_name"):
    name = st.text_input("Name others see beside your posts and approvals", value=me.display_name, max_chars=200)
    if st.form_submit_button("Save name"):
        try:
            auth.rename(db, me.id, name)
        except OutpostError as exc:
            show_problems(exc)
        else:
            st.session_state["profile_done"] = "Your name is saved."
            st.rerun()

st.subheader("Password")
with st.form("profile_password", clear_on_submit=True):
    current = st.text_input("Current password", type="password")
    new = st.text_input(f"New password (at least {auth.MIN_PASSWORD_LENGTH} characters)", type="password")
    again = st.text_input("New password again", type="password")
    if st.form_submit_button("Change password"):
        if new != again:
            st.error("The two new passwords are not the same.")
        else:
            try:
                ended = auth.change_password(db, me.id, current=current, new=new, raw_id=cookie, now=utcnow())
            except OutpostError as exc:
                show_problems(exc)
            else:
                others = f" {ended} other browser{'s' if ended != 1 else ''} signed out." if ended else ""
                st.session_state["profile_done"] = "Your password is changed." + others
                st.rerun()

st.subheader("Where you are signed in")
rows = auth.open_sessions(db, me.id, cookie, now=utcnow(), policy=auth.SessionPolicy.from_settings(settings()))
if rows:
    tz = ctx.workspace.timezone_name
    from core.domain.timeutil import zone
    st.dataframe([{"": "This browser" if r["current"] else "", "Browser": r["browser"][:80],
                   "Signed in": r["signed_in"].astimezone(zone(tz)).strftime("%d %b %Y %H:%M"),
                   "Last used": r["last_seen"].astimezone(zone(tz)).strftime("%d %b %Y %H:%M")} for r in rows],
                 hide_index=True, width="stretch")
others = sum(1 for r in rows if not r["current"])
if st.button("Sign out everywhere else", disabled=others == 0,
             help="Ends every session of yours except this browser's." if others else "You are signed in only here."):
    ended = auth.sign_out_elsewhere(db, me.id, cookie, now=utcnow())
    st.session_state["profile_done"] = f"Signed out of {ended} other browser{'s' if ended != 1 else ''}."
    st.rerun()
