"""``serve``: the web console and the HTTP API over a store."""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import sys
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import click
from rich.markup import escape

from ._app import main, open_store, store_option
from ._render import stdout

__all__ = ["is_loopback", "serve"]

TOKEN_VARIABLE = "SAFE_EVENTSTORE_TOKEN"
DEFAULT_PORT = 8765
LIVE_THREADS = 256


def is_loopback(host: str) -> bool:
    """Whether ``host`` names this machine only (``localhost``, 127.0.0.0/8, ``::1``)."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a name that could resolve anywhere counts as exposed


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP named, not implied: asyncio sets TCP_NODELAY only on sockets that say so,
    # and without it every answer written in two parts waits out the peer's delayed ACK.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host.strip("[]"), port))
    except OSError as exc:
        sock.close()
        raise click.ClickException(f"cannot listen on {host}:{port}: {exc.strerror}") from None
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


@main.command()
@store_option
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=DEFAULT_PORT,
    show_default=True,
    help="Port to listen on (0: any free port).",
)
@click.option(
    "--token",
    envvar=TOKEN_VARIABLE,
    default=None,
    help="Require this token: 'Authorization: Bearer <token>' on the API, a login on pages "
    f"[default: ${TOKEN_VARIABLE}]. Needed on any address but loopback.",
)
@click.option("--read-only", is_flag=True, help="Serve without any write action.")
def serve(url: str | None, host: str, port: int, token: str | None, read_only: bool) -> None:
    """Serve the web console and the HTTP API (/api/v1, docs at /docs).

    Listens on 127.0.0.1 unless --host says otherwise; any other address needs --token.
    """
    if token is not None and not token.strip():
        raise click.UsageError("--token must not be empty")
    if not is_loopback(host) and token is None:
        raise click.UsageError(
            f"refusing to serve on {host} without a token: give --token or ${TOKEN_VARIABLE}"
        )
    try:
        import uvicorn

        from safe_eventstore.web import create_app
    except ImportError:
        raise click.ClickException(
            "serve needs the web extra: pip install 'safe-eventstore[web]'"
        ) from None
    sock = _bind(host, port)
    with sock, open_store(url) as store:
        app = create_app(store, token=token, read_only=read_only)
        bound = sock.getsockname()[1]
        shown = f"[{host.strip('[]')}]" if ":" in host else host
        mode = " (read-only)" if read_only else ""
        stdout().print(
            f"Serving {escape(store.url)}{mode} at http://{shown}:{bound}/ "
            f"(API: /api/v1, docs: /docs). Ctrl-C stops.",
            soft_wrap=True,
        )
        sys.stdout.flush()  # a process reading the address through a pipe sees it now
        config = uvicorn.Config(app, log_level="warning", lifespan="off")
        asyncio.run(_serve(uvicorn.Server(config), sock))


async def _serve(server: Any, sock: socket.socket) -> None:
    # Each live tail waits for events in a worker thread of the loop's default executor;
    # asyncio's default (a handful of threads on a small machine) would make the tails
    # queue for it.
    executor = ThreadPoolExecutor(max_workers=LIVE_THREADS, thread_name_prefix="live")
    asyncio.get_running_loop().set_default_executor(executor)
    await server.serve(sockets=[sock])
