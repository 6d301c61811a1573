"""Members: who is in the workspace; owners invite people (a link to send), withdraw invitations, change roles,
remove people."""
from __future__ import annotations

import pandas as pd
import streamlit as st

from core.domain import Role
from core.domain.errors import OutpostError
from core.domain.timeutil import utcnow, zone
from core.services.invitations import INVITATION_TTL, invite_link, invite_member, pending_invitations, \
    revoke_invitation
from core.services.members import change_role, list_members, remove_member
from core.rules.permissions import Action
from pages.shared import context, settings, show_problems, store

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


def _invite(email: str, role: Role) -> None:
    try:
        sent = invite_member(db, ctx.actor, ws.id, email, role, now=utcnow())
    except OutpostError as exc:
        show_problems(exc)
    else:
        inv = sent.invitation
        st.session_state["members_clear_email"] = True     # the next invitation starts from an empty field
        st.session_state["members_link"] = {"workspace": ws.id, "id": inv.id, "email": inv.email, "role": inv.role,
                                            "link": invite_link(settings().dashboard_url, sent.token)}
        st.rerun()


def _when(at) -> str:
    return at.astimezone(zone(ws.timezone_name)).strftime("%a %d %b, %H:%M")


if ctx.can(Action.MANAGE_MEMBERS):
    st.subheader("Invite someone")
    st.caption(f"They get a link that creates their Outpost account (or, if they have one, signs them in) and adds "
               f"them to {ws.name} with the role you choose. Outpost does not send email: copy the link and send it "
               f"to them yourself. It works once, for {INVITATION_TTL.days} days.")
    if st.session_state.pop("members_clear_email", False):
        st.session_state["member_email"] = ""
    left, right = st.columns([3, 2])
    email = left.text_input("Email", key="member_email", placeholder="name@example.com")
    role = right.selectbox("Role", list(Role), index=list(Role).index(Role.EDITOR), format_func=ROLE_WORDS.get,
                           key="member_role")
    if st.button("Create invitation link", key="member_invite", type="primary"):
        _invite(email, role)
    made = st.session_state.get("members_link")
    if made and made["workspace"] == ws.id:
        with st.container(border=True):
            st.markdown(f"**Send this link to {made['email']}** to join as {made['role'].value}:")
            st.code(made["link"], language=None, wrap_lines=True)
            st.caption("You see this link only now. If it gets lost, invite them again: the earlier link then stops "
                       "working.")

    st.subheader("Pending invitations")
    waiting = pending_invitations(db, ctx.actor, ws.id, now=utcnow())
    if not waiting:
        st.caption("No invitations are waiting to be used.")
    for inv in waiting:
        with st.container(border=True):
            who, what, drop = st.columns([4, 4, 1])
            who.markdown(f"**{inv.email}**  \n{inv.role.value.capitalize()}")
            what.caption(f"Invited by {inv.invited_by} on {_when(inv.created_at)}; the link works until "
                         f"{_when(inv.expires_at)}.")
            if drop.button("Revoke", key=f"invite_revoke_{inv.id}"):
                if (made or {}).get("id") == inv.id:
                    st.session_state.pop("members_link", None)
                _do(lambda: revoke_invitation(db, ctx.actor, ws.id, inv.id, now=utcnow()),
                    f"The invitation for {inv.email} is withdrawn: its link no longer works.")

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
    st.caption("Only a workspace owner can invite people, change roles or remove people.")
