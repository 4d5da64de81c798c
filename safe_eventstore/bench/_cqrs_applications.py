"""The C rows on our side: an account aggregate of ``safe_eventstore.cqrs``, driven by its
command router (load, decide, save, with event ids derived from the command id) on an
embedded SQLite store at its default durability."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .. import Store, cqrs, event_type
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
        return _App(router, cqrs.Repository(db, cls), cls)

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
