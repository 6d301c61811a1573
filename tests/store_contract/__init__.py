"""The PostStore contract, one file per aggregate, run against every store: in memory, SQLite and PostgreSQL.

PostgreSQL runs when OUTPOST_TEST_POSTGRES_URL is set (each test module gets its own schema,
each test empty tables). Should the memory store ever fall short of the contract, mark the
test with `memory_falls_short` (xfail, strict) and the reason, so the gap stays visible.
The runner's part of the contract (claims, leases, holds, heartbeats, snapshots) is tests/test_claiming.py.
"""
