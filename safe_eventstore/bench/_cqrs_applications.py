"""The C rows on our side: an account aggregate of ``safe_eventstore.cqrs``, driven by its
command router (load, decide, save, with event ids derived from the command id) on an
embedded SQLite store at its default durability."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .. import NO_STREAM, Database, NewEvent, Store, cqrs, event_type
from .. import open as open_store
from ._workloads import timer

__all__ = ["CqrsApplications"]


@event_type("BenchOpened")
@dataclass(frozen=True)
class Opened:
    owner: str


@event_type("BenchDeposited")
@dataclass(frozen=True)
class Deposited:
    amount: int


class Account(cqrs.Aggregate):
    """An account: opened, then credited by commands."""

    category = "BenchAccount"

    def __init__(self, id: str) -> None:
        super().__init__(id)
        self.owner: str | None = None
        self.balance = 0

    def open(self, owner: str) -> None:
        if self.owner is not None:
            raise cqrs.DomainError(f"account {self.id} is open already")
        self.record(Opened(owner))

    def deposit(self, amount: int) -> None:
        self.record(Deposited(amount))

    @cqrs.when(Opened)
    def _opened(self, event: Opened) -> None:
        self.owner = event.owner

    @cqrs.when(Deposited)
    def _deposited(self, event: Deposited) -> None:
        self.balance += event.amount


@dataclass(frozen=True)
class Open(cqrs.Command):
    owner: str


@dataclass(frozen=True)
class Deposit(cqrs.Command):
    amount: int


def _open(command: Open, account: Account) -> None:
    account.open(command.owner)


def _deposit(command: Deposit, account: Account) -> None:
    account.deposit(command.amount)


def _snapshotting(every: int) -> type[Account]:
    """The account class with a snapshot every ``every`` events."""
    return type("SnapshotAccount", (Account,), {"category": "BenchLong", "snapshot_every": every})


@dataclass
class _App:
    router: cqrs.CommandRouter
    repository: cqrs.Repository[Any]
    cls: type[Account]
    db: Database
    versions: dict[str, int] | None = None  # C3-floor: the version of each stream


class CqrsApplications:
    """C1-C4 on one SQLite store of ours, a database (file) per workload."""

    durability = "full (the store's default: fsync before acknowledging)"

    def __init__(self, directory: Path) -> None:
        self.store: Store = open_store(str(directory / "cqrs"))

    def app(self, name: str, *, cache: bool = False, snapshots: int | None = None) -> _App:
        db = self.store.create_database(name)
        router = cqrs.CommandRouter(db, cache=cache)
        router.handles(Open, Account, creates=True)(_open)
        router.handles(Deposit, Account)(_deposit)
        cls = _snapshotting(snapshots) if snapshots else Account
        return _App(router, cqrs.Repository(db, cls), cls, db)

    @staticmethod
    def create(app: _App, n: int) -> float:
        """C1: ``n`` commands, each opening a new account."""
        execute = app.router.execute
        ids = [uuid.uuid4().hex for _ in range(n)]
        with timer() as t:
            for i, id in enumerate(ids):
                execute(Open(target_id=id, owner=f"owner-{i}"))
        return t[0]

    @staticmethod
    def fill(app: _App, aggregates: int, history: int) -> list[str]:
        """``aggregates`` accounts of ``history`` events each (the opening included)."""
        ids = []
        for i in range(aggregates):
            account = Account(uuid.uuid4().hex)
            account.open(f"owner-{i}")
            for _ in range(history - 1):
                account.deposit(1)
            app.repository.save(account)
            ids.append(account.id)
        return ids

    @staticmethod
    def commands(app: _App, ids: list[str], n: int) -> float:
        """C2, C3: ``n`` commands over the accounts ``ids``, each a load, a decision, a save."""
        execute, count = app.router.execute, len(ids)
        with timer() as t:
            for i in range(n):
                execute(Deposit(target_id=ids[i % count], amount=1))
        return t[0]

    @staticmethod
    def creations(app: _App, n: int) -> float:
        """C1-floor: ``n`` appends of one event to a new stream each, expecting none, with
        an event id, causation and correlation id given: what a creating command writes,
        with nothing around it."""
        db = app.db
        streams = [f"{Account.category}-{uuid.uuid4().hex}" for _ in range(n)]
        keys = [(uuid.uuid4(), uuid.uuid4()) for _ in range(n)]
        with timer() as t:
            for i, (stream, (event_id, causation)) in enumerate(zip(streams, keys, strict=True)):
                event = NewEvent(
                    "BenchOpened",
                    Opened(f"owner-{i}"),
                    event_id=event_id,
                    causation_id=causation,
                    correlation_id=causation,
                )
                db.append(stream, [event], expected_version=NO_STREAM)
        return t[0]

    @staticmethod
    def appends(app: _App, ids: list[str], history: int, n: int) -> float:
        """C3-floor: ``n`` appends of one event over the accounts ``ids`` (``history``
        events each, before the first call), each expecting the version it knows, with an
        event id, causation and correlation id given: the durable write a command on a
        cached aggregate makes, with nothing around it."""
        db, count = app.db, len(ids)
        streams = [f"{Account.category}-{id}" for id in ids]
        versions = app.versions = app.versions or dict.fromkeys(streams, history - 1)
        keys = [(uuid.uuid4(), uuid.uuid4()) for _ in range(n)]
        with timer() as t:
            for i, (event_id, causation) in enumerate(keys):
                stream = streams[i % count]
                event = NewEvent(
                    "BenchDeposited",
                    Deposited(1),
                    event_id=event_id,
                    causation_id=causation,
                    correlation_id=causation,
                )
                versions[stream] = db.append(
                    stream, [event], expected_version=versions[stream]
                ).last_version
        return t[0]

    @staticmethod
    def fill_long(app: _App, events: int, every: int) -> str:
        """One account of ``events`` events, saved ``every`` events."""
        account = app.cls("long")
        account.open("long")
        for version in range(1, events):
            account.deposit(1)
            if (version + 1) % every == 0:
                app.repository.save(account)
        app.repository.save(account)
        return account.id

    @staticmethod
    def load(app: _App, account: str, loads: int) -> float:
        """C4: ``loads`` loads of one long account."""
        get = app.repository.get
        with timer() as t:
            for _ in range(loads):
                get(account)
        return t[0]

    def close(self) -> None:
        self.store.close()
