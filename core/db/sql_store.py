"""The SQL store: `core.store.PostStore` on SQLite or PostgreSQL, put together from one store per aggregate.

    sql_people     workspaces, users, memberships          (core.store.PeopleStore)
    sql_accounts   accounts, connect attempts              (core.store.AccountStore)
    sql_posts      posts and deliveries                    (core.store.PostDeliveryStore)
    sql_runner     the runner's claims, holds, heartbeats  (core.store.ClaimStore)
    sql_metrics    metric snapshots                        (core.store.MetricStore)
    sql_activity   activity, notifications, batches        (core.store.ActivityStore)
    sql_demo       the sandbox's demo history              (core.store.DemoStore)
    sql_hashtags   saved hashtag groups                    (core.store.HashtagGroupStore)

They share `core.db.sql_base` (transactions, the engine, cipher and clock) and `core.db.rows` (rows <->
domain objects). Same contract as `core.store.InMemoryPostStore`: the contract suite in
tests/store_contract/ runs against both.
"""
from __future__ import annotations

from core.db.sql_accounts import SqlAccountStore
from core.db.sql_activity import SqlActivityStore
from core.db.sql_demo import SqlDemoStore
from core.db.sql_hashtags import SqlHashtagGroupStore
from core.db.sql_metrics import SqlMetricStore
from core.db.sql_people import SqlPeopleStore
from core.db.sql_posts import SqlPostDeliveryStore
from core.db.sql_runner import SqlRunnerQueries


class SqlPostStore(SqlPeopleStore, SqlAccountStore, SqlPostDeliveryStore, SqlMetricStore, SqlRunnerQueries,
                  SqlActivityStore, SqlDemoStore, SqlHashtagGroupStore):
    """`PostStore` on a SQLAlchemy engine, tokens encrypted with `cipher`."""
