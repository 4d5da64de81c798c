"""Stores for the library's test cases: a fresh database per recorder, memory or SQLite."""

from __future__ import annotations

import shutil
import tempfile
import uuid
from unittest import TestCase

import safe_eventstore as ses


class WithStore(TestCase):
    """Gives each test fresh stores of the backend named by ``backend``."""

    backend = "memory"

    def store_url(self) -> str:
        if self.backend == "memory":
            return "memory://"
        directory = tempfile.mkdtemp(prefix="ses-es-")
        self.addCleanup(shutil.rmtree, directory, True)
        return f"sqlite://{directory}/store"

    def new_database(self) -> ses.Database:
        store = ses.open(self.store_url())
        self.addCleanup(store.close)
        return store.create_database(f"db-{uuid.uuid4().hex[:8]}")
