"""Accounts: connect social accounts (a consent page, or a handle and app password for Bluesky) and see their health."""
from __future__ import annotations

import pandas as pd
import streamlit as st

from core.services.connect import ConnectService, account_health, attempt_now
from core.services.connect_password import HINTS, SANDBOX_HINTS, PasswordConnectService, password_platforms
from core.domain import AccountStatus
from core.domain.errors import OutpostError
from core.rules.permissions import Action
from core.platforms.registry import supported_platforms
from core.domain.timeutil import utcnow, zone
from core.services.insights import pauses_for_accounts
from core.services.accounts import account_health_list, disconnect_account, disconnect_impact, lift_hold
from pages.shared import adapter_for, context, settings, show_problems, store

ctx = context()
db = store()
ws = ctx.workspace

st.title("Accounts")
done = st.session_state.pop("password_connected", None)
if done:
    st.success(f"{done}.")
now = utcnow()
health = account_health_list(db, ctx.actor, ws.id, now=now)
owner = ctx.can(Action.CONNECT_ACCOUNTS)
tz = zone(ws.timezone_name)
# Widths in pixels: at 1280 px with the sidebar open the table has ~780 px, so all of it shows without scrolling
# sideways; the long words (why an account needs reconnecting, the last error) are in each account's details below.
WIDTHS = {"Account": 150, "Platform": 100, "Status": 140, "Posted today": 90, "Posting": 150, "Figures": 150}
if health:
    # The accounts come from the permission-checked list above; their metric pauses are read in one go.
    pauses = pauses_for_accounts(db, [h.account for h in health], now)
    states = {h.account.id: account_health(h.account, now) for h in health}

    def _figures(account_id: str) -> str:
        pause = pauses.get(account_id)
        return f"Paused until {pause.until.astimezone(tz):%a %H:%M}" if pause else "Up to date"

    def _posting(h) -> str:
        if not states[h.account.id].can_post:
            return "Waits for a reconnect"
        return f"Paused until {h.held_until.astimezone(tz):%a %H:%M}" if h.held_until else "Ready"

    st.dataframe(pd.DataFrame([{
        "Account": h.account.handle, "Platform": h.account.platform.label, "Status": states[h.account.id].short,
        "Posted today": h.quota, "Posting": _posting(h), "Figures": _figures(h.account.id),
    } for h in health]), hide_index=True, width="stretch",
        column_config={name: st.column_config.TextColumn(name, width=px) for name, px in WIDTHS.items()})
    st.caption(f"Times in {ws.timezone_name}. Each account's details, and what you can do about it, are below.")
    if any(h.held_until for h in health):
        st.caption("A paused account's posts wait until the platform's limit resets, then go out in order.")
    if pauses:
        st.caption("Figures paused: the platform said Outpost asked too often; analytics for that account catch up "
                   "after the pause, nothing is lost.")
else:
    st.info("No accounts connected yet. Connect one below to start planning posts for it.")


def _lift(account_id: str) -> None:
    try:
        lifted = lift_hold(db, ctx.actor, account_id)
    except OutpostError as exc:
        st.session_state["account_error"] = exc
    else:
        st.session_state["account_done"] = ("The pause is lifted: its posts go out again now." if lifted
                                            else "That pause had already ended.")


def _disconnect(account_id: str) -> None:
    st.session_state.pop("confirm_disconnect", None)
    try:
        done = disconnect_account(db, ctx.actor, account_id)
    except OutpostError as exc:
        st.session_state["account_error"] = exc
    else:
        # core's words: what was cancelled, what may already be live (to review), what was being sent
        st.session_state["account_done"] = f"Disconnected {done.account.label}. {done.message}"


def _reconnect(account) -> None:
    try:
        url = ConnectService(db, adapter_for).start(actor=ctx.actor, workspace_id=ws.id, platform=account.platform,
                                                    account_id=account.id)
    except OutpostError as exc:
        st.session_state["account_error"] = exc
    else:
        if settings().sandbox:   # the emulator's consent page opens as this account
            from sandbox.seed import prefill
            url = prefill(url, account)
        st.session_state["connect_url"] = (account.platform.label, url)


message = st.session_state.pop("account_done", None)
if message:
    st.success(message)
problem = st.session_state.pop("account_error", None)
if problem is not None:
    show_problems(problem)

if health:
    st.subheader("Details")
    for h in health:
        acc, state = h.account, states[h.account.id]
        attention = not state.can_post or bool(h.held_until) or st.session_state.get("confirm_disconnect") == acc.id
        with st.expander(f"{acc.label} · {state.short}", expanded=attention):
            st.markdown(h.health)
            if h.days_left is not None:
                st.caption(f"Reconnect within {h.days_left} day{'s' if h.days_left != 1 else ''}.")
            st.caption(f"Posted today: {h.quota} (its daily limit).")
            if h.last_error:
                st.caption(f"Last error: {h.last_error}")
            if h.held_until:
                st.caption(f"Posting paused until {h.held_until:%a %d %b %H:%M}: {h.hold_reason.rstrip('.')}. Lift "
                           "the pause only if you know the limit no longer applies.")
            pause = pauses.get(acc.id)
            if pause:
                st.caption(f"Figures paused until {pause.until.astimezone(tz):%a %d %b %H:%M}.")
            if not owner:
                continue
            cols = iter(st.columns([1, 1, 1, 2]))      # the buttons it has, side by side from the left
            if acc.platform not in password_platforms():
                next(cols).button("Reconnect", key=f"reconnect_{acc.id}", on_click=_reconnect, args=(acc,),
                                  type="primary" if not state.can_post else "secondary")
            if h.held_until:
                next(cols).button("Lift the pause", key=f"lift_{acc.id}", on_click=_lift, args=(acc.id,))
            if acc.status != AccountStatus.REVOKED:
                next(cols).button("Disconnect…", key=f"disconnect_{acc.id}",
                                  on_click=lambda a=acc.id: st.session_state.update(confirm_disconnect=a))
            if st.session_state.get("confirm_disconnect") == acc.id:
                try:
                    impact = disconnect_impact(db, ctx.actor, acc.id)
                except OutpostError as exc:
                    show_problems(exc)
                else:
                    st.warning(f"Disconnect {acc.label}? Outpost forgets its access. {impact.message}")
                    yes, no = st.columns(2)
                    yes.button("Yes, disconnect", type="primary", key=f"confirm_disconnect_{acc.id}",
                               on_click=_disconnect, args=(acc.id,))
                    no.button("Keep it connected", key=f"keep_{acc.id}",
                              on_click=lambda: st.session_state.pop("confirm_disconnect", None))


def _connect_with_password(platform, round_: int) -> None:
    """Form callback: connect, then start a fresh form (empty password box; the handle kept after a refusal)."""
    handle = st.session_state.get(f"handle_{platform.value}_{round_}", "")
    password = st.session_state.pop(f"app_password_{platform.value}_{round_}", "")
    st.session_state[f"password_round_{platform.value}"] = round_ + 1
    try:
        service = PasswordConnectService(db, adapter_for)
        account = service.connect(
            actor=ctx.actor, workspace_id=ws.id, platform=platform, identifier=handle, password=password)
    except OutpostError as exc:
        st.session_state[f"password_error_{platform.value}"] = exc
        st.session_state[f"last_handle_{platform.value}"] = handle
    else:
        st.session_state["password_connected"] = f"{'Reconnected' if service.reconnected else 'Connected'} {account.label}"
        st.session_state.pop(f"last_handle_{platform.value}", None)


if owner:
    st.subheader("Connect an account")
    if settings().sandbox:
        st.caption("Sandbox mode: each platform's consent page is served by Outpost's local emulator, "
                   "so you can practise the whole flow without real developer apps.")
    service = ConnectService(db, adapter_for)
    with_password = password_platforms()
    cols = st.columns(3)
    for i, platform in enumerate(p for p in supported_platforms() if p not in with_password):
        col = cols[i % 3]
        if col.button(f"Connect {platform.label}", key=f"connect_{platform.value}", width="stretch"):
            try:
                url = service.start(actor=ctx.actor, workspace_id=ws.id, platform=platform)
            except OutpostError as exc:
                show_problems(exc)
            else:
                st.session_state["connect_url"] = (platform.label, url)
    pending = st.session_state.get("connect_url")
    if pending:   # asked again on every run: the link may have been used in another tab meanwhile
        label, url = pending
        attempt = attempt_now(db, url, actor=ctx.actor)
        if attempt.open:
            st.link_button(f"Continue to {label} to allow access →", url, type="primary")
            st.caption("You will come back here when you have allowed access. The link works once, for 10 minutes.")
        elif attempt.account is not None:
            st.success(f"This connection was already completed: {attempt.account.label} is connected "
                       "(see the list above).")
        elif attempt.used:
            st.info(f"This {label} link was already used, in this or another tab, and nothing was connected. "
                    f"Use Connect {label} to try again.")
        else:
            st.info(f"The {label} link expired (they last 10 minutes). Use Connect {label} to start again.")

    for platform in with_password:
        # A form sends what is typed even if a box never lost focus; each attempt gets a fresh one, so the
        # password is never shown again.
        round_ = st.session_state.get(f"password_round_{platform.value}", 0)
        with st.form(f"password_form_{platform.value}_{round_}"):
            st.markdown(f"**Connect {platform.label}**")
            st.caption(HINTS.get(platform, ""))
            if settings().sandbox and platform in SANDBOX_HINTS:
                st.caption(SANDBOX_HINTS[platform])
            left, right = st.columns(2)
            left.text_input(f"{platform.label} handle", key=f"handle_{platform.value}_{round_}",
                            value=st.session_state.get(f"last_handle_{platform.value}", ""),
                            placeholder="name.bsky.social")
            right.text_input("App password", key=f"app_password_{platform.value}_{round_}", type="password",
                             placeholder="xxxx-xxxx-xxxx-xxxx")
            st.form_submit_button(f"Connect {platform.label}", key=f"connect_{platform.value}",
                                  on_click=_connect_with_password, args=(platform, round_))
        error = st.session_state.pop(f"password_error_{platform.value}", None)
        if error is not None:
            show_problems(error)
else:
    st.caption("Only a workspace owner can connect accounts.")
