"""Keep the functions' and libraries' logs out of the table: `make bench` prints figures and nothing else.

The in-process sections run the real handlers under moto, and the worlds they build give each function the
template's environment (POWERTOOLS_LOG_LEVEL: INFO); call `quiet_environment()` after that, before a handler's module
is imported (Powertools reads the level when a Logger is made).
"""

from __future__ import annotations

import logging
import os
import warnings

QUIET = {
    "POWERTOOLS_LOG_LEVEL": "ERROR",
    "LOG_LEVEL": "ERROR",
    "POWERTOOLS_METRICS_DISABLED": "true",
    "POWERTOOLS_TRACE_DISABLED": "true",
}
LIBRARIES = ("botocore", "boto3", "urllib3", "moto", "werkzeug", "aws_lambda_powertools", "local", "shared")


def quiet_environment() -> None:
    os.environ.update(QUIET)
    for name in LIBRARIES:
        logging.getLogger(name).setLevel(logging.ERROR)
    # Powertools warns on every invocation that adds no metric (the workers' batches with nothing to count).
    warnings.filterwarnings("ignore", message="No application metrics to publish", category=UserWarning)
