"""The runner's housekeeping: each job on its own, so one that fails (a database hiccup) never stops the others,
and it is logged and tried again next time."""
from __future__ import annotations

import logging
from datetime import timedelta

from core.domain import Role, User, Workspace
from core.services.housekeeping import INVITATION_KEEP, housekeeping
from core.store.people import Invitation


def test_a_failing_job_is_logged_and_the_others_still_run(store, clock, caplog):
    ws = store.add_workspace(Workspace(name="Acme", id="ws"))
    owner = store.add_user(User(email="o@acme.test", id="u"))
    old = clock.now - INVITATION_KEEP - timedelta(days=1)
    store.add_invitation(Invitation(token_hash="a" * 64, workspace_id=ws.id, email="ana@acme.test", role=Role.VIEWER,
                                    invited_by=owner.id, created_at=old - timedelta(days=7), expires_at=old))

    def broken(before):
        raise RuntimeError("database went away")
    store.purge_oauth_states = broken                  # the first job fails
    with caplog.at_level(logging.INFO, logger="outpost"):
        housekeeping(store, clock=clock)
    assert store.list_invitations(ws.id) == []         # a later job ran all the same
    said = [r.getMessage() for r in caplog.records]
    assert "removing old connect attempts failed; trying again next time" in said
    assert "forgot 1 invitations used, withdrawn or expired over 30 days ago" in said
