"""The scheme registry: store URLs find their backend through the entry points of group
``safe_eventstore.backends``, the built-in ones and any other distribution's.

A backend is installed here the way pip installs one: a ``*.dist-info`` directory with
``METADATA`` and ``entry_points.txt``, in a directory put on ``sys.path``."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable, Iterator
from importlib.metadata import distribution, entry_points
from pathlib import Path
from typing import Any

import pytest

import safe_eventstore as ses
from safe_eventstore._store import BACKENDS_GROUP, _installed_backends, backend_schemes
from safe_eventstore.storage.base import Storage
from safe_eventstore.storage.memory import MemoryStorage
from safe_eventstore.storage.sqlite import SqliteStorage

Install = Callable[..., None]


class TinyStorage(MemoryStorage):
    """A third-party backend: memory storage that remembers how it was opened."""

    def __init__(self, url: str, label: str) -> None:
        super().__init__()
        self.url = url
        self.label = label
        self.closed = False

    @classmethod
    def from_url(cls, url: str, options: dict[str, Any]) -> TinyStorage:
        return cls(url, str(options.pop("label", "none")))

    def close(self) -> None:
        self.closed = True
        super().close()


opened: list[TinyStorage] = []


def tiny_factory(url: str, options: dict[str, Any]) -> Storage:
    storage = TinyStorage(url, str(options.pop("label", "factory")))
    opened.append(storage)
    return storage


def not_a_storage(url: str, options: dict[str, Any]) -> object:
    return object()


@pytest.fixture
def install(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Install]:
    """Installs a distribution declaring backends: ``install(name, {scheme: value}, extras)``."""

    def install(name: str, backends: dict[str, str], extras: tuple[str, ...] = ()) -> None:
        info = tmp_path / f"{name.replace('-', '_')}-1.0.dist-info"
        info.mkdir()
        provides = "".join(f"Provides-Extra: {extra}\n" for extra in extras)
        (info / "METADATA").write_text(
            f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n{provides}"
        )
        lines = "".join(f"{scheme} = {value}\n" for scheme, value in backends.items())
        (info / "entry_points.txt").write_text(f"[{BACKENDS_GROUP}]\n{lines}")
        monkeypatch.syspath_prepend(str(tmp_path))  # also invalidates importlib's caches

    yield install
    _installed_backends.cache_clear()  # forget the distributions of this test


def test_the_built_in_schemes_are_entry_points_of_the_distribution() -> None:
    declared = {e.name: e.value for e in distribution("safe-eventstore").entry_points}
    found = {e.name: e.value for e in entry_points(group=BACKENDS_GROUP)}
    expected = {
        "memory": "safe_eventstore.storage._factories:open_memory",
        "sqlite": "safe_eventstore.storage._factories:open_sqlite",
        "nats": "safe_eventstore.storage.nats:NatsStorage",
    }
    for scheme, value in expected.items():
        assert declared[scheme] == found[scheme] == value
    assert {"memory", "nats", "sqlite"} <= set(backend_schemes())


def test_built_in_schemes_open_their_backends(tmp_path: Path) -> None:
    with ses.open("memory://") as store:
        assert type(store.storage) is MemoryStorage
    with ses.open(f"sqlite://{tmp_path / 'a'}") as store:
        assert isinstance(store.storage, SqliteStorage)
    with ses.open(str(tmp_path / "b")) as store:  # a plain path is sqlite://
        assert isinstance(store.storage, SqliteStorage)
    with ses.open(f"SQLite://{tmp_path / 'c'}") as store:
        assert isinstance(store.storage, SqliteStorage)


def test_a_backend_installed_by_another_distribution_is_opened_by_its_scheme(
    install: Install,
) -> None:
    with ses.open("memory://"):  # the registry has been read before the install
        pass
    install("tiny-backend", {"mytest": f"{__name__}:TinyStorage"})
    with ses.open("mytest://somewhere/else?label=blue") as store:
        storage = store.storage
        assert isinstance(storage, TinyStorage)
        assert storage.url == "mytest://somewhere/else?label=blue"
        assert storage.label == "blue"
        db = store.create_database("shop")
        db.append("Order-1", [ses.NewEvent("Placed", {"n": 1})])
        assert [e.data for e in db.read_stream("Order-1")] == [{"n": 1}]
    assert storage.closed
    assert "mytest" in backend_schemes()


def test_a_backend_can_be_a_factory_function(install: Install) -> None:
    install("tiny-factory", {"myfactory": f"{__name__}:tiny_factory"})
    opened.clear()
    with ses.open("myfactory://", label="red") as store:
        assert opened == [store.storage]
        assert opened[0].label == "red"


def test_options_no_backend_takes_are_refused_and_the_storage_closed(install: Install) -> None:
    install("tiny-factory", {"myfactory": f"{__name__}:tiny_factory"})
    opened.clear()
    with pytest.raises(ses.InvalidURL, match=r"unknown store option.*colour"):
        ses.open("myfactory://?colour=red")
    assert len(opened) == 1 and opened[0].closed


def test_an_unknown_scheme_names_the_installed_ones(install: Install) -> None:
    install("tiny-backend", {"mytest": f"{__name__}:TinyStorage"})
    with pytest.raises(ses.InvalidURL) as raised:
        ses.open("ftp://example.org/store")
    message = str(raised.value)
    assert "unknown store URL scheme 'ftp'" in message
    for scheme in ("memory://", "mytest://", "nats://", "sqlite://"):
        assert scheme in message


def test_a_backend_missing_its_dependency_names_the_extra(install: Install) -> None:
    install(
        "tiny-extra",
        {"needy": "a_module_that_is_not_installed:Storage", "bare": "another_missing:Storage"},
        extras=("needy",),
    )
    with pytest.raises(ses.InvalidURL, match=r"pip install 'tiny-extra\[needy\]'"):
        ses.open("needy://")
    with pytest.raises(ses.InvalidURL, match="needs a module that is not installed"):
        ses.open("bare://")


def test_nats_without_nats_py_names_the_extra() -> None:
    code = (
        "import sys\n"
        "sys.modules['nats'] = None  # as if nats-py were not installed\n"
        "import safe_eventstore as ses\n"
        "try:\n"
        "    ses.open('nats://127.0.0.1:4222')\n"
        "except ses.InvalidURL as exc:\n"
        "    print(exc)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert "nats:// needs the nats extra: pip install 'safe-eventstore[nats]'" in result.stdout


def test_a_broken_backend_is_a_storage_error(install: Install) -> None:
    install(
        "broken-backends",
        {"noattr": f"{__name__}:no_such_thing", "notstorage": f"{__name__}:not_a_storage"},
    )
    with pytest.raises(ses.StorageError, match=r"noattr:// backend .* fails to load"):
        ses.open("noattr://")
    with pytest.raises(ses.StorageError, match=r"made <object object .*>, not a Storage"):
        ses.open("notstorage://")


def test_two_distributions_claiming_one_scheme_are_refused(install: Install) -> None:
    install("tiny-backend", {"mytest": f"{__name__}:TinyStorage"})
    install("other-backend", {"mytest": f"{__name__}:tiny_factory"})
    with pytest.raises(ses.InvalidURL, match="several installed backends claim mytest://"):
        ses.open("mytest://")


def test_built_in_schemes_open_without_installed_metadata(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr("safe_eventstore._store.entry_points", lambda group: [])
    _installed_backends.cache_clear()
    try:
        assert backend_schemes() == ["memory", "nats", "sqlite"]
        with ses.open("memory://") as store:
            assert type(store.storage) is MemoryStorage
        with ses.open(str(tmp_path / "store")) as store:
            assert isinstance(store.storage, SqliteStorage)
    finally:
        _installed_backends.cache_clear()
