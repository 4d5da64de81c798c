"""Registers the modules of the contract for pytest's assertion rewriting.

pytest rewrites the asserts of test modules only, and these modules are imported from a test
module rather than collected: without this, a failing contract test would say
``AssertionError`` and not which values differed. It must run before the modules are imported,
so the package imports it first. Outside pytest (a child process a test starts) it does nothing.
"""

from __future__ import annotations

import pkgutil
from pathlib import Path

import pytest

pytest.register_assert_rewrite(
    *(
        f"{__package__}.{module.name}"
        for module in pkgutil.iter_modules([str(Path(__file__).parent)])
        if module.name != "_rewrite"
    )
)
