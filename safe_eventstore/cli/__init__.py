"""The command-line tool: ``safe-eventstore`` (or ``python -m safe_eventstore``).

Every command takes ``--store URL`` (default: ``$SAFE_EVENTSTORE_URL``, else the embedded
SQLite store in ``./safe-eventstore-data``); commands that work inside a database take
``--db NAME`` (default: ``$SAFE_EVENTSTORE_DATABASE``, else ``default``); both also work
before the command. Expected failures print one red ``error: ...`` line on stderr and exit
with 2 (bad input or usage) or 1 (anything else), never a traceback. docs/cli.md describes
every command.

The commands live in modules by topic; importing them registers them on :data:`main`.
"""

from __future__ import annotations

from . import (  # noqa: F401  (each module registers its commands on main)
    _bench,
    _checkpoints,
    _databases,
    _demo,
    _export,
    _import,
    _integrity,
    _keys,
    _projections,
    _reading,
    _serve,
    _signing,
    _tail,
    _writing,
)
from ._app import main

__all__ = ["main"]
