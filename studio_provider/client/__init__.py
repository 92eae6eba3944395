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
    StudioDeadlineExceeded,
    StudioError,
    StudioNotFoundError,
    StudioOutcomeUnknownError,
    StudioRateLimitError,
    StudioServerError,
    StudioTLSError,
    StudioTransportError,
    StudioValidationError,
)
from .follow import FollowEvent, JobFollower, LogEvent, StatusEvent, follow_job, websocket_url
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
from .wait import Deadline, is_transient, poll_until, reconnect_delays

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
    "Deadline",
    "FollowEvent",
    "Job",
    "JobFollower",
    "JobStatus",
    "LogEvent",
    "LogLine",
    "Pipeline",
    "PipelineJobRun",
    "PipelineStatus",
    "Retry",
    "Schedule",
    "StatusEvent",
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
    "StudioServerError",
    "StudioTLSError",
    "StudioTransportError",
    "StudioValidationError",
    "UploadedFile",
    "follow_job",
    "is_transient",
    "normalize_api_url",
    "poll_until",
    "reconnect_delays",
    "shared_client",
    "websocket_url",
]
