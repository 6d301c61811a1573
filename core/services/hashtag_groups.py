"""Saved hashtag groups: a workspace's named sets of hashtags ("Spring launch": #spring #launch #newin) that the
composer adds to a post in one click.

Every member reads the groups; editors and owners create, rename, change and delete them
(`Action.MANAGE_HASHTAGS` in core.rules.permissions), checked here before anything is read or written. Each
problem is said in words and nothing is half-saved:

- a name of 1 to 100 characters, unique in the workspace regardless of case;
- 1 to 30 hashtags, each a real hashtag (core.domain.normalize_hashtags: ``launch`` becomes ``#launch``; the same
  tag twice is kept once).

`add_group_tags` is what "add this group" does to the hashtags already typed: the group's tags after them,
without repeating one that is already there.
"""
from __future__ import annotations

from typing import Iterable

from core.domain import check_text, new_id, normalize_hashtags
from core.domain.errors import DuplicateError, Problem, ValidationError
from core.rules.permissions import Action, Actor, check
from core.store import PostStore
from core.store.hashtags import HashtagGroup

__all__ = ["HashtagGroup", "list_groups", "create_group", "update_group", "delete_group", "add_group_tags",
           "MAX_TAGS", "MAX_NAME"]

MAX_NAME = 100
MAX_TAGS = 30


def _name(name: str | None) -> tuple[str, list[Problem]]:
    name = " ".join(str(name or "").split())
    if not name:
        return name, [Problem("group_name", "Give the hashtag group a name, such as 'Spring launch'.", field="name")]
    if len(name) > MAX_NAME:
        return name, [Problem("group_name", f"A hashtag group's name can be at most {MAX_NAME} characters; this one "
                                            f"has {len(name)}.", field="name")]
    try:
        check_text(name, field="name", what="group name")
    except ValidationError as exc:
        return name, list(exc.problems)
    return name, []


def _tags(hashtags: str | Iterable[str] | None) -> tuple[tuple[str, ...], list[Problem]]:
    try:
        tags = normalize_hashtags(hashtags or ())
    except ValidationError as exc:
        return (), list(exc.problems)
    if not tags:
        return tags, [Problem("group_tags", "A hashtag group needs at least one hashtag, such as #launch.",
                              field="hashtags")]
    if len(tags) > MAX_TAGS:
        return tags, [Problem("group_tags", f"A hashtag group can hold at most {MAX_TAGS} hashtags; this one has "
                                            f"{len(tags)}.", field="hashtags")]
    return tags, []


def _said(exc: DuplicateError) -> ValidationError:
    return ValidationError(Problem("group_name_taken", str(exc), field="name"))


def list_groups(store: PostStore, actor: Actor, workspace_id: str) -> list[HashtagGroup]:
    """The workspace's groups, by name (any member)."""
    check(actor, Action.VIEW, workspace_id, subject="workspace")
    return store.list_hashtag_groups(workspace_id)


def _own_group(store: PostStore, actor: Actor, workspace_id: str, group_id: str) -> HashtagGroup:
    check(actor, Action.MANAGE_HASHTAGS, workspace_id, subject="workspace")
    group = store.get_hashtag_group(group_id)
    if group.workspace_id != workspace_id:   # another workspace's group is not this workspace's to change
        check(actor, Action.MANAGE_HASHTAGS, group.workspace_id, subject="hashtag group")
    return group


def create_group(store: PostStore, actor: Actor, workspace_id: str, name: str,
                 hashtags: str | Iterable[str]) -> HashtagGroup:
    """Save a new group (editors and owners). Every problem with the name and the tags is said at once."""
    check(actor, Action.MANAGE_HASHTAGS, workspace_id, subject="workspace")
    name, problems = _name(name)
    tags, tag_problems = _tags(hashtags)
    if problems or tag_problems:
        raise ValidationError(problems + tag_problems)
    group = HashtagGroup(workspace_id=workspace_id, name=name, hashtags=tags, id=new_id("tags"),
                         created_by=actor.user_id)
    try:
        return store.add_hashtag_group(group)
    except DuplicateError as exc:
        raise _said(exc) from None


def update_group(store: PostStore, actor: Actor, workspace_id: str, group_id: str, *, name: str | None = None,
                 hashtags: str | Iterable[str] | None = None) -> HashtagGroup:
    """Rename a group and/or replace its hashtags (editors and owners); what is not given stays."""
    group = _own_group(store, actor, workspace_id, group_id)
    problems: list[Problem] = []
    new_name, new_tags = group.name, group.hashtags
    if name is not None:
        new_name, problems = _name(name)
    if hashtags is not None:
        new_tags, tag_problems = _tags(hashtags)
        problems += tag_problems
    if problems:
        raise ValidationError(problems)
    try:
        return store.update_hashtag_group(HashtagGroup(workspace_id=group.workspace_id, name=new_name,
                                                       hashtags=new_tags, id=group.id))
    except DuplicateError as exc:
        raise _said(exc) from None


def delete_group(store: PostStore, actor: Actor, workspace_id: str, group_id: str) -> HashtagGroup:
    """Delete a group (editors and owners) and return it as it was; posts that used its tags keep them."""
    group = _own_group(store, actor, workspace_id, group_id)
    store.delete_hashtag_group(group_id)
    return group


def add_group_tags(current: str | Iterable[str] | None, group_tags: Iterable[str]) -> str:
    """The hashtags typed so far with the group's added after them, none twice (case-insensitively), as the text
    the Hashtags field holds ("#spring #launch"). A tag typed so far that is not a hashtag is a ValidationError."""
    return " ".join(normalize_hashtags([*normalize_hashtags(current or ()), *group_tags]))
