"""Operator extra links: buttons on a task that open the Studio object it ran."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from airflow.sdk import BaseOperatorLink

from studio_provider.compat import get_xcom_value

if TYPE_CHECKING:
    from airflow.sdk import BaseOperator
    from airflow.sdk.types import TaskInstanceKey

#: The XCom keys the job operators and sensors push before they wait.
JOB_ID_XCOM_KEY = "job_id"
JOB_URL_XCOM_KEY = "job_url"
#: The XCom keys the pipeline operators and sensors push before they wait.
PIPELINE_ID_XCOM_KEY = "pipeline_id"
PIPELINE_NAME_XCOM_KEY = "pipeline_name"
PIPELINE_URL_XCOM_KEY = "pipeline_url"
DEFINITION_ID_XCOM_KEY = "definition_id"


class _XComUrlLink(BaseOperatorLink):
    """A link whose target is a URL the operator pushed to XCom (before waiting, so it works meanwhile)."""

    url_key: ClassVar[str]

    def get_link(self, operator: BaseOperator, *, ti_key: TaskInstanceKey) -> str:
        """The URL the task pushed (checked against the connection's Studio host when it was pushed), or
        an empty string before it pushed one or when it is not an ``http``/``https`` URL."""
        url = get_xcom_value(ti_key, self.url_key)
        if not isinstance(url, str) or not url.lower().startswith(("http://", "https://")):
            return ""
        return url


class StudioJobLink(_XComUrlLink):
    """ "DataChain Studio Job": opens the Studio job of the task."""

    name = "DataChain Studio Job"
    url_key = JOB_URL_XCOM_KEY


class StudioPipelineLink(_XComUrlLink):
    """"DataChain Studio Pipeline": opens the Studio pipeline (run, or definition) of the task."""

    name = "DataChain Studio Pipeline"
    url_key = PIPELINE_URL_XCOM_KEY


__all__ = [
    "DEFINITION_ID_XCOM_KEY",
    "JOB_ID_XCOM_KEY",
    "JOB_URL_XCOM_KEY",
    "PIPELINE_ID_XCOM_KEY",
    "PIPELINE_NAME_XCOM_KEY",
    "PIPELINE_URL_XCOM_KEY",
    "StudioJobLink",
    "StudioPipelineLink",
]
