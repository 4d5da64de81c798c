"""One string given as an event's tags is refused by ``NewEvent`` itself. What every backend
must refuse through the database API (numbers beyond 64 bits, checkpoints beyond the end,
reserved metadata keys, one string as tags) is in the storage contract,
``safe_eventstore.testing.contract``."""

from __future__ import annotations

from typing import Any

import pytest

import safe_eventstore as ses


@pytest.mark.parametrize("tags", ["abc", b"abc"])
def test_one_string_as_tags_is_refused_by_new_event(tags: Any) -> None:
    with pytest.raises(ses.InvalidEvent, match="tags"):
        ses.NewEvent("Deposited", tags=tags)
