"""The analytics engine's tables (DuckDB), fed from the SQL database by `core.analytics.feed`.

The dashboard process owns this DuckDB (in memory, or a file only it opens); the runner never opens it.
Everything here is a copy: dropping the DuckDB and feeding it again from the SQL database gives the same answers.

Keys: the SQL ids (``post_3f9c...``) are kept once, in the small dimension tables; the large fact tables
(snapshots) carry small integer keys (`dkey`, `akey`, `wkey`) assigned by the feed, so ten million snapshot rows
stay small in memory and group by integers. A metric that a platform did not report is NULL ("not available"),
never 0.
"""
from __future__ import annotations

METRICS = ("views", "reach", "likes", "comments", "shares", "saves", "clicks", "video_views")

DDL = f"""
CREATE TABLE IF NOT EXISTS workspaces (
    wkey INTEGER PRIMARY KEY, workspace_id VARCHAR NOT NULL UNIQUE, name VARCHAR, timezone_name VARCHAR);
CREATE TABLE IF NOT EXISTS accounts (
    akey INTEGER PRIMARY KEY, account_id VARCHAR NOT NULL UNIQUE, wkey INTEGER, workspace_id VARCHAR,
    platform VARCHAR NOT NULL, handle VARCHAR, display_name VARCHAR, status VARCHAR);
-- One row per post (what people wrote); content_type: text, image, carousel, video.
CREATE TABLE IF NOT EXISTS posts (
    post_id VARCHAR PRIMARY KEY, wkey INTEGER, workspace_id VARCHAR, caption VARCHAR, hashtags VARCHAR[],
    link VARCHAR, media_url VARCHAR, media_count INTEGER, content_type VARCHAR, is_ai_generated BOOLEAN,
    is_demo BOOLEAN, state VARCHAR, status VARCHAR, batch_id VARCHAR, created_by VARCHAR,
    created_at TIMESTAMPTZ, updated_at TIMESTAMPTZ);
-- One row per delivery (a post on one account): what the runner did.
CREATE TABLE IF NOT EXISTS deliveries (
    dkey INTEGER PRIMARY KEY, delivery_id VARCHAR NOT NULL UNIQUE, post_id VARCHAR, akey INTEGER, wkey INTEGER,
    account_id VARCHAR, workspace_id VARCHAR, platform VARCHAR, state VARCHAR, due_at TIMESTAMPTZ,
    published_at TIMESTAMPTZ, attempts INTEGER, last_error_code VARCHAR, last_error VARCHAR,
    external_url VARCHAR, is_demo BOOLEAN, updated_at TIMESTAMPTZ);
-- Every metric snapshot of a published delivery (append-only; seq is the SQL table's sequence number).
CREATE TABLE IF NOT EXISTS post_snapshots (
    seq BIGINT, dkey INTEGER, akey INTEGER, wkey INTEGER, taken_at TIMESTAMPTZ,
    {", ".join(f"{m} BIGINT" for m in METRICS)}, is_demo BOOLEAN);
-- Every follower count of an account (append-only).
CREATE TABLE IF NOT EXISTS account_snapshots (
    seq BIGINT, akey INTEGER, wkey INTEGER, taken_at TIMESTAMPTZ, followers BIGINT, is_demo BOOLEAN);
-- Approval decisions from the activity log: action is 'approved' or 'rejected'. DuckDB 2.0 reserves AT (time
-- travel), so the column is quoted: queries write it "at".
CREATE TABLE IF NOT EXISTS decisions (
    seq BIGINT, post_id VARCHAR, wkey INTEGER, "at" TIMESTAMPTZ, action VARCHAR, actor VARCHAR);
-- How far the feed has read each source (last seq, or last updated_at for tables that change in place).
CREATE TABLE IF NOT EXISTS feed_marks (source VARCHAR PRIMARY KEY, last_seq BIGINT, last_at TIMESTAMPTZ);
"""
