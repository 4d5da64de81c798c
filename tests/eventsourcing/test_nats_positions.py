"""Notification ids and DCB positions on NATS, checked against the ones the recorders returned.

On NATS an id or a position is a JetStream sequence number: it only increases, but with gaps
(markers, payloads and checkpoints take numbers too), so the library's recorder tests that
expect 1, 2, 3 are skipped in test_nats.py. These run the same scenarios: every id or position
a select, read or subscription gives must be one an insert or append returned, in the same
order, and starts, stops, ``gt`` and ``after`` are taken from the returned ones, including
values that fall between two of them.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Sequence
from contextlib import ExitStack
from itertools import pairwise
from typing import Generic, Protocol, TypeVar

from eventsourcing.dcb.api import (
    DCBAppendCondition,
    DCBEvent,
    DCBQuery,
    DCBQueryItem,
    DCBSequencedEvent,
)
from eventsourcing.persistence import IntegrityError, Notification, StoredEvent

from safe_eventstore.eventsourcing import SafeApplicationRecorder, SafeDCBRecorder

from .test_nats import WithNats

T = TypeVar("T")
T_co = TypeVar("T_co", covariant=True)

WAIT = 5.0  # for what must arrive
QUIET = 0.3  # for what must not

TYPE2_B_OR_TYPE3_C = [
    DCBQueryItem(types=["type2"], tags=["tagB"]),
    DCBQueryItem(types=["type3"], tags=["tagC"]),
]


class Stoppable(Protocol[T_co]):
    def __next__(self) -> T_co: ...

    def stop(self) -> None: ...


class Reader(threading.Thread, Generic[T]):
    """Takes up to ``count`` items from a subscription in the background; ``done`` is set
    when it has them or the subscription has stopped."""

    def __init__(self, subscription: Stoppable[T], count: int) -> None:
        super().__init__(daemon=True)
        self.subscription = subscription
        self.count = count
        self.items: list[T] = []
        self.done = threading.Event()
        self.start()

    def run(self) -> None:
        try:
            while len(self.items) < self.count:
                self.items.append(next(self.subscription))
        except StopIteration:
            pass
        finally:
            self.done.set()


def take(subscription: Stoppable[T], count: int) -> list[T]:
    """The next ``count`` items (fewer if the subscription stops); fails rather than hangs
    when they do not come."""
    reader = Reader(subscription, count)
    if not reader.done.wait(WAIT):
        subscription.stop()
        reader.join(WAIT)
        raise AssertionError(f"{count} wanted, {len(reader.items)} came: {reader.items}")
    return reader.items


def assert_quiet(*subscriptions: Stoppable[object]) -> None:
    """Nothing more arrives on any of them; then stopping each ends its blocked reader."""
    readers = [Reader(s, 1) for s in subscriptions]
    time.sleep(QUIET)
    arrived = [r.items for r in readers if r.done.is_set()]
    for s in subscriptions:
        s.stop()
    for r in readers:
        r.join(WAIT)
    assert not arrived, f"unexpected: {arrived}"
    assert not any(r.is_alive() for r in readers), "stop() did not end a blocked reader"
    assert all(r.items == [] for r in readers)


def increasing(numbers: Sequence[int]) -> bool:
    return all(a < b for a, b in pairwise(numbers))


class NotificationIdsNats(WithNats):
    """The application recorder's notification log (the library's ``test_insert_select``
    and ``test_insert_subscribe``): the first two events are inserted together, the third
    alone."""

    def setUp(self) -> None:
        super().setUp()
        self.recorder = SafeApplicationRecorder(self.new_database())
        first, second = uuid.uuid4(), uuid.uuid4()
        self.events = [
            StoredEvent(first, 1, "topic1", b"state1"),
            StoredEvent(first, 2, "topic2", b"state2"),
            StoredEvent(second, 1, "topic3", b"state3"),
        ]

    def insert(self, *indexes: int) -> list[int]:
        ids = self.recorder.insert_events([self.events[i] for i in indexes])
        assert ids is not None
        return list(ids)

    def insert_all(self) -> list[int]:
        return self.insert(0, 1) + self.insert(2)

    def notifications(self, ids: Sequence[int], *indexes: int) -> list[Notification]:
        """What the log must give for the events at ``indexes``, inserted with ``ids``."""
        return [
            Notification(
                id=ids[i],
                originator_id=self.events[i].originator_id,
                originator_version=self.events[i].originator_version,
                topic=self.events[i].topic,
                state=self.events[i].state,
            )
            for i in indexes
        ]

    def test_insert_returns_increasing_ids_that_select_returns(self) -> None:
        self.assertEqual(list(self.recorder.select_notifications(None, 3)), [])
        self.assertEqual(list(self.recorder.select_notifications(None, 3, topics=["topic1"])), [])
        self.assertIsNone(self.recorder.max_notification_id())

        ids = self.insert_all()
        self.assertEqual(len(ids), 3)
        self.assertTrue(ids[0] > 0 and increasing(ids), ids)
        everything = self.notifications(ids, 0, 1, 2)
        self.assertEqual(list(self.recorder.select_notifications(None, 10)), everything)
        self.assertEqual(list(self.recorder.select_notifications(ids[0], 10)), everything)
        self.assertEqual(self.recorder.max_notification_id(), ids[-1])
        self.assertEqual(
            list(self.recorder.select_events(self.events[0].originator_id)), [*self.events[:2]]
        )
        self.assertEqual(
            list(self.recorder.select_events(self.events[2].originator_id)), [self.events[2]]
        )

        # Inserting an event again fails, whether this recorder remembers its aggregate or
        # another recorder of the database has to find out from the store, and takes no id.
        with self.assertRaises(IntegrityError):
            self.insert(2)
        with self.assertRaises(IntegrityError):
            SafeApplicationRecorder(self.recorder.db).insert_events([self.events[2]])
        self.assertEqual(list(self.recorder.select_notifications(None, 10)), everything)
        self.assertEqual(self.recorder.max_notification_id(), ids[-1])

    def test_select_from_start_to_stop(self) -> None:
        ids = self.insert_all()
        for start, stop, inclusive, indexes in [
            (None, ids[1], True, [0, 1]),
            (ids[0], ids[1], True, [0, 1]),
            (ids[1], ids[1], True, [1]),
            (ids[0], ids[1], False, [1]),
            (ids[0], None, False, [1, 2]),
            (ids[1], None, False, [2]),
            (ids[2], None, False, []),
            # between two ids (in a gap where there is one)
            (ids[1] + 1, None, True, [2]),
            (None, ids[2] - 1, True, [0, 1]),
            (ids[2] + 1, None, True, []),
        ]:
            with self.subTest(start=start, stop=stop, inclusive_of_start=inclusive):
                found = self.recorder.select_notifications(
                    start, 10, stop, inclusive_of_start=inclusive
                )
                self.assertEqual(list(found), self.notifications(ids, *indexes))

    def test_select_limit(self) -> None:
        ids = self.insert_all()
        for start, limit, inclusive, indexes in [
            (None, 1, True, [0]),
            (ids[1], 1, True, [1]),
            (ids[0], 1, False, [1]),
            (ids[1], 2, True, [1, 2]),
            (ids[2], 1, True, [2]),
            (ids[2], 1, False, []),
            (ids[1] + 1, 1, True, [2]),
        ]:
            with self.subTest(start=start, limit=limit, inclusive_of_start=inclusive):
                found = self.recorder.select_notifications(
                    start, limit, inclusive_of_start=inclusive
                )
                self.assertEqual(list(found), self.notifications(ids, *indexes))

    def test_select_topics(self) -> None:
        ids = self.insert_all()
        for start, limit, topics, indexes in [
            (None, 10, ["topic1", "topic2", "topic3"], [0, 1, 2]),
            (ids[0], 10, ["topic1"], [0]),
            (ids[0], 3, ["topic2"], [1]),
            (ids[0], 3, ["topic3"], [2]),
            (ids[0], 3, ["topic1", "topic3"], [0, 2]),
            (ids[1], 3, ["topic1", "topic3"], [2]),
            (None, 1, ["topic2", "topic3"], [1]),
            (None, 10, ["topic4"], []),
        ]:
            with self.subTest(start=start, limit=limit, topics=topics):
                found = self.recorder.select_notifications(start, limit, topics=topics)
                self.assertEqual(list(found), self.notifications(ids, *indexes))

    def test_subscribe_after_an_id(self) -> None:
        empty = self.recorder.max_notification_id()
        first_two = self.insert(0, 1)
        two = self.recorder.max_notification_id()
        self.assertEqual(two, first_two[-1])

        with self.recorder.subscribe(gt=None) as subscription:
            self.assertEqual(take(subscription, 1), self.notifications(first_two, 0))
        with self.recorder.subscribe(gt=first_two[0]) as subscription:
            self.assertEqual(take(subscription, 1), self.notifications(first_two, 1))

        with self.recorder.subscribe(gt=empty) as subscription:
            received = take(subscription, 2)
            ids = first_two + self.insert(2)
            received += take(subscription, 1)
            self.assertEqual(received, self.notifications(ids, 0, 1, 2))
            assert_quiet(subscription)
        self.assertTrue(increasing(ids), ids)
        self.assertEqual(self.recorder.max_notification_id(), ids[-1])

        with ExitStack() as stack:
            subscriptions = []
            for gt, topics, indexes in [
                (two, [], [2]),
                (ids[1] + 1, [], [2]),
                (None, ["topic3"], [2]),
                (None, ["topic2", "topic3"], [1, 2]),
                (ids[0], ["topic1", "topic3"], [2]),
            ]:
                with self.subTest(gt=gt, topics=topics):
                    subscription = stack.enter_context(self.recorder.subscribe(gt, topics))
                    subscriptions.append(subscription)
                    self.assertEqual(
                        take(subscription, len(indexes)), self.notifications(ids, *indexes)
                    )
            assert_quiet(*subscriptions)

    def test_stopped_subscription_gives_nothing_more(self) -> None:
        self.insert_all()
        with self.recorder.subscribe(gt=None) as subscription:
            for n, _ in enumerate(subscription):
                subscription.stop()
                self.assertEqual(n, 0, "an item came after stop()")

        subscription = self.recorder.subscribe(gt=None)
        with subscription:
            subscription.stop()
            self.assertEqual(take(subscription, 3), [])

        subscription = self.recorder.subscribe(gt=None)
        subscription.stop()
        with subscription:
            self.assertEqual(take(subscription, 3), [])


class DCBPositionsNats(WithNats):
    """The DCB recorder's positions (the library's ``test_append_read`` and
    ``test_append_subscribe``): the first event is appended alone, the other two together."""

    def setUp(self) -> None:
        super().setUp()
        self.recorder = SafeDCBRecorder(self.new_database())
        self.events = [
            DCBEvent("type1", b"data1", ["tagX"]),
            DCBEvent("type2", b"data2", ["tagA", "tagB"]),
            DCBEvent("type3", b"data3", ["tagA", "tagC"]),
        ]

    def read(
        self, query: DCBQuery | None = None, *, after: int | None = None, limit: int | None = None
    ) -> tuple[list[DCBSequencedEvent], int | None]:
        response = self.recorder.read(query, after=after, limit=limit)
        found = list(response)
        return found, response.head

    def append_all(self) -> list[int]:
        """The three events' positions: an append returns its last event's position."""
        first = self.recorder.append(self.events[:1])
        last = self.recorder.append(self.events[1:])
        positions = [e.position for e in self.read()[0]]
        self.assertEqual(len(positions), 3)
        self.assertTrue(positions[0] > 0 and increasing(positions), positions)
        self.assertEqual((positions[0], positions[-1]), (first, last))
        return positions

    def sequenced(self, positions: Sequence[int], *indexes: int) -> list[DCBSequencedEvent]:
        return [DCBSequencedEvent(self.events[i], positions[i]) for i in indexes]

    def test_append_returns_the_position_that_reads_return(self) -> None:
        self.assertEqual(self.read(), ([], None))

        position = self.recorder.append(self.events[:1])
        self.assertGreater(position, 0)
        one = self.sequenced([position], 0)
        self.assertEqual(self.read(), (one, position))
        self.assertEqual(self.read(after=position), ([], position))
        self.assertEqual(self.read(limit=1), (one, position))
        self.assertEqual(self.read(limit=0), ([], None))
        for items, found in [
            ([DCBQueryItem(types=["type1"])], one),
            ([DCBQueryItem(types=["type2"])], []),
            ([DCBQueryItem(tags=["tagX"])], one),
            ([DCBQueryItem(tags=["tagY"])], []),
            ([DCBQueryItem(types=["type1"], tags=["tagX"])], one),
            ([DCBQueryItem(types=["type1"], tags=["tagY"])], []),
            ([DCBQueryItem(types=["type2"], tags=["tagX"])], []),
        ]:
            with self.subTest(query=items):
                self.assertEqual(self.read(DCBQuery(items)), (found, position))

        last = self.recorder.append(self.events[1:])
        self.assertGreater(last, position)
        found, head = self.read()
        self.assertEqual(head, last)
        self.assertEqual([e.event for e in found], self.events)
        self.assertEqual([found[0].position, found[-1].position], [position, last])
        self.assertTrue(increasing([e.position for e in found]))

    def test_read_after_and_limit(self) -> None:
        p = self.append_all()
        for after, limit, indexes, head in [
            (p[0], None, [1, 2], p[2]),
            (p[1], None, [2], p[2]),
            (p[2], None, [], p[2]),
            (p[0], 1, [1], p[1]),
            (None, 2, [0, 1], p[1]),
            # between two positions (in a gap where there is one)
            (p[1] - 1, None, [1, 2], p[2]),
            (p[2] - 1, None, [2], p[2]),
            (p[2] + 1, None, [], p[2]),
        ]:
            with self.subTest(after=after, limit=limit):
                self.assertEqual(
                    self.read(after=after, limit=limit), (self.sequenced(p, *indexes), head)
                )

    def test_read_by_type_and_tag(self) -> None:
        p = self.append_all()
        for items, after, limit, indexes, head in [
            ([DCBQueryItem(types=["type1"])], p[0], None, [], p[2]),
            ([DCBQueryItem(tags=["tagX"])], p[0], None, [], p[2]),
            ([DCBQueryItem(types=["type1"], tags=["tagX"])], p[0], None, [], p[2]),
            ([DCBQueryItem(tags=["tagA"])], None, None, [1, 2], p[2]),
            ([DCBQueryItem(tags=["tagA"])], None, 1, [1], p[1]),
            ([DCBQueryItem(tags=["tagA", "tagB"])], None, None, [1], p[2]),
            ([DCBQueryItem(tags=["tagB"]), DCBQueryItem(tags=["tagC"])], None, None, [1, 2], p[2]),
            ([DCBQueryItem(tags=["tagX"]), DCBQueryItem(tags=["tagY"])], None, None, [0], p[2]),
            ([DCBQueryItem(types=["type2"], tags=["tagA"])], None, None, [1], p[2]),
            ([DCBQueryItem(types=["type2"], tags=["tagA"])], p[1], None, [], p[2]),
            (TYPE2_B_OR_TYPE3_C, None, None, [1, 2], p[2]),
            (TYPE2_B_OR_TYPE3_C[::-1], None, None, [1, 2], p[2]),
        ]:
            with self.subTest(query=items, after=after, limit=limit):
                self.assertEqual(
                    self.read(DCBQuery(items), after=after, limit=limit),
                    (self.sequenced(p, *indexes), head),
                )

    def test_append_condition_after_a_position(self) -> None:
        p = self.append_all()
        stored = self.read()
        new = [DCBEvent("type4", b"data4")]
        for items, after in [
            ([], None),
            ([], p[0]),
            ([], p[2] - 1),
            ([DCBQueryItem(types=["type1"])], None),
            ([DCBQueryItem(types=["type2"])], p[0]),
            ([DCBQueryItem(tags=["tagX"])], None),
            ([DCBQueryItem(tags=["tagA"])], p[0]),
            ([DCBQueryItem(tags=["tagC"])], p[2] - 1),
            ([DCBQueryItem(types=["type1"], tags=["tagX"])], None),
            ([DCBQueryItem(types=["type2"], tags=["tagA"])], p[0]),
            ([DCBQueryItem(tags=["tagA", "tagB"])], None),
            ([DCBQueryItem(tags=["tagB"]), DCBQueryItem(tags=["tagC"])], None),
            ([DCBQueryItem(tags=["tagX"]), DCBQueryItem(tags=["tagY"])], None),
            (TYPE2_B_OR_TYPE3_C, None),
        ]:
            with self.subTest(query=items, after=after), self.assertRaises(IntegrityError):
                self.recorder.append(new, DCBAppendCondition(DCBQuery(items), after))
        self.assertEqual(self.read(), stored)

        appended = [self.recorder.append(new)]
        for items, after in [
            ([], appended[0]),
            ([DCBQueryItem(types=["typeN"])], None),
            ([DCBQueryItem(tags=["tagY"])], None),
            ([DCBQueryItem(types=["type1"])], p[0]),
            ([DCBQueryItem(tags=["tagX"])], p[0]),
            ([DCBQueryItem(types=["type1"], tags=["tagX"])], p[0]),
            ([DCBQueryItem(tags=["tagX"])], p[1] - 1),
        ]:
            with self.subTest(query=items, after=after):
                appended.append(
                    self.recorder.append(new, DCBAppendCondition(DCBQuery(items), after))
                )
        self.assertTrue(increasing([p[2], *appended]), appended)
        found, head = self.read()
        self.assertEqual(found, stored[0] + [DCBSequencedEvent(new[0], a) for a in appended])
        self.assertEqual(head, appended[-1])

    def test_consistency_boundaries(self) -> None:
        p = self.append_all()
        student, course = f"student-{uuid.uuid4()}", f"course-{uuid.uuid4()}"
        registered = DCBEvent("StudentRegistered", b'{"max_courses": 10}', [student])
        opened = DCBEvent("CourseRegistered", b'{"places": 10}', [course])
        joined = DCBEvent("StudentJoinedCourse", b"{}", [course, student])
        of_student = DCBQuery([DCBQueryItem(tags=[student])])
        of_course = DCBQuery([DCBQueryItem(tags=[course])])
        of_both = DCBQuery([DCBQueryItem(tags=[course, student])])
        boundary = DCBQuery(
            [
                DCBQueryItem(["StudentRegistered", "StudentJoinedCourse"], [student]),
                DCBQueryItem(["CourseRegistered", "StudentJoinedCourse"], [course]),
            ]
        )
        positions = [
            self.recorder.append(
                [registered],
                DCBAppendCondition(
                    DCBQuery([DCBQueryItem(["StudentRegistered"], [student])]), p[2]
                ),
            ),
            self.recorder.append([opened], DCBAppendCondition(of_course, p[2])),
            self.recorder.append([joined], DCBAppendCondition(of_both, p[2])),
        ]
        self.assertTrue(increasing([p[2], *positions]), positions)
        s, c, j = (
            DCBSequencedEvent(e, n)
            for e, n in zip([registered, opened, joined], positions, strict=True)
        )
        last = positions[-1]

        found, head = self.read()
        self.assertEqual((found[3:], head), ([s, c, j], last))
        for query, after, limit, wanted, wanted_head in [
            (of_student, None, None, [s, j], last),
            (of_course, None, None, [c, j], last),
            (of_both, None, None, [j], last),
            (of_student, p[1], None, [s, j], last),
            (of_course, p[1], None, [c, j], last),
            (of_both, p[1], None, [j], last),
            (of_student, p[1], 1, [s], s.position),
            (of_course, p[1], 1, [c], c.position),
            (of_both, p[1], 1, [j], j.position),
            (of_student, s.position, None, [j], last),
            (boundary, None, None, [s, c, j], last),
        ]:
            with self.subTest(query=query, after=after, limit=limit):
                self.assertEqual(self.read(query, after=after, limit=limit), (wanted, wanted_head))

        # A decision made on the boundary as read at a position holds only if nothing in
        # the boundary was stored after it.
        with self.assertRaises(IntegrityError):
            self.recorder.append([joined], DCBAppendCondition(boundary, j.position - 1))
        self.assertGreater(
            self.recorder.append([joined], DCBAppendCondition(boundary, j.position)), last
        )

    def test_subscribe_after_a_position(self) -> None:
        first = self.recorder.append(self.events[:1])
        with self.recorder.subscribe() as subscription:
            self.assertEqual(take(subscription, 1), self.sequenced([first], 0))
            reader = Reader(subscription, 1)
            self.assertFalse(reader.done.wait(QUIET), reader.items)
            second = self.recorder.append(self.events[1:2])
            self.assertGreater(second, first)
            self.assertTrue(reader.done.wait(WAIT))
            self.assertEqual(reader.items, [DCBSequencedEvent(self.events[1], second)])

        with ExitStack() as stack:
            subscriptions = []
            for query, after, wanted in [
                (None, first, [(1, second)]),
                (None, second - 1, [(1, second)]),
                (DCBQuery([DCBQueryItem(types=["type2"])]), None, [(1, second)]),
                (DCBQuery([DCBQueryItem(tags=["tagX"])]), None, [(0, first)]),
            ]:
                with self.subTest(query=query, after=after):
                    subscription = stack.enter_context(self.recorder.subscribe(query, after=after))
                    subscriptions.append(subscription)
                    self.assertEqual(
                        take(subscription, len(wanted)),
                        [DCBSequencedEvent(self.events[i], n) for i, n in wanted],
                    )
            assert_quiet(*subscriptions)
