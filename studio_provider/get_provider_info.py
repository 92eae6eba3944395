"""The provider's metadata, read by Airflow through the ``apache_airflow_provider`` entry point."""

from __future__ import annotations

from typing import Any

from studio_provider import __version__

PACKAGE_NAME = "airflow-provider-datachain-studio"


def get_provider_info() -> dict[str, Any]:
    """Describe the provider to Airflow (validated against Airflow's ``provider_info.schema.json``)."""
    return {
        "package-name": PACKAGE_NAME,
        "name": "DataChain Studio",
        "description": "Run [DataChain Studio](https://studio.datachain.ai) jobs and pipelines from Airflow.",
        "versions": [__version__],
        "integrations": [
            {
                "integration-name": "DataChain Studio",
                "external-doc-url": "https://docs.datachain.ai/studio/",
                "tags": ["service"],
            }
        ],
        "hooks": [
            {
                "integration-name": "DataChain Studio",
                "python-modules": ["studio_provider.hooks.studio"],
            }
        ],
        "operators": [
            {
                "integration-name": "DataChain Studio",
                "python-modules": [
                    "studio_provider.operators.job",
                    "studio_provider.operators.cancel_job",
                    "studio_provider.operators.pipeline",
                    "studio_provider.operators.pipeline_control",
                    "studio_provider.operators.schedule",
                ],
            }
        ],
        "sensors": [
            {
                "integration-name": "DataChain Studio",
                "python-modules": [
                    "studio_provider.sensors.job",
                    "studio_provider.sensors.pipeline",
                    "studio_provider.sensors.dataset",
                ],
            }
        ],
        "triggers": [
            {
                "integration-name": "DataChain Studio",
                "python-modules": [
                    "studio_provider.triggers.job",
                    "studio_provider.triggers.pipeline",
                    "studio_provider.triggers.dataset",
                ],
            }
        ],
        # Studio datasets as assets: datachain://<team>/<namespace>/<project>/<dataset> (see assets.py).
        "asset-uris": [
            {
                "schemes": ["datachain"],
                "handler": "studio_provider.assets.normalize_uri",
                "factory": "studio_provider.assets.create_asset",
                "to_openlineage_converter": "studio_provider.assets.lineage.convert_asset_to_openlineage",
            }
        ],
        "task-decorators": [
            {
                "name": "datachain_studio",
                "class-name": "studio_provider.decorators.datachain_studio.datachain_studio_task",
            }
        ],
        "extra-links": [
            "studio_provider.links.StudioJobLink",
            "studio_provider.links.StudioPipelineLink",
        ],
        "connection-types": [
            {
                "connection-type": "datachain_studio",
                "hook-class-name": "studio_provider.hooks.studio.StudioHook",
                "hook-name": "DataChain Studio",
                "conn-fields": {
                    "team": {
                        "label": "Team",
                        "schema": {"type": ["string", "null"]},
                        "description": "The Studio team every call is scoped to (or DATACHAIN_STUDIO_TEAM).",
                    },
                    "auth_scheme": {
                        "label": "Auth scheme",
                        "schema": {
                            "type": ["string", "null"],
                            "enum": ["Bearer", "token", None],
                            "default": "Bearer",
                        },
                        "description": "Bearer (API reference) or token (what the datachain CLI sends).",
                    },
                    "timeout": {
                        "label": "Timeout (seconds)",
                        "schema": {"type": ["number", "null"], "default": 30},
                    },
                    "verify": {
                        "label": "Verify TLS certificates",
                        "schema": {"type": ["boolean", "null"], "default": True},
                    },
                    "max_retries": {
                        "label": "Max retries",
                        "schema": {"type": ["integer", "null"], "default": 3},
                    },
                },
                "ui-field-behaviour": {
                    "hidden-fields": ["login", "schema", "port"],
                    "relabeling": {"host": "Studio URL", "password": "Token"},
                    "placeholders": {"host": "https://studio.datachain.ai", "password": "Studio token"},
                },
            }
        ],
    }
