"""Saved hashtag groups: a workspace's named sets of hashtags the composer adds in one click.

Contract (every store):
- A group's name is unique in its workspace regardless of case ("Launch" and "launch" are the same group):
  adding or renaming onto a taken name is a DuplicateError; two writers racing for one name get one group.
- Groups come back sorted by name (case-insensitively), then id.
- ``update_hashtag_group`` replaces the name and tags of an existing group and stamps ``updated_at``;
  a group that does not exist (or no longer does) is a NotFoundError, as is deleting one.
- A group belongs to an existing workspace (NotFoundError otherwise) and stays in it.

Validation in words (name length, tag count, what a hashtag is) is the service's:
`core.services.hashtag_groups`.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import Protocol

from core.domain.errors import DuplicateError, NotFoundError
from core.store.base import MemoryState


@dataclass(frozen=True)
class HashtagGroup:
    """A named set of hashtags (``("#launch", "#spring")``, in the order the person chose them)."""

    workspace_id: str
    name: str
    hashtags: tuple[str, ...]
    id: str = ""
    created_by: str | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None


def duplicate_name(name: str) -> DuplicateError:
    return DuplicateError(f"There is already a hashtag group called '{name}'; choose another name.")


def not_found(group_id: str) -> NotFoundError:
    return NotFoundError(f"No hashtag group with id {group_id} (someone may have deleted it).")


def sort_key(group: HashtagGroup) -> tuple[str, str]:
    return group.name.casefold(), group.id


class HashtagGroupStore(Protocol):
    """A workspace's saved hashtag groups."""

    def list_hashtag_groups(self, workspace_id: str) -> list[HashtagGroup]: ...
    def get_hashtag_group(self, group_id: str) -> HashtagGroup: ...
    def add_hashtag_group(self, group: HashtagGroup) -> HashtagGroup: ...
    def update_hashtag_group(self, group: HashtagGroup) -> HashtagGroup: ...
    def delete_hashtag_group(self, group_id: str) -> None: ...


class HashtagGroupMemory(MemoryState):
    """`HashtagGroupStore` in memory."""

    @property
    def _hashtag_groups(self) -> dict[str, HashtagGroup]:
        return self.__dict__.setdefault("_hashtag_groups_by_id", {})

    def _name_taken(self, group: HashtagGroup) -> bool:
        return any(g.workspace_id == group.workspace_id and g.name.casefold() == group.name.casefold() and g.id != group.id
                   for g in self._hashtag_groups.values())

    def list_hashtag_groups(self, workspace_id: str) -> list[HashtagGroup]:
        with self._lock:
            return sorted((g for g in self._hashtag_groups.values() if g.workspace_id == workspace_id), key=sort_key)

    def get_hashtag_group(self, group_id: str) -> HashtagGroup:
        with self._lock:
            try:
                return self._hashtag_groups[group_id]
            except KeyError:
                raise not_found(group_id) from None

    def add_hashtag_group(self, group: HashtagGroup) -> HashtagGroup:
        with self._lock:
            if group.workspace_id not in self._workspaces:
                raise NotFoundError(f"No workspace with id {group.workspace_id}.")
            if group.id in self._hashtag_groups:
                raise DuplicateError(f"A hashtag group with id {group.id} already exists.")
            if self._name_taken(group):
                raise duplicate_name(group.name)
            now = self._clock()
            group = replace(group, hashtags=tuple(group.hashtags), created_at=group.created_at or now, updated_at=now)
            self._hashtag_groups[group.id] = group
            return group

    def update_hashtag_group(self, group: HashtagGroup) -> HashtagGroup:
        with self._lock:
            current = self._hashtag_groups.get(group.id)
            if current is None:
                raise not_found(group.id)
            if self._name_taken(replace(group, workspace_id=current.workspace_id)):
                raise duplicate_name(group.name)
            group = replace(current, name=group.name, hashtags=tuple(group.hashtags), updated_at=self._clock())
            self._hashtag_groups[group.id] = group
            return group

    def delete_hashtag_group(self, group_id: str) -> None:
        with self._lock:
            if self._hashtag_groups.pop(group_id, None) is None:
                raise not_found(group_id)
