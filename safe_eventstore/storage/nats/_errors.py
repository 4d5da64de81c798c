"""The errors of the NATS backend, and the translation of nats-py's into the store's tree."""

from __future__ import annotations

import json
from typing import Any

import nats.errors
import nats.js.errors
from nats.aio.msg import Msg

from ..._exceptions import SafeEventStoreError, StorageError, StoreUnavailable

__all__ = [
    "ApiError",
    "NoStream",
    "TooMany",
    "acknowledged",
    "api_error",
    "status_error",
    "translate",
]


class NoStream(StorageError):
    """No JetStream stream answered: the database does not exist, or has no leader now."""


class ApiError(StorageError):
    """The JetStream API or a publish acknowledgement reported an error."""

    def __init__(self, code: int, description: str) -> None:
        super().__init__(f"NATS JetStream: {description} (error {code})")
        self.code = code
        self.description = description


def api_error(resp: dict[str, Any]) -> ApiError:
    err = resp.get("error") or {}
    return ApiError(int(err.get("err_code") or err.get("code") or 0), str(err.get("description")))


def acknowledged(msg: Msg) -> dict[str, Any]:
    """A publish acknowledgement, or the error it reports."""
    if msg.headers and msg.headers.get("Status") == "503":
        raise NoStream("nothing answered on that subject")
    resp: dict[str, Any] = json.loads(msg.data)
    if "error" in resp:
        raise api_error(resp)
    return resp


def status_error(status: str, description: str) -> StorageError:
    message = f"NATS direct get: {status} {description}"
    if status in ("408", "412", "503"):  # timed out; a replica too far behind; no leader
        return StoreUnavailable(message)
    return StorageError(message)


class TooMany(StorageError):
    """A batched direct get asked for more results than the server gives at once."""


def translate(exc: Exception) -> Exception:
    """The store's exception for a nats-py error; any other exception as it is."""
    try:
        raise exc
    except SafeEventStoreError:
        return exc
    except (nats.errors.TimeoutError, TimeoutError):
        return StoreUnavailable("NATS did not answer in time")
    except nats.errors.NoRespondersError:
        return NoStream("no JetStream stream answered")
    except (
        nats.errors.NoServersError,
        nats.errors.ConnectionClosedError,
        nats.errors.ConnectionReconnectingError,
        nats.errors.StaleConnectionError,
        nats.errors.OutboundBufferLimitError,
        ConnectionError,
    ):
        return StoreUnavailable(f"NATS is unreachable: {exc!r}")
    except nats.js.errors.APIError as api:
        return ApiError(api.err_code or api.code or 0, str(api.description))
    except (nats.errors.Error, OSError):
        return StorageError(f"NATS: {exc!r}")
    except Exception:
        return exc  # not a driver error: a bug of ours, or a caller's, as it is
