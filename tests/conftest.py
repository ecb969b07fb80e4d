"""Fixtures shared by the integration tests: the AWS world, built from infra/template.yaml under moto."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from local.world import World, build_world
from shared import aws
from shared.config import settings

EVENTS = Path(__file__).resolve().parent.parent / "events"


@pytest.fixture
def aws_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(name, value)


@pytest.fixture
def world(aws_credentials: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    """Every resource of the template, created in moto; the functions' environment set as Lambda would set it."""
    with mock_aws():
        aws.clear()
        settings.cache_clear()
        built = build_world()
        for logical_id in built.template.resources_of_type("AWS::Serverless::Function"):
            for name, value in built.function_environment(logical_id).items():
                monkeypatch.setenv(name, value)
        yield built
        aws.clear()
        settings.cache_clear()


@pytest.fixture
def aws_calls() -> Iterator[Counter[str]]:
    """Counts every AWS API call the product makes, by operation name, through botocore's event hooks."""
    calls: Counter[str] = Counter()

    def count(model: Any, **_: Any) -> None:
        calls[model.name] += 1

    aws.dynamodb().meta.events.register("before-call.*.*", count)
    yield calls
    aws.dynamodb().meta.events.unregister("before-call.*.*", count)


def load_event(name: str) -> dict[str, Any]:
    return json.loads((EVENTS / name).read_text())


def table_items(world: World) -> list[dict[str, Any]]:
    client = boto3.client("dynamodb")
    return client.scan(TableName=world.physical_name("ReportsTable"))["Items"]
