"""Translate infra/template.yaml (SAM) into the CloudFormation that AWS will deploy, offline.

`make template-lint` lints this output as well as the SAM source: cfn-lint checks the SAM form through its own bundled
translator, but the resources that SAM generates (roles, permissions, event source mappings, stages) are only seen
whole here. It never talks to AWS: the managed-policy loader is a stub, and SAM's bundled map of AWS managed
policies answers the names we use.

Usage: python -m tests.template.translate [TEMPLATE] [OUTPUT]
"""

from __future__ import annotations

import copy
import json
import logging
import os
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from samtranslator.translator.managed_policy_translator import ManagedPolicyLoader  # type: ignore[import-untyped]
from samtranslator.translator.transform import transform  # type: ignore[import-untyped]

from local.template import TEMPLATE_PATH, load_template

# The translator counts what it did for AWS's own telemetry and warns, at exit, that nobody published the counts.
logging.getLogger("samtranslator.metrics.metrics").setLevel(logging.ERROR)

DEFAULT_OUTPUT = Path(__file__).resolve().parents[2] / ".aws-sam" / "translated.json"


class OfflinePolicyLoader(ManagedPolicyLoader):
    """Lists no policies instead of asking IAM: a name SAM does not bundle stays a bare name, not an ARN."""

    def __init__(self) -> None:
        self._policy_map: dict[str, str] | None = {}
        self.max_items = 0

    def load(self) -> dict[str, str]:
        return {}


@contextmanager
def _region(name: str) -> Iterator[None]:
    # The transform fills AWS::Region/AWS::Partition from a boto3 session; a region is all it needs, not credentials.
    saved = os.environ.get("AWS_DEFAULT_REGION")
    os.environ["AWS_DEFAULT_REGION"] = saved or name
    try:
        yield
    finally:
        if saved is None:
            del os.environ["AWS_DEFAULT_REGION"]


# What `sam package` rewrites: local paths become S3 locations. The translator accepts nothing else, and the
# placeholder changes no resource that a linter looks at.
_PACKAGED_PROPERTIES = ("CodeUri", "ContentUri", "DefinitionUri")
_PLACEHOLDER_S3 = "s3://abuse-intake-artifacts/packaged.zip"


def _as_packaged(body: dict[str, Any]) -> dict[str, Any]:
    sections = [resource.get("Properties") for resource in (body.get("Resources") or {}).values()]
    sections += list((body.get("Globals") or {}).values())
    for props in sections:
        if not isinstance(props, dict):
            continue
        for key in _PACKAGED_PROPERTIES:
            value = props.get(key)
            if isinstance(value, str) and not value.startswith("s3://"):
                props[key] = _PLACEHOLDER_S3
    return body


def translate(path: str | Path = TEMPLATE_PATH, region: str = "us-east-1") -> dict[str, Any]:
    """The CloudFormation template that the SAM transform makes of ``path`` (parameters at their defaults)."""
    return translate_body(load_template(path).body, region)


def translate_body(body: Mapping[str, Any], region: str = "us-east-1") -> dict[str, Any]:
    """The same for a template already read (intrinsics in long form); ``body`` is left as it was."""
    packaged = _as_packaged(copy.deepcopy(dict(body)))
    with _region(region):
        return transform(packaged, {}, OfflinePolicyLoader())


def main(argv: list[str]) -> int:
    source = Path(argv[0]) if argv else TEMPLATE_PATH
    output = Path(argv[1]) if len(argv) > 1 else DEFAULT_OUTPUT
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(translate(source), indent=2, sort_keys=False) + "\n", encoding="utf-8")
    print(f"translated {source} -> {output}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
