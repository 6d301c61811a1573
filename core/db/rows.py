"""Rows <-> domain objects: the one mapping every SQL module of the store uses.

`*_values(obj)` is the dict of columns to write; `*_from_row(row)` builds the frozen domain object
back. Accounts and connect attempts take the cipher: their tokens and PKCE verifier are encrypted
on the way in (bound to the account id, or to ``oauth:<state_hash>``) and decrypted on the way out.

Names and handles are cleaned on the way out (`loaded_text`): a row written before the text rule
(`core.domain.text_problem`) may hold a control character the domain types now refuse, and loading
must not fail on it; what loads is saved back clean.
"""
from __future__ import annotations

import json
from datetime import datetime, time
from typing import Any, Mapping, Sequence

from core.db.tokens import oauth_binding
from core.domain import (Account, ActivityEvent, Batch, Delivery, Membership, Notification, OAuthState, Post,
                         PostVariant, Schedule, User, Workspace, clean_text)
from core.domain.lifecycle import PostStatus
from core.domain.catalog import Platform
from core.infra.secrets import TokenCipher, TokenDecryptError
from core.store.people import Invitation, Session, SignInFailures
from core.store.records import AccountSnapshot, MetricSnapshot
from core.domain.timeutil import from_db

# The encrypted columns of an account row.
SECRET_COLUMNS = ("oauth_token_enc", "refresh_token_enc", "secrets_enc")


def aware(value: Any) -> datetime | None:
    """A datetime read from the database, timezone-aware in UTC (None stays None)."""
    return from_db(value) if value is not None else None


def text_or_none(value: Any) -> str | None:
    return None if value is None else str(value)


def loaded_text(value: Any, fallback: str | None = None) -> Any:
    """A stored name or handle as the domain types accept it (`core.domain.clean_text`); `fallback`, for a text
    that must not be empty, when nothing is left of it."""
    text = clean_text(value) if isinstance(value, str) else value
    return fallback if fallback and not (text or "").strip() else text


def workspace_values(w: Workspace) -> dict[str, Any]:
    return {"id": w.id, "name": w.name, "timezone_name": w.timezone_name,
            "preferred_time": w.preferred_time.isoformat(),
            "queue_slots": {str(day): [t.isoformat() for t in times] for day, times in w.queue_slots.items()},
            "requires_approval": bool(w.requires_approval), "approval_by_other": bool(w.approval_by_other),
            "created_at": w.created_at}


def workspace_from_row(row) -> Workspace:
    slots = {int(day): tuple(time.fromisoformat(t) for t in times) for day, times in (row.queue_slots or {}).items()}
    return Workspace(name=loaded_text(row.name, row.id), timezone_name=row.timezone_name,
                     preferred_time=time.fromisoformat(row.preferred_time), queue_slots=slots,
                     requires_approval=bool(row.requires_approval),
                     approval_by_other=bool(row.approval_by_other), id=row.id, created_at=row.created_at)


def user_values(u: User) -> dict[str, Any]:
    return {"id": u.id, "email": u.email, "display_name": u.display_name or "", "password_hash": u.password_hash,
            "created_at": u.created_at}


def user_from_row(row) -> User:
    return User(email=loaded_text(row.email), display_name=loaded_text(row.display_name),
                password_hash=row.password_hash, id=row.id,
                created_at=row.created_at)


def session_values(s: Session) -> dict[str, Any]:
    return {"id_hash": s.id_hash, "user_id": s.user_id, "created_at": s.created_at, "last_seen_at": s.last_seen_at,
            "expires_at": s.expires_at, "revoked_at": s.revoked_at,
            "user_agent": (s.user_agent or "")[:300] or None}


def session_from_row(row) -> Session:
    return Session(id_hash=row.id_hash, user_id=row.user_id, created_at=aware(row.created_at),
                   last_seen_at=aware(row.last_seen_at), expires_at=aware(row.expires_at),
                   revoked_at=aware(row.revoked_at), user_agent=row.user_agent)


def failures_from_row(row) -> SignInFailures:
    return SignInFailures(email=row.email, failures=row.failures, first_failed_at=aware(row.first_failed_at),
                          last_failed_at=aware(row.last_failed_at), paused_until=aware(row.paused_until))


def invitation_values(i: Invitation) -> dict[str, Any]:
    return {"id": i.id, "token_hash": i.token_hash, "workspace_id": i.workspace_id, "email": i.email,
            "role": i.role.value, "invited_by": i.invited_by, "created_at": i.created_at, "expires_at": i.expires_at,
            "accepted_at": i.accepted_at, "accepted_by": i.accepted_by, "revoked_at": i.revoked_at}


def invitation_from_row(row) -> Invitation:
    return Invitation(id=row.id, token_hash=row.token_hash, workspace_id=row.workspace_id, email=row.email,
                      role=row.role, invited_by=row.invited_by, created_at=aware(row.created_at),
                      expires_at=aware(row.expires_at), accepted_at=aware(row.accepted_at),
                      accepted_by=row.accepted_by, revoked_at=aware(row.revoked_at))


def membership_from_row(row) -> Membership:
    return Membership(user_id=row.user_id, workspace_id=row.workspace_id, role=row.role)


def account_values(a: Account, cipher: TokenCipher) -> dict[str, Any]:
    """The account's columns, its tokens and secrets encrypted with `cipher` (the account id bound in)."""
    enc = cipher.encrypt
    values = {
        "id": a.id, "workspace_id": a.workspace_id, "platform": a.platform.value, "handle": a.handle,
        "display_name": a.display_name or "",
        "oauth_token_enc": None if a.oauth_token is None else enc(a.oauth_token, account_id=a.id),
        "refresh_token_enc": None if a.refresh_token is None else enc(a.refresh_token, account_id=a.id),
        "secrets_enc": enc(json.dumps(dict(a.secrets), sort_keys=True), account_id=a.id) if a.secrets else None,
        "token_expires_at": a.token_expires_at, "refresh_expires_at": a.refresh_expires_at,
        "scopes": list(a.scopes), "external_id": a.external_id, "daily_cap": a.daily_cap,
        "min_gap_minutes": a.min_gap_minutes, "status": a.status.value, "connected_at": a.connected_at,
        "meta": dict(a.meta or {}),
    }
    if a.secrets_unreadable is not None:
        # Loaded without its tokens (they could not be decrypted): leave the stored ones as they are, so that
        # restoring the key brings them back. Reconnecting clears the flag and writes new ones.
        for column in SECRET_COLUMNS:
            del values[column]
    return values


def account_from_row(row, cipher: TokenCipher) -> Account:
    """The account of `row`; one whose tokens cannot be decrypted loads without them, marked
    `secrets_unreadable`, so that one damaged row or lost key never stops the others from loading."""
    try:
        oauth_token, refresh_token, secrets = _account_secrets(row, cipher)
    except (TokenDecryptError, ValueError) as exc:
        # TokenDecryptError says which key or check failed and never holds the token; a ValueError here is
        # decrypted secrets that are not the JSON object we wrote (never quoted: it could be a secret).
        why = (str(exc) if isinstance(exc, TokenDecryptError)
               else f"The stored secrets of account {row.id} are not in the expected format.")
        oauth_token, refresh_token, secrets, unreadable = None, None, {}, why
    else:
        unreadable = None
    return Account(
        platform=row.platform, handle=loaded_text(row.handle, row.external_id or row.id),
        display_name=loaded_text(row.display_name),
        oauth_token=oauth_token, refresh_token=refresh_token, secrets=secrets,
        token_expires_at=row.token_expires_at, refresh_expires_at=row.refresh_expires_at,
        scopes=tuple(row.scopes or ()), external_id=row.external_id, id=row.id, workspace_id=row.workspace_id,
        daily_cap=row.daily_cap, min_gap_minutes=row.min_gap_minutes, status=row.status,
        connected_at=row.connected_at, meta=dict(row.meta or {}), secrets_unreadable=unreadable)


def _account_secrets(row, cipher: TokenCipher) -> tuple[str | None, str | None, dict[str, str]]:
    dec = cipher.decrypt
    oauth_token = None if row.oauth_token_enc is None else dec(row.oauth_token_enc, account_id=row.id)
    refresh_token = None if row.refresh_token_enc is None else dec(row.refresh_token_enc, account_id=row.id)
    secrets = {} if row.secrets_enc is None else json.loads(dec(row.secrets_enc, account_id=row.id))
    if not isinstance(secrets, dict):
        raise ValueError("not a JSON object")
    return oauth_token, refresh_token, secrets


def oauth_state_values(state: OAuthState, cipher: TokenCipher) -> dict[str, Any]:
    """A connect attempt's columns, its PKCE verifier encrypted (bound to ``oauth:<state_hash>``)."""
    verifier = state.code_verifier
    return dict(
        state_hash=state.state_hash, user_id=state.user_id, workspace_id=state.workspace_id,
        platform=state.platform.value,
        code_verifier_enc=None if verifier is None else cipher.encrypt(
            verifier, account_id=oauth_binding(state.state_hash)),
        expires_at=state.expires_at, created_at=state.created_at, used_at=state.used_at,
        account_id=state.account_id)


def oauth_state_from_row(row, cipher: TokenCipher) -> OAuthState:
    verifier = None
    if row.code_verifier_enc is not None:
        try:
            verifier = cipher.decrypt(row.code_verifier_enc, account_id=oauth_binding(row.state_hash))
        except TokenDecryptError:
            raise TokenDecryptError("The security code of this connect attempt could not be decrypted (its key "
                                    "is no longer in the keyring, or the row was altered). Start the connection "
                                    "again from Accounts.") from None
    return OAuthState(state_hash=row.state_hash, user_id=row.user_id, workspace_id=row.workspace_id,
                      platform=row.platform, expires_at=row.expires_at, code_verifier=verifier,
                      created_at=row.created_at, used_at=row.used_at, account_id=row.account_id)


def variant_values(v: PostVariant) -> dict[str, Any]:
    return {"caption": v.caption, "hashtags": None if v.hashtags is None else list(v.hashtags),
            "media_urls": None if v.media_urls is None else list(v.media_urls), "title": v.title, "link": v.link,
            "thread": None if v.thread is None else list(v.thread), "first_comment": v.first_comment}


def variant_from_data(data: Mapping[str, Any]) -> PostVariant:
    hashtags, media, thread = data.get("hashtags"), data.get("media_urls"), data.get("thread")
    return PostVariant(caption=data.get("caption"), hashtags=None if hashtags is None else tuple(hashtags),
                       media_urls=None if media is None else tuple(media), title=data.get("title"),
                       link=data.get("link"), thread=None if thread is None else tuple(thread),
                       first_comment=data.get("first_comment"))


def post_values(p: Post, status: PostStatus) -> dict[str, Any]:
    s = p.schedule
    return {
        "id": p.id, "workspace_id": p.workspace_id, "caption": p.caption, "hashtags": list(p.hashtags),
        "call_to_action": p.call_to_action or "", "link": p.link or "", "first_comment": p.first_comment or "",
        "title": p.title or "",
        "media_urls": list(p.media_urls),
        "variants": {Platform.parse(k).value: variant_values(v) for k, v in p.variants.items()},
        "due_at": s.scheduled_at if s else None, "timezone_name": s.timezone_name if s else None,
        "schedule_notice": s.notice if s else None, "recurrence": p.recurrence, "series_id": p.series_id,
        "is_ai_generated": bool(p.is_ai_generated), "batch_id": p.batch_id, "state": p.state.value,
        "status": PostStatus(status).value, "created_by": p.created_by, "rejection_reason": p.rejection_reason,
        "created_at": p.created_at, "updated_at": p.updated_at, "version": p.version, "is_demo": bool(p.is_demo),
    }


def post_from_row(row, targets: Sequence[Account]) -> Post:
    schedule = None
    if row.due_at is not None:
        schedule = Schedule(scheduled_at=row.due_at, timezone_name=row.timezone_name or "UTC",
                            notice=row.schedule_notice)
    return Post(
        caption=row.caption, accounts=tuple(targets), hashtags=tuple(row.hashtags or ()),
        call_to_action=row.call_to_action, link=row.link, first_comment=getattr(row, "first_comment", "") or "",
        title=row.title or "",
        media_urls=tuple(row.media_urls or ()),
        variants={k: variant_from_data(v) for k, v in (row.variants or {}).items()}, schedule=schedule,
        recurrence=row.recurrence, is_ai_generated=bool(row.is_ai_generated), batch_id=row.batch_id,
        workspace_id=row.workspace_id, id=row.id, state=row.state, created_by=row.created_by,
        rejection_reason=row.rejection_reason, created_at=row.created_at, updated_at=row.updated_at,
        version=row.version, series_id=row.series_id, is_demo=bool(row.is_demo))


DELIVERY_FIELDS = ("id", "post_id", "account_id", "due_at", "attempts", "next_attempt_at", "external_id", "progress",
                    "external_url", "last_error", "last_error_code", "claimed_by", "lease_expires_at", "marker",
                    "published_at", "updated_at", "version")


def delivery_values(d: Delivery, *, position: int | None = None) -> dict[str, Any]:
    values = {name: getattr(d, name) for name in DELIVERY_FIELDS}
    values.update(platform=d.platform.value, state=d.state.value)
    if position is not None:
        values["position"] = position
    return values


def delivery_from_row(row) -> Delivery:
    return Delivery(platform=row.platform, state=row.state, **{name: getattr(row, name) for name in DELIVERY_FIELDS})


def event_values(e: ActivityEvent) -> dict[str, Any]:
    return {"id": e.id, "at": e.at, "action": e.action, "subject_type": e.subject_type, "subject_id": e.subject_id,
            "actor": e.actor, "workspace_id": e.workspace_id, "from_state": text_or_none(e.from_state),
            "to_state": text_or_none(e.to_state), "reason": e.reason, "details": dict(e.details or {})}


def event_from_row(row) -> ActivityEvent:
    return ActivityEvent(action=row.action, subject_type=row.subject_type, subject_id=row.subject_id, at=row.at,
                         actor=row.actor, workspace_id=row.workspace_id, from_state=row.from_state,
                         to_state=row.to_state, reason=row.reason, details=dict(row.details or {}), id=row.id)


def notification_values(n: Notification) -> dict[str, Any]:
    return {"id": n.id, "workspace_id": n.workspace_id, "kind": n.kind, "title": n.title, "body": n.body or "",
            "created_at": n.created_at, "user_id": n.user_id, "subject_id": n.subject_id, "read_at": n.read_at,
            "sent_at": n.sent_at}


def notification_from_row(row) -> Notification:
    return Notification(workspace_id=row.workspace_id, kind=row.kind, title=row.title, body=row.body,
                        created_at=row.created_at, user_id=row.user_id, subject_id=row.subject_id,
                        read_at=row.read_at, sent_at=row.sent_at, id=row.id)


def batch_values(b: Batch) -> dict[str, Any]:
    return {"id": b.id, "workspace_id": b.workspace_id, "week_start": b.week_start, "state": b.state.value,
            "prompt": b.prompt or "", "created_at": b.created_at, "decided_at": b.decided_at,
            "decided_by": b.decided_by}


def batch_from_row(row) -> Batch:
    return Batch(workspace_id=row.workspace_id, week_start=row.week_start, id=row.id, state=row.state,
                 prompt=row.prompt, created_at=row.created_at, decided_at=row.decided_at, decided_by=row.decided_by)


def metric_snapshot_values(s: MetricSnapshot) -> dict[str, Any]:
    return {"delivery_id": s.delivery_id, "post_id": s.post_id, "account_id": s.account_id,
            "workspace_id": s.workspace_id, "platform": str(s.platform), "external_id": s.external_id,
            "taken_at": s.taken_at, "metrics": dict(s.metrics), "raw": dict(s.raw or {}), "is_demo": bool(s.is_demo)}


def metric_snapshot_from_row(r) -> MetricSnapshot:
    return MetricSnapshot(delivery_id=r.delivery_id, post_id=r.post_id, account_id=r.account_id,
                          workspace_id=r.workspace_id, platform=r.platform, external_id=r.external_id,
                          taken_at=aware(r.taken_at), metrics=dict(r.metrics or {}), raw=dict(r.raw or {}),
                          is_demo=bool(r.is_demo))


def account_snapshot_values(s: AccountSnapshot) -> dict[str, Any]:
    return {"account_id": s.account_id, "workspace_id": s.workspace_id, "platform": str(s.platform),
            "taken_at": s.taken_at, "followers": s.followers, "raw": dict(s.raw or {}), "is_demo": bool(s.is_demo)}


def account_snapshot_from_row(r) -> AccountSnapshot:
    return AccountSnapshot(account_id=r.account_id, workspace_id=r.workspace_id, platform=r.platform,
                           taken_at=aware(r.taken_at), followers=r.followers, raw=dict(r.raw or {}),
                           is_demo=bool(r.is_demo))
