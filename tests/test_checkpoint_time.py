"""Times saved in a delivery's progress ("sent", "reply_sent:1", "doubt_at", "absent_at") are read by one function,
core.platforms.base.checkpoint_time, for the adapters and the publisher alike: a time the publisher saved reads
back the same in an adapter, and an emptied or damaged checkpoint reads as "not set" everywhere, never a crash."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from core.platforms import base
from core.services import publisher

SENT = datetime(2030, 3, 4, 8, 0, 0, 123456, tzinfo=timezone.utc)


@pytest.mark.parametrize("saved, read", [
    (SENT.isoformat(), SENT),                                             # as the publisher and adapters write it
    (SENT.astimezone(timezone(timedelta(hours=1))).isoformat(), SENT),    # another offset: the same moment
    (None, None),                                                         # never saved
    ("", None),                                                           # emptied: certainly not sent, safe again
    ("not a time", None),                                                 # a damaged row: read as not set
])
def test_a_checkpointed_time_reads_back(saved, read):
    assert base.checkpoint_time(saved) == read


def test_the_publisher_reads_checkpoints_with_the_platforms_reader_not_a_copy_of_its_own():
    assert publisher.checkpoint_time is base.checkpoint_time
    assert not hasattr(publisher, "_parse")
