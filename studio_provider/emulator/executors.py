"""Executors: the local one runs a job's query in a subprocess, the simulated one only pretends to.

Both are driven by a :class:`JobDriver` (the job service, which owns the statuses); they only know that
protocol, so this module sits below ``jobs``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import signal
import sys
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from .state import EmulatorState, JobRecord

# Keys a job's `environment` may set to steer the simulated executor.
SIM_DURATION = "STUDIO_EMULATOR_DURATION"
SIM_QUEUE_SECONDS = "STUDIO_EMULATOR_QUEUE_SECONDS"
SIM_EXIT_CODE = "STUDIO_EMULATOR_EXIT_CODE"
SIM_ERROR_MESSAGE = "STUDIO_EMULATOR_ERROR_MESSAGE"
SIM_LOG_LINES = "STUDIO_EMULATOR_LOG_LINES"
SIM_LOG_TEXT = "STUDIO_EMULATOR_LOG_TEXT"
SIM_WRITES = "STUDIO_EMULATOR_WRITES"
SIM_READS = "STUDIO_EMULATOR_READS"
SIM_STATUSES = "STUDIO_EMULATOR_STATUSES"
SIM_ERROR_STACK = "STUDIO_EMULATOR_ERROR_STACK"
SIM_METRICS = "STUDIO_EMULATOR_METRICS"
SIM_PARAMS = "STUDIO_EMULATOR_PARAMS"
# Statuses a simulated job may pass through between QUEUED and RUNNING.
PATH_STATUSES = ("QUEUED", "PROVISIONING", "PENDING", "INIT")

_READ_LIMIT = 1 << 20


class JobDriver(Protocol):
    """What an executor may do to a job: report progress; the driver keeps the lifecycle rules."""

    state: EmulatorState

    def set_status(self, job: JobRecord, status: str) -> None: ...

    def log(self, job: JobRecord, message: str, stream: str = "stdout") -> None: ...

    def finish(
        self, job: JobRecord, exit_code: int | None, error_message: str = "", error_stack: str = ""
    ) -> None: ...

    def declare_read(self, job: JobRecord, text: str) -> None: ...

    def declare_write(self, job: JobRecord, text: str) -> None: ...


@dataclass(frozen=True)
class SimulationPlan:
    """What a simulated job does, read from its environment."""

    duration: float
    queue_seconds: float
    exit_code: int
    error_message: str
    lines: tuple[str, ...]
    writes: tuple[str, ...]
    reads: tuple[str, ...]
    statuses: tuple[tuple[str, float], ...] = ()
    error_stack: str = ""
    metrics: dict[str, Any] = field(default_factory=dict)
    params: dict[str, Any] = field(default_factory=dict)


def _number(env: dict[str, str], key: str, default: float) -> float:
    text = env.get(key)
    if text is None or text.strip() == "":
        return default
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"{key} must be a number, got {text!r}") from None
    if value < 0:
        raise ValueError(f"{key} must not be negative")
    return value


def _refs(env: dict[str, str], key: str) -> tuple[str, ...]:
    return tuple(item.strip() for item in env.get(key, "").split(",") if item.strip())


def _statuses(env: dict[str, str]) -> tuple[tuple[str, float], ...]:
    """``PROVISIONING:0.5,INIT`` → ((PROVISIONING, 0.5), (INIT, 0.0)): the path before RUNNING."""
    path = []
    for item in _refs(env, SIM_STATUSES):
        status, _, seconds = item.partition(":")
        status = status.strip().upper()
        if status not in PATH_STATUSES:
            raise ValueError(f"{SIM_STATUSES}: {status!r} is not one of {', '.join(PATH_STATUSES)}")
        path.append((status, _number({SIM_STATUSES: seconds}, SIM_STATUSES, 0.0)))
    return tuple(path)


def _json_object(env: dict[str, str], key: str) -> dict[str, Any]:
    text = env.get(key, "").strip()
    if not text:
        return {}
    try:
        value = json.loads(text)
    except ValueError:
        raise ValueError(f"{key} must be a JSON object, got {text[:80]!r}") from None
    if not isinstance(value, dict):
        raise ValueError(f"{key} must be a JSON object, got {type(value).__name__}")
    return value


def simulation_plan(env: dict[str, str]) -> SimulationPlan:
    """Parse the ``STUDIO_EMULATOR_*`` keys; ValueError with a message when one is malformed."""
    duration = _number(env, SIM_DURATION, 1.0)
    queue_seconds = _number(env, SIM_QUEUE_SECONDS, 0.0)
    try:
        exit_code = int(env.get(SIM_EXIT_CODE, "0") or "0")
    except ValueError:
        raise ValueError(f"{SIM_EXIT_CODE} must be an integer") from None
    text = env.get(SIM_LOG_TEXT)
    if text is not None:
        # Environment values are single lines, so a literal backslash-n separates the lines.
        parts = text.replace("\\n", "\n").split("\n")
        lines = tuple(part + "\n" for part in parts)
    else:
        count = int(_number(env, SIM_LOG_LINES, 3))
        lines = tuple(f"Simulated log line {index}/{count}\n" for index in range(1, count + 1))
    return SimulationPlan(
        duration=duration,
        queue_seconds=queue_seconds,
        exit_code=exit_code,
        error_message=env.get(SIM_ERROR_MESSAGE, ""),
        lines=lines,
        writes=_refs(env, SIM_WRITES),
        reads=_refs(env, SIM_READS),
        statuses=_statuses(env),
        error_stack=env.get(SIM_ERROR_STACK, "").replace("\\n", "\n"),
        metrics=_json_object(env, SIM_METRICS),
        params=_json_object(env, SIM_PARAMS),
    )


class SimulatedExecutor:
    """No process: sleeps in the event loop, so a thousand jobs cost a thousand small tasks."""

    def __init__(self, service: JobDriver) -> None:
        self.service = service

    async def run(self, job: JobRecord) -> None:
        try:
            plan = simulation_plan(job.environment)
        except ValueError as exc:
            self.service.finish(job, 1, error_message=str(exc))
            return
        if plan.queue_seconds:
            await asyncio.sleep(plan.queue_seconds)
        for status, seconds in plan.statuses:
            self.service.set_status(job, status)
            await asyncio.sleep(seconds)
        loop = asyncio.get_running_loop()
        start = loop.time()
        self.service.set_status(job, "RUNNING")
        for ref in plan.reads:
            self.service.declare_read(job, ref)
        for ref in plan.writes:
            self.service.declare_write(job, ref)
        count = len(plan.lines)
        for index, line in enumerate(plan.lines, start=1):
            # Lines are spread evenly over the run, the last one shortly before the end.
            await asyncio.sleep(max(0.0, start + plan.duration * index / (count + 1) - loop.time()))
            self.service.log(job, line)
        await asyncio.sleep(max(0.0, start + plan.duration - loop.time()))
        message = plan.error_message or (
            f"Simulated failure (exit code {plan.exit_code})" if plan.exit_code else ""
        )
        job.metrics = dict(plan.metrics)
        job.params = dict(plan.params)
        self.service.finish(job, plan.exit_code, error_message=message, error_stack=plan.error_stack)


class LocalExecutor:
    """Runs PYTHON queries with this interpreter and SHELL queries with bash, each in its own session."""

    def __init__(self, service: JobDriver) -> None:
        self.service = service
        self.processes: dict[str, asyncio.subprocess.Process] = {}

    def _prepare(self, job: JobRecord) -> tuple[Path, list[str]]:
        state = self.service.state
        workdir = state.data_dir / "jobs" / job.id
        workdir.mkdir(parents=True, exist_ok=True)
        names = set()
        for file_id in job.files:
            record = state.files.get(int(file_id))
            if record is not None:
                shutil.copyfile(record.path, workdir / record.filename)
                names.add(record.filename)
        if job.query_type == "SHELL":
            script = "__studio_query__.sh"
            argv = ["bash", script]
        else:
            base = os.path.basename(job.name)
            script = base if base.endswith(".py") and base not in names else "__studio_query__.py"
            argv = [sys.executable, "-u", script]
        (workdir / script).write_text(job.query, encoding="utf-8")
        job.workdir = workdir
        return workdir, argv

    def _environment(self, job: JobRecord) -> dict[str, str]:
        env = dict(os.environ)
        env.update(job.environment)
        env["DATACHAIN_JOB_ID"] = job.id
        env["DATACHAIN_IS_STUDIO"] = "true"
        env["PYTHONUNBUFFERED"] = "1"
        return env

    async def run(self, job: JobRecord) -> None:
        workdir, argv = self._prepare(job)
        process = await asyncio.create_subprocess_exec(
            *argv,
            cwd=workdir,
            env=self._environment(job),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            start_new_session=True,  # its own process group, so cancel can kill children too
            limit=_READ_LIMIT,
        )
        self.processes[job.id] = process
        job.pid = process.pid
        stderr_tail: deque[str] = deque(maxlen=20)
        try:
            if job.cancel_requested:
                self.kill(job)
            self.service.set_status(job, "RUNNING")
            assert process.stdout is not None and process.stderr is not None
            await asyncio.gather(
                self._pump(job, process.stdout, "stdout", None),
                self._pump(job, process.stderr, "stderr", stderr_tail),
            )
            code = await process.wait()
        except asyncio.CancelledError:
            _signal_group(process.pid, signal.SIGKILL)
            raise
        finally:
            self.processes.pop(job.id, None)
        if code < 0:
            code = 128 - code  # killed by signal N: report 128+N as a shell would
        lines = [line.rstrip("\n") for line in stderr_tail if line.strip()]
        message = lines[-1] if lines else f"Job exited with code {code}"
        self.service.finish(job, code, error_message=message, error_stack="\n".join(lines))

    async def _pump(
        self, job: JobRecord, stream: asyncio.StreamReader, name: str, tail: deque[str] | None
    ) -> None:
        while True:
            try:
                raw = await stream.readline()
            except ValueError:  # a line longer than the limit: pass it on in chunks
                raw = await stream.read(_READ_LIMIT)
            if not raw:
                return
            line = raw.decode("utf-8", errors="replace")
            if tail is not None:
                tail.append(line)
            self.service.log(job, line, name)

    def kill(self, job: JobRecord) -> bool:
        """SIGTERM the job's process group now and SIGKILL it after the grace period; False if none."""
        process = self.processes.get(job.id)
        if process is None:
            return False
        _signal_group(process.pid, signal.SIGTERM)
        loop = asyncio.get_running_loop()
        loop.call_later(self.service.state.config.kill_grace, _kill_if_alive, process)
        return True

    async def kill_all(self) -> None:
        """Stop every running process group: SIGTERM, a short wait, then SIGKILL."""
        processes = list(self.processes.values())
        for process in processes:
            _signal_group(process.pid, signal.SIGTERM)
        if processes:
            waits = [asyncio.ensure_future(process.wait()) for process in processes]
            await asyncio.wait(waits, timeout=min(self.service.state.config.kill_grace, 1.0))
        for process in processes:
            # Also reaches children that outlived the group leader.
            _signal_group(process.pid, signal.SIGKILL)


def _kill_if_alive(process: asyncio.subprocess.Process) -> None:
    # Only while the leader is unreaped: after that its pid (the group id) may belong to someone else.
    if process.returncode is None:
        _signal_group(process.pid, signal.SIGKILL)


def _signal_group(pid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)
