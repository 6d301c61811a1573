"""Members: who is in the workspace; owners add people (by the email they signed up with), change roles, remove."""
from __future__ import annotations

import pandas as pd
import streamlit as st

from core.domain import Role
from core.domain.errors import OutpostError
from core.services.members import add_member, change_role, list_members, remove_member
from core.rules.permissions import Action
from pages.shared import context, show_problems, store

ctx = context()
db = store()
ws = ctx.workspace

ROLE_WORDS = {Role.OWNER: "Owner: everything, including accounts and members",
              Role.EDITOR: "Editor: writes, schedules and settles posts",
              Role.APPROVER: "Approver: approves or rejects posts",
              Role.VIEWER: "Viewer: looks only"}

st.title("Members")
done = st.session_state.pop("members_done", None)
if done:
    st.success(done)
members = list_members(db, ctx.actor, ws.id)
st.dataframe(pd.DataFrame([{"Name": m.name, "Email": m.email, "Role": m.role.value.capitalize()} for m in members]),
             hide_index=True, width="stretch")


def _do(change, words: str) -> None:
    try:
        change()
    except OutpostError as exc:
        show_problems(exc)
    else:
        st.session_state["members_done"] = words
        st.rerun()


if ctx.can(Action.MANAGE_MEMBERS):
    st.subheader("Add someone")
    st.caption("They need an Outpost account already; add them by the email they signed in with.")
    left, right = st.columns([3, 2])
    email = left.text_input("Email", key="member_email", placeholder="name@example.com")
    role = right.selectbox("Role", list(Role), index=list(Role).index(Role.EDITOR), format_func=ROLE_WORDS.get,
                           key="member_role")
    if st.button("Add to workspace", key="member_add", type="primary"):
        _do(lambda: add_member(db, ctx.actor, ws.id, email, role), f"Added {email.strip()} as {role.value}.")

    st.subheader("Change a role or remove someone")
    for m in members:
        with st.container(border=True):
            who, pick, save, drop = st.columns([3, 3, 1, 1])
            who.markdown(f"**{m.name}**  \n{m.email}")
            new_role = pick.selectbox("Role", list(Role), index=list(Role).index(m.role), format_func=ROLE_WORDS.get,
                                      key=f"member_role_{m.user_id}", label_visibility="collapsed")
            if save.button("Save", key=f"member_save_{m.user_id}", disabled=new_role == m.role):
                _do(lambda: change_role(db, ctx.actor, ws.id, m.user_id, new_role),
                    f"{m.name} is now {new_role.value}.")
            if drop.button("Remove", key=f"member_remove_{m.user_id}"):
                _do(lambda: remove_member(db, ctx.actor, ws.id, m.user_id), f"Removed {m.name} from {ws.name}.")
else:
    st.caption("Only a workspace owner can add people, change roles or remove people.")
