"""The one submission rule: **exactly one remote Studio object per Airflow task**, across retries, worker
crashes and lost responses.

Every operator that creates something in Studio (a job, a pipeline definition, a pipeline run) goes
through :func:`submit_once`. It knows nothing about jobs or pipelines: a :class:`RemoteKind` tells it how
to read an object by id, find the newest object bearing a marker, create one, and judge its state.

The rule, in order:

1. **Remembered id.** On Airflow 3.3+ the task's ``task_state_store`` (shared by all tries of one task
   instance, as ``airflow.sdk.ResumableJobMixin`` uses it) may hold the id an earlier try created.
2. **Marker.** Otherwise, *and only when there was an earlier try* (Airflow 3.1/3.2, or a crash between
   "created" and "remembered"), the newest object whose name carries the task's marker (see
   :func:`task_marker`) is looked up. A first try never adopts anything.
3. What was found decides: **active** → reconnect to it; **succeeded** → return it without creating
   anything; **failed** (or gone) → create a new one, told of the failed one (a job then continues from
   its checkpoints).
4. **Create**, then remember the id at once (before any waiting).
5. A create whose response was lost (:class:`~studio_provider.client.StudioOutcomeUnknownError`) is
   never repeated blindly: the marker is looked up first; only when no new object bears it is the
   create sent once more, and a second lost response is raised.

**The marker is secret.** It is an HMAC of the task instance's identity keyed with the connection's
Studio token: another member of the team, even one running the same DAG with a token of their own,
cannot compute it, so cannot plant an object for a task to adopt.

The consequence DAG authors see: within one DAG run, a task that already completed its Studio object
returns it again when it is cleared or retried, as ``ResumableJobMixin`` does; a failed one is replaced.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Any, Generic, Protocol, TypeVar

from studio_provider.client import StudioNotFoundError, StudioOutcomeUnknownError

T = TypeVar("T")

#: The marker's prefix in a remote object's name: ``<name> [airflow:<digest>]``.
MARKER_PREFIX = "airflow:"


class TaskStateStore(Protocol):
    """What :func:`submit_once` needs of Airflow 3.3's ``context["task_state_store"]``."""

    def get(self, key: str, default: Any = None) -> Any:
        """The stored value of ``key``, or ``default``."""

    def set(self, key: str, value: Any) -> None:
        """Store ``value`` under ``key`` for every later try of this task instance."""


class Phase(str, Enum):
    """How :func:`submit_once` judges a remote object it found."""

    ACTIVE = "active"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


class Decision(str, Enum):
    """What :func:`submit_once` did."""

    SUBMITTED = "submitted"
    """A new object was created."""
    RECONNECTED = "reconnected"
    """An active object of an earlier try was found; nothing was created."""
    ALREADY_SUCCEEDED = "already_succeeded"
    """A succeeded object of an earlier try was found; nothing was created."""
    RECOVERED = "recovered"
    """The create's response was lost, and the object it created was found by its marker."""


@dataclass(frozen=True)
class RemoteKind(Generic[T]):
    """How :func:`submit_once` handles one kind of Studio object.

    :param noun: what the object is called in log lines, such as ``"Studio job"``.
    :param get: read an object by id; raises :class:`~studio_provider.client.StudioNotFoundError` when gone.
    :param find: the newest object whose name carries the marker, or ``None``.
    :param create: create a new object (its name must carry the marker, see :func:`with_marker`), given
        the failed object of an earlier try, if any.
    :param id_of: the object's id, as stored in the task state store.
    :param phase: whether the object is active, succeeded or failed (unknown states count as failed).
    """

    noun: str
    get: Callable[[str], T]
    find: Callable[[str], T | None]
    create: Callable[[T | None], T]
    id_of: Callable[[T], str]
    phase: Callable[[T], Phase]


@dataclass(frozen=True)
class Submission(Generic[T]):
    """The object the task owns, and how it came to own it.

    :param remote: the object as last read.
    :param remote_id: its id.
    :param decision: what :func:`submit_once` did.
    """

    remote: T
    remote_id: str
    decision: Decision

    @property
    def created(self) -> bool:
        """A new object was created by this try (including a recovered lost create)."""
        return self.decision in (Decision.SUBMITTED, Decision.RECOVERED)


def task_marker(context: Mapping[str, Any], secret: str) -> str:
    """A short marker unique to one task instance (dag, task, run id, map index), the same on every try,
    that only a holder of ``secret`` can compute.

    :param context: the Airflow task context.
    :param secret: the connection's Studio token.
    """
    ti = context.get("ti") or context.get("task_instance")
    dag_id = getattr(ti, "dag_id", None) or getattr(context.get("dag"), "dag_id", "")
    task_id = getattr(ti, "task_id", None) or getattr(context.get("task"), "task_id", "")
    run_id = getattr(ti, "run_id", None) or context.get("run_id", "")
    map_index = getattr(ti, "map_index", -1)
    return marker_for(
        secret, str(dag_id), str(task_id), str(run_id), int(map_index if map_index is not None else -1)
    )


def marker_for(secret: str, dag_id: str, task_id: str, run_id: str, map_index: int = -1) -> str:
    """The marker of one task instance: ``airflow:`` and 16 hex digits of an HMAC-SHA256 of its identity,
    keyed with ``secret``.

    A digest keeps the name short and free of the run id's ``:`` and ``+``; the task is still readable in
    Studio from the rest of the name. The key makes it unforgeable by whoever lacks the token.
    """
    identity = "\x1f".join((dag_id, task_id, run_id, str(map_index)))
    digest = hmac.new(secret.encode("utf-8"), identity.encode("utf-8"), hashlib.sha256).hexdigest()
    return MARKER_PREFIX + digest[:16]


def earlier_tries(context: Mapping[str, Any]) -> bool:
    """Whether an earlier try of this task instance may have created something (try number above 1)."""
    ti = context.get("ti") or context.get("task_instance")
    try_number = getattr(ti, "try_number", None)
    return not isinstance(try_number, int) or try_number > 1


def with_marker(name: str | None, marker: str) -> str:
    """``name`` with the marker appended (``etl.py [airflow:…]``), or the marker alone.

    A name that already carries the marker is returned unchanged, so a retried try does not stack them.
    """
    tag = f"[{marker}]"
    if not name:
        return tag
    return name if tag in name else f"{name} {tag}"


def has_marker(name: str | None, marker: str) -> bool:
    """Whether a remote object's name carries ``marker``."""
    return bool(name) and f"[{marker}]" in str(name)


def submit_once(
    kind: RemoteKind[T],
    *,
    marker: str,
    state_key: str,
    store: TaskStateStore | None,
    log: logging.Logger | Any,
    earlier: bool = True,
) -> Submission[T]:
    """Own exactly one remote object for this task: reconnect, reuse, or create (see the module docstring).

    :param kind: how to handle this kind of object.
    :param marker: the task's marker (:func:`task_marker`), carried in the created object's name.
    :param state_key: the task state store key holding the object's id (keep it stable across releases:
        a renamed key makes in-flight retries create a duplicate).
    :param store: ``context.get("task_state_store")``; ``None`` on Airflow before 3.3.
    :param log: where decisions are logged.
    :param earlier: an earlier try may have created something (:func:`earlier_tries`); on a first try
        nothing is looked up by the marker.
    :raises StudioOutcomeUnknownError: when two creates in a row lost their response and no object
        bearing the marker can be found.
    """
    previous = _previous(kind, marker=marker, state_key=state_key, store=store, log=log, earlier=earlier)
    failed: T | None = None
    stale_ids: set[str] = set()
    if previous is not None:
        previous_id = kind.id_of(previous)
        phase = kind.phase(previous)
        if phase is Phase.ACTIVE:
            log.info("Reconnecting to %s %s, still active from an earlier try.", kind.noun, previous_id)
            _remember(store, state_key, previous_id)
            return Submission(previous, previous_id, Decision.RECONNECTED)
        if phase is Phase.SUCCEEDED:
            log.info(
                "%s %s already succeeded in an earlier try of this task: not submitting again.",
                kind.noun,
                previous_id,
            )
            _remember(store, state_key, previous_id)
            return Submission(previous, previous_id, Decision.ALREADY_SUCCEEDED)
        log.info("%s %s of an earlier try did not succeed: submitting a new one.", kind.noun, previous_id)
        stale_ids.add(previous_id)
        failed = previous

    remote, decision = _create(kind, marker=marker, stale_ids=stale_ids, failed=failed, log=log)
    remote_id = kind.id_of(remote)
    _remember(store, state_key, remote_id)
    return Submission(remote, remote_id, decision)


def _previous(
    kind: RemoteKind[T], *, marker: str, state_key: str, store: TaskStateStore | None, log: Any, earlier: bool
) -> T | None:
    """The object an earlier try of this task created, if any."""
    stored = store.get(state_key) if store is not None else None
    if stored:
        try:
            return kind.get(str(stored))
        except StudioNotFoundError:
            log.warning("%s %s remembered by an earlier try no longer exists.", kind.noun, stored)
            return None
    if not earlier:
        return None  # a first try: nothing of this task can exist, and nothing is adopted
    # Nothing remembered: Airflow before 3.3, or a crash between the create and the store write.
    return kind.find(marker)


def _create(
    kind: RemoteKind[T], *, marker: str, stale_ids: set[str], failed: T | None, log: Any
) -> tuple[T, Decision]:
    """Create, resolving a lost response by the marker before anything is sent again."""
    for attempt in (1, 2):
        try:
            return kind.create(failed), Decision.SUBMITTED
        except StudioOutcomeUnknownError as exc:
            log.warning(
                "The response to creating the %s was lost (%s); looking for it by its marker %s before "
                "anything is sent again.",
                kind.noun,
                exc,
                marker,
            )
            found = kind.find(marker)
            if found is not None and kind.id_of(found) not in stale_ids:
                log.info("Found the %s %s created by the lost request.", kind.noun, kind.id_of(found))
                return found, Decision.RECOVERED
            if attempt == 2:
                raise
            log.info("No %s bears the marker: the lost request created nothing; sending it again.", kind.noun)
    raise AssertionError("unreachable")  # pragma: no cover


def _remember(store: TaskStateStore | None, key: str, remote_id: str) -> None:
    if store is not None and store.get(key) != remote_id:
        store.set(key, remote_id)


__all__ = [
    "MARKER_PREFIX",
    "Decision",
    "Phase",
    "RemoteKind",
    "Submission",
    "TaskStateStore",
    "earlier_tries",
    "has_marker",
    "marker_for",
    "submit_once",
    "task_marker",
    "with_marker",
]
