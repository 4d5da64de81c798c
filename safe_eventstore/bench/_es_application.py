"""The C rows' reference: the ``eventsourcing`` library's ``Aggregate`` and ``Application`` on
its SQLite recorder, with the library's defaults (write-ahead log, ``synchronous`` as the
library leaves it: read back into the JSON)."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

from eventsourcing.application import Application
from eventsourcing.domain import Aggregate, event

from ._workloads import timer

__all__ = ["EsAccount", "EsApplications"]


class EsAccount(Aggregate):
    """An account: opened, then credited by commands."""

    @event("Opened")
    def __init__(self, owner: str) -> None:
        self.owner = owner
        self.balance = 0

    @event("Deposited")
    def deposit(self, amount: int) -> None:
        self.balance += amount


class EsApplications:
    """C1-C4 on applications of the library, each on a SQLite file of its own."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.apps: list[Application[uuid.UUID]] = []
        self.synchronous: int | None = None

    def app(self, name: str, *, cache: bool = False, snapshots: int | None = None) -> Any:
        env = {
            "PERSISTENCE_MODULE": "eventsourcing.sqlite",
            "SQLITE_DBNAME": str(self.directory / f"es-{name}.sqlite"),
        }
        if cache:
            env["AGGREGATE_CACHE_MAXSIZE"] = "10000"
        if snapshots:
            env["IS_SNAPSHOTTING_ENABLED"] = "y"
        kind = type("EsBank", (Application,), {"snapshotting_intervals": {EsAccount: snapshots}})
        app: Application[uuid.UUID] = kind(env=env) if snapshots else Application(env=env)
        self.apps.append(app)
        if self.synchronous is None:
            datastore = app.recorder.datastore  # type: ignore[attr-defined]
            with datastore.transaction(commit=False) as c:
                c.execute("PRAGMA synchronous")
                self.synchronous = int(c.fetchone()[0])
        return app

    @staticmethod
    def create(app: Any, n: int) -> float:
        """C1: ``n`` commands, each opening a new account and saving it."""
        with timer() as t:
            for i in range(n):
                app.save(EsAccount(f"owner-{i}"))
        return t[0]

    @staticmethod
    def fill(app: Any, aggregates: int, history: int) -> list[uuid.UUID]:
        """``aggregates`` accounts of ``history`` events each (the opening included)."""
        ids = []
        for i in range(aggregates):
            account = EsAccount(f"owner-{i}")
            for _ in range(history - 1):
                account.deposit(1)
            app.save(account)
            ids.append(account.id)
        return ids

    @staticmethod
    def commands(app: Any, ids: list[uuid.UUID], n: int) -> float:
        """C2, C3: ``n`` commands over the accounts ``ids``, each a load, a decision, a save."""
        get, save, count = app.repository.get, app.save, len(ids)
        with timer() as t:
            for i in range(n):
                account = get(ids[i % count])
                account.deposit(1)
                save(account)
        return t[0]

    @staticmethod
    def fill_long(app: Any, events: int, every: int) -> uuid.UUID:
        """One account of ``events`` events, saved ``every`` events (where the library
        takes its snapshots, when the app has an interval)."""
        account = EsAccount("long")
        for version in range(2, events + 1):
            account.deposit(1)
            if version % every == 0:
                app.save(account)
        app.save(account)
        return account.id

    @staticmethod
    def load(app: Any, account: uuid.UUID, loads: int) -> float:
        """C4: ``loads`` loads of one long account."""
        get = app.repository.get
        with timer() as t:
            for _ in range(loads):
                get(account)
        return t[0]

    @property
    def durability(self) -> str:
        """How the library's SQLite commits: its ``synchronous`` setting, as read back."""
        names = {0: "OFF", 1: "NORMAL", 2: "FULL", 3: "EXTRA"}
        return f"synchronous = {names.get(self.synchronous or 0, self.synchronous)}"

    def close(self) -> None:
        for app in self.apps:
            app.close()
