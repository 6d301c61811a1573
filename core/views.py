"""The queries that feed the dashboard's pages, in one place (pages hold no SQL and no rules)."""
from __future__ import annotations

from datetime import datetime

from core.domain import Post, post_status
from core.store import PostStore
from core.timeutil import zone


def post_rows(store: PostStore, workspace_id: str, *, tz_name: str, start: datetime | None = None,
              end: datetime | None = None, limit: int = 500) -> list[dict]:
    """One row per post for tables: when (local), where, what, and its status with the latest error."""
    tz = zone(tz_name)
    rows = []
    posts = store.list_posts(workspace_id=workspace_id, start=start, end=end, limit=limit)
    by_post = store.deliveries_for(p.id for p in posts)
    for post in posts:
        deliveries = by_post[post.id]
        status = post_status(post, deliveries)
        errors = [d.last_error for d in deliveries if d.last_error]
        rows.append({
            "id": post.id,
            "when": post.due_at.astimezone(tz).strftime("%a %d %b %Y %H:%M") if post.due_at else "—",
            "accounts": ", ".join(a.label for a in post.accounts),
            "caption": _preview(post),
            "status": status.label,
            "problem": errors[-1] if errors else "",
            "ai": "AI" if post.is_ai_generated else "",
        })
    return rows


def _preview(post: Post, width: int = 80) -> str:
    text = " ".join(post.caption.split())
    return text if len(text) <= width else text[: width - 1] + "…"


def attention_rows(store: PostStore, workspace_id: str, *, tz_name: str, limit: int = 200) -> list[dict]:
    """Deliveries a person has to settle (needs review, failed), newest problems first, with what to tell them."""
    from core.lifecycle import DeliveryState, PostStatus
    tz = zone(tz_name)
    posts = store.list_posts(workspace_id=workspace_id, limit=limit,
                             statuses=[PostStatus.NEEDS_REVIEW, PostStatus.FAILED, PostStatus.PARTIALLY_PUBLISHED,
                                       PostStatus.PUBLISHING])
    by_post = store.deliveries_for(p.id for p in posts)
    rows = []
    for post in posts:
        labels = {a.id: a.label for a in post.accounts}
        for d in by_post[post.id]:
            if d.state not in (DeliveryState.NEEDS_REVIEW, DeliveryState.FAILED):
                continue
            rows.append({"delivery_id": d.id, "post_id": post.id, "state": d.state.value,
                         "account": labels.get(d.account_id, d.platform.label),
                         "caption": _preview(post, 60),
                         "when": d.due_at.astimezone(tz).strftime("%a %d %b %H:%M"),
                         "reason": d.last_error or "", "updated_at": d.updated_at})
    rows.sort(key=lambda r: r["updated_at"] or datetime.min.replace(tzinfo=tz), reverse=True)
    return rows


def account_rows(store: PostStore, workspace_id: str, *, tz_name: str, now: datetime) -> list[dict]:
    """The Accounts table: each connection's health, and whether the runner is holding its posts back."""
    from core.connect import account_health
    holds = store.account_holds(now)
    tz = zone(tz_name)
    rows = []
    for acc in store.list_accounts(workspace_id=workspace_id):
        held = holds.get(acc.id)
        posting = "Ready"
        if held is not None:
            until, reason = held
            posting = f"Paused until {until.astimezone(tz):%a %H:%M}: {reason}"
        rows.append({"Account": acc.handle, "Platform": acc.platform.label,
                     "Health": account_health(acc, now).message, "Posting": posting,
                     "Daily limit": acc.effective_daily_cap,
                     "Connected": acc.connected_at.strftime("%d %b %Y") if acc.connected_at else ""})
    return rows
