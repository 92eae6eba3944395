"""The running emulator: state plus the services, the background ticker and shutdown."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import datetime

from .clock import Clock
from .config import EmulatorConfig
from .jobs import JobService
from .pipelines import PipelineService
from .schedules import ScheduleService
from .state import EmulatorState

logger = logging.getLogger(__name__)


class Emulator:
    """Owns one emulator's state and services; lives on the event loop that serves its app."""

    def __init__(self, config: EmulatorConfig, clock: Clock | None = None) -> None:
        config.validate()
        self.config = config
        self.state = EmulatorState(config, clock)
        self.jobs = JobService(self.state)
        self.pipelines = PipelineService(self.state, self.jobs)
        self.schedules = ScheduleService(self.state, self.pipelines)
        self._ticker: asyncio.Task[None] | None = None
        self.loop: asyncio.AbstractEventLoop | None = None

    @property
    def clock(self) -> Clock:
        return self.state.clock

    def tick(self) -> int:
        """Run everything that is due by the emulator clock: start_after jobs, cron runs, schedules.

        Each service isolates its own records (one failing is logged and taken out of the ticker); this
        keeps a failure of one service from stopping the other.
        """
        started = 0
        for process in (self.jobs.process_due, self.schedules.process_due):
            try:
                started += process()
            except Exception:
                logger.exception("emulator tick failed in %s", process.__qualname__)
        return started

    def advance_clock(self, seconds: float) -> datetime:
        """Move the clock forward and process at once what became due."""
        now = self.clock.advance(seconds)
        self.tick()
        return now

    async def start(self) -> None:
        self.loop = asyncio.get_running_loop()
        self._ticker = asyncio.create_task(self._tick_forever(), name="studio-emulator-ticker")

    async def _tick_forever(self) -> None:
        while True:
            await asyncio.sleep(self.config.tick_interval)
            self.tick()

    async def stop(self) -> None:
        """Stop the ticker and kill every job process this emulator started."""
        if self._ticker is not None:
            self._ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._ticker
            self._ticker = None
        await self.jobs.shutdown()
