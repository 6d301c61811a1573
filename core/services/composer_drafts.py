"""What a person is writing in a workspace's composer, kept as they write (`core.store.people.KeptDraft`): a reload,
a closed tab or a lost connection loses nothing; the composer restores it and the person may discard it. It is
forgotten once the post is saved.

Only a person who may write posts in the workspace keeps one (`Action.EDIT_POSTS`), and only their own. What is
kept is the composer's fields by name: text, or a list of short ids, within `MAX_BYTES` together; anything else is
refused, so nothing but what a person typed is ever stored or given back.
"""
from __future__ import annotations

import json
from datetime import datetime
from typing import Any, Mapping

from core.domain.errors import PermissionDenied, ValidationError
from core.rules.permissions import Action, Actor, check
from core.store import PostStore
from core.store.people import KeptDraft

__all__ = ["keep", "kept", "forget", "MAX_BYTES"]

MAX_BYTES = 256 * 1024      # all the fields together, as JSON: several posts' worth of text
MAX_FIELDS = 40
_NAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789_")


def _person(actor: Actor, workspace_id: str) -> str:
    check(actor, Action.EDIT_POSTS, workspace_id, subject="workspace")
    if actor.is_system or not actor.user_id:
        raise PermissionDenied(f"Keeping what is typed in the composer needs a signed-in person; {actor.label} "
                               "cannot.", action=Action.EDIT_POSTS, code="person_needed")
    return actor.user_id


def _clean(fields: Mapping[str, Any]) -> dict[str, Any]:
    if not isinstance(fields, Mapping) or len(fields) > MAX_FIELDS:
        raise ValidationError("The composer's fields could not be kept.", code="draft_shape")
    out: dict[str, Any] = {}
    for name, value in fields.items():
        if not isinstance(name, str) or not name or len(name) > 64 or set(name) - _NAME_CHARS:
            raise ValidationError("The composer's fields could not be kept.", code="draft_shape")
        if isinstance(value, (list, tuple)):
            if not all(isinstance(v, str) and len(v) <= 200 for v in value):
                raise ValidationError("The composer's fields could not be kept.", code="draft_shape")
            value = list(value)
        elif not isinstance(value, str):
            raise ValidationError("The composer's fields could not be kept.", code="draft_shape")
        out[name] = value
    if len(json.dumps(out, ensure_ascii=False).encode("utf-8")) > MAX_BYTES:
        raise ValidationError(f"This is too long to keep as you write (more than {MAX_BYTES // 1024} KB); save it "
                              "as a draft instead.", code="draft_too_long")
    return out


def keep(store: PostStore, actor: Actor, workspace_id: str, fields: Mapping[str, Any], *, now: datetime) -> KeptDraft:
    """Keep what the person is writing (replacing what was kept before)."""
    user_id = _person(actor, workspace_id)
    return store.keep_draft(KeptDraft(user_id=user_id, workspace_id=workspace_id, fields=_clean(fields),
                                      kept_at=now))


def kept(store: PostStore, actor: Actor, workspace_id: str) -> KeptDraft | None:
    """What the person was writing in this workspace's composer, if anything was kept."""
    return store.get_kept_draft(_person(actor, workspace_id), workspace_id)


def forget(store: PostStore, actor: Actor, workspace_id: str) -> bool:
    """Forget what was kept (saved as a post, or discarded)."""
    return store.forget_kept_draft(_person(actor, workspace_id), workspace_id)
