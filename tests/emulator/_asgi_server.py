"""A real uvicorn server for an ASGI app, in a background thread on a free loopback port (for tests)."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import uvicorn


class ThreadedServer:
    """Serve ``app`` with uvicorn in a daemon thread; ``url`` is ``http://127.0.0.1:<port>``."""

    def __init__(
        self, app: Any, http: str = "h11", ws: str = "websockets-sansio", loop: str = "auto"
    ) -> None:
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        # Bind before starting so the port is known and cannot be taken by someone else meanwhile.
        self._sock.bind(("127.0.0.1", 0))
        self.port: int = self._sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.ws_url = f"ws://127.0.0.1:{self.port}"
        config = uvicorn.Config(app, http=http, ws=ws, loop=loop, lifespan="off", log_level="warning")
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [self._sock]}, daemon=True
        )

    def start(self, timeout: float = 10.0) -> None:
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.01)

    def stop(self, timeout: float = 10.0) -> None:
        self._server.should_exit = True
        self._thread.join(timeout)
        self._sock.close()


@contextmanager
def serve(
    app: Any, http: str = "h11", ws: str = "websockets-sansio", loop: str = "auto"
) -> Iterator[ThreadedServer]:
    server = ThreadedServer(app, http=http, ws=ws, loop=loop)
    server.start()
    try:
        yield server
    finally:
        server.stop()
