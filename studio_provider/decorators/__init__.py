"""TaskFlow decorators: ``@task.datachain_studio`` (registered through the provider info)."""

from __future__ import annotations

from studio_provider.decorators.datachain_studio import StudioDecoratedOperator, datachain_studio_task

__all__ = ["StudioDecoratedOperator", "datachain_studio_task"]
