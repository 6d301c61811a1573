"""The tables of the system of record (SQLAlchemy Core, portable types only).

Every datetime is stored in UTC and read back aware (`UtcDateTime`). A post's
``status`` is derived (`core.domain.lifecycle.derive_post_status`) and rewritten by the
store on every write that touches the post or its deliveries, so calendar and
approval queries can filter on it. Tokens live only encrypted
(``oauth_token_enc``, ``refresh_token_enc``, and the PKCE verifier of a connect
attempt, ``oauth_states.code_verifier_enc``; see `core.infra.secrets`).

A schema change here needs a migration in ``core/db/migrations/versions``;
``tests/test_migrations.py`` fails when the two disagree.
"""
from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.types import TypeDecorator

from core.domain.timeutil import from_db, to_utc

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}
metadata = sa.MetaData(naming_convention=NAMING_CONVENTION)

# Delivery states the runner still has to act on; the due index covers only these.
WAITING_STATES = ("queued", "retry_wait")


def waiting_states(column, name: str = "waiting_states"):
    """`column IN ('queued', 'retry_wait')`, rendered as literals so the planner matches the due index's WHERE."""
    return column.in_(sa.bindparam(name, list(WAITING_STATES), expanding=True, literal_execute=True))


class UtcDateTime(TypeDecorator):
    """An aware datetime stored as UTC; naive values are refused, results come back aware UTC."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect):
        if value is None:
            return None
        value = to_utc(value, "stored time")
        # SQLite keeps the wall time as text and drops the offset: store UTC wall time.
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value, dialect):
        return from_db(value)


ID = sa.String(64)

workspaces = sa.Table(
    "workspaces", metadata,
    sa.Column("id", ID, primary_key=True),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("timezone_name", sa.String(64), nullable=False),
    sa.Column("preferred_time", sa.String(16), nullable=False),   # "09:00:00"
    sa.Column("queue_slots", sa.JSON, nullable=False),             # {"0": ["09:00:00", ...]} weekday -> times
    sa.Column("requires_approval", sa.Boolean, nullable=False),
    sa.Column("created_at", UtcDateTime),
    # With requires_approval: nobody approves their own post (a second person must).
    sa.Column("approval_by_other", sa.Boolean, nullable=False, server_default=sa.false()),
)

users = sa.Table(
    "users", metadata,
    sa.Column("id", ID, primary_key=True),
    sa.Column("email", sa.String(320), nullable=False),
    sa.Column("display_name", sa.String(200), nullable=False),
    sa.Column("password_hash", sa.Text),
    sa.Column("created_at", UtcDateTime),
    sa.UniqueConstraint("email"),
)

memberships = sa.Table(
    "memberships", metadata,
    sa.Column("user_id", ID, sa.ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("workspace_id", ID, sa.ForeignKey("workspaces.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("role", sa.String(16), nullable=False),
    sa.Index("ix_memberships_workspace_id", "workspace_id"),
)

accounts = sa.Table(
    "accounts", metadata,
    sa.Column("id", ID, primary_key=True),
    sa.Column("workspace_id", ID, sa.ForeignKey("workspaces.id")),
    sa.Column("platform", sa.String(32), nullable=False),          # Platform slug; never changes once stored
    sa.Column("handle", sa.String(255), nullable=False),
    sa.Column("display_name", sa.String(255), nullable=False),
    sa.Column("oauth_token_enc", sa.Text),                          # core.infra.secrets blob, bound to the account id
    sa.Column("refresh_token_enc", sa.Text),
    sa.Column("secrets_enc", sa.Text),                              # JSON of other secrets (Page token), encrypted (0004)
    sa.Column("token_expires_at", UtcDateTime),
    sa.Column("refresh_expires_at", UtcDateTime),
    sa.Column("scopes", sa.JSON, nullable=False),
    sa.Column("external_id", sa.String(255)),
    sa.Column("daily_cap", sa.Integer),
    sa.Column("min_gap_minutes", sa.Integer),
    sa.Column("status", sa.String(32), nullable=False),
    sa.Column("connected_at", UtcDateTime),
    sa.Column("meta", sa.JSON, nullable=False),
    sa.Index("ix_accounts_workspace_id", "workspace_id"),
    # The runner's token refresher looks for tokens about to expire.
    sa.Index("ix_accounts_token_expires_at", "token_expires_at"),
    # One row per platform account and workspace: reconnecting finds and updates it (0002).
    sa.Index("uq_accounts_workspace_id_platform_external_id", "workspace_id", "platform", "external_id", unique=True,
             sqlite_where=sa.text("external_id IS NOT NULL"), postgresql_where=sa.text("external_id IS NOT NULL")),
)

# "Connect account" attempts (0002): single use, short lived. Only a hash of the state is kept.
oauth_states = sa.Table(
    "oauth_states", metadata,
    sa.Column("state_hash", sa.String(128), primary_key=True),
    sa.Column("user_id", ID, sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    sa.Column("workspace_id", ID, sa.ForeignKey("workspaces.id", ondelete="CASCADE"), nullable=False),
    sa.Column("platform", sa.String(32), nullable=False),
    sa.Column("code_verifier_enc", sa.Text),                        # core.infra.secrets blob, bound to "oauth:<state_hash>"
    sa.Column("expires_at", UtcDateTime, nullable=False),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Column("used_at", UtcDateTime),                               # NULL: not used yet
    sa.Column("account_id", ID),                                     # reconnecting this account (no FK)
    sa.Index("ix_oauth_states_expires_at", "expires_at"),
)

batches = sa.Table(
    "batches", metadata,
    sa.Column("id", ID, primary_key=True),
    sa.Column("workspace_id", ID, sa.ForeignKey("workspaces.id", ondelete="CASCADE"), nullable=False),
    sa.Column("week_start", sa.Date, nullable=False),
    sa.Column("state", sa.String(32), nullable=False),
    sa.Column("prompt", sa.Text, nullable=False),
    sa.Column("created_at", UtcDateTime),
    sa.Column("decided_at", UtcDateTime),
    sa.Column("decided_by", ID),
    sa.Index("ix_batches_workspace_id_week_start", "workspace_id", "week_start"),
)

posts = sa.Table(
    "posts", metadata,
    sa.Column("id", ID, primary_key=True),
    sa.Column("workspace_id", ID, sa.ForeignKey("workspaces.id")),
    sa.Column("caption", sa.Text, nullable=False),
    sa.Column("hashtags", sa.JSON, nullable=False),
    sa.Column("call_to_action", sa.Text, nullable=False),
    sa.Column("link", sa.Text, nullable=False),
    sa.Column("media_urls", sa.JSON, nullable=False),
    sa.Column("variants", sa.JSON, nullable=False),                 # {platform slug: {caption, hashtags, ...}}
    sa.Column("due_at", UtcDateTime),                               # the schedule, UTC; NULL: unscheduled
    sa.Column("timezone_name", sa.String(64)),                      # the zone the schedule was chosen in
    sa.Column("schedule_notice", sa.Text),
    sa.Column("recurrence", sa.Text),
    sa.Column("series_id", ID),
    sa.Column("is_ai_generated", sa.Boolean, nullable=False),
    sa.Column("batch_id", ID),                                      # no FK: the memory store does not require it
    sa.Column("state", sa.String(32), nullable=False),              # PostState: what people decided
    sa.Column("status", sa.String(32), nullable=False),             # PostStatus: derived, rewritten on every write
    sa.Column("created_by", ID),
    sa.Column("rejection_reason", sa.Text),
    sa.Column("created_at", UtcDateTime),
    sa.Column("updated_at", UtcDateTime),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("is_demo", sa.Boolean, nullable=False, server_default=sa.false()),   # sandbox demo history (0007)
    # Posted as the first comment under the post where the platform allows it (0009).
    sa.Column("first_comment", sa.Text, nullable=False, server_default=""),
    # The post's own title: YouTube video title, TikTok photo title; variants may override it (0010).
    sa.Column("title", sa.Text, nullable=False, server_default=""),
    # The month calendar and the approval queue.
    sa.Index("ix_posts_workspace_id_due_at", "workspace_id", "due_at"),
    sa.Index("ix_posts_workspace_id_status", "workspace_id", "status"),
    sa.Index("ix_posts_batch_id", "batch_id"),
    sa.Index("ix_posts_series_id", "series_id"),
    sa.Index("ix_posts_updated_at", "updated_at"),                  # the analytics feed reads changes (0007)
    sa.Index("ix_posts_workspace_id_status_due_at", "workspace_id", "status", "due_at"),   # one status in time order (0008)
)

post_accounts = sa.Table(
    "post_accounts", metadata,
    sa.Column("post_id", ID, sa.ForeignKey("posts.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("account_id", ID, sa.ForeignKey("accounts.id"), primary_key=True),
    sa.Column("position", sa.Integer, nullable=False),              # target order, as the post lists them
    sa.Index("ix_post_accounts_account_id", "account_id"),
)

deliveries = sa.Table(
    "deliveries", metadata,
    sa.Column("id", ID, primary_key=True),
    sa.Column("post_id", ID, sa.ForeignKey("posts.id", ondelete="CASCADE"), nullable=False),
    sa.Column("account_id", ID, sa.ForeignKey("accounts.id"), nullable=False),
    sa.Column("platform", sa.String(32), nullable=False),
    sa.Column("position", sa.Integer, nullable=False),              # order within the post
    sa.Column("due_at", UtcDateTime, nullable=False),
    sa.Column("state", sa.String(32), nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False),
    sa.Column("next_attempt_at", UtcDateTime),
    sa.Column("external_id", sa.String(255)),
    sa.Column("external_url", sa.Text),
    sa.Column("last_error", sa.Text),
    sa.Column("last_error_code", sa.String(100)),
    sa.Column("claimed_by", sa.String(200)),
    sa.Column("lease_expires_at", UtcDateTime),
    sa.Column("marker", sa.String(200)),
    sa.Column("published_at", UtcDateTime),
    sa.Column("updated_at", UtcDateTime),
    sa.Column("version", sa.Integer, nullable=False),
    # What a publish attempt got done before it was interrupted (an Instagram container id, an
    # upload session, "sent": the platform was called), so a retry resumes instead of repeating (0003).
    sa.Column("progress", sa.JSON),
    sa.Index("ix_deliveries_post_id_position", "post_id", "position"),
    # "What is due now": only waiting rows are indexed, so the index stays small however much history piles up.
    # Keyed on (time, id) (0005): the claim's order, ties included, so "the earliest due" is an ordered walk of
    # the index alone that stops at its LIMIT (no sort, no table rows read).
    sa.Index("ix_deliveries_due", "next_attempt_at", "id",
             sqlite_where=sa.text("state IN ('queued', 'retry_wait')"),
             postgresql_where=sa.text("state IN ('queued', 'retry_wait')")),
    # Each account's waiting deliveries in claim order (0005): an account's next in line is one probe, whatever
    # its backlog (claims that must look past busy accounts, next_due_at, PostgreSQL's next-in-line check).
    sa.Index("ix_deliveries_account_id_next_attempt_at_waiting", "account_id", "next_attempt_at", "id",
             sqlite_where=sa.text("state IN ('queued', 'retry_wait')"),
             postgresql_where=sa.text("state IN ('queued', 'retry_wait')")),
    # An account's calendar (daily caps, minimum gaps).
    sa.Index("ix_deliveries_account_id_due_at", "account_id", "due_at"),
    # Sweeping expired leases reads publishing rows by lease (0003: only those rows are indexed).
    sa.Index("ix_deliveries_lease_expires_at_in_flight", "lease_expires_at",
             sqlite_where=sa.text("state = 'publishing'"), postgresql_where=sa.text("state = 'publishing'")),
    # At most one delivery in flight per account, whatever number of runners share the database (0003).
    sa.Index("uq_deliveries_account_id_in_flight", "account_id", unique=True,
             sqlite_where=sa.text("state = 'publishing'"), postgresql_where=sa.text("state = 'publishing'")),
    # Insights pick the recently published; the analytics feed reads what changed (0007).
    sa.Index("ix_deliveries_published_at", "published_at"),
    sa.Index("ix_deliveries_updated_at", "updated_at"),
)

# An account the runner must leave alone until `until` (the platform's rate-limit reset, a quota day) (0003).
account_holds = sa.Table(
    "account_holds", metadata,
    sa.Column("account_id", ID, sa.ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("until", UtcDateTime, nullable=False),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("set_at", UtcDateTime, nullable=False),
)

# An integer primary key that SQLite makes its rowid (autoincrementing); BIGSERIAL on PostgreSQL.
SEQ = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

activity_events = sa.Table(
    "activity_events", metadata,
    # Write order (0002): events of the same instant are listed by it. Assigned by the database.
    sa.Column("seq", SEQ, primary_key=True, autoincrement=True),
    sa.Column("id", ID, nullable=False),
    sa.Column("at", UtcDateTime, nullable=False),
    sa.Column("action", sa.String(64), nullable=False),
    sa.Column("subject_type", sa.String(32), nullable=False),
    sa.Column("subject_id", ID, nullable=False),
    sa.Column("actor", sa.String(200), nullable=False),
    sa.Column("workspace_id", ID),                                   # no FK: the log outlives what it describes
    sa.Column("from_state", sa.String(32)),
    sa.Column("to_state", sa.String(32)),
    sa.Column("reason", sa.Text),
    sa.Column("details", sa.JSON, nullable=False),
    sa.UniqueConstraint("id"),
    sa.Index("ix_activity_events_subject_id_at", "subject_id", "at"),
    sa.Index("ix_activity_events_workspace_id_at", "workspace_id", "at"),
)

notifications = sa.Table(
    "notifications", metadata,
    sa.Column("id", ID, primary_key=True),
    sa.Column("workspace_id", ID, nullable=False),
    sa.Column("kind", sa.String(64), nullable=False),
    sa.Column("title", sa.Text, nullable=False),
    sa.Column("body", sa.Text, nullable=False),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Column("user_id", ID),                                        # NULL: everyone in the workspace
    sa.Column("subject_id", ID),
    sa.Column("read_at", UtcDateTime),
    sa.Column("sent_at", UtcDateTime),
    sa.Index("ix_notifications_workspace_id_created_at", "workspace_id", "created_at"),
)

# Insights over time (0003): one row per published delivery per pull, normalised keys with the platform's own kept.
post_metric_snapshots = sa.Table(
    "post_metric_snapshots", metadata,
    sa.Column("seq", SEQ, primary_key=True, autoincrement=True),
    sa.Column("delivery_id", ID, nullable=False),                    # no FK: history outlives what it measured
    sa.Column("post_id", ID, nullable=False),
    sa.Column("account_id", ID, nullable=False),
    sa.Column("workspace_id", ID),
    sa.Column("platform", sa.String(32), nullable=False),
    sa.Column("external_id", sa.String(255), nullable=False),
    sa.Column("taken_at", UtcDateTime, nullable=False),
    sa.Column("metrics", sa.JSON, nullable=False),                   # {"views": 120, "likes": 8, ...}
    sa.Column("raw", sa.JSON, nullable=False),
    sa.Column("is_demo", sa.Boolean, nullable=False, server_default=sa.false()),   # sandbox demo history (0007)
    sa.Index("ix_post_metric_snapshots_delivery_id_taken_at", "delivery_id", "taken_at"),
    sa.Index("ix_post_metric_snapshots_workspace_id_taken_at", "workspace_id", "taken_at"),
)

account_metric_snapshots = sa.Table(
    "account_metric_snapshots", metadata,
    sa.Column("seq", SEQ, primary_key=True, autoincrement=True),
    sa.Column("account_id", ID, nullable=False),
    sa.Column("workspace_id", ID),
    sa.Column("platform", sa.String(32), nullable=False),
    sa.Column("taken_at", UtcDateTime, nullable=False),
    sa.Column("followers", sa.BigInteger),
    sa.Column("raw", sa.JSON, nullable=False),
    sa.Column("is_demo", sa.Boolean, nullable=False, server_default=sa.false()),   # sandbox demo history (0007)
    sa.Index("ix_account_metric_snapshots_account_id_taken_at", "account_id", "taken_at"),
    sa.Index("ix_account_metric_snapshots_workspace_id_taken_at", "workspace_id", "taken_at"),
)

runner_heartbeats = sa.Table(
    "runner_heartbeats", metadata,
    sa.Column("runner_id", sa.String(200), primary_key=True),
    sa.Column("host", sa.String(255), nullable=False),
    sa.Column("pid", sa.Integer, nullable=False),
    sa.Column("started_at", UtcDateTime, nullable=False),
    sa.Column("beat_at", UtcDateTime, nullable=False),
    sa.Column("info", sa.JSON, nullable=False),
)


# Dashboard sign-ins: the browser holds a random id in an HttpOnly cookie; only its SHA-256 is stored.
sessions = sa.Table(
    "sessions", metadata,
    sa.Column("id_hash", sa.String(64), primary_key=True),
    sa.Column("user_id", ID, sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Column("last_seen_at", UtcDateTime, nullable=False),
    sa.Column("expires_at", UtcDateTime, nullable=False),
    sa.Column("revoked_at", UtcDateTime),
    sa.Column("user_agent", sa.String(300)),
)

# An owner's invitation to join a workspace: the link holds a random token, only its SHA-256 is stored (0011).
invitations = sa.Table(
    "invitations", metadata,
    sa.Column("id", ID, primary_key=True),
    sa.Column("token_hash", sa.String(64), nullable=False),
    sa.Column("workspace_id", ID, sa.ForeignKey("workspaces.id", ondelete="CASCADE"), nullable=False, index=True),
    sa.Column("email", sa.String(320), nullable=False),
    sa.Column("role", sa.String(16), nullable=False),
    sa.Column("invited_by", ID, nullable=False),                    # the owner's user id
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Column("expires_at", UtcDateTime, nullable=False),
    sa.Column("accepted_at", UtcDateTime),
    sa.Column("accepted_by", ID),                                   # the user who joined with it
    sa.Column("revoked_at", UtcDateTime),
    sa.UniqueConstraint("token_hash"),
)

# What a person was writing in a workspace's composer, kept as they write until it is saved or discarded (0012).
composer_drafts = sa.Table(
    "composer_drafts", metadata,
    sa.Column("user_id", ID, sa.ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("workspace_id", ID, sa.ForeignKey("workspaces.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("fields", sa.JSON, nullable=False),
    sa.Column("kept_at", UtcDateTime, nullable=False),
)

# Failed sign-ins per email (lower-cased), to slow down and then pause guessing.
sign_in_failures = sa.Table(
    "sign_in_failures", metadata,
    sa.Column("email", sa.String(320), primary_key=True),
    sa.Column("failures", sa.Integer, nullable=False),
    sa.Column("first_failed_at", UtcDateTime, nullable=False),
    sa.Column("last_failed_at", UtcDateTime, nullable=False),
    sa.Column("paused_until", UtcDateTime),
)


# Saved hashtag groups: a workspace's named sets of hashtags the composer inserts in one click (0009).
hashtag_groups = sa.Table(
    "hashtag_groups", metadata,
    sa.Column("id", ID, primary_key=True),
    sa.Column("workspace_id", ID, sa.ForeignKey("workspaces.id", ondelete="CASCADE"), nullable=False),
    sa.Column("name", sa.String(100), nullable=False),
    sa.Column("hashtags", sa.JSON, nullable=False),                 # ["#tag", ...] in the order the person chose
    sa.Column("created_by", ID),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Column("updated_at", UtcDateTime, nullable=False),
    sa.UniqueConstraint("workspace_id", "name"),
)

# Metric pulls held back after a rate limit or quota answer, so a restart or a `--once` run remembers them (0009).
# scope: "account:<account id>" or "platform:<slug>" (a limit on the whole app, e.g. YouTube's project quota).
metric_pauses = sa.Table(
    "metric_pauses", metadata,
    sa.Column("scope", sa.String(200), primary_key=True),
    sa.Column("until", UtcDateTime, nullable=False),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("set_at", UtcDateTime, nullable=False),
)
