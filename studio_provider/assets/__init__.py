"""Studio datasets as Airflow Assets: the one naming scheme, the helpers that build assets and aliases,
and the asset events the job and pipeline operators emit.

**The scheme.** A Studio dataset is the asset ``datachain://<team>/<namespace>/<project>/<dataset>``
(namespace without its ``@``; each part percent-encoded). The asset's name is its URI. A version is not
part of the asset: it travels in the event's ``extra["payload"]`` (``version``, ``num_objects``, ``size``,
``job_id``, ``job_url``, ``dataset``, ``uri``, ``status``, ``finished_at``: the same keys whether an
operator or the asset watcher recorded the event; :func:`studio_dataset_events` reads them).
OpenLineage names the same dataset ``namespace="datachain://<team>"``,
``name="<namespace>.<project>.<dataset>"``.

DAG authors never write these URIs by hand::

    from studio_provider.assets import studio_dataset_asset, studio_datasets_alias

    thumbnails = studio_dataset_asset("@acme.vision.thumbnails", team="acme")
    StudioRunJobOperator(..., outlets=[studio_datasets_alias()])   # an event per produced version
    with DAG(..., schedule=[thumbnails]): ...                       # runs on each event
"""

from __future__ import annotations

from studio_provider.assets.events import (
    PAYLOAD_KEYS,
    StudioDatasetEventsMixin,
    emit_dataset_events,
    event_extra,
    event_payload,
    other_team_assets,
    studio_dataset_events,
    warn_other_team_assets,
)
from studio_provider.assets.factories import (
    ASSET_GROUP,
    DEFAULT_ALIAS_NAME,
    asset_of,
    create_asset,
    studio_dataset_asset,
    studio_datasets_alias,
)
from studio_provider.assets.uri import SCHEME, dataset_uri, normalize_uri, parse_dataset_uri

__all__ = [
    "ASSET_GROUP",
    "DEFAULT_ALIAS_NAME",
    "PAYLOAD_KEYS",
    "SCHEME",
    "StudioDatasetEventsMixin",
    "asset_of",
    "create_asset",
    "dataset_uri",
    "emit_dataset_events",
    "event_extra",
    "event_payload",
    "normalize_uri",
    "other_team_assets",
    "parse_dataset_uri",
    "studio_dataset_asset",
    "studio_dataset_events",
    "studio_datasets_alias",
    "warn_other_team_assets",
]
