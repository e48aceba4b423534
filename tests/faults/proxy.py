"""A TCP proxy on loopback that a test can kill or black-hole, in front of a shared server.

The machine's PostgreSQL and Redis serve other people's tests too, so they are never
stopped: the stack under test reaches them through this proxy, and the proxy fails instead.

- ``kill()``: the port refuses connections and open connections are reset (server stopped).
- ``blackhole()``: open connections are reset and new ones are accepted but never answered
  (an unreachable server: clients wait for their connection timeouts).
- ``restore()``: forwarding again, on the same port.

Standard library only (both environments import the test helpers).
"""

from __future__ import annotations

import socket
import threading
from contextlib import suppress


class TcpProxy:
    def __init__(self, target_port: int, target_host: str = "127.0.0.1", port: int = 0) -> None:
        self.target = (target_host, target_port)
        self.port = port
        self.mode = "forward"
        self._listener: socket.socket | None = None
        self._conns: set[socket.socket] = set()
        self._lock = threading.Lock()

    # -- control ------------------------------------------------------------------------

    def start(self) -> TcpProxy:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(128)
        self.port = listener.getsockname()[1]
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), name=f"proxy-{self.port}", daemon=True).start()
        return self

    def kill(self) -> None:
        """Refuse new connections and reset the open ones."""
        self.mode = "killed"
        listener, self._listener = self._listener, None
        if listener is not None:
            with suppress(OSError):
                listener.close()
        self._drop_all()

    def blackhole(self) -> None:
        """New connections are accepted but never answered; open ones are reset.

        That is an unreachable server as clients end up seeing it: a connection attempt waits for
        its timeout, and connections that were open break (TCP keepalive or a user timeout ends
        them in a real partition; a frozen socket without any timeout would hang its client for
        hours, which no setting of ours could change).
        """
        self.mode = "blackhole"
        self._drop_all()
        if self._listener is None:
            self.start()
            self.mode = "blackhole"

    def restore(self) -> None:
        """Forward again; connections that were frozen are reset, as after a real partition."""
        if self.mode == "blackhole":
            self._drop_all()
        self.mode = "forward"
        if self._listener is None:
            self.start()

    def stop(self) -> None:
        self.kill()

    # -- plumbing -----------------------------------------------------------------------

    def _drop_all(self) -> None:
        with self._lock:
            conns, self._conns = self._conns, set()
        for conn in conns:
            with suppress(OSError):
                conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
            with suppress(OSError):
                conn.close()

    def _track(self, conn: socket.socket) -> None:
        with self._lock:
            self._conns.add(conn)

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            self._track(client)
            if self.mode != "forward":
                continue  # black hole: hold it open, say nothing
            try:
                upstream = socket.create_connection(self.target, timeout=5)
                upstream.settimeout(None)
            except OSError:
                with suppress(OSError):
                    client.close()
                continue
            self._track(upstream)
            for src, dst in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(src, dst), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket) -> None:
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                if self.mode != "forward":
                    continue  # swallowed: the other side waits for an answer that never comes
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (src, dst):
                with suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
