"""OpenLineage (the provider is installed in the test environment): the job and pipeline operators report
the Studio datasets a job read and wrote, through the OpenLineage provider's own extractor; assets of the
datachain scheme convert to the same names; and without the package nothing changes and nothing warns."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from types import SimpleNamespace
from typing import Any

import pytest
from airflow.utils.state import TaskInstanceState

# The `test` extra installs the OpenLineage provider (`make test`); only a hand-made environment lacks it.
pytest.importorskip("airflow.providers.openlineage", reason="apache-airflow-providers-openlineage")
from airflow.providers.openlineage.extractors.manager import ExtractorManager

from studio_provider.assets import studio_dataset_asset
from studio_provider.assets.lineage import read_refs
from studio_provider.emulator import EmulatorServer
from studio_provider.operators.job import StudioRunJobOperator
from studio_provider.operators.pipeline import StudioTriggerPipelineOperator
from tests.dataset_helpers import seed
from tests.pipeline_helpers import build_lineage
from tests.studio_tasks import FakeTaskInstance, task_context

TEAM_NAMESPACE = "datachain://team-a"


def extract(operator: Any, ti: FakeTaskInstance) -> Any:
    """What the OpenLineage listener would report for the finished task."""
    dagrun = SimpleNamespace(run_id=ti.run_id)
    return ExtractorManager().extract_metadata(
        dagrun=dagrun, task=operator, task_instance_state=TaskInstanceState.SUCCESS, task_instance=ti
    )


def names(datasets: list[Any]) -> set[tuple[str, str]]:
    return {(item.namespace, item.name) for item in datasets}


@pytest.mark.integration
def test_a_job_reports_the_datasets_it_read_and_wrote(emulator: EmulatorServer) -> None:
    seed(emulator, "@acme.vision.raw", "1.0.0")
    seed(emulator, "labels", "2.0.0")  # a plain name: @local.default
    log_text = "\\n".join(
        [
            "::dataset-read @acme.vision.raw",
            "::dataset-read labels",
            "working",
            "::dataset-write @acme.vision.thumbs num_objects=12 size=340",
        ]
    )
    operator = StudioRunJobOperator(
        task_id="thumbs",
        query="print(1)",
        environment={
            "STUDIO_EMULATOR_EXECUTOR": "simulated",
            "STUDIO_EMULATOR_DURATION": "0.3",
            "STUDIO_EMULATOR_LOG_TEXT": log_text,
        },
        poll_interval=0.2,
        deferrable=False,
        inlets=[studio_dataset_asset("@acme.vision.settings", team="team-a")],
    )
    ti = FakeTaskInstance()
    result = operator.execute(task_context(ti))

    lineage = extract(operator, ti)
    assert names(lineage.inputs) == {
        (TEAM_NAMESPACE, "acme.vision.settings"),
        (TEAM_NAMESPACE, "acme.vision.raw"),
        (TEAM_NAMESPACE, "local.default.labels"),
    }
    (output,) = lineage.outputs
    assert (output.namespace, output.name) == (TEAM_NAMESPACE, "acme.vision.thumbs")
    assert output.facets["version"].datasetVersion == "1.0.0"
    stats = output.outputFacets["outputStatistics"]
    assert (stats.rowCount, stats.size) == (12, 340)
    assert lineage.run_facets["externalQuery"].externalQueryId == result["job_id"]


@pytest.mark.integration
def test_a_pipeline_run_reports_what_its_jobs_wrote(emulator: EmulatorServer) -> None:
    build_lineage(emulator)
    operator = StudioTriggerPipelineOperator(
        task_id="rebuild", datasets=["features"], poll_interval=0.2, deferrable=False
    )
    ti = FakeTaskInstance()
    assert operator.execute(task_context(ti))["status"] == "COMPLETED"
    lineage = extract(operator, ti)
    assert names(lineage.outputs) == {
        (TEAM_NAMESPACE, f"local.default.{name}") for name in ("raw", "clean", "features")
    }


def test_datachain_assets_convert_to_the_same_names() -> None:
    from tests.assets.test_events import providers_manager

    convert = providers_manager().asset_to_openlineage_converters["datachain"]
    dataset = convert(studio_dataset_asset("@acme.vision.thumbs", team="acme"), None)
    assert (dataset.namespace, dataset.name) == ("datachain://acme", "acme.vision.thumbs")


def test_read_directives_are_parsed_once_each() -> None:
    lines = ["::dataset-read a\n::dataset-read @n.p.b@v1", "::dataset-read a", "::dataset-read bad ref!", "x"]
    assert [str(ref) for ref in read_refs(lines)] == ["a", "@n.p.b@v1.0.0", "bad"]


def test_without_the_openlineage_package_nothing_changes_and_nothing_warns(tmp_path: Any) -> None:
    script = textwrap.dedent(
        """
        import sys, warnings
        # Record every warning; Airflow 3.1.0 itself warns about its own deprecated imports, so only the
        # provider's warnings (or any about OpenLineage) count.
        warnings.simplefilter("always")
        caught = warnings.catch_warnings(record=True)
        seen = caught.__enter__()

        # As if the package were absent. Its provider-info entry point stays importable (Airflow reads
        # every installed provider's); everything that is OpenLineage itself is refused.
        ALLOWED = ("airflow.providers.openlineage", "airflow.providers.openlineage.get_provider_info")

        class Block:
            def find_spec(self, name, path=None, target=None):
                blocked = name == "openlineage" or name.startswith(
                    (
                        "openlineage.",
                        "airflow.providers.openlineage.",
                        "airflow.providers.common.compat.openlineage",
                    )
                )
                if blocked and name not in ALLOWED:
                    raise ModuleNotFoundError(f"No module named {name!r}")
                return None

        sys.meta_path.insert(0, Block())
        from airflow.sdk import Asset
        from studio_provider.assets import studio_dataset_asset, studio_datasets_alias
        from studio_provider.operators.job import StudioRunJobOperator
        from studio_provider.operators.pipeline import StudioRunPipelineOperator

        op = StudioRunJobOperator(task_id="t", query="print(1)", outlets=[studio_datasets_alias()])
        asset = Asset(uri="datachain://acme/@ns/proj/ds")
        assert asset.uri == "datachain://acme/ns/proj/ds", asset.uri
        assert studio_dataset_asset("@ns.proj.ds", team="acme") == Asset(name=asset.uri, uri=asset.uri,
            group="datachain-studio")
        assert "openlineage" not in sys.modules
        loaded = {m for m in sys.modules if "openlineage" in m}
        assert loaded <= {*ALLOWED, "studio_provider.openlineage"}, loaded  # ours imports none of it
        ours = [str(w.message) for w in seen
                if "studio_provider" in str(w.filename) or "openlineage" in str(w.message).lower()]
        assert not ours, ours
        print("clean")
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script],
        env={**os.environ, "AIRFLOW_HOME": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip().endswith("clean")
    assert "openlineage" not in done.stderr.lower()
    # Airflow 3.1.0 logs a deprecation warning about its own imports; none may be about us or OpenLineage.
    warned = [line for line in (done.stderr + done.stdout).lower().splitlines() if "warning" in line]
    assert not [line for line in warned if "studio_provider" in line or "lineage" in line], warned
