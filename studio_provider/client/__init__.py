"""A typed client of the DataChain Studio REST API. It imports nothing from Airflow.

Waiting for jobs, pipelines and datasets is :mod:`studio_provider.client.waiting`; lookups by name and
Studio's web addresses are :mod:`studio_provider.client.lookups`.

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
    StudioDeadlineExceeded,
    StudioError,
    StudioNotFoundError,
    StudioOutcomeUnknownError,
    StudioRateLimitError,
    StudioResponseTooLargeError,
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
from .pool import shared_client
from .request import ApiRequest, Retry
from .retry import Backoff, is_transient

__all__ = [
    "API_CALLS",
    "DEFAULT_URL",
    "ApiRequest",
    "AsyncStudioApi",
    "AsyncStudioClient",
    "Backoff",
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
    "StudioDeadlineExceeded",
    "StudioError",
    "StudioNotFoundError",
    "StudioOutcomeUnknownError",
    "StudioRateLimitError",
    "StudioResponseTooLargeError",
    "StudioServerError",
    "StudioTLSError",
    "StudioTransportError",
    "StudioValidationError",
    "UploadedFile",
    "is_transient",
    "normalize_api_url",
    "shared_client",
]
