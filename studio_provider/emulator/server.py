"""``EmulatorServer``: the emulator on a real socket in a background thread, for tests and tools."""

from __future__ import annotations

import asyncio
import threading
import time
from types import TracebackType
from typing import Any

import uvicorn

from .app import create_app
from .clock import Clock
from .config import EmulatorConfig
from .faults import FaultInjector
from .log_redaction import install_redaction
from .runtime import Emulator
from .state import EmulatorState

_START_TIMEOUT = 15.0


class EmulatorServer:
    """Runs uvicorn with its own event loop in a thread; binds ``config.port`` (0: a free port).

    Use as a context manager or call :meth:`start`/:meth:`stop`. Stopping kills the job processes.
    """

    def __init__(
        self,
        config: EmulatorConfig | None = None,
        injector: FaultInjector | None = None,
        *,
        log_level: str = "warning",
        access_log: bool = False,
    ) -> None:
        self.config = config or EmulatorConfig()
        self.log_level = log_level
        self.access_log = access_log
        self.injector = injector or FaultInjector()
        self.emulator = Emulator(self.config, Clock())
        self.app = create_app(self.config, self.injector, emulator=self.emulator)
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self.port: int | None = None

    # ---- addresses and credentials --------------------------------------------------------------------

    @property
    def url(self) -> str:
        if self.port is None:
            raise RuntimeError("the emulator is not running")
        host = self.config.host
        shown = f"[{host}]" if ":" in host else host
        return f"http://{shown}:{self.port}"

    @property
    def api_url(self) -> str:
        return f"{self.url}/api"

    @property
    def ws_url(self) -> str:
        return self.api_url.replace("http://", "ws://", 1)

    @property
    def token(self) -> str:
        return self.config.first_token

    @property
    def team(self) -> str:
        return self.config.first_team

    @property
    def state(self) -> EmulatorState:
        return self.emulator.state

    def headers(self, token: str | None = None, scheme: str = "Bearer") -> dict[str, str]:
        return {"Authorization": f"{scheme} {token or self.token}"}

    # ---- lifecycle ------------------------------------------------------------------------------------

    def start(self) -> EmulatorServer:
        if self._thread is not None:
            return self
        uv_config = uvicorn.Config(
            self.app,
            host=self.config.host,
            port=self.config.port,
            lifespan="on",
            loop="asyncio",
            ws="websockets-sansio",
            # The socket's peer decides who is local (pages answer loopback clients only): never a header.
            proxy_headers=False,
            log_level=self.log_level,
            access_log=self.access_log,
        )
        # uvicorn has configured its loggers by now: mask tokens in whatever they print, at any level.
        install_redaction(self.config.tokens)
        self._server = uvicorn.Server(uv_config)
        self._thread = threading.Thread(target=self._server.run, name="studio-emulator", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + _START_TIMEOUT
        while not self._server.started:
            if not self._thread.is_alive():
                raise RuntimeError("the emulator failed to start")
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("the emulator did not start in time")
            time.sleep(0.01)
        self.port = self._bound_port()
        return self

    def _bound_port(self) -> int:
        assert self._server is not None
        for server in getattr(self._server, "servers", []):
            for sock in server.sockets:
                port = sock.getsockname()[1]
                assert isinstance(port, int)
                return port
        raise RuntimeError("the emulator has no listening socket")

    def stop(self) -> None:
        """Shut down (lifespan shutdown kills running jobs) and wait for the thread."""
        if self._server is None or self._thread is None:
            return
        self._server.should_exit = True
        self._thread.join(timeout=15)
        self._server = None
        self._thread = None

    def __enter__(self) -> EmulatorServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # ---- white-box helpers ----------------------------------------------------------------------------

    def call(self, function: Any, *args: Any) -> Any:
        """Run ``function(*args)`` on the emulator's event loop and return its result."""
        loop = self.emulator.loop
        if loop is None:
            raise RuntimeError("the emulator is not running")

        async def invoke() -> Any:
            return function(*args)

        return asyncio.run_coroutine_threadsafe(invoke(), loop).result(timeout=10)

    def advance_clock(self, seconds: float) -> Any:
        """Move the emulator clock forward and process what became due (like the admin endpoint)."""
        return self.call(self.emulator.advance_clock, seconds)
