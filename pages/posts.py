"""Posts: a composer, what needs a person, and the list: upcoming posts first (the next due at the top), then the
past (the latest first), a page at a time, filtered by status, account and platform; a row opens the post dialog.
Sandbox demo posts are tagged "Demo" (read-only: the Scheduler refuses acting on them)."""
from __future__ import annotations

import re
from datetime import timedelta

import pandas as pd
import streamlit as st

from core.domain.catalog import Platform
from core.domain.errors import OutpostError
from core.domain.lifecycle import PostStatus
from core.domain.timeutil import utcnow
from core.rules.permissions import Action
from core.platforms.links import viewable_link
from core.platforms.registry import supported_platforms
from core.services import composer_drafts
from core.services.scheduler import Scheduler
from core.services.views import PAST, UPCOMING, attention_rows, data_version, has_posts, post_list, workspace_accounts
from pages import post_dialog
from pages.compose import composer
from pages.shared import context, settings, show_problems, store, waiting_for_accounts

ctx = context()
db = store()
ws = ctx.workspace

st.title("Posts")
st.caption(f"Times are shown in {ws.timezone_name}.")
flash = st.session_state.pop(post_dialog.FLASH, None)   # what the post dialog did last
if flash:
    getattr(st, flash[0])(flash[1])

accounts = workspace_accounts(db, ws.id, actor=ctx.actor)

# ---------------------------------------------------------------- composer
# Open at first in a workspace with no posts yet; otherwise behind "New post" (the composer's fields are a third
# of what the page draws: the list comes first). Its state is not a widget's, so it stays open across pages.
COMPOSING = "posts_composing"
s = st.session_state


def _composing(on: bool) -> None:
    s[COMPOSING] = on


if ctx.can(Action.EDIT_POSTS):
    if COMPOSING not in s:
        # Open on a first visit, or when something typed earlier was kept (a reload, another tab): it is restored.
        s[COMPOSING] = (not has_posts(db, ws.id, actor=ctx.actor)
                        or composer_drafts.kept(db, ctx.actor, ws.id) is not None)
    if not s[COMPOSING]:
        st.button("New post", key="posts_compose_open", type="primary", icon=":material/edit_square:", on_click=_composing, args=(True,))
    else:
        with st.expander("New post", expanded=True, icon=":material/edit_square:"):
            # A bordered button with a close icon (tertiary drew as plain text, not something to click).
            st.button("Close the composer", key="posts_compose_close", on_click=_composing, args=(False,),
                      icon=":material/close:")
            if not accounts:
                st.info("Connect an account first, on the Accounts page (it walks you through the platform's own "
                        "sign-in). In sandbox mode you can also add a practice account right here.")
            if settings().sandbox and ctx.can(Action.CONNECT_ACCOUNTS):
                def _add_practice() -> None:
                    """Connect the practice account through the emulator; on success the form is emptied and says so."""
                    from core.services.connect import at_handle
                    from sandbox.seed import connect_practice_account
                    plat = s.get("new_acc_platform")
                    try:
                        added = connect_practice_account(db, settings(), actor=ctx.actor, workspace_id=ws.id,
                                                         platform=plat, handle=s.get("new_acc_handle", ""))
                    except OutpostError as exc:
                        s["new_acc_error"] = exc
                    else:
                        s["new_acc_handle"] = ""
                        s["new_acc_done"] = (f"Added {at_handle(added.handle)} on {added.platform.label}: connected "
                                             "to the sandbox, so posts to it really go out there.")

                with st.popover("Add a sandbox account"):
                    st.caption("A practice account on Outpost's local emulator, connected like a real one.")
                    st.selectbox("Platform", supported_platforms(), format_func=lambda p: p.label,
                                 key="new_acc_platform")
                    st.text_input("Handle", placeholder="@yourbrand", key="new_acc_handle")
                    st.button("Add account", key="new_acc_add", on_click=_add_practice)
                    if "new_acc_error" in s:
                        show_problems(s.pop("new_acc_error"))
                    if "new_acc_done" in s:
                        st.success(s.pop("new_acc_done"))
            if accounts:
                composer(ctx, accounts)

# ---------------------------------------------------------------- what needs a person
# accounts that cannot post while planned posts wait for them (the Activity page has the details)
for row in waiting_for_accounts(ctx):
    n = row["waiting"]
    c1, c2 = st.columns([5, 1], vertical_alignment="center")
    c1.warning(f"**{row['account']}** cannot post: {n} planned post{'s wait' if n != 1 else ' waits'} for it (next "
               f"{row['next']}). {row['reason']}", icon=":material/warning:")
    if c2.button("Reconnect on Accounts →", key=f"posts_blocked_{row['account_id']}"):
        st.switch_page("pages/accounts.py")
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

# ---------------------------------------------------------------- the list: upcoming first, then the past
# (refreshes itself while the runner publishes: only this fragment runs again, every REFRESH)
REFRESH = timedelta(seconds=10)
PAGE = 50                                   # rows a section shows at first, and how many more "Show more" adds
by_id = {a.id: a for a in accounts}
platforms = sorted({a.platform for a in accounts}, key=lambda p: p.label)


# No ttl: `now` in the key (the boundary: the minute, or the last change) already ends an answer's use, and
# max_entries bounds the memory.
@st.cache_data(max_entries=64, show_spinner=False)
def _post_list(workspace_id: str, tz_name: str, section: str, now, limit: int, version: str, statuses: tuple,
               account_ids: tuple, platform_values: tuple, *, _ctx):
    """A page of the list, kept while the workspace's posts have not changed (`version`) and the minute is the
    same: the refresh every REFRESH reads one row when nothing happened."""
    return post_list(db, workspace_id, tz_name=tz_name, section=section, now=now, limit=limit,
                     actor=_ctx.actor, statuses=statuses, account_ids=account_ids, platforms=platform_values)


def _boundary(version: str):
    """Where Upcoming ends and Past begins: the moment the workspace's posts last changed as this page saw it
    (or the minute began, when that is later). A post the runner has just published changed them, so it moves
    under Past at the next refresh (its time is before that moment), not up to a minute later; while nothing
    changes within the minute the boundary stays put, so the cached list is reused."""
    now = utcnow()
    minute = now.replace(second=0, microsecond=0)
    seen = s.get("posts_boundary")
    if not seen or seen[0] != version or seen[1] < minute:
        seen = s["posts_boundary"] = (version, now)
    return seen[1]


def posts_caption(count: int) -> str:
    """ "1 post", "2 posts". """
    return f"{count} post" if count == 1 else f"{count} posts"


def _section(section: str, filters: dict, empty: str) -> None:
    shown = s.setdefault(f"posts_{section}_limit", PAGE)
    version = data_version(db, ws.id, actor=ctx.actor)   # VIEW checked on every run, cached answer or not
    boundary = _boundary(version)                       # where upcoming ends and the past begins
    found = _post_list(ws.id, ws.timezone_name, section, boundary, shown, version,
                       *(tuple(filters[k]) for k in ("statuses", "account_ids", "platforms")), _ctx=ctx)
    if not found.rows:
        st.info(empty)
        return
    frame = pd.DataFrame(found.rows)
    frame["link"] = frame["link"].map(lambda u: viewable_link(u, settings()))   # sandbox: the emulator's page
    rev = s.get("posts_rev", 0)
    key = f"posts_{section}_{rev}"
    # the tags (Demo, AI) and problems only when a row has one: the caption keeps more room
    shown_columns = [c for c in COLUMNS if c not in ("tags", "problem") or frame[c].any()]
    frame["caption"] = frame["caption"].map(lambda text: cut(text, caption_width(shown_columns)))
    frame["accounts"] = frame["accounts"].map(lambda text: accounts_cell(text, WIDTHS["accounts"]))
    frame["problem"] = frame["problem"].map(lambda text: cut(text, WIDTHS["problem"]))
    picked = st.dataframe(frame, hide_index=True, width="stretch", on_select="rerun", selection_mode="single-row",
                          key=key, column_config=column_config(shown_columns), column_order=shown_columns)
    rows = picked.selection.rows if picked else []
    if rows:                                 # a row was clicked: open its post (once; a fresh key clears it)
        s["posts_rev"] = rev + 1
        s[post_dialog.OPEN] = str(frame.iloc[rows[0]]["id"])
        st.rerun(scope="app")                # the dialog lives outside this fragment
    order = "the next one first" if section == UPCOMING else "the latest first"
    demo = any("Demo" in r["tags"] for r in found.rows)
    st.caption(f"{posts_caption(len(found.rows))}. "
               + (f"More after these ({order}). " if found.more else f"{order.capitalize()}. ")
               + "Click a row to open the post. "
               + ("Demo posts are sample history: they can be read, not acted on. " if demo else "")
               + "This list updates itself every few seconds.")
    if found.more:
        st.button("Show more", key=f"posts_{section}_more", on_click=_show_more, args=(section, shown))


def _show_more(section: str, shown: int) -> None:
    s[f"posts_{section}_limit"] = shown + PAGE


COLUMNS = ["when", "status", "tags", "accounts", "caption", "problem", "link"]
# Widths in pixels. At 1280 px with the sidebar open the table is ~820 px wide (~980 px at 1440), ROOM of it for the
# columns (the rest is the row-selection column and borders): the caption gets what the others leave, so the whole
# table fits, and Streamlit widens every column alike on a wider page. A long caption is cut; all of it is in the
# post's dialog, a click on the row away. (Sized by their longest cell, the columns made the table scroll sideways,
# its links out of sight.)
# The accounts column holds "2 accounts: LinkedIn, X" or "acmecoffee on IG, X" (`accounts_cell`).
WIDTHS = {"when": 150, "status": 100, "tags": 50, "accounts": 170, "problem": 100, "link": 60}
ROOM, CAPTION_AT_LEAST = 780, 120
LABELS = {
    "when": ("When", None),
    "status": ("Status", None),
    "tags": ("Tag", "Demo: sample history from the sandbox. AI: written with the AI assistant."),
    "accounts": ("Accounts", "Where it goes out (IG: Instagram, FB: Facebook Page, YT: YouTube). Every account "
                             "is in the post's dialog."),
    "caption": ("Caption", "The start of the text: click the row to read it all."),
    "problem": ("Problem", "The last thing that went wrong. In full in the post's dialog."),
}
PX_PER_CHAR = 6.2   # the table's font, on average: how many characters a width holds
CELL_PADDING = 16   # a cell's padding, left and right: its text has that much less room (a cut was clipped)


def _room(width: int) -> int:
    """How many characters a column `width` pixels wide shows."""
    return int((width - CELL_PADDING) / PX_PER_CHAR)


def caption_width(shown: list[str]) -> int:
    """What the other `shown` columns leave the caption at 1280 px (at least CAPTION_AT_LEAST)."""
    return max(CAPTION_AT_LEAST, ROOM - sum(WIDTHS.get(c, 0) for c in shown if c != "caption"))


def cut(text: str, width: int) -> str:
    """The text as it fits `width` pixels, cut at a word with "…" (the table would clip it mid-letter)."""
    room = _room(width)
    if len(text) <= room:
        return text
    head = text[:room - 1]
    return (head.rsplit(" ", 1)[0] if " " in head[room // 2:] else head).rstrip(" ,.;:-–") + "…"


def cut_accounts(text: str, width: int) -> str:
    """Like `cut`, but one account keeps its platform in sight: "Bakery Tabl… on LinkedIn"."""
    handle, on, platform = text.rpartition(" on ")
    room = _room(width)
    if len(text) <= room or not on or ", " in text or room - len(on + platform) - 1 < 6:
        return cut(text, width)
    return handle[:room - len(on + platform) - 1].rstrip() + "…" + on + platform


# "handle on Platform" (Account.label), as the list joins them with ", "; a handle may hold spaces and commas.
_ACCOUNT = re.compile(r"(.+?) on (" + "|".join(re.escape(p.label) for p in Platform) + r")(?:, |$)")
# How marketers shorten the long platform names, for a cell that has to hold several.
SHORT = {Platform.INSTAGRAM.label: "IG", Platform.FACEBOOK.label: "FB", Platform.YOUTUBE.label: "YT"}


def accounts_cell(text: str, width: int) -> str:
    """Where a post goes, as it fits `width` pixels: one account as "brand on Instagram"; several grouped by
    handle ("acmecoffee on Instagram, X"), the platforms shortened if need be ("acmecoffee on IG, X"), else
    counted ("2 accounts: IG, X"). Every account is in the post's dialog."""
    found = [(m.group(1), m.group(2)) for m in _ACCOUNT.finditer(text)]
    if len(found) < 2 or "".join(f"{h} on {p}, " for h, p in found)[:-2] != text:
        return cut_accounts(text, width)
    room = _room(width)
    handles: dict[str, list[str]] = {}
    for handle, platform in found:
        handles.setdefault(handle, []).append(platform)
    platforms = list(dict.fromkeys(p for _, p in found))
    tries = []
    for name in (lambda p: p, lambda p: SHORT.get(p, p)):
        tries.append("; ".join(f"{h} on {', '.join(map(name, ps))}" for h, ps in handles.items()))
    for name in (lambda p: p, lambda p: SHORT.get(p, p)):
        tries.append(f"{len(found)} accounts: {', '.join(map(name, platforms))}")
    return next((t for t in tries if len(t) <= room), cut(tries[-1], width))


def column_config(shown: list[str]) -> dict:
    """The table's columns for the ones `shown`: fixed widths, and the caption as wide as the page leaves."""
    caption = caption_width(shown)
    config = {c: st.column_config.TextColumn(label, width=WIDTHS.get(c, caption), help=help_)
              for c, (label, help_) in LABELS.items()}
    config["link"] = st.column_config.LinkColumn("Post", display_text="Open ↗", width=WIDTHS["link"],
                                                 help="The published post on its platform.")
    return config


SECTIONS = {"Upcoming": UPCOMING, "Past": PAST}


@st.fragment(run_every=REFRESH)
def posts_list() -> None:
    st.subheader("Planned and published")
    f0, f1, f2, f3 = st.columns([2, 2, 2, 2], vertical_alignment="bottom")
    shown = f0.segmented_control("Show", list(SECTIONS), default="Upcoming", required=True,
                                 key="posts_section") or "Upcoming"
    statuses = f1.multiselect("Status", list(PostStatus), format_func=lambda v: PostStatus(v).label,
                              key="posts_f_status", placeholder="All")
    chosen = f2.multiselect("Account", list(by_id), format_func=lambda i: by_id[i].label, key="posts_f_accounts",
                            placeholder="All")
    on = f3.multiselect("Platform", [p.value for p in platforms], placeholder="All",
                        format_func=lambda v: next(p.label for p in platforms if p.value == v), key="posts_f_platforms")
    filters = {"statuses": statuses, "account_ids": chosen, "platforms": on}
    filtered = bool(statuses or chosen or on)
    if SECTIONS[shown] == UPCOMING:
        _section(UPCOMING, filters, "Nothing planned" + (" with these filters." if filtered else
                 (": press New post above to write one." if ctx.can(Action.EDIT_POSTS) else ".")))
    else:
        _section(PAST, filters, "Nothing in the past" + (" with these filters." if filtered else " yet."))


posts_list()

if s.get(post_dialog.OPEN):
    post_dialog.show(s[post_dialog.OPEN])
