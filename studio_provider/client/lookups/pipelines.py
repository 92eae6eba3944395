"""Finding pipelines and schedules by name, and reconciling a lost ``trigger`` or ``run`` response.

Lookups are blocking and take any :class:`~..api.StudioApi` (a :class:`~..api.StudioClient` or the
Airflow hook).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence

from ..api import StudioApi
from ..errors import StudioError, StudioNotFoundError
from ..models import Pipeline, Schedule

#: How many pipelines one reconciliation listing asks for (the API's default is 20).
LIST_LIMIT = 100


def _definition_id(pipeline: Pipeline) -> str | None:
    value = pipeline.raw.get("definition_id")
    return str(value) if value else None


def find_pipeline(api: StudioApi, name: str, *, definition: bool | None = None) -> Pipeline | None:
    """The newest pipeline called exactly ``name``, or ``None``.

    :param api: a client or hook.
    :param name: the pipeline's name (runs carry their definition's name).
    :param definition: ``True`` only definitions, ``False`` only runs, ``None`` either.
    """
    for pipeline in api.list_pipelines(search=name, limit=LIST_LIMIT):
        if pipeline.name == name and (definition is None or pipeline.is_definition is definition):
            return pipeline
    return None


def resolve_definition(
    api: StudioApi, *, definition_id: str | None = None, name: str | None = None
) -> Pipeline:
    """The pipeline definition named by id or by name (a run given by id stands for its definition).

    :param api: a client or hook.
    :param definition_id: the definition's ``pipeline_id``.
    :param name: the definition's name.
    :raises StudioNotFoundError: when no such definition exists.
    """
    if definition_id:
        pipeline = api.get_pipeline(pipeline_id=definition_id)
    else:
        found = find_pipeline(api, str(name), definition=True)
        if found is None:
            raise StudioNotFoundError(f"No Studio pipeline definition is named {name!r}.")
        pipeline = found
    if not pipeline.is_definition:
        parent = _definition_id(pipeline)
        if not parent:
            raise StudioNotFoundError(
                f"Studio pipeline {pipeline.pipeline_id} is a run, not a definition; pass its definition."
            )
        pipeline = api.get_pipeline(pipeline_id=parent)
    return pipeline


def find_schedule(api: StudioApi, schedule_name: str) -> Schedule | None:
    """The schedule called ``schedule_name``, or ``None``.

    :param api: a client or hook.
    :param schedule_name: the schedule's name.
    :raises StudioError: when several schedules carry that name (the caller cannot tell which one it
        manages); the message lists their ids.
    """
    matches = [item for item in api.list_schedules() if item.schedule_name == schedule_name]
    if len(matches) > 1:
        ids = ", ".join(str(item.id) for item in matches)
        raise StudioError(
            f"Several Studio schedules are named {schedule_name!r} (ids {ids}); delete all but one, or "
            f"address them by schedule_id."
        )
    return matches[0] if matches else None


def _same_datasets(pipeline: Pipeline, triggered_from: str) -> bool:
    sent = pipeline.raw.get("triggered_from")
    return sent is None or str(sent) == triggered_from


def triggered_from(datasets: Sequence[str]) -> str:
    """How Studio records the datasets a definition was triggered from (``"a, b"``).

    :param datasets: the references sent to ``pipeline/trigger``.
    """
    return ", ".join(datasets)


def definitions_from(api: StudioApi, datasets: Sequence[str]) -> list[Pipeline]:
    """The definitions triggered from exactly these datasets, newest first.

    :param api: a client or hook.
    :param datasets: the references of the trigger.
    """
    text = triggered_from(datasets)
    return [
        item
        for item in api.list_pipelines(search=text, limit=LIST_LIMIT)
        if item.is_definition and _same_datasets(item, text)
    ]


def runs_of(api: StudioApi, definition: Pipeline) -> list[Pipeline]:
    """The runs of a definition, newest first (by ``definition_id`` when Studio sends it, else by name).

    :param api: a client or hook.
    :param definition: the definition.
    """
    runs = []
    for item in api.list_pipelines(search=definition.name or definition.pipeline_id, limit=LIST_LIMIT):
        if item.is_definition:
            continue
        parent = _definition_id(item)
        if parent == definition.pipeline_id or (parent is None and item.name == definition.name):
            runs.append(item)
    return runs


def newest_unknown(pipelines: Iterable[Pipeline], known_ids: Collection[str]) -> Pipeline | None:
    """The first (newest) pipeline whose id is not in ``known_ids``: what a lost request created.

    :param pipelines: candidates, newest first.
    :param known_ids: ids that existed before the request was sent.
    """
    for item in pipelines:
        if item.pipeline_id not in known_ids:
            return item
    return None


__all__ = [
    "LIST_LIMIT",
    "definitions_from",
    "find_pipeline",
    "find_schedule",
    "newest_unknown",
    "resolve_definition",
    "runs_of",
    "triggered_from",
]
