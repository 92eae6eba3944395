"""Wait for a version of a Studio dataset: :class:`StudioDatasetSensor`."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from airflow.sdk import PokeReturnValue

from studio_provider.client import DatasetRef
from studio_provider.client.dataset_info import DatasetVersionInfo
from studio_provider.client.lookups import dataset_ref, find_dataset
from studio_provider.client.waiting import DatasetWaitResult, Deadline, Verdict, VersionTarget, WaitEnd
from studio_provider.client.waiting.datasets import failure_message
from studio_provider.compat import task_state_store
from studio_provider.exceptions import (
    StudioDatasetVersionFailedError,
    StudioInputError,
    StudioSensorTimeout,
    StudioTaskError,
    input_errors,
)
from studio_provider.sensors.base import StudioBaseSensor
from studio_provider.triggers.base import read_event
from studio_provider.triggers.dataset import StudioDatasetTrigger

if TYPE_CHECKING:
    from airflow.sdk import Context

#: Task state store key of the baseline version (Airflow 3.3+). Renaming it breaks in-flight sensors.
BASELINE_STATE_KEY = "studio_dataset_baseline"


def _templated(*values: object) -> bool:
    return any(isinstance(value, str) and "{{" in value for value in values)


class StudioDatasetSensor(StudioBaseSensor):
    """Wait until a version of a Studio dataset exists with status COMPLETE (4); fail when it ended FAILED
    (3) or otherwise will never complete. Returns the version's info (a dict: ``namespace``, ``project``,
    ``name``, ``version``, ``status``, ``num_objects``, ``size``, ``job_id``, ``finished_at``).

    Which version:

    - ``version`` (or ``@vX.Y.Z`` in ``dataset``): exactly that one;
    - ``min_version``: the highest COMPLETE version at or above it;
    - neither: any COMPLETE version newer than the newest COMPLETE one when the task started (kept in the
      task state store on Airflow 3.3+, so ``reschedule`` mode needs 3.3 or an explicit version).

    Works in ``poke`` and ``reschedule`` modes, and deferred (``deferrable=True``,
    :class:`~studio_provider.triggers.dataset.StudioDatasetTrigger`), where the sensor's ``timeout`` is one
    absolute deadline. Transient Studio failures are retried.

    :param dataset: ``name``, ``@namespace.project.name``, optionally ``@vX.Y.Z`` (templated). A plain
        name must be unambiguous in the team.
    :param namespace: the namespace, with ``project`` and ``name`` instead of ``dataset`` (templated).
    :param project: the project (templated).
    :param name: the dataset's name (templated).
    :param version: the exact version (templated).
    :param min_version: the lowest acceptable version (templated).
    :param studio_conn_id: the ``datachain_studio`` connection (templated).
    :param team: the team, overriding the connection's (templated).
    :param deferrable: wait in the triggerer (default ``[operators] default_deferrable``).
    :param poll_interval: seconds between reads when deferred (default: ``poke_interval``).
    """

    template_fields: Sequence[str] = (
        "dataset",
        "namespace",
        "project",
        "name",
        "version",
        "min_version",
        "studio_conn_id",
        "team",
    )

    def __init__(
        self,
        *,
        dataset: str | None = None,
        namespace: str | None = None,
        project: str | None = None,
        name: str | None = None,
        version: str | None = None,
        min_version: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.dataset = dataset
        self.namespace = namespace
        self.project = project
        self.name = name
        self.version = version
        self.min_version = min_version
        # (dataset, baseline version) of an open-ended wait, read at the first poke.
        self._baseline: tuple[str, str | None] | None = None
        if not _templated(dataset, namespace, project, name, version, min_version):
            self._resolve()  # a bad reference fails when the DAG is parsed

    # ---- inputs ----------------------------------------------------------------------------------

    def _resolve(self) -> tuple[DatasetRef, VersionTarget]:
        """The dataset (without version) and the version target, checked; nothing is sent.

        :raises StudioInputError: naming the parameter and the fix (a ``ValueError``; no retry).
        """
        with input_errors():
            return self._checked()

    def _checked(self) -> tuple[DatasetRef, VersionTarget]:
        ref = dataset_ref(
            self.dataset, namespace=self.namespace, project=self.project, name=self.name, what="dataset"
        )
        version = self.version
        if ref.version is not None:
            if version is not None and VersionTarget(version=version).version != ref.version:
                raise StudioInputError(
                    f"dataset {self.dataset!r} names version {ref.version}, but version={version!r}; "
                    f"pass one of them."
                )
            version = ref.version
            ref = DatasetRef(ref.name, ref.namespace, ref.project)
        return ref, VersionTarget(version=version, min_version=self.min_version)

    def _open_ended(self, target: VersionTarget) -> bool:
        return target.version is None and target.min_version is None

    def _target(self, context: Context, ref: DatasetRef) -> VersionTarget:
        """The target, with the baseline of an open-ended wait (read once, then kept)."""
        _ref, target = self._resolve()
        if not self._open_ended(target):
            return target
        store = task_state_store(context)
        if store is not None:
            stored = store.get(BASELINE_STATE_KEY)
            if isinstance(stored, dict) and stored.get("dataset") == str(ref):
                return VersionTarget(after_version=stored.get("after"))
        elif self.mode == "reschedule":
            raise StudioInputError(
                f"{self.task_id}: waiting for 'a newer version' in reschedule mode needs Airflow 3.3+ "
                f"(the task state store keeps the baseline); pass version= or min_version=, or use "
                f"mode='poke' or deferrable=True."
            )
        if self._baseline is not None and self._baseline[0] == str(ref):
            return VersionTarget(after_version=self._baseline[1])
        info = find_dataset(self.hook, ref)
        latest = None if info is None else info.latest()
        after = None if latest is None else latest.version
        self.log.info(
            "Studio dataset %s: waiting for a COMPLETE version newer than %s.", ref, after or "none (any)"
        )
        self._baseline = (str(ref), after)
        if store is not None:
            store.set(BASELINE_STATE_KEY, {"dataset": str(ref), "after": after})
        return VersionTarget(after_version=after)

    # ---- judging ---------------------------------------------------------------------------------

    def _judge(
        self, ref: DatasetRef, target: VersionTarget, verdict: Verdict, version: DatasetVersionInfo | None
    ) -> bool:
        if verdict is Verdict.READY and version is not None:
            self.log.info("Studio dataset %s: version %s is COMPLETE.", ref, version.version)
            return True
        if verdict is Verdict.FAILED and version is not None:
            raise StudioDatasetVersionFailedError(
                f"{failure_message(ref, version)}; the sensor waited for {target.describe()}.",
                remote_id=str(version.ref),
                status=str(version.status),
            )
        return False

    def poke(self, context: Context) -> bool | PokeReturnValue:
        """Read the dataset once and judge it."""
        ref, _ = self._resolve()
        target = self._target(context, ref)
        info = find_dataset(self.hook, ref)
        verdict, version = target.judge(info)
        if self._judge(ref, target, verdict, version):
            assert version is not None
            return PokeReturnValue(is_done=True, xcom_value=version.to_dict())
        latest = None if info is None else info.latest(complete_only=False)
        self.log.info(
            "Studio dataset %s: no %s yet (newest version: %s).",
            ref,
            target.describe(),
            "none" if latest is None else f"{latest.version}, status {latest.status}",
        )
        return False

    def execute(self, context: Context) -> Any:
        """Poke (or reschedule) as usual, or defer after one read that did not finish the wait."""
        if not self.deferrable:
            return super().execute(context)
        ref, _ = self._resolve()
        target = self._target(context, ref)
        verdict, version = target.judge(find_dataset(self.hook, ref))
        with self.ending():
            if self._judge(ref, target, verdict, version):
                assert version is not None
                return version.to_dict()
        self.defer(
            trigger=StudioDatasetTrigger(
                str(ref),
                version=target.version,
                min_version=target.min_version,
                after_version=target.after_version,
                studio_conn_id=self.studio_conn_id,
                team=self.team,
                deadline=Deadline.after(self.timeout).at,
                poll_interval=self.poll_interval,
            ),
            method_name="execute_complete",
            timeout=None,
        )

    def execute_complete(self, context: Context, event: dict[str, Any] | None = None) -> dict[str, Any]:
        """Judge the trigger's event."""
        result = read_event(DatasetWaitResult, event)
        if result.end is WaitEnd.DEADLINE:
            raise StudioSensorTimeout(
                f"{result.message} The sensor's deadline was {Deadline(result.deadline).describe()} (its timeout)."
            )
        if result.end is WaitEnd.ERROR:
            raise StudioTaskError(result.message, remote_id=result.dataset)
        ref, target = self._resolve()
        version = result.version_info
        if result.verdict is None or version is None:
            raise StudioTaskError(f"Studio dataset trigger ended without a version: {result.message}")
        if not self._judge(ref, target, Verdict(result.verdict), version):
            raise StudioTaskError(f"Studio dataset {ref}: the wait ended without a COMPLETE version.")
        return version.to_dict()


__all__ = ["BASELINE_STATE_KEY", "StudioDatasetSensor", "StudioDatasetVersionFailedError"]
