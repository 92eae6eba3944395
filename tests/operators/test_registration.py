"""What the provider info declares for jobs exists: modules import, the link is the operators' link."""

from __future__ import annotations

import importlib

from airflow.sdk import BaseOperatorLink

from studio_provider.get_provider_info import get_provider_info
from studio_provider.operators.cancel_job import StudioCancelJobOperator
from studio_provider.operators.job import StudioRunJobOperator
from studio_provider.sensors.job import StudioJobSensor


def test_declared_job_modules_import() -> None:
    info = get_provider_info()
    modules = [
        m
        for key in ("operators", "sensors", "triggers")
        for group in info[key]
        for m in group["python-modules"]
    ]
    assert {
        "studio_provider.operators.job",
        "studio_provider.sensors.job",
        "studio_provider.triggers.job",
    } <= set(modules)
    for module in modules:
        importlib.import_module(module)


def test_extra_link_is_declared_and_attached() -> None:
    path = "studio_provider.links.StudioJobLink"
    assert path in get_provider_info()["extra-links"]
    module, _, name = path.rpartition(".")
    link_class = getattr(importlib.import_module(module), name)
    assert issubclass(link_class, BaseOperatorLink) and link_class().name == "DataChain Studio Job"
    for operator in (StudioRunJobOperator, StudioCancelJobOperator, StudioJobSensor):
        assert [type(link) for link in operator.operator_extra_links] == [link_class]


def test_template_fields_are_attributes() -> None:
    operator = StudioRunJobOperator(task_id="t", query="print(1)")
    for name in operator.template_fields:
        assert hasattr(operator, name), name
