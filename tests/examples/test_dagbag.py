"""Every example DAG parses with zero import errors, as Airflow's DAG processor sees the folder."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import dag_bag

EXAMPLES = Path(__file__).resolve().parent.parent.parent / "dags_examples"
EXPECTED = {
    "studio_etl_chain",
    "studio_failure_handling",
    "studio_on_new_dataset",
    "studio_schedules",
    "studio_taskflow",
}


def test_example_dags_parse_without_import_errors() -> None:
    bag = dag_bag(EXAMPLES)

    assert bag.import_errors == {}
    assert set(bag.dag_ids) == EXPECTED, sorted(bag.dag_ids)
    # The job scripts beside the DAGs are not DAG files (.airflowignore keeps them out).
    assert all("studio_jobs" not in str(path) for path in bag.file_last_changed)
    for dag_id in EXPECTED:
        dag = bag.dags[dag_id]
        assert "example" in dag.tags and dag.doc_md, f"{dag_id} needs tags and its docstring as doc_md"
