"""Read infra/template.yaml (SAM) into plain data and the few typed views the local stack needs.

The template is the one source of truth for what runs locally: which routes exist, which function serves them,
whether they need IAM or a Cognito user pool's ID token, and which queues and streams drive which functions. This
module only *parses*: it never talks to AWS, never creates anything and never guesses physical names or ARNs (that is
``local.world``'s job). Values that may be intrinsics (``!Ref Param``) are passed through a caller-supplied ``resolve``
function.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

TEMPLATE_PATH = Path(__file__).resolve().parent.parent / "infra" / "template.yaml"

FUNCTION_TYPES = ("AWS::Serverless::Function",)
# SAM creates this API when an Api event names no RestApiId.
IMPLICIT_API = "ServerlessRestApi"
IMPLICIT_API_STAGE = "Prod"

Resolver = Callable[[Any], Any]


class TemplateError(ValueError):
    """The template says something the local stack cannot honour; the message names the resource."""


class _CfnLoader(yaml.SafeLoader):
    """SafeLoader that reads CloudFormation short tags (``!Ref``, ``!GetAtt``, ``!Sub``...) as their long form."""


def _construct_intrinsic(loader: _CfnLoader, suffix: str, node: yaml.Node) -> dict[str, Any]:
    value: Any
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    if suffix == "GetAtt" and isinstance(value, str):
        # `!GetAtt A.B` is the only short form whose long form is not a plain wrap: it splits at the first dot.
        value = value.split(".", 1)
    key = suffix if suffix in ("Ref", "Condition") else f"Fn::{suffix}"
    return {key: value}


# Generic on purpose: every `!Name` becomes `{"Fn::Name": ...}`, so a new intrinsic needs no code here.
_CfnLoader.add_multi_constructor("!", _construct_intrinsic)
# CloudFormation keeps unquoted dates (`AWSTemplateFormatVersion: 2010-09-09`) as strings; YAML 1.1 would not.
_CfnLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


@dataclass(frozen=True)
class Template:
    """A parsed template and where it came from (CodeUri is relative to the template's directory)."""

    path: Path
    body: Mapping[str, Any]

    @property
    def resources(self) -> Mapping[str, Mapping[str, Any]]:
        return self.body.get("Resources") or {}

    @property
    def parameters(self) -> Mapping[str, Mapping[str, Any]]:
        return self.body.get("Parameters") or {}

    @property
    def conditions(self) -> Mapping[str, Any]:
        return self.body.get("Conditions") or {}

    @property
    def mappings(self) -> Mapping[str, Any]:
        return self.body.get("Mappings") or {}

    def resources_of_type(self, *types: str) -> dict[str, Mapping[str, Any]]:
        """Logical id -> resource, in template order, for resources whose Type is one of ``types``."""
        return {lid: res for lid, res in self.resources.items() if res.get("Type") in types}

    def properties(self, logical_id: str) -> dict[str, Any]:
        """A resource's Properties with SAM's Globals applied (functions and APIs), still unresolved."""
        resource = self.resources[logical_id]
        own = dict(resource.get("Properties") or {})
        section = {"AWS::Serverless::Function": "Function", "AWS::Serverless::Api": "Api"}.get(resource["Type"])
        if section is None:
            return own
        return _merge_globals((self.body.get("Globals") or {}).get(section) or {}, own)

    def code_dir(self, function: str) -> Path | None:
        """Directory the function's Handler is relative to; None when the code is not on this disk."""
        code_uri = self.properties(function).get("CodeUri", ".")
        return (self.path.parent / code_uri).resolve() if isinstance(code_uri, str) else None


def _merge_globals(global_props: Mapping[str, Any], own: Mapping[str, Any]) -> dict[str, Any]:
    # SAM's rules: maps merge key by key, lists concatenate (globals first), scalars in the resource win.
    merged = dict(global_props)
    for key, value in own.items():
        previous = merged.get(key)
        if isinstance(previous, Mapping) and isinstance(value, Mapping) and not _is_intrinsic(value):
            merged[key] = _merge_globals(previous, value)
        elif isinstance(previous, list) and isinstance(value, list):
            merged[key] = previous + value
        else:
            merged[key] = value
    return merged


def _is_intrinsic(value: Any) -> bool:
    if not isinstance(value, Mapping) or len(value) != 1:
        return False
    key, arg = next(iter(value.items()))
    return key == "Ref" or str(key).startswith("Fn::") or (key == "Condition" and isinstance(arg, str))


def load_template(path: str | Path | None = None) -> Template:
    """Parse a SAM/CloudFormation YAML template; default: this repository's infra/template.yaml (not cwd-relative)."""
    resolved = Path(path).resolve() if path is not None else TEMPLATE_PATH
    with resolved.open(encoding="utf-8") as stream:
        body = yaml.load(stream, Loader=_CfnLoader)  # noqa: S506 - a SafeLoader subclass
    if not isinstance(body, Mapping) or not isinstance(body.get("Resources"), Mapping):
        raise TemplateError(f"{resolved}: not a CloudFormation template (no Resources section)")
    return Template(path=resolved, body=body)


def literal(value: Any) -> Any:
    """Default resolver for the views below: plain values pass, intrinsics need a World to resolve them."""
    if _is_intrinsic(value):
        raise TemplateError(f"{value!r} needs resolving against a World (pass resolve=world.resolve)")
    return value


def referenced_logical_id(value: Any) -> str | None:
    """`!Ref X`, `!GetAtt X.Attr` -> "X"; anything else -> None."""
    if isinstance(value, Mapping) and len(value) == 1:
        if "Ref" in value and isinstance(value["Ref"], str):
            return value["Ref"]
        if "Fn::GetAtt" in value and isinstance(value["Fn::GetAtt"], list) and value["Fn::GetAtt"]:
            return str(value["Fn::GetAtt"][0])
    return None


@dataclass(frozen=True)
class Throttle:
    """A usage plan's token bucket: `rate` requests per second on average, `burst` at once."""

    rate: float
    burst: int


@dataclass(frozen=True)
class ApiRoute:
    """One `Type: Api` event: an API Gateway REST (v1) resource + method proxied to a function."""

    method: str  # upper case; "ANY" matches every method
    path: str  # resource path as declared, e.g. /v1/reports/{reportId}
    function: str  # logical id
    handler: str  # dotted path, e.g. functions.intake.handler.lambda_handler
    iam_auth: bool  # the method uses AWS_IAM (SigV4) authorization
    api_key_required: bool  # the method needs an x-api-key (usage plans identify partners by it)
    throttle: Throttle | None  # the API's usage-plan throttle, applied per API key
    api: str  # logical id of the RestApi (IMPLICIT_API when the event names none)
    stage: str
    event: str  # the event's name under Events
    user_pool: str | None = None  # logical id of the user pool whose ID tokens a Cognito authorizer accepts here


def api_routes(template: Template, resolve: Resolver = literal) -> list[ApiRoute]:
    routes = []
    for function in template.resources_of_type(*FUNCTION_TYPES):
        props = template.properties(function)
        # HttpApi events (payload v2) are deliberately not handled: the service is a REST (v1) API.
        for event_name, event in _events(props, "Api"):
            ev = event.get("Properties") or {}
            api = referenced_logical_id(ev.get("RestApiId")) if "RestApiId" in ev else IMPLICIT_API
            if api is None:
                raise TemplateError(f"{function}.{event_name}: RestApiId must reference an API in this template")
            api_props = template.properties(api) if api in template.resources else _implicit_api_props(template)
            api_auth = api_props.get("Auth") or {}
            event_auth = ev.get("Auth") or {}
            authorizer = resolve(event_auth.get("Authorizer", api_auth.get("DefaultAuthorizer")))
            key_required = bool(resolve(event_auth.get("ApiKeyRequired", api_auth.get("ApiKeyRequired", False))))
            plan_throttle = ((api_auth.get("UsagePlan") or {}).get("Throttle")) or None
            routes.append(
                ApiRoute(
                    method=str(resolve(ev["Method"])).upper(),
                    path=str(resolve(ev["Path"])),
                    function=function,
                    handler=str(resolve(props["Handler"])),
                    iam_auth=authorizer == "AWS_IAM",
                    api_key_required=key_required,
                    throttle=Throttle(
                        rate=float(resolve(plan_throttle["RateLimit"])), burst=int(resolve(plan_throttle["BurstLimit"]))
                    )
                    if plan_throttle and key_required
                    else None,
                    api=api,
                    stage=str(resolve(api_props.get("StageName", IMPLICIT_API_STAGE))),
                    event=event_name,
                    user_pool=_user_pool(api_auth, event_auth, authorizer, f"{function}.{event_name}"),
                )
            )
    return routes


def _user_pool(api_auth: Mapping[str, Any], event_auth: Mapping[str, Any], authorizer: Any, where: str) -> str | None:
    """The user pool a route's Cognito authorizer names, SAM's way: the event's Auth.Authorizer (else the API's
    DefaultAuthorizer) is NONE, AWS_IAM, or the name of one of the API's Auth.Authorizers."""
    if authorizer in (None, "NONE", "AWS_IAM"):
        return None
    definition = (api_auth.get("Authorizers") or {}).get(authorizer)
    if not isinstance(definition, Mapping):
        raise TemplateError(f"{where}: Authorizer {authorizer!r} is not one of the API's Auth.Authorizers")
    if "UserPoolArn" not in definition:
        raise TemplateError(f"{where}: {authorizer} is a Lambda authorizer; only Cognito ones are emulated locally")
    # What the local authorizer does not do, refused rather than let through unchecked: scopes would ask for access
    # tokens, another identity source or a validation expression for other checks than API Gateway's defaults.
    identity = definition.get("Identity") or {}
    unsupported = [key for key in ("ValidationExpression", "QueryStrings", "ReauthorizeEvery") if key in identity]
    if identity.get("Header", "Authorization") != "Authorization":
        unsupported.append("Identity.Header")
    if definition.get("AuthorizationScopes") or event_auth.get("AuthorizationScopes"):
        unsupported.append("AuthorizationScopes")
    if unsupported:
        raise TemplateError(f"{where}: {authorizer} uses {', '.join(unsupported)}, which is not emulated locally")
    arns = definition["UserPoolArn"]
    pools = [referenced_logical_id(arn) for arn in (arns if isinstance(arns, list) else [arns])]
    if len(pools) != 1 or pools[0] is None:
        raise TemplateError(f"{where}: {authorizer}'s UserPoolArn must be one !GetAtt <pool>.Arn of this template")
    return pools[0]


def _implicit_api_props(template: Template) -> dict[str, Any]:
    return dict((template.body.get("Globals") or {}).get("Api") or {})


def _events(props: Mapping[str, Any], type_: str) -> list[tuple[str, Mapping[str, Any]]]:
    return [(name, ev) for name, ev in (props.get("Events") or {}).items() if ev.get("Type") == type_]


@dataclass(frozen=True)
class SqsEventSource:
    """An SQS event source mapping, with Lambda's defaults for what the template leaves out."""

    function: str
    event: str
    queue: str  # logical id of the queue
    batch_size: int = 10
    maximum_batching_window_seconds: int = 0
    function_response_types: tuple[str, ...] = ()
    enabled: bool = True
    filter_criteria: Mapping[str, Any] | None = None

    @property
    def report_batch_item_failures(self) -> bool:
        return "ReportBatchItemFailures" in self.function_response_types


@dataclass(frozen=True)
class DynamoDbEventSource:
    """A DynamoDB stream event source mapping, with Lambda's defaults for what the template leaves out."""

    function: str
    event: str
    table: str  # logical id of the table whose stream is read
    starting_position: str  # TRIM_HORIZON | LATEST
    batch_size: int = 100
    maximum_batching_window_seconds: int = 0
    maximum_retry_attempts: int = -1  # -1: retry until the record expires, as Lambda does
    maximum_record_age_seconds: int = -1
    bisect_batch_on_function_error: bool = False
    function_response_types: tuple[str, ...] = ()
    on_failure_destination: str | None = None  # logical id of the queue/topic that gets failed-batch records
    enabled: bool = True
    filter_criteria: Mapping[str, Any] | None = None

    @property
    def report_batch_item_failures(self) -> bool:
        return "ReportBatchItemFailures" in self.function_response_types


EventSource = SqsEventSource | DynamoDbEventSource


def event_sources(template: Template, resolve: Resolver = literal) -> list[EventSource]:
    """Every SQS and DynamoDB event of every function, in template order."""
    sources: list[EventSource] = []
    for function in template.resources_of_type(*FUNCTION_TYPES):
        props = template.properties(function)
        for name, event in (props.get("Events") or {}).items():
            if event.get("Type") not in ("SQS", "DynamoDB"):
                continue
            ev = {key: (value if key in ("Queue", "Stream", "DestinationConfig") else resolve(value))
                  for key, value in (event.get("Properties") or {}).items()}  # fmt: skip
            where = f"{function}.{name}"
            common: dict[str, Any] = {
                "function": function,
                "event": name,
                "maximum_batching_window_seconds": int(ev.get("MaximumBatchingWindowInSeconds", 0)),
                "function_response_types": tuple(ev.get("FunctionResponseTypes") or ()),
                "enabled": bool(ev.get("Enabled", True)),
                "filter_criteria": ev.get("FilterCriteria"),
            }
            if event.get("Type") == "SQS":
                sources.append(
                    SqsEventSource(
                        queue=_required_ref(ev.get("Queue"), where, "Queue"),
                        batch_size=int(ev.get("BatchSize", 10)),
                        **common,
                    )
                )
            else:
                destination = ((ev.get("DestinationConfig") or {}).get("OnFailure") or {}).get("Destination")
                on_failure = None if destination is None else _required_ref(destination, where, "OnFailure")
                sources.append(
                    DynamoDbEventSource(
                        table=_required_ref(ev.get("Stream"), where, "Stream"),
                        starting_position=_required(ev, "StartingPosition", where),
                        batch_size=int(ev.get("BatchSize", 100)),
                        maximum_retry_attempts=int(ev.get("MaximumRetryAttempts", -1)),
                        maximum_record_age_seconds=int(ev.get("MaximumRecordAgeInSeconds", -1)),
                        bisect_batch_on_function_error=bool(ev.get("BisectBatchOnFunctionError", False)),
                        on_failure_destination=on_failure,
                        **common,
                    )
                )
    return sources


def _required(props: Mapping[str, Any], key: str, where: str) -> str:
    if key not in props:
        raise TemplateError(f"{where}: {key} is required")
    return str(props[key])


def _required_ref(value: Any, where: str, what: str) -> str:
    # Locally we can only poll a queue or stream that we created, so the template must point at one of its own.
    logical_id = referenced_logical_id(value)
    if logical_id is None:
        raise TemplateError(f"{where}: {what} must be !Ref/!GetAtt of a resource in this template, got {value!r}")
    return logical_id
