"""`python -m local`: run the whole service on this machine (see local.server). `make run` calls this.

Command-line parsing only; it must never grow behaviour of its own that `local.server.run` would not have.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

from local.server import BODY_TIMEOUT_SECONDS, run
from local.template import TemplateError
from local.world import DEFAULT_STACK_NAME


def _port(text: str) -> int:
    port = int(text)
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"{port} is not a TCP port")
    return port


def _parameter(text: str) -> tuple[str, str]:
    name, sep, value = text.partition("=")
    if not sep or not name:
        raise argparse.ArgumentTypeError(f"{text!r} is not NAME=VALUE")
    return name, value


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m local",
        description="Serve the template's API on this machine, with moto standing in for AWS.",
    )
    parser.add_argument("--host", default=os.environ.get("HOST", "127.0.0.1"), help="default: $HOST or 127.0.0.1")
    parser.add_argument(
        "--port", type=_port, default=os.environ.get("PORT", "3000"), help="default: $PORT or 3000; 0 picks a free one"
    )
    parser.add_argument("--template", type=Path, help="SAM template (default: the repository's infra/template.yaml)")
    parser.add_argument(
        "--parameter",
        type=_parameter,
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="override a template parameter, e.g. LogLevel=DEBUG (repeatable)",
    )
    parser.add_argument("--stack-name", default=DEFAULT_STACK_NAME, help="prefix of the physical resource names")
    parser.add_argument(
        "--state-dir",
        type=Path,
        default=None,
        help="where stream pollers keep their checkpoints (default: $LOCAL_STATE_DIR or the repository's .local-state)",
    )
    parser.add_argument(
        "--body-timeout",
        type=float,
        default=BODY_TIMEOUT_SECONDS,
        metavar="SECONDS",
        help=f"the most a request body may take to arrive; slower gets 408 (default {BODY_TIMEOUT_SECONDS:g})",
    )
    args = parser.parse_args(argv)

    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("botocore").setLevel(logging.WARNING)
    try:
        return run(
            args.host,
            args.port,
            template_path=args.template,
            parameters=dict(args.parameter),
            stack_name=args.stack_name,
            state_dir=args.state_dir,
            body_timeout=args.body_timeout,
        )
    except TemplateError as error:
        print(f"python -m local: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
