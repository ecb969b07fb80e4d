"""Run a template's functions in this process the way Lambda's Python runtime calls them.

``FunctionRuntime.invoke(logical_id, event)`` imports the Handler by its dotted path (once, like a cold start) and
calls ``handler(event, context)`` with Lambda's context attributes. It never shapes events (``local.apigw`` and
``local.pollers`` do), never swallows a handler's exception, and never touches os.environ (``local.server`` does).
Not enforced: the function's Timeout (the context only reports the remaining time) and its memory.
"""

from __future__ import annotations

import importlib
import sys
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from local.template import FUNCTION_TYPES
from local.world import World

Handler = Callable[[Any, Any], Any]


@dataclass(frozen=True)
class FunctionSpec:
    logical_id: str
    name: str
    arn: str
    handler: str  # dotted path: package.module.function
    memory_mb: int
    timeout_seconds: float
    code_dir: Path | None  # put on sys.path so Handler resolves as it does under CodeUri in the Lambda package


class LambdaContext:
    """The attributes and method Lambda's Python runtime puts on ``context``."""

    def __init__(self, spec: FunctionSpec, request_id: str) -> None:
        self.function_name = spec.name
        self.function_version = "$LATEST"
        self.invoked_function_arn = spec.arn
        # A string, as the real runtime reads it from AWS_LAMBDA_FUNCTION_MEMORY_SIZE; code that assumes int breaks
        # here the same way it would in the cloud.
        self.memory_limit_in_mb = str(spec.memory_mb)
        self.aws_request_id = request_id
        self.log_group_name = f"/aws/lambda/{spec.name}"
        self.log_stream_name = f"{time.strftime('%Y/%m/%d')}/[$LATEST]{uuid.uuid4().hex}"
        self.identity = SimpleNamespace(cognito_identity_id=None, cognito_identity_pool_id=None)
        self.client_context = None
        self.tenant_id = None
        self._deadline = time.monotonic() + spec.timeout_seconds

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


class FunctionRuntime:
    def __init__(self, specs: Mapping[str, FunctionSpec]) -> None:
        self.specs = dict(specs)
        self._handlers: dict[str, Handler] = {}
        self._import_lock = threading.Lock()
        # One invocation at a time per function, as in one Lambda execution environment: handler modules keep
        # per-invocation state in globals (Powertools' logger keys, metrics buffer) that concurrent calls would mix.
        self._invoke_locks = {logical_id: threading.Lock() for logical_id in self.specs}

    @classmethod
    def from_world(cls, world: World) -> FunctionRuntime:
        specs = {}
        for logical_id in world.template.resources_of_type(*FUNCTION_TYPES):
            props = world.template.properties(logical_id)
            specs[logical_id] = FunctionSpec(
                logical_id=logical_id,
                name=world.physical_name(logical_id),
                arn=world.arn(logical_id),
                handler=str(world.resolve(props["Handler"])),
                memory_mb=int(world.resolve(props.get("MemorySize", 128))),
                timeout_seconds=float(world.resolve(props.get("Timeout", 3))),
                code_dir=world.template.code_dir(logical_id),
            )
        return cls(specs)

    def handler(self, logical_id: str) -> Handler:
        """Import (once) and return the function's handler; import errors propagate like Runtime.ImportModuleError."""
        with self._import_lock:
            if logical_id not in self._handlers:
                spec = self.specs[logical_id]
                if spec.code_dir is not None and str(spec.code_dir) not in sys.path:
                    sys.path.insert(0, str(spec.code_dir))
                module_name, _, attribute = spec.handler.rpartition(".")
                self._handlers[logical_id] = getattr(importlib.import_module(module_name), attribute)
            return self._handlers[logical_id]

    def invoke(self, logical_id: str, event: Any, *, request_id: str | None = None) -> Any:
        handler = self.handler(logical_id)
        with self._invoke_locks[logical_id]:
            # The context (and its deadline) starts when the invocation does, not while it waits for the lock.
            return handler(event, LambdaContext(self.specs[logical_id], request_id or str(uuid.uuid4())))
