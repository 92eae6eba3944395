"""Waiting on Studio datasets: which version a wait is for and what a reading says about it
(:class:`VersionTarget`), the wait for a version (:func:`wait_for_version`, one result, never raising for
Studio's sake), and the watcher's readings: one dataset (:func:`watch_dataset`) or all of a team's
(:func:`watch_team`), each new COMPLETE version since a baseline (:func:`new_versions`).

Every loop here is :func:`~.poll.poll_until`, so deadlines and transient errors mean what they mean for
jobs and pipelines.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass

from ..api import AsyncStudioApi
from ..dataset_info import DatasetInfo, DatasetVersionInfo, version_key
from ..datasets import DatasetRef, normalize_version
from ..errors import StudioDeadlineExceeded, StudioError
from ..lookups.datasets import afind_dataset
from ..models import DatasetVersionStatus
from ..redaction import cap
from .deadline import Deadline
from .poll import poll_until
from .results import DatasetWaitResult, Verdict, WaitEnd

log = logging.getLogger(__name__)

#: Statuses of a version that will never become COMPLETE: a wait for it fails.
BAD_END = frozenset(
    {
        DatasetVersionStatus.FAILED,
        DatasetVersionStatus.STALE,
        DatasetVersionStatus.REMOVING,
        DatasetVersionStatus.REMOVED,
    }
)


@dataclass(frozen=True)
class VersionTarget:
    """Which version a wait is for: exactly ``version``; else the highest COMPLETE version at or above
    ``min_version``; else the highest COMPLETE version above ``after_version``; else any COMPLETE one.

    :param version: an exact version.
    :param min_version: the lowest acceptable version.
    :param after_version: versions above this one (the baseline a sensor saw when it started).
    """

    version: str | None = None
    min_version: str | None = None
    after_version: str | None = None

    def __post_init__(self) -> None:
        for label in ("version", "min_version", "after_version"):
            value = getattr(self, label)
            if value is not None:
                try:
                    object.__setattr__(self, label, normalize_version(str(value)))
                except ValueError:
                    raise ValueError(
                        f"{label} must be a version such as 1.2.3 or v1.2.3, got {value!r}."
                    ) from None
        if self.version is not None and self.min_version is not None:
            raise ValueError("version and min_version are mutually exclusive: pass only one of them.")

    def describe(self) -> str:
        """The target in words, for messages."""
        if self.version is not None:
            return f"version {self.version}"
        if self.min_version is not None:
            return f"a version >= {self.min_version}"
        if self.after_version is not None:
            return f"a version newer than {self.after_version}"
        return "any complete version"

    def candidates(self, info: DatasetInfo) -> list[DatasetVersionInfo]:
        """The versions of ``info`` this target accepts, whatever their status, oldest first."""
        if self.version is not None:
            found = info.version(self.version)
            return [found] if found is not None else []
        if self.min_version is not None:
            low = version_key(self.min_version)
            return [item for item in info.versions if item.key >= low]
        if self.after_version is not None:
            floor = version_key(self.after_version)
            return [item for item in info.versions if item.key > floor]
        return list(info.versions)

    def judge(self, info: DatasetInfo | None) -> tuple[Verdict, DatasetVersionInfo | None]:
        """``READY`` with the (highest) COMPLETE accepted version; ``FAILED`` with the version that will
        never complete when no accepted version did; else ``WAIT``.

        :param info: the dataset's reading (``None``: it does not exist yet).
        """
        if info is None:
            return Verdict.WAIT, None
        candidates = self.candidates(info)
        complete = [item for item in candidates if item.status == DatasetVersionStatus.COMPLETE]
        if complete:
            return Verdict.READY, complete[-1]
        failed = [item for item in candidates if item.version_status in BAD_END]
        if failed and (self.version is not None or len(failed) == len(candidates)):
            return Verdict.FAILED, failed[-1]
        return Verdict.WAIT, None


def failure_message(ref: DatasetRef, version: DatasetVersionInfo) -> str:
    """Why a wait for a version of ``ref`` failed, with Studio's message."""
    status = version.version_status
    name = status.name if status is not None else str(version.status)
    detail = f": {cap(version.error_message, 1000)}" if version.error_message else ""
    job = f" (job {version.job_id})" if version.job_id else ""
    return f"Studio dataset {ref.name} version {version.version} ended {name} ({version.status}){job}{detail}"


async def wait_for_version(
    api: AsyncStudioApi,
    ref: DatasetRef,
    target: VersionTarget,
    *,
    deadline: Deadline,
    poll_interval: float,
    on_change: Callable[[DatasetInfo | None], object] | None = None,
) -> DatasetWaitResult:
    """Poll the dataset until ``target`` is READY or FAILED, and say how the wait ended (never raises for
    Studio's sake: one event per trigger).

    :param api: the async client (the loop's shared one).
    :param ref: the dataset.
    :param target: the awaited version.
    :param deadline: when to give up.
    :param poll_interval: seconds between reads.
    :param on_change: called with each reading that differs from the previous one.
    """
    what = f"{target.describe()} of Studio dataset {ref}"
    try:
        info = await poll_until(
            lambda: afind_dataset(api, ref),
            lambda reading: target.judge(reading)[0] is not Verdict.WAIT,
            interval=poll_interval,
            deadline=deadline,
            on_change=on_change,
            what=what,
        )
    except StudioDeadlineExceeded:
        message = f"The deadline {deadline.describe()} passed while waiting for {what}."
        return DatasetWaitResult(end=WaitEnd.DEADLINE, dataset=str(ref), message=message, deadline=deadline.at)
    except StudioError as exc:
        message = f"Waiting for {what} failed: {exc}"
        return DatasetWaitResult(end=WaitEnd.ERROR, dataset=str(ref), message=message, deadline=deadline.at)
    verdict, version = target.judge(info)
    assert version is not None  # the poll ends only on READY or FAILED
    if verdict is Verdict.READY:
        message = f"Studio dataset {ref} has {target.describe()}: {version.version} is COMPLETE."
    else:
        message = failure_message(ref, version)
    return DatasetWaitResult(
        end=WaitEnd.FINISHED,
        dataset=str(ref),
        verdict=verdict.value,
        version=version.to_dict(),
        message=message,
        deadline=deadline.at,
    )


# ---- new versions since a baseline (the asset watcher) --------------------------------------------


def complete_versions(info: DatasetInfo | None) -> list[str]:
    """The COMPLETE versions of a reading, oldest first (none when the dataset does not exist)."""
    if info is None:
        return []
    return [item.version for item in info.versions if item.status == DatasetVersionStatus.COMPLETE]


def new_versions(info: DatasetInfo | None, seen: Iterable[str]) -> list[DatasetVersionInfo]:
    """The COMPLETE versions of ``info`` not in ``seen``, oldest first: what a watcher fires for.

    :param info: the dataset's reading.
    :param seen: versions already known (fired, or present when watching started).
    """
    if info is None:
        return []
    known = set(seen)
    return [
        item
        for item in info.versions
        if item.status == DatasetVersionStatus.COMPLETE and item.version not in known
    ]


async def watch_dataset(api: AsyncStudioApi, ref: DatasetRef, *, interval: float) -> AsyncIterator[DatasetInfo | None]:
    """Read one dataset every ``interval`` seconds, for ever; yield each reading (``None``: it does not
    exist yet). Transient failures are retried; a lasting one (credentials) raises.

    :param api: the async client.
    :param ref: the dataset.
    :param interval: seconds between reads.
    """
    never = Deadline.never()
    while True:
        yield await poll_until(lambda: afind_dataset(api, ref), lambda _: True, interval=interval, deadline=never)
        await never.sleep(interval)


async def watch_team(api: AsyncStudioApi, *, interval: float) -> AsyncIterator[tuple[DatasetInfo, ...]]:
    """Read all of the team's datasets every ``interval`` seconds, for ever; yield each reading (the
    shared poll of a triggerer's watchers). Unreadable entries are left out; transient failures are
    retried; a lasting one raises.

    :param api: the async client.
    :param interval: seconds between reads.
    """
    never = Deadline.never()
    while True:
        raw = await poll_until(api.list_datasets, lambda _: True, interval=interval, deadline=never, what="the team's datasets")
        infos = []
        for item in raw:
            try:
                infos.append(DatasetInfo.from_dict(item))
            except ValueError:
                continue
        yield tuple(infos)
        await never.sleep(interval)


__all__ = [
    "BAD_END",
    "Verdict",
    "VersionTarget",
    "complete_versions",
    "failure_message",
    "new_versions",
    "wait_for_version",
    "watch_dataset",
    "watch_team",
]
