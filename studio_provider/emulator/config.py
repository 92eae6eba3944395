"""Configuration of one emulator instance."""

from __future__ import annotations

import ipaddress
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

ExecutorName = Literal["local", "simulated"]

DEFAULT_TOKEN = "emulator-token"
DEFAULT_TEAM = "emulator-team"
# Uploads and JSON bodies above this many bytes are answered 413 (``--max-body-bytes``).
DEFAULT_MAX_BODY_BYTES = 64 * 1024 * 1024


class ConfigError(ValueError):
    """The configuration is unusable (for example an unsafe bind)."""


def is_loopback(host: str | None) -> bool:
    """True when ``host`` is this machine only: ``localhost``, ``127.0.0.0/8``, ``::1``, or an IPv4 loopback
    address mapped into IPv6 (``::ffff:127.0.0.1``, as a dual-stack socket reports an IPv4 peer)."""
    if host == "localhost":
        return True
    try:
        address = ipaddress.ip_address(host or "")
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped.is_loopback
    return address.is_loopback


@dataclass
class EmulatorConfig:
    """How the emulator listens, who may call it and how it runs jobs.

    ``tokens`` maps each accepted token to the teams it may act for; the first team of the first token is
    the default team of the in-process helper.
    """

    host: str = "127.0.0.1"
    port: int = 0
    tokens: dict[str, list[str]] = field(default_factory=lambda: {DEFAULT_TOKEN: [DEFAULT_TEAM]})
    executor: ExecutorName = "local"
    allow_remote: bool = False
    data_dir: Path | None = None
    ws_ping_interval: float = 5.0
    # How often the background ticker looks for due schedules, start_after jobs and cron tasks.
    tick_interval: float = 0.25
    # Seconds between SIGTERM and SIGKILL when a job's process group is stopped.
    kill_grace: float = 2.0
    username: str = "emulator"
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES

    def validate(self) -> None:
        """Refuse configurations that are unsafe or cannot work."""
        if not self.tokens:
            raise ConfigError("at least one token is required")
        for token, teams in self.tokens.items():
            if not token:
                raise ConfigError("empty token")
            if not teams:
                raise ConfigError("every token needs at least one team")
        if self.executor not in ("local", "simulated"):
            raise ConfigError(f"unknown executor {self.executor!r}")
        if self.executor == "local" and not self.allow_remote and not is_loopback(self.host):
            raise ConfigError(
                f"refusing to bind {self.host}: the local executor runs submitted code; "
                "bind a loopback address or pass --allow-remote"
            )
        if self.ws_ping_interval <= 0:
            raise ConfigError("ws_ping_interval must be positive")
        if isinstance(self.max_body_bytes, bool) or not isinstance(self.max_body_bytes, int):
            raise ConfigError("max_body_bytes must be an integer")
        if self.max_body_bytes <= 0:
            raise ConfigError("max_body_bytes must be positive")

    def resolved_data_dir(self) -> Path:
        """The data directory, created on first use (a fresh temporary one when none was given)."""
        if self.data_dir is None:
            self.data_dir = Path(tempfile.mkdtemp(prefix="studio-emulator-"))
        self.data_dir.mkdir(parents=True, exist_ok=True)
        return self.data_dir

    @property
    def first_token(self) -> str:
        return next(iter(self.tokens))

    @property
    def first_team(self) -> str:
        return self.tokens[self.first_token][0]
