"""``@task.datachain_studio``: run a Python function as a DataChain Studio job.

The function's source, called with its arguments decoded from one JSON string, becomes the job's ``PYTHON``
query (see :mod:`studio_provider.decorators.function_script`); everything else (submission exactly once,
waiting, log lines, deadline, cancellation, XCom ``job_id``/``job_url``) is
:class:`~studio_provider.operators.job.StudioRunJobOperator`'s. The task returns the function's return
value, read back from the job's log.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Collection, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from airflow.sdk.bases.decorator import DecoratedOperator, task_decorator_factory

from studio_provider.client.waiting import Deadline, run_on_worker, wait_for_job
from studio_provider.client.waiting.results import MAX_RETURNED
from studio_provider.decorators.function_script import (
    FunctionScriptError,
    build_script,
    check_self_contained,
    function_source,
    json_literal,
    return_marker,
    returned_value,
)
from studio_provider.exceptions import StudioInputError, StudioTaskError
from studio_provider.operators.job import StudioRunJobOperator

try:  # the base of XComArg and the other values Airflow resolves at run time
    from airflow.sdk.definitions._internal.mixins import ResolveMixin as _RunTimeValue
except ImportError:  # pragma: no cover - a future layout
    from airflow.sdk import XComArg as _RunTimeValue  # type: ignore[assignment]

if TYPE_CHECKING:
    from airflow.sdk import Context
    from airflow.sdk.bases.decorator import TaskDecorator

#: The XCom key of the operator's summary (job id, URL, status, exit code, duration, dataset versions).
SUMMARY_XCOM_KEY = "studio_job"


def _resolved_later(value: Any) -> bool:
    """Whether ``value`` holds an XComArg (or another value Airflow fills in at run time)."""
    if isinstance(value, _RunTimeValue):
        return True
    if isinstance(value, Mapping):
        return any(_resolved_later(item) for item in value.values())
    if isinstance(value, (list, tuple)):
        return any(_resolved_later(item) for item in value)
    return False


class StudioDecoratedOperator(DecoratedOperator, StudioRunJobOperator):
    """The operator behind ``@task.datachain_studio``: the decorated function is the job's query.

    Takes every :class:`~studio_provider.operators.job.StudioRunJobOperator` argument except ``query``
    and ``query_file``; ``query_type`` can only be ``PYTHON``; ``query_name`` defaults to
    ``<function name>.py``.

    :param python_callable: the decorated function.
    :param op_args: its positional arguments (templated; JSON-serializable once rendered).
    :param op_kwargs: its keyword arguments (templated; JSON-serializable once rendered).
    """

    template_fields: Sequence[str] = (
        *DecoratedOperator.template_fields,
        *StudioRunJobOperator.template_fields,
    )
    template_fields_renderers = {
        **DecoratedOperator.template_fields_renderers,
        **StudioRunJobOperator.template_fields_renderers,
    }
    custom_operator_name = "@task.datachain_studio"
    # The rendered-template view then shows the generated script (``query``) after the run.
    overwrite_rtif_after_execution = True

    def __init__(
        self,
        *,
        python_callable: Callable[..., Any],
        op_args: Collection[Any] | None = None,
        op_kwargs: Mapping[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        query_type = kwargs.get("query_type")
        if query_type is not None and str(query_type).upper() != "PYTHON":
            raise StudioInputError(
                f"@task.datachain_studio runs a Python function: query_type must be PYTHON (or omitted), "
                f"got {query_type!r}."
            )
        validation_only = bool(kwargs.get("_airflow_mapped_validation_only"))
        super().__init__(python_callable=python_callable, op_args=op_args, op_kwargs=op_kwargs, **kwargs)
        if not validation_only:
            self._check_literal_arguments()

    def validate_query_source(self, query: object, query_file: object) -> None:
        """The function is the query: refuse ``query``/``query_file``, and a function the job cannot run
        (no source, a closure, module-level names), when the DAG is parsed."""
        if query is not None or query_file is not None:
            raise StudioInputError(
                f"{self.task_id}: @task.datachain_studio builds the query from the decorated function; "
                f"do not pass query or query_file (use StudioRunJobOperator for a script)."
            )
        try:
            check_self_contained(self.python_callable, function_source(self.python_callable))
        except FunctionScriptError as exc:
            raise StudioInputError(self._named(exc)) from exc

    def _check_literal_arguments(self) -> None:
        """Arguments known at parse time must already be JSON (XComArgs are checked once resolved)."""
        names = list(inspect.signature(self.python_callable).bind_partial(*self.op_args).arguments)
        for index, value in enumerate(self.op_args):
            if not _resolved_later(value):
                name = names[index] if index < len(names) else f"#{index + 1}"
                self._check_json(value, f"argument {name!r}")
        for key, value in self.op_kwargs.items():
            if not _resolved_later(value):
                self._check_json(value, f"argument {key!r}")

    def _check_json(self, value: Any, what: str) -> None:
        try:
            json_literal(value, what)
        except FunctionScriptError as exc:
            raise StudioInputError(self._named(exc)) from exc

    def call_kwargs(self, context: Context) -> dict[str, Any]:
        """The keyword arguments of the call: ``op_kwargs``, plus context values for the function's
        parameters named after context keys (``ds``, ``run_id``, ``params``, ...) that were given neither
        positionally nor by keyword: an explicit argument always wins over a context value."""
        kwargs = dict(self.op_kwargs)
        given = set(inspect.signature(self.python_callable).bind_partial(*self.op_args).arguments)
        for parameter in inspect.signature(self.python_callable).parameters.values():
            if parameter.kind in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD, parameter.POSITIONAL_ONLY):
                continue
            if parameter.name in given or parameter.name in kwargs:
                continue
            if parameter.name in context:
                kwargs[parameter.name] = context[parameter.name]  # type: ignore[literal-required]
        return kwargs

    def marker(self, context: Context) -> str:
        """The secret marker of this task instance's return value (see
        :func:`~studio_provider.decorators.function_script.return_marker`)."""
        ti = context["ti"]
        identity = (ti.dag_id, ti.task_id, ti.run_id, getattr(ti, "map_index", -1))
        return return_marker(self.hook.config.token, identity)

    def get_query(self, context: Context) -> str:
        """The job script: the function's source and a call with the rendered arguments.

        :raises StudioInputError: naming an argument that is not JSON-serializable, before any request.
        """
        try:
            script = build_script(
                self.python_callable, list(self.op_args), self.call_kwargs(context), marker=self.marker(context)
            )
        except FunctionScriptError as exc:
            raise StudioInputError(self._named(exc)) from exc
        self.query = script  # shown in the UI's Rendered Templates (see overwrite_rtif_after_execution)
        return script

    def _named(self, exc: Exception) -> str:
        # The function's name already opens the message; a task id of another name goes in front.
        text = str(exc)
        name = self.python_callable.__name__
        return text if self.task_id in (name, self.python_callable.__qualname__) else f"{self.task_id}: {text}"

    def get_query_type(self) -> str:
        return "PYTHON"

    def get_query_name(self) -> str | None:
        return str(self.query_name) if self.query_name else f"{self.python_callable.__name__}.py"

    def trigger_options(self, context: Context) -> dict[str, Any]:
        return {"catch": self.marker(context)}

    def wait_options(self, context: Context) -> dict[str, Any]:
        return {"catch": self.marker(context)}

    def execute(self, context: Context) -> Any:
        """Run the function as a Studio job; return what it returned (see :meth:`function_result`)."""
        return self.function_result(context, super().execute(context))

    def execute_complete(self, context: Context, event: dict[str, Any] | None = None) -> Any:
        """Resume after the trigger; return what the function returned."""
        self.get_query(context)  # the script again, for the Rendered Templates view of this process
        return self.function_result(context, super().execute_complete(context, event))

    def function_result(self, context: Context, summary: dict[str, Any]) -> Any:
        """Push the operator's summary to XCom ``studio_job``; return the function's JSON return value, read
        from the job's log line that starts with the task's secret marker (caught while following the
        log, or, when an earlier try's job had already completed, by following its log once more), or ``None`` when the task did not wait for the job."""
        context["ti"].xcom_push(key=SUMMARY_XCOM_KEY, value=summary)
        job_id = summary["job_id"]
        if summary["status"] != "COMPLETE":
            self.log.info(
                "Studio job %s is %s: the task did not wait for it, so it returns None.",
                job_id,
                summary["status"],
            )
            return None
        result = self.last_result
        if result is None:  # an earlier try's job completed and this one did not wait: read its log
            marker = self.marker(context)
            result = run_on_worker(
                self.hook.config,
                lambda client: wait_for_job(
                    client, job_id, deadline=Deadline.after(self.hook.config.timeout * 10), catch=marker
                ),
            )
        if result.returned_size is not None:
            raise StudioTaskError(
                f"{self.python_callable.__name__} returned {result.returned_size} characters of JSON, more than "
                f"{MAX_RETURNED} travel back to Airflow: write the data to a dataset and return its name.",
                remote_id=job_id,
                url=summary.get("job_url"),
                status=summary["status"],
            )
        found, value = returned_value(result.returned)
        if not found:
            raise StudioTaskError(
                f"Studio job {job_id} completed, but its log held no readable return value of "
                f"{self.python_callable.__name__} ({result.message}).",
                remote_id=job_id,
                url=summary.get("job_url"),
                status=summary["status"],
            )
        self.log.info("%s returned a value (pushed to XCom).", self.python_callable.__name__)
        return value


def datachain_studio_task(python_callable: Callable[..., Any] | None = None, **kwargs: Any) -> TaskDecorator:
    """``@task.datachain_studio``: run the decorated function as a DataChain Studio ``PYTHON`` job.

    Takes :class:`~studio_provider.operators.job.StudioRunJobOperator`'s arguments (``environment``,
    ``requirements``, ``files``, ``timeout``, ``deferrable``, ``studio_conn_id``, ...) and the usual
    TaskFlow ones (``task_id``, ``multiple_outputs``, ...).

    :param python_callable: the function (when used without parentheses).
    """
    return task_decorator_factory(
        python_callable=python_callable, decorated_operator_class=StudioDecoratedOperator, **kwargs
    )


__all__ = ["SUMMARY_XCOM_KEY", "StudioDecoratedOperator", "datachain_studio_task"]
