"""The one naming scheme of Studio datasets as Airflow assets.

A Studio dataset is the asset ``datachain://<team>/<namespace>/<project>/<dataset>`` (namespace without
its ``@``; each part percent-encoded). The asset's name is its URI. A version is not part of the asset:
it travels in the event's ``extra``. OpenLineage names the same dataset
``namespace="datachain://<team>"``, ``name="<namespace>.<project>.<dataset>"``
(:mod:`studio_provider.assets.lineage`).
"""

from __future__ import annotations

from urllib.parse import SplitResult, quote, unquote, urlsplit

#: The URI scheme of Studio dataset assets (registered in the provider info with a normalizer).
SCHEME = "datachain"


def _part(label: str, value: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"A Studio dataset asset needs a non-empty {label}, got {value!r}.")
    return quote(value, safe="")


def dataset_uri(*, team: str, namespace: str, project: str, name: str) -> str:
    """The asset URI of a Studio dataset: ``datachain://<team>/<namespace>/<project>/<dataset>``.

    :param team: the Studio team.
    :param namespace: the namespace (a leading ``@`` is dropped).
    :param project: the project.
    :param name: the dataset's name.
    :raises ValueError: when a part is empty.
    """
    parts = [
        _part("team", team),
        _part("namespace", namespace.lstrip("@") if isinstance(namespace, str) else namespace),
        _part("project", project),
        _part("dataset name", name),
    ]
    return f"{SCHEME}://{parts[0]}/{parts[1]}/{parts[2]}/{parts[3]}"


def parse_dataset_uri(uri: str) -> tuple[str, str, str, str]:
    """``(team, namespace, project, name)`` of a Studio dataset asset URI.

    :raises ValueError: when ``uri`` is not one.
    """
    parsed = urlsplit(str(uri))
    segments = parsed.path.strip("/").split("/") if parsed.path.strip("/") else []
    if parsed.scheme.lower() != SCHEME or not parsed.netloc or len(segments) != 3 or not all(segments):
        raise ValueError(
            f"{uri!r} is not a Studio dataset asset URI; expected "
            f"{SCHEME}://<team>/<namespace>/<project>/<dataset> (build it with studio_dataset_asset())."
        )
    if parsed.query or parsed.fragment:
        raise ValueError(f"A Studio dataset asset URI has no query or fragment: {uri!r}.")
    team, namespace, project, name = (unquote(part) for part in (parsed.netloc, *segments))
    return team, namespace.lstrip("@"), project, name


def normalize_uri(parts: SplitResult) -> SplitResult:
    """Airflow's URI normalizer for the ``datachain`` scheme (``asset-uris`` in the provider info): one
    spelling per dataset, so two DAGs naming it alike share one asset.

    :raises ValueError: when the URI does not name a team, namespace, project and dataset.
    """
    team, namespace, project, name = parse_dataset_uri(parts.geturl())
    return urlsplit(dataset_uri(team=team, namespace=namespace, project=project, name=name))


__all__ = ["SCHEME", "dataset_uri", "normalize_uri", "parse_dataset_uri"]
