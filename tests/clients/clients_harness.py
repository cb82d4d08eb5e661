"""Test plumbing for the client tests: a server process on a fixed 127.0.0.1 port that can be killed
and started again on the same port, and a TCP proxy whose connections can be cut (a network drop
without a server restart). Every wait is bounded in time."""

import asyncio
import signal
import socket
import subprocess
import time
from typing import List, Optional, Set


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ServerProcess:
    """`command + ["--port", port]`; stdin is a pipe kept open (ws_test_server stops at its EOF)."""

    def __init__(self, command: List[str], port: int) -> None:
        self.command = list(command) + ["--port", str(port)]
        self.port = port
        self.proc: Optional[subprocess.Popen] = None

    async def start(self, timeout: float = 15.0) -> None:
        self.proc = subprocess.Popen(self.command, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE)
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                err = self.proc.stderr.read().decode(errors="replace") if self.proc.stderr else ""
                raise RuntimeError(f"server exited with {self.proc.returncode}: {err}")
            try:
                _, w = await asyncio.open_connection("127.0.0.1", self.port)
                w.close()
                return
            except OSError:
                if time.monotonic() > deadline:
                    self.kill()
                    raise RuntimeError(f"server not listening on port {self.port} within {timeout} s")
                await asyncio.sleep(0.02)

    def kill(self) -> None:
        """SIGKILL: no final snapshot, no close frame, the clients see the TCP connection reset."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> Optional[int]:
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.kill()
        if self.proc.stdin:
            self.proc.stdin.close()
        if self.proc.stderr:
            self.proc.stderr.close()
        return self.proc.returncode


class Proxy:
    """Forwards 127.0.0.1:port to 127.0.0.1:upstream; cut() drops every connection and refuses new
    ones until reopen(). While `mute` is true the upstream's bytes are read and discarded (the
    server's replies are lost on the way, as when a connection dies before its acks arrive)."""

    def __init__(self, upstream: int) -> None:
        self.upstream = upstream
        self.port = 0
        self.mute = False
        self.server: Optional[asyncio.AbstractServer] = None
        self.writers: Set[asyncio.StreamWriter] = set()

    async def open(self) -> None:
        self.server = await asyncio.start_server(self._handle, "127.0.0.1", self.port)
        self.port = self.server.sockets[0].getsockname()[1]

    async def cut(self) -> None:
        if self.server is not None:
            self.server.close()
            self.server = None
        for w in list(self.writers):
            w.transport.abort()
        self.writers.clear()

    async def _pipe(self, r: asyncio.StreamReader, w: asyncio.StreamWriter, down: bool = False) -> None:
        try:
            while True:
                data = await r.read(65536)
                if not data:
                    break
                if down and self.mute:
                    continue
                w.write(data)
                await w.drain()
        except (OSError, asyncio.CancelledError):
            pass
        finally:
            w.transport.abort()

    async def _handle(self, r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        if self.server is None:
            w.transport.abort()
            return
        try:
            ur, uw = await asyncio.open_connection("127.0.0.1", self.upstream)
        except OSError:
            w.transport.abort()
            return
        self.writers.update((w, uw))
        await asyncio.gather(self._pipe(r, uw), self._pipe(ur, w, down=True))
        self.writers.discard(w)
        self.writers.discard(uw)


class EventLog:
    """Collects events from a client; wait_for(pred) returns the first event at or after a cursor."""

    def __init__(self) -> None:
        self.events: list = []
        self._new = asyncio.Event()

    def add(self, ev: dict) -> None:
        self.events.append(ev)
        self._new.set()

    async def wait_for(self, pred, timeout: float, start: int = 0, what: str = "an event") -> dict:
        async def scan() -> dict:
            i = start
            while True:
                while i < len(self.events):
                    if pred(self.events[i]):
                        return self.events[i]
                    i += 1
                self._new.clear()
                await self._new.wait()

        try:
            return await asyncio.wait_for(scan(), timeout)
        except asyncio.TimeoutError:
            tail = [e.get("type") if e.get("type") not in ("gap", "restart") else e for e in self.events[start:][-12:]]
            raise AssertionError(f"no {what} within {timeout} s; last events: {tail}") from None

    def of(self, kind: str, start: int = 0) -> list:
        return [e for e in self.events[start:] if e.get("type") == kind]


async def server_and_proxy(command: List[str]) -> "tuple[int, ServerProcess, Proxy]":
    """Starts the server on a free port and an open Proxy in front of it: (port, server, proxy)."""
    port = free_port()
    server = ServerProcess(command, port)
    await server.start()
    proxy = Proxy(port)
    await proxy.open()
    return port, server, proxy
