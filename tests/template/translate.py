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
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from samtranslator.translator.managed_policy_translator import ManagedPolicyLoader
from samtranslator.translator.transform import transform

from local.template import TEMPLATE_PATH, load_template

DEFAULT_OUTPUT = Path(__file__).resolve().parents[2] / ".aws-sam" / "translated.json"


class OfflinePolicyLoader(ManagedPolicyLoader):
    """Answers with no policies instead of listing IAM's: names SAM does not bundle fail the translation loudly."""

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
    body = _as_packaged(copy.deepcopy(dict(load_template(path).body)))
    with _region(region):
        return transform(body, {}, OfflinePolicyLoader())


def main(argv: list[str]) -> int:
    source = Path(argv[0]) if argv else TEMPLATE_PATH
    output = Path(argv[1]) if len(argv) > 1 else DEFAULT_OUTPUT
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(translate(source), indent=2, sort_keys=False) + "\n", encoding="utf-8")
    print(f"translated {source} -> {output}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
