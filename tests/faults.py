"""
Real faults for the tests that prove the service survives them (DESIGN.md,
"Production shape, hosts and faults"), instead of mocks:

- :class:`Proxy`, a small TCP proxy the test puts between the service and
  PostgreSQL or Redis, and cuts, blackholes and restores while requests run;
- :func:`private_redis`, a redis-server of the test's own on a free port, so
  that no test ever stops or floods the machine's shared Redis.

The shared PostgreSQL and Redis are only ever reached *through* a proxy here,
never stopped or reconfigured.
"""

from __future__ import annotations

import contextlib
import shutil
import socket
import struct
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import redis

from tests.hosts import free_port, stop

FORWARD, CUT, BLACKHOLE = "forward", "cut", "blackhole"


class Proxy:
    """
    ``127.0.0.1:<port>`` forwarding to ``target``, until told otherwise:

    - :meth:`cut`: the peer is gone (crashed, restarted, failed over): every
      open connection is reset, and a new one is reset as soon as it is made;
    - :meth:`blackhole`: the address still takes connections but nothing ever
      answers (a dead backend behind a TCP load balancer): open connections
      are reset, new ones are accepted and then left silent;
    - :meth:`restore`: new connections are forwarded again. Nothing is
      forwarded on a connection made during a fault: clients must reconnect.
    """

    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self._listener = socket.create_server(("127.0.0.1", 0), backlog=256)
        self.port = self._listener.getsockname()[1]
        self._lock = threading.Lock()
        self._mode = FORWARD
        self._open: set[socket.socket] = set()
        self._thread = threading.Thread(target=self._accept_loop, name=f"proxy-{self.port}", daemon=True)
        self._thread.start()

    # --- faults ------------------------------------------------------------------------

    def cut(self) -> None:
        self._switch(CUT)

    def blackhole(self) -> None:
        self._switch(BLACKHOLE)

    def restore(self) -> None:
        self._switch(FORWARD)

    def close(self) -> None:
        self._switch(CUT)
        # shutdown() wakes the thread blocked in accept(); close() alone would not.
        with contextlib.suppress(OSError):
            self._listener.shutdown(socket.SHUT_RDWR)
        with contextlib.suppress(OSError):
            self._listener.close()
        self._thread.join(timeout=5)

    def _switch(self, mode: str) -> None:
        with self._lock:
            self._mode = mode
            doomed = list(self._open)
            self._open.clear()
        for sock in doomed:
            _reset(sock)

    # --- plumbing ------------------------------------------------------------------------

    def _accept_loop(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return  # the listener was closed
            with self._lock:
                mode = self._mode
                if mode == BLACKHOLE:
                    # Accepted, never read, never answered, until the next switch.
                    self._open.add(client)
                    continue
            if mode == CUT:
                _reset(client)
                continue
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                _reset(client)
                continue
            upstream.settimeout(None)
            with self._lock:
                if self._mode != FORWARD:
                    # Cut while the upstream connection was being made.
                    _reset(client)
                    _reset(upstream)
                    continue
                self._open.update((client, upstream))
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(source, sink), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            with self._lock:
                self._open.discard(source)
                self._open.discard(sink)
            _reset(source)
            _reset(sink)


def _reset(sock: socket.socket) -> None:
    """Close with a TCP reset, as the kernel of a host whose server died answers; wakes a thread blocked on it."""
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    with contextlib.suppress(OSError):
        sock.close()


@contextlib.contextmanager
def proxy(target_host: str, target_port: int) -> Iterator[Proxy]:
    running = Proxy(target_host, target_port)
    try:
        yield running
    finally:
        running.close()


def redis_server_available() -> bool:
    return shutil.which("redis-server") is not None


@contextlib.contextmanager
def private_redis(workdir: Path) -> Iterator[int]:
    """
    A redis-server of this test's own on a free port (no persistence, loopback
    only), stopped when the block ends; yields its port.
    """
    workdir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    with open(workdir / "redis-server.log", "wb") as log:
        process = subprocess.Popen(
            ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--dir", str(workdir)],
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )
        try:
            _wait_for_redis(port, process)
            yield port
        finally:
            stop(process, timeout=10)


def _wait_for_redis(port: int, process: subprocess.Popen, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"redis-server exited with {process.returncode}")
        with contextlib.suppress(redis.RedisError), redis.Redis(port=port, socket_timeout=1) as client:
            if client.ping():
                return
        time.sleep(0.05)
    raise RuntimeError(f"redis-server on port {port} did not answer within {timeout} s")
