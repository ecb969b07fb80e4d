"""The web form function's cold start: its first answer to GET / (the form, rendered from its Jinja2 templates) in a
brand-new interpreter, as a ratio to the floor that every function pays (`import boto3` + one client + one PutItem).

The pages moved from string building to Jinja2 templates in this round; that change measured, on python3.12 and CPU
time: Jinja2's import about 30 ms on top of what the handler already imports, and the first render (compiling the
form's four templates) 36 ms against 0.3 ms for the string-built page. This row keeps the figure in view.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from bench.cold_start import AWS_STUB, CLOCK, DONE, FLOOR
from bench.fresh_process import code_copies, interleaved_medians, runtime_python
from bench.table import Figure

FIRST_RESPONSE = (
    CLOCK
    + AWS_STUB
    + """
import json
from functions.webform.handler import lambda_handler

class Context:
    function_name = "WebFormFunction"; memory_limit_in_mb = 512; aws_request_id = "bench"
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:WebFormFunction"

answer = lambda_handler(json.load(open("events/webform_form.json")), Context())
assert answer["statusCode"] == 200 and 'name="nonce"' in answer["body"], answer
"""
    + DONE
)


def measure() -> list[Figure]:
    python = runtime_python()
    if python is None:
        raise RuntimeError("no .tools/py312: run `make bench`, which builds it")
    with tempfile.TemporaryDirectory() as workdir:
        _, hashed = code_copies(python, Path(workdir))
        times = interleaved_medians(python, {"floor": (FLOOR, hashed), "webform": (FIRST_RESPONSE, hashed)})
    return [
        Figure(
            "py3.12 web form first response", times["webform"] * 1000, "ms", note="GET / -> 200, CPU time", digits=0
        ),
        Figure("py3.12 web form first response / floor", times["webform"] / times["floor"], "x"),
    ]
