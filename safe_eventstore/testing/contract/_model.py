"""The store against a model: random operations checked after every step."""

from __future__ import annotations

import itertools
import uuid

import pytest
from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

import safe_eventstore as ses

from ._fixtures import _take

_MODEL_STREAMS = ("Acct-1", "Acct-2", "Loan-1")
_models = itertools.count()


class _StoreMatchesModel(RuleBasedStateMachine):
    """Random appends (right and wrong expected versions), retries and restructures,
    checked after every step against a plain Python model of what every read returns."""

    store: ses.Store  # set by the test, on a subclass

    def __init__(self) -> None:
        super().__init__()
        self.db = self.store.create_database(f"model-{next(_models)}")
        self.streams: dict[str, list[tuple[str, int] | None]] = {}  # version -> (type, n)
        self.order: list[tuple[str, int]] = []  # (stream, version) in position order
        self.position = 0
        self.stored: list[tuple[str, list[ses.NewEvent], ses.AppendResult]] = []

    @initialize(first=st.integers(1, 3), second=st.integers(1, 3))
    def seed(self, first: int, second: int) -> None:
        """Start with events in two of the three streams: something to restructure."""
        for stream, count in (("Acct-1", first), ("Loan-1", second)):
            self.append(stream, list(range(count)), "NO_STREAM", 0)

    def _version(self, stream: str) -> int | None:
        events = self.streams.get(stream)
        return None if not events else len(events) - 1

    @rule(
        stream=st.sampled_from(_MODEL_STREAMS),
        values=st.lists(st.integers(0, 3), min_size=1, max_size=3),
        choice=st.sampled_from(
            ["current", "current", "ANY", "NO_STREAM", "STREAM_EXISTS", "ahead", "behind"]
        ),
        extra=st.integers(0, 2),
    )
    def append(self, stream: str, values: list[int], choice: str, extra: int) -> None:
        current = self._version(stream)
        expected = {
            "NO_STREAM": ses.NO_STREAM,
            "ANY": ses.ANY,
            "STREAM_EXISTS": ses.STREAM_EXISTS,
            "current": ses.NO_STREAM if current is None else current,
            "ahead": (-1 if current is None else current) + 1 + extra,
            "behind": max((-1 if current is None else current) - 1 - extra, 0),
        }[choice]
        accepted = {
            ses.NO_STREAM: current is None,
            ses.ANY: True,
            ses.STREAM_EXISTS: current is not None,
        }.get(expected, expected == current)
        events = [ses.NewEvent(f"Model.T{v}", {"n": v}, event_id=uuid.uuid4()) for v in values]
        if not accepted:
            with pytest.raises(ses.WrongExpectedVersion) as info:
                self.db.append(stream, events, expected_version=expected)
            assert info.value.actual == current
            return
        result = self.db.append(stream, events, expected_version=expected)
        first = 0 if current is None else current + 1
        assert (result.first_version, result.last_version) == (first, first + len(values) - 1)
        assert result.position > self.position
        self.position = result.position
        self.stored.append((stream, events, result))
        content = self.streams.setdefault(stream, [])
        for v in values:
            self.order.append((stream, len(content)))
            content.append((f"Model.T{v}", v))

    @rule(data=st.data())
    def restructure(self, data: st.DataObject) -> None:
        existing = [s for s in _MODEL_STREAMS if s in self.streams]
        # mostly a stream with events, so that restructures pile up; sometimes any stream
        anywhere = not existing or data.draw(st.integers(0, 3), label="anywhere") == 0
        stream = data.draw(st.sampled_from(_MODEL_STREAMS if anywhere else existing))
        current = self._version(stream)
        if current is not None:  # most draws land on an event; one past the end is refused
            version = data.draw(st.integers(0, current + 1), label="version")
        else:
            version = data.draw(st.integers(0, 2), label="version")
        value = data.draw(st.none() | st.integers(0, 3), label="value")
        replacement = None if value is None else ses.NewEvent(f"Model.R{value}", {"n": value})
        if current is None:
            with pytest.raises(ses.StreamNotFound):
                self.db.restructure(stream, version, replacement, reason="model")
            return
        if version > current:
            with pytest.raises(ses.EventNotFound):
                self.db.restructure(stream, version, replacement, reason="model")
            return
        result = self.db.restructure(stream, version, replacement, reason="model")
        assert result.position > self.position
        self.position = result.position
        self.streams[stream][version] = None if value is None else (f"Model.R{value}", value)

    @precondition(lambda self: bool(self.stored))
    @rule(data=st.data())
    def retry(self, data: st.DataObject) -> None:
        index = data.draw(st.integers(0, len(self.stored) - 1), label="batch")
        stream, events, result = self.stored[index]
        expected = data.draw(
            st.sampled_from([ses.NO_STREAM, ses.ANY, ses.STREAM_EXISTS, 0]), label="expected"
        )
        assert self.db.append(stream, events, expected_version=expected) == result

    @rule()
    def subscribe(self) -> None:
        expected = [(e.stream, e.version, e.type, e.data) for e in self.db.read_all()]
        with self.db.subscribe() as sub:
            got = [(e.stream, e.version, e.type, e.data) for e in _take(sub, len(expected))]
            assert sub.get(timeout=0) is None
        assert got == expected

    def _visible(self, stream: str, version: int) -> tuple[str, int, str, int] | None:
        content = self.streams[stream][version]
        return None if content is None else (stream, version, *content)

    @invariant()
    def streams_read_as_modelled(self) -> None:
        for stream in _MODEL_STREAMS:
            assert self.db.stream_version(stream) == self._version(stream)
            expected = [
                seen
                for version in range(len(self.streams.get(stream, [])))
                if (seen := self._visible(stream, version)) is not None
            ]
            got = [(e.stream, e.version, e.type, e.data["n"]) for e in self.db.read_stream(stream)]
            assert got == expected
            backwards = self.db.read_stream(stream, backwards=True)
            assert [(e.stream, e.version, e.type, e.data["n"]) for e in backwards] == expected[::-1]

    @invariant()
    def everything_reads_as_modelled(self) -> None:
        expected = [seen for s, v in self.order if (seen := self._visible(s, v)) is not None]
        events = self.db.read_all()
        assert [(e.stream, e.version, e.type, e.data["n"]) for e in events] == expected
        positions = [e.position for e in events]
        assert positions == sorted(set(positions))
        assert [(e.stream, e.version) for e in self.db.read_category("Acct")] == [
            (s, v) for s, v, _, _ in expected if s.startswith("Acct-")
        ]


@pytest.mark.slow
def test_store_matches_model(store: ses.Store) -> None:
    class OnThisStore(_StoreMatchesModel):
        pass

    # Every run starts on a fresh database of its own: its own streams and positions.
    OnThisStore.store = store
    run_state_machine_as_test(
        OnThisStore,
        settings=settings(
            max_examples=40,
            stateful_step_count=20,
            deadline=None,
            database=None,
            suppress_health_check=[HealthCheck.too_slow],
            # A failure is reported as found: shrinking a stateful run can take minutes,
            # longer than the test may run, and its steps are few enough to read as they are.
            phases=[Phase.explicit, Phase.reuse, Phase.generate],
        ),
    )
