"""Studio datasets as Airflow Assets: the one naming scheme, the helpers that build assets and aliases,
and the asset events the job and pipeline operators emit.

**The scheme.** A Studio dataset is the asset ``datachain://<team>/<namespace>/<project>/<dataset>``
(namespace without its ``@``; each part percent-encoded). The asset's name is its URI. A version is not
part of the asset: it travels in the event's ``extra`` (``version``, ``num_objects``, ``size``,
``job_id``, ``job_url``, ``dataset``, ``status``). OpenLineage names the same dataset
``namespace="datachain://<team>"``, ``name="<namespace>.<project>.<dataset>"``.

DAG authors never write these URIs by hand::

    from studio_provider.assets import studio_dataset_asset, studio_datasets_alias

    thumbnails = studio_dataset_asset("@acme.vision.thumbnails", team="acme")
    StudioRunJobOperator(..., outlets=[studio_datasets_alias()])   # an event per produced version
    with DAG(..., schedule=[thumbnails]): ...                       # runs on each event
"""

from __future__ import annotations

from studio_provider.assets.events import StudioDatasetEventsMixin, emit_dataset_events, event_extra
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
    "SCHEME",
    "StudioDatasetEventsMixin",
    "asset_of",
    "create_asset",
    "dataset_uri",
    "emit_dataset_events",
    "event_extra",
    "normalize_uri",
    "parse_dataset_uri",
    "studio_dataset_asset",
    "studio_datasets_alias",
]
