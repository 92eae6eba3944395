"""The provider registers with Airflow: entry point, schema-valid provider info, and the CLI sees it."""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
from importlib.metadata import entry_points
from pathlib import Path

import airflow
import jsonschema

from studio_provider import __version__
from studio_provider.get_provider_info import get_provider_info


def test_provider_info_validates_against_airflows_schema() -> None:
    schema = json.loads((Path(airflow.__file__).parent / "provider_info.schema.json").read_text())
    jsonschema.validate(get_provider_info(), schema)


def test_entry_point_points_at_get_provider_info() -> None:
    (entry,) = [
        ep for ep in entry_points(group="apache_airflow_provider") if ep.value.startswith("studio_provider")
    ]
    assert entry.load() is get_provider_info
    assert entry.dist is not None and entry.dist.name == get_provider_info()["package-name"]
    assert entry.dist.version == __version__


def test_declared_classes_and_modules_import() -> None:
    info = get_provider_info()
    for conn in info["connection-types"]:
        module, _, cls = conn["hook-class-name"].rpartition(".")
        hook = getattr(importlib.import_module(module), cls)
        assert hook.conn_type == conn["connection-type"]
        assert hook.default_conn_name == "datachain_studio_default"
        behaviour = hook.get_ui_field_behaviour()
        assert behaviour["hidden_fields"] == conn["ui-field-behaviour"]["hidden-fields"]
        assert set(conn["conn-fields"]) == {"team", "auth_scheme", "timeout", "verify", "max_retries"}
    for group in info["hooks"]:
        for module in group["python-modules"]:
            importlib.import_module(module)


def test_airflow_cli_lists_the_provider_and_its_hook(tmp_path: Path) -> None:
    env = {**os.environ, "AIRFLOW_HOME": str(tmp_path)}
    airflow_bin = str(Path(sys.executable).parent / "airflow")
    hooks = subprocess.run(
        [airflow_bin, "providers", "hooks"], env=env, capture_output=True, text=True, timeout=120
    )
    assert hooks.returncode == 0, hooks.stderr
    line = next(line for line in hooks.stdout.splitlines() if line.startswith("datachain_studio"))
    assert "studio_provider.hooks.studio.StudioHook" in line and "studio_conn_id" in line

    providers = subprocess.run(
        [airflow_bin, "providers", "list"], env=env, capture_output=True, text=True, timeout=120
    )
    assert providers.returncode == 0, providers.stderr
    assert "airflow-provider-datachain-studio" in providers.stdout
