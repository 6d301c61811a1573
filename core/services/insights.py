"""Platform insights: metrics of recently published posts and each account's followers, as snapshots over time.

Batched per account (one metrics call for all its recent posts), one account at a time; an account the
platform refuses this hour is skipped until the next pull, never stopping the others.
"""
from __future__ import annotations

import logging
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Callable

from core.services.connect import credentials
from core.domain import Account, Delivery
from core.domain.errors import OutpostError, PlatformError
from core.platforms.base import PlatformAdapter, PublishRequest
from core.store import AccountSnapshot, MetricSnapshot, PostStore
from core.domain.timeutil import utcnow

log = logging.getLogger("outpost.insights")
INSIGHTS_DAYS = 30                      # pull metrics for posts published this recently


def pull_insights(store: PostStore, adapter_for: Callable[[object], PlatformAdapter], *,
                  clock: Callable[[], datetime] = utcnow, days: int = INSIGHTS_DAYS,
                  should_stop: Callable[[], bool] = lambda: False) -> int:
    """Store a metric snapshot per recent published delivery and a follower snapshot per account; returns how
    many post snapshots were taken."""
    now = clock()
    by_account: dict[str, list[Delivery]] = {}
    for d in store.published_deliveries(now - timedelta(days=days)):
        by_account.setdefault(d.account_id, []).append(d)
    taken = 0
    for account_id, items in by_account.items():
        if should_stop():
            break
        try:
            taken += _pull_account(store, adapter_for, account_id, items, now)
        except (PlatformError, OutpostError) as exc:
            log.warning("insights for account %s skipped this hour: %s", account_id, exc)
        except Exception:
            log.exception("insights for account %s failed unexpectedly; going on with the others", account_id)
    return taken


def _pull_account(store: PostStore, adapter_for: Callable[[object], PlatformAdapter], account_id: str,
                  items: list[Delivery], now: datetime) -> int:
    account = store.get_account(account_id)
    adapter = adapter_for(account.platform)
    creds = credentials(account)
    items = resolve_pending(store, adapter, account, items)
    ready = [d for d in items if d.external_id and not d.progress.get("pending_id")]
    metrics = adapter.post_metrics(creds, [d.external_id for d in ready]) if ready else {}
    snaps = [MetricSnapshot(delivery_id=d.id, post_id=d.post_id, account_id=account.id,
                            workspace_id=account.workspace_id, platform=account.platform.value,
                            external_id=d.external_id, taken_at=now, metrics=dict(m.values),
                            raw=dict(m.raw)) for d in ready if (m := metrics.get(d.external_id))]
    followers = adapter.account_metrics(creds)
    store.add_metric_snapshots(snaps, [AccountSnapshot(
        account_id=account.id, workspace_id=account.workspace_id, platform=account.platform.value,
        taken_at=now, followers=followers.followers, raw=dict(followers.raw))])
    return len(snaps)


def resolve_pending(store: PostStore, adapter: PlatformAdapter, account: Account,
                    items: list[Delivery]) -> list[Delivery]:
    """Posts the platform accepted before giving them a public id (TikTok): ask again for the id, one delivery's
    failure never stopping the others; returns the deliveries as they are now."""
    out = []
    for d in items:
        if d.progress.get("pending_id"):
            try:
                post = store.get_post(d.post_id)
                req = PublishRequest(content=post.render(d.platform), marker=d.marker or d.id,
                                     progress={"publish_id": d.external_id or "", **d.progress})
                found = adapter.find_published(credentials(account), req, since=d.due_at - timedelta(minutes=5))
                if found is not None and not found.extra.get("pending_id"):
                    d = store.update_delivery(
                        replace(d, external_id=found.external_id, external_url=found.url,
                                progress={**d.progress, "pending_id": ""}), expected_version=d.version)
            except (PlatformError, OutpostError) as exc:
                log.info("delivery %s: public id not there yet (%s)", d.id, exc)
            except Exception:
                log.exception("delivery %s (account %s): asking for its public id failed unexpectedly",
                              d.id, account.id)
        out.append(d)
    return out
