"""The sandbox's demo history as the dashboard sees it: whether a workspace has it, and removing it in one click.

The history itself is written by `sandbox.demo.seed_demo` (core never imports the sandbox). Its rows are marked
``is_demo``; removing them (`remove_demo`) deletes exactly those (`core.store.demo.DemoStore.remove_demo_data`),
disconnects the accounts that were connected only for the demo (``meta["demo"]``) unless real posts now use them,
and records ``workspace.demo_removed``, after which the status is 'removed' and the Analytics page does not seed
the demo again by itself.
"""
from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import Callable, Literal

from core.domain import AccountStatus, ActivityEvent
from core.services.connect import RECONNECT_REASON_KEY
from core.rules.permissions import Action, Actor, check
from core.store import PostStore
from core.store.demo import DEMO_REMOVED
from core.domain.timeutil import utcnow

DemoStatus = Literal["none", "present", "removed"]
DEMO_META_KEY = "demo"          # account.meta["demo"]: connected for the demo (sandbox.demo), disconnected with it

__all__ = ["demo_status", "remove_demo", "DemoStatus", "DEMO_META_KEY"]


def demo_status(store: PostStore, *, actor: Actor, workspace_id: str) -> DemoStatus:
    """'present' while the workspace has demo history, 'removed' once someone removed it (and it was not seeded
    again since), 'none' otherwise."""
    check(actor, Action.VIEW, workspace_id, subject="workspace")
    if store.has_demo_data(workspace_id):
        return "present"
    return "removed" if store.demo_removed_at(workspace_id) is not None else "none"


def remove_demo(store: PostStore, *, actor: Actor, workspace_id: str,
                clock: Callable[[], datetime] = utcnow) -> int:
    """Delete the workspace's demo history and disconnect its demo accounts; returns how many rows were deleted
    (posts, deliveries, snapshots, follower counts and their events). The workspace's owners only
    (`Action.REMOVE_DEMO`): it deletes history and disconnects accounts.

    The accounts the demo connected (``meta["demo"]``) that no real post uses are disconnected, and their
    follower counts go with the demo, the runner's real pulls of them too (they exist only because the demo
    connected the account); a demo account a real post now uses stays connected and keeps its real counts."""
    check(actor, Action.REMOVE_DEMO, workspace_id, subject="workspace")
    demo_accounts = [a.id for a in store.list_accounts(workspace_id=workspace_id)
                     if (a.meta or {}).get(DEMO_META_KEY)]
    removed = store.remove_demo_data(workspace_id, demo_accounts=demo_accounts)
    now = clock()
    disconnected, kept = [], []
    for account in store.list_accounts(workspace_id=workspace_id):
        if not (account.meta or {}).get(DEMO_META_KEY):
            continue
        meta = {k: v for k, v in dict(account.meta).items() if k != DEMO_META_KEY}
        if store.list_posts(workspace_id=workspace_id, account_id=account.id, limit=1):
            # Someone posts with it for real now: it stays connected, no longer a demo account.
            store.save_account(replace(account, meta=meta))
            kept.append(account.id)
            continue
        if account.status == AccountStatus.REVOKED:
            store.save_account(replace(account, meta=meta))
            continue
        reason = f"Demo account, disconnected when the demo data was removed on {now:%d %b %Y}."
        saved = store.save_account(replace(account, status=AccountStatus.REVOKED, oauth_token=None,
                                           refresh_token=None, secrets={},
                                           meta={**meta, RECONNECT_REASON_KEY: reason}))
        store.record_event(ActivityEvent(action="account.disconnected", subject_type="account", subject_id=saved.id,
                                         at=now, actor=actor.label, workspace_id=workspace_id,
                                         from_state=account.status.value, to_state=saved.status.value, reason=reason,
                                         details={"demo": True}))
        disconnected.append(account.id)
    store.record_event(ActivityEvent(
        action=DEMO_REMOVED, subject_type="workspace", subject_id=workspace_id, at=now, actor=actor.label,
        workspace_id=workspace_id,
        details={"posts": removed.posts, "deliveries": removed.deliveries, "snapshots": removed.snapshots,
                 "account_snapshots": removed.account_snapshots, "events": removed.events,
                 "disconnected_accounts": disconnected, "kept_accounts": kept}))
    return removed.total
