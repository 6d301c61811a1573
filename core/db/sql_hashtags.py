"""`core.store.hashtags.HashtagGroupStore` in SQL (the hashtag_groups table, migration 0009).

Names are unique per workspace regardless of case. The table's unique index is on the exact name, so every
write first locks the workspace's row (PostgreSQL; SQLite writes one at a time anyway) and then compares names
case-insensitively: two people saving "Launch" and "launch" at once get one group and one DuplicateError.
"""
from __future__ import annotations

from dataclasses import replace

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from core.db.schema import hashtag_groups, workspaces
from core.db.sql_base import SqlBase
from core.domain.errors import DuplicateError, NotFoundError
from core.domain.timeutil import from_db
from core.store.hashtags import HashtagGroup, duplicate_name, not_found

_t = hashtag_groups


def _group(row) -> HashtagGroup:
    return HashtagGroup(workspace_id=row.workspace_id, name=row.name, hashtags=tuple(row.hashtags or ()), id=row.id,
                        created_by=row.created_by, created_at=from_db(row.created_at),
                        updated_at=from_db(row.updated_at))


def _values(group: HashtagGroup) -> dict:
    return {"id": group.id, "workspace_id": group.workspace_id, "name": group.name, "hashtags": list(group.hashtags),
            "created_by": group.created_by, "created_at": group.created_at, "updated_at": group.updated_at}


class SqlHashtagGroupStore(SqlBase):
    """Saved hashtag groups on a SQLAlchemy engine."""

    def _lock_workspace(self, conn: Connection, workspace_id: str) -> None:
        if conn.execute(sa.select(workspaces.c.id).where(workspaces.c.id == workspace_id)
                        .with_for_update()).first() is None:
            raise NotFoundError(f"No workspace with id {workspace_id}.")

    def _name_taken(self, conn: Connection, group: HashtagGroup) -> bool:
        # Compared in Python (casefold): SQLite's lower() folds only ASCII, so "Été" and "été" would both pass there
        # while PostgreSQL refused the second. A workspace has a handful of groups; its row is locked meanwhile.
        query = sa.select(_t.c.name).where(_t.c.workspace_id == group.workspace_id, _t.c.id != group.id)
        wanted = group.name.casefold()
        return any(name.casefold() == wanted for (name,) in conn.execute(query))

    def list_hashtag_groups(self, workspace_id: str) -> list[HashtagGroup]:
        query = sa.select(_t).where(_t.c.workspace_id == workspace_id)
        with self._read() as conn:
            found = [_group(r) for r in conn.execute(query)]
        return sorted(found, key=lambda g: (g.name.casefold(), g.id or ""))

    def get_hashtag_group(self, group_id: str) -> HashtagGroup:
        with self._read() as conn:
            row = conn.execute(sa.select(_t).where(_t.c.id == group_id)).first()
        if row is None:
            raise not_found(group_id)
        return _group(row)

    def add_hashtag_group(self, group: HashtagGroup) -> HashtagGroup:
        try:
            with self._write() as conn:
                self._lock_workspace(conn, group.workspace_id)
                if conn.execute(sa.select(_t.c.id).where(_t.c.id == group.id)).first() is not None:
                    raise DuplicateError(f"A hashtag group with id {group.id} already exists.")
                if self._name_taken(conn, group):
                    raise duplicate_name(group.name)
                now = self._clock()
                group = replace(group, hashtags=tuple(group.hashtags), created_at=group.created_at or now,
                                updated_at=now)
                conn.execute(_t.insert().values(_values(group)))
                return group
        except sa.exc.IntegrityError:   # the exact name, inserted by another writer meanwhile
            raise duplicate_name(group.name) from None

    def update_hashtag_group(self, group: HashtagGroup) -> HashtagGroup:
        try:
            with self._write() as conn:
                row = conn.execute(sa.select(_t).where(_t.c.id == group.id)).first()
                if row is None:
                    raise not_found(group.id)
                current = _group(row)
                self._lock_workspace(conn, current.workspace_id)
                changed = replace(current, name=group.name, hashtags=tuple(group.hashtags), updated_at=self._clock())
                if self._name_taken(conn, changed):
                    raise duplicate_name(group.name)
                result = conn.execute(_t.update().where(_t.c.id == group.id).values(
                    name=changed.name, hashtags=list(changed.hashtags), updated_at=changed.updated_at))
                if result.rowcount == 0:
                    raise not_found(group.id)
                return changed
        except sa.exc.IntegrityError:
            raise duplicate_name(group.name) from None

    def delete_hashtag_group(self, group_id: str) -> None:
        with self._write() as conn:
            if conn.execute(_t.delete().where(_t.c.id == group_id)).rowcount == 0:
                raise not_found(group_id)
