"""A typed client of the DataChain Studio REST API. It imports nothing from Airflow.

>>> from studio_provider.client import StudioClient, StudioConfig
>>> client = StudioClient(StudioConfig.resolve(token="...", team="my-team"))  # doctest: +SKIP
>>> client.create_job(query="print(1)", query_type="PYTHON")  # doctest: +SKIP
"""

from __future__ import annotations

from .api import API_CALLS, AsyncStudioApi, AsyncStudioClient, StudioApi, StudioClient
from .config import DEFAULT_URL, StudioConfig, normalize_api_url
from .datasets import DatasetRef
from .errors import (
    StudioAPIError,
    StudioAuthenticationError,
    StudioError,
    StudioNotFoundError,
    StudioOutcomeUnknownError,
    StudioRateLimitError,
    StudioServerError,
    StudioTLSError,
    StudioTransportError,
    StudioValidationError,
)
from .models import (
    Cluster,
    DatasetVersionRef,
    DatasetVersionStatus,
    Job,
    JobStatus,
    LogLine,
    Pipeline,
    PipelineJobRun,
    PipelineStatus,
    Schedule,
    UploadedFile,
)
from .request import ApiRequest, Retry

__all__ = [
    "API_CALLS",
    "DEFAULT_URL",
    "ApiRequest",
    "AsyncStudioApi",
    "AsyncStudioClient",
    "Cluster",
    "DatasetRef",
    "DatasetVersionRef",
    "DatasetVersionStatus",
    "Job",
    "JobStatus",
    "LogLine",
    "Pipeline",
    "PipelineJobRun",
    "PipelineStatus",
    "Retry",
    "Schedule",
    "StudioAPIError",
    "StudioApi",
    "StudioAuthenticationError",
    "StudioClient",
    "StudioConfig",
    "StudioError",
    "StudioNotFoundError",
    "StudioOutcomeUnknownError",
    "StudioRateLimitError",
    "StudioServerError",
    "StudioTLSError",
    "StudioTransportError",
    "StudioValidationError",
    "UploadedFile",
    "normalize_api_url",
]
