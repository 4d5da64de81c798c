"""P1's reference: the ``eventsourcing`` library's ``ProjectionRunner`` folding balances per
account into a view on its SQLite tracking recorder, from events its ``Application`` stored in
its SQLite recorder.

The library's SQLite application recorder has no subscription of its own (``subscribe``
raises ``NotImplementedError``), so the application here uses a subclass whose ``subscribe``
is the library's own ``ListenNotifySubscription``: it pulls ``select_notifications`` pages
from the recorder, as the library's other recorders do. The view records each event's
balance change and its tracking position in one transaction, the library's way."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from eventsourcing.application import Application
from eventsourcing.dispatch import singledispatchmethod
from eventsourcing.domain import Aggregate, event
from eventsourcing.persistence import (
    ApplicationRecorder,
    ListenNotifySubscription,
    Subscription,
    Tracking,
)
from eventsourcing.projection import Projection, ProjectionRunner
from eventsourcing.sqlite import SQLiteApplicationRecorder, SQLiteTrackingRecorder

from ._workloads import timer

__all__ = ["EsBalances", "EsProjections"]


class EsBalance(Aggregate):
    """An account whose every event carries an amount: opened with one, then credited."""

    @event("Opened")
    def __init__(self, amount: int) -> None:
        self.balance = amount

    @event("Deposited")
    def deposit(self, amount: int) -> None:
        self.balance += amount


class PulledSubscription(ListenNotifySubscription[ApplicationRecorder]):
    """The library's subscription that pulls pages of notifications from a recorder."""


class SubscribableRecorder(SQLiteApplicationRecorder):
    """The library's SQLite application recorder, with a pulling subscription."""

    def subscribe(
        self, gt: int | None = None, topics: Sequence[str] = ()
    ) -> Subscription[ApplicationRecorder]:
        return PulledSubscription(recorder=self, gt=gt, topics=topics)


class BalanceView(SQLiteTrackingRecorder):
    """A balance per account, each change recorded with its tracking position."""

    def construct_create_table_statements(self) -> list[str]:
        return [
            *super().construct_create_table_statements(),
            "CREATE TABLE IF NOT EXISTS balances "
            "(account TEXT PRIMARY KEY, balance INTEGER) WITHOUT ROWID",
        ]

    def add(self, account: uuid.UUID, amount: int, tracking: Tracking) -> None:
        with self.datastore.transaction(commit=True) as c:
            c.execute(
                "INSERT INTO balances VALUES (?, ?) ON CONFLICT (account) "
                "DO UPDATE SET balance = balance + excluded.balance",
                (str(account), amount),
            )
            self._insert_tracking(c, tracking)

    def balances(self) -> dict[str, int]:
        with self.datastore.transaction(commit=False) as c:
            c.execute("SELECT account, balance FROM balances")
            return {row[0]: row[1] for row in c.fetchall()}


class EsBalances(Projection[BalanceView]):
    """The fold: each account's balance is the sum of its events' amounts."""

    name = "balances"

    @singledispatchmethod
    def process_event(self, domain_event: Any, tracking: Tracking) -> None:
        """Events of other types only move the tracking position."""
        self.view.insert_tracking(tracking)

    def _amount(self, domain_event: Any, tracking: Tracking) -> None:
        self.view.add(domain_event.originator_id, domain_event.amount, tracking)

    process_event.register(EsBalance.Opened, _amount)  # type: ignore[attr-defined]
    process_event.register(EsBalance.Deposited, _amount)  # type: ignore[attr-defined]


class EsProjections:
    """The application's events in one SQLite file, each catch-up's view in a new one."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.env = {
            "PERSISTENCE_MODULE": "eventsourcing.sqlite",
            "SQLITE_DBNAME": str(directory / "es-p1.sqlite"),
            "APPLICATION_RECORDER_TOPIC": f"{__name__}:SubscribableRecorder",
        }
        self.app: Application[uuid.UUID] = Application(env=self.env)
        self.last = 0
        self.runs = 0
        self.synchronous: dict[str, int] = {}

    def fill(self, accounts: int, events: int) -> dict[str, int]:
        """``events`` events over ``accounts`` accounts, round-robin, in the order ours are
        stored; the expected balances by account id."""
        rounds = max(1, events // accounts)
        owned = [EsBalance(amount=1) for _ in range(accounts)]
        self.app.save(*owned)
        for r in range(1, rounds):
            for account in owned:
                account.deposit(r + 1)
            self.app.save(*owned)
        self.last = self.app.recorder.max_notification_id() or 0
        self.synchronous["application"] = _synchronous(self.app.recorder)
        return {str(a.id): a.balance for a in owned}

    def catch_up(self) -> tuple[float, dict[str, int]]:
        """A runner from an empty view to the last event: its seconds, and the balances."""
        self.runs += 1
        env = {**self.env, "BALANCES_SQLITE_DBNAME": str(self.directory / f"es-view-{self.runs}")}
        with timer() as t:
            runner = ProjectionRunner(
                application_class=Application,
                projection_class=EsBalances,
                view_class=BalanceView,
                env=env,
            )
            with runner:
                runner.wait(self.last, timeout=3600)
        self.synchronous["view"] = _synchronous(runner.view)
        balances = runner.view.balances()
        runner.view.datastore.close()
        return t[0], balances

    @property
    def durability(self) -> str:
        """How the library's SQLite commits, read back from its application and its view."""
        names = {0: "OFF", 1: "NORMAL", 2: "FULL", 3: "EXTRA"}
        return ", ".join(
            f"{where}: synchronous = {names.get(value, str(value))}"
            for where, value in self.synchronous.items()
        )

    def close(self) -> None:
        self.app.close()


def _synchronous(recorder: Any) -> int:
    with recorder.datastore.transaction(commit=False) as c:
        c.execute("PRAGMA synchronous")
        return int(c.fetchone()[0])
