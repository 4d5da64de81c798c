"""Test support for SAFE EventStore and for backends written outside it.

:mod:`safe_eventstore.testing.contract` holds the storage contract as pytest tests: every
backend runs the same suite. See its docstring for how to run it against your own backend.
It needs ``pytest`` and ``hypothesis`` (both in the ``dev`` extra), which is why nothing is
imported here: ``import safe_eventstore.testing`` stays free of test dependencies.
"""
