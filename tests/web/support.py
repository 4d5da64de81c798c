"""Checks the web tests share."""

from __future__ import annotations

from typing import Any

import httpx2

PROBLEM = "application/problem+json"


def problem(response: httpx2.Response, status: int, error: str | None = None) -> dict[str, Any]:
    """The problem document of ``response``, checked to be one of ``status``."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    assert {"type", "title", "detail"} <= set(body)
    assert body["detail"]
    if error is not None:
        assert body["error"] == error, body
    return body
