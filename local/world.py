"""Create the template's resources through boto3, and say what each logical id is called once created.

``build_world()`` creates what the service's code talks to (DynamoDB tables, SQS queues, S3 buckets, KMS keys and
aliases, SNS topics and subscriptions, Cognito user pools with their app clients and groups, SES email identities)
against whatever endpoint boto3 is configured for (``moto.mock_aws()`` in tests, the moto server ``python -m local``
starts, or AWS_ENDPOINT_URL), every setting from the template's Properties, so what runs locally is what gets deployed.
The ``World`` resolves Ref / GetAtt / Sub / parameters / pseudo-parameters to physical names, ARNs and URLs, and gives
each function its environment.

Physical names are ``{stack_name}-{LogicalId}`` (buckets lower-cased, FIFO queues and topics ``.fifo``) unless the
template names the resource, so a restart against the same endpoint finds its data; creation is idempotent (what
exists is reused and brought in line where the API allows). It never deletes anything, never creates what the template
does not declare (except a lookup alias per KMS key, ``alias/{stack_name}/{LogicalId}``: keys have no name to be found
by), and never chooses the endpoint. Other types (APIs, functions, alarms, IAM, WAF...) get name-only stand-ins so
references resolve. Not emulated: TTL expiry and IAM (moto evaluates no policy; the template gates check them).

Where CloudFormation's shapes differ from the APIs' they are translated (StreamEnabled, SSEEnabled,
ServerSideEncryptionByDefault, KMS TagKey/TagValue, a user pool's EnabledMfas, which CloudFormation sets with
SetUserPoolMfaConfig after CreateUserPool). Moto or API gaps written around: TTL is read before it is set
(DynamoDB refuses re-enabling it), an existing queue gets SetQueueAttributes (CreateQueue with other attributes fails),
CreateKey is never idempotent (hence the lookup alias), moto refuses a new object-lock configuration on a bucket that
holds objects (a restart finds it in place), and moto puts only a client's ReadAttributes in its ID tokens where
Cognito's default (no ReadAttributes) is every attribute, so such a client is given the pool's standard attributes
(the casework API reads ``email`` from the token). A user pool is found again by name (CreateUserPool is never
idempotent either) and reused as it is, its MFA configuration re-applied. Seen in tests, not worked around: moto
reports the unset unit of a default retention as 0 (``"Years": 0`` next to ``"Days": 365``).

Some parameters have a local default of their own (``LOCAL_PARAMETER_DEFAULTS``) where the template's would leave out
something the local stack shows: EvidenceCustodianPrincipals names a demo principal, so EvidenceCustodianRole (and the
casework API's destruction route) exists locally. An explicit parameter always wins.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import secrets
import string
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from local.template import (
    FUNCTION_TYPES,
    IMPLICIT_API,
    Template,
    TemplateError,
    load_template,
)

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.client import DynamoDBClient
    from mypy_boto3_kms.client import KMSClient
    from mypy_boto3_s3.client import S3Client
    from mypy_boto3_sns.client import SNSClient
    from mypy_boto3_sqs.client import SQSClient

log = logging.getLogger(__name__)

DEFAULT_STACK_NAME = "abuse-intake-local"
MOTO_ACCOUNT_ID = "123456789012"
DEMO_CUSTODIAN_PRINCIPAL = f"arn:aws:iam::{MOTO_ACCOUNT_ID}:role/demo-custodian"
# Applied when the template declares the parameter and nobody set it; never in a deployed stack.
LOCAL_PARAMETER_DEFAULTS: Mapping[str, Any] = {"EvidenceCustodianPrincipals": DEMO_CUSTODIAN_PRINCIPAL}
_NO_VALUE = object()  # what `!Ref AWS::NoValue` resolves to: the enclosing key or list item disappears
_SUB_VARIABLE = re.compile(r"\$\{([^}]*)\}")


@dataclass(frozen=True)
class Resource:
    """One logical id as it exists here."""

    logical_id: str
    type: str
    name: str  # table/queue/bucket/topic/function name, KMS key id, alias name
    ref: Any  # what !Ref returns (CloudFormation's rule for the type: a queue's Ref is its URL, a key's its id...)
    attributes: Mapping[str, Any] = field(default_factory=dict)  # what !GetAtt returns


class World:
    """Physical names, ARNs and URLs per logical id, and the resolver that turns template values into them."""

    def __init__(
        self,
        template: Template,
        *,
        stack_name: str = DEFAULT_STACK_NAME,
        region: str = "us-east-1",
        account_id: str = MOTO_ACCOUNT_ID,
        parameters: Mapping[str, Any] | None = None,
        session: boto3.Session | None = None,
    ) -> None:
        self.template = template
        self.session = session or boto3.Session(region_name=region)
        self.stack_name = stack_name
        self.region = region
        self.account_id = account_id
        self.parameters = _parameter_values(template, parameters or {})
        self.resources: dict[str, Resource] = {}  # created (or found existing) through the API
        self._stand_ins: dict[str, Resource] = {}
        self._conditions: dict[str, bool] = {}

    def client(self, service: str) -> Any:
        """A boto3 client of the world's session and region (resources are created with these)."""
        return self.session.client(service, region_name=self.region)  # type: ignore[call-overload]

    # --- lookups -------------------------------------------------------------------------------------------------

    def resource(self, logical_id: str) -> Resource:
        if logical_id in self.resources:
            return self.resources[logical_id]
        declared = self.template.resources.get(logical_id)
        if declared is not None and declared.get("Type") in _CREATORS:
            raise TemplateError(f"{logical_id} is referenced before it exists (inactive Condition, or a cycle?)")
        if logical_id not in self._stand_ins:
            self._stand_ins[logical_id] = self._stand_in(logical_id)
        return self._stand_ins[logical_id]

    def physical_name(self, logical_id: str) -> str:
        return self.resource(logical_id).name

    def ref(self, logical_id: str) -> Any:
        return self.resource(logical_id).ref

    def get_att(self, logical_id: str, attribute: str) -> Any:
        resource = self.resource(logical_id)
        if attribute not in resource.attributes:
            known = ", ".join(sorted(resource.attributes)) or "none"
            raise TemplateError(f"!GetAtt {logical_id}.{attribute}: not available locally (known: {known})")
        return resource.attributes[attribute]

    def arn(self, logical_id: str) -> str:
        return str(self.get_att(logical_id, "Arn"))

    def queue_url(self, logical_id: str) -> str:
        return str(self.get_att(logical_id, "QueueUrl"))

    def function_environment(self, logical_id: str) -> dict[str, str]:
        """Globals.Function.Environment.Variables merged with the function's own, resolved to strings."""
        variables = (self.template.properties(logical_id).get("Environment") or {}).get("Variables") or {}
        return {name: _to_str(value, f"{logical_id} env {name}") for name, value in self.resolve(variables).items()}

    def condition(self, name: str) -> bool:
        if name not in self._conditions:
            if name not in self.template.conditions:
                raise TemplateError(f"unknown Condition {name}")
            self._conditions[name] = bool(self.resolve(self.template.conditions[name]))
        return self._conditions[name]

    def is_active(self, logical_id: str) -> bool:
        condition = self.template.resources[logical_id].get("Condition")
        return condition is None or self.condition(condition)

    def default_name(self, logical_id: str, *, max_length: int, lowercase: bool = False, suffix: str = "") -> str:
        """`{stack_name}-{LogicalId}`, made valid for the service and shortened with a hash if it must be."""
        name = f"{self.stack_name}-{logical_id}"
        if lowercase:
            name = re.sub(r"[^a-z0-9-]", "-", name.lower())
        room = max_length - len(suffix)
        if len(name) > room:
            name = f"{name[: room - 9]}-{hashlib.sha256(name.encode()).hexdigest()[:8]}"
        return name + suffix

    # --- resolution ----------------------------------------------------------------------------------------------

    def resolve(self, value: Any) -> Any:
        """Template value -> plain value: intrinsics evaluated, AWS::NoValue removed, everything else as is."""
        if isinstance(value, list):
            return [item for item in map(self.resolve, value) if item is not _NO_VALUE]
        if not isinstance(value, Mapping):
            return value
        if len(value) == 1:
            ((key, arg),) = value.items()
            if key in _INTRINSICS and (key != "Condition" or isinstance(arg, str)):
                return _INTRINSICS[key](self, arg)
            if str(key).startswith("Fn::"):
                raise TemplateError(f"{key} is not supported locally")
        resolved = {key: self.resolve(item) for key, item in value.items()}
        return {key: item for key, item in resolved.items() if item is not _NO_VALUE}

    def _ref(self, name: str) -> Any:
        pseudo = {
            "AWS::Region": self.region,
            "AWS::AccountId": self.account_id,
            "AWS::StackName": self.stack_name,
            "AWS::StackId": f"arn:aws:cloudformation:{self.region}:{self.account_id}:stack/{self.stack_name}/local",
            "AWS::Partition": "aws",
            "AWS::URLSuffix": "amazonaws.com",
            "AWS::NotificationARNs": [],
            "AWS::NoValue": _NO_VALUE,
        }
        if name in pseudo:
            return pseudo[name]
        if name in self.parameters:
            return self.parameters[name]
        return self.ref(name)

    def _sub(self, arg: Any) -> str:
        text, variables = (arg[0], self.resolve(arg[1])) if isinstance(arg, list) else (arg, {})

        def substitute(match: re.Match[str]) -> str:
            expression = match.group(1)
            if expression.startswith("!"):  # ${!Literal} is how a template writes a literal ${Literal}
                return "${" + expression[1:] + "}"
            if expression in variables:
                return _to_str(variables[expression], f"!Sub {expression}")
            if "." in expression and not expression.startswith("AWS::"):
                logical_id, attribute = expression.split(".", 1)
                return _to_str(self.get_att(logical_id, attribute), f"!Sub {expression}")
            return _to_str(self._ref(expression), f"!Sub {expression}")

        return _SUB_VARIABLE.sub(substitute, str(text))

    def _get_att(self, arg: Any) -> Any:
        logical_id, attribute = arg.split(".", 1) if isinstance(arg, str) else (arg[0], self.resolve(arg[1]))
        return self.get_att(logical_id, attribute)

    def _stand_in(self, logical_id: str) -> Resource:
        # Types we do not create still get the names and ARNs CloudFormation would give them, so an environment
        # variable or policy that mentions them resolves the same way locally as in the cloud.
        declared = self.template.resources.get(logical_id)
        type_ = declared.get("Type", "") if declared else ""
        if declared is None and logical_id == IMPLICIT_API:
            type_ = "AWS::Serverless::Api"
        elif declared is None and logical_id.endswith("Role") and logical_id[:-4] in self.template.resources:
            type_ = "AWS::IAM::Role"  # SAM's implicit execution role of a function
        elif declared is None:
            raise TemplateError(f"{logical_id} is neither a parameter nor a resource of the template")
        props = self.template.properties(logical_id) if declared else {}
        if type_ in FUNCTION_TYPES or type_ == "AWS::Lambda::Function":
            name = str(self.resolve(props.get("FunctionName") or self.default_name(logical_id, max_length=64)))
            arn = f"arn:aws:lambda:{self.region}:{self.account_id}:function:{name}"
            return Resource(logical_id, type_, name, name, {"Arn": arn})
        if type_ in ("AWS::Serverless::Api", "AWS::ApiGateway::RestApi"):
            api_id = hashlib.sha256(f"{self.stack_name}/{logical_id}".encode()).hexdigest()[:10]
            return Resource(logical_id, type_, api_id, api_id, {"RootResourceId": api_id[:6], "RestApiId": api_id})
        if type_ == "AWS::IAM::Role":
            name = str(self.resolve(props.get("RoleName") or self.default_name(logical_id, max_length=64)))
            arn = f"arn:aws:iam::{self.account_id}:role/{name}"
            return Resource(logical_id, type_, name, name, {"Arn": arn, "RoleId": name})
        name = self.default_name(logical_id, max_length=255)
        return Resource(logical_id, type_, name, name)


def _to_str(value: Any, where: str) -> str:
    # CloudFormation's stringification: booleans are lower-case, numbers as written.
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str | int | float):
        return str(value)
    raise TemplateError(f"{where}: expected a string, got {value!r}")


def _truthy(value: Any) -> bool:
    return value is True or str(value).lower() == "true"


def _equals(world: World, arg: list[Any]) -> bool:
    left, right = (world.resolve(part) for part in arg)
    return bool(_to_str(left, "!Equals") == _to_str(right, "!Equals"))


_INTRINSICS: dict[str, Callable[[World, Any], Any]] = {
    "Ref": lambda world, name: world._ref(name),
    "Condition": lambda world, name: world.condition(name),
    "Fn::GetAtt": World._get_att,
    "Fn::Sub": World._sub,
    "Fn::Join": lambda world, arg: str(arg[0]).join(_to_str(item, "!Join") for item in world.resolve(arg[1])),
    "Fn::Select": lambda world, arg: world.resolve(arg[1])[int(world.resolve(arg[0]))],
    "Fn::Split": lambda world, arg: str(world.resolve(arg[1])).split(str(arg[0])),
    "Fn::If": lambda world, arg: world.resolve(arg[1] if world.condition(arg[0]) else arg[2]),
    "Fn::Equals": _equals,
    "Fn::Not": lambda world, arg: not world.resolve(arg[0]),
    "Fn::And": lambda world, arg: all(world.resolve(arg)),
    "Fn::Or": lambda world, arg: any(world.resolve(arg)),
}


def _parameter_values(template: Template, overrides: Mapping[str, Any]) -> dict[str, Any]:
    unknown = set(overrides) - set(template.parameters)
    if unknown:
        raise TemplateError(f"unknown parameters: {', '.join(sorted(unknown))}")
    values: dict[str, Any] = {}
    local = {name: value for name, value in LOCAL_PARAMETER_DEFAULTS.items() if name in template.parameters}
    overrides = {**local, **overrides}
    for name, spec in template.parameters.items():
        if name not in overrides and "Default" not in spec:
            raise TemplateError(f"parameter {name} has no Default; pass parameters={{{name!r}: ...}}")
        value = overrides.get(name, spec.get("Default"))
        allowed = spec.get("AllowedValues")
        if allowed is not None and str(value) not in map(str, allowed):
            raise TemplateError(f"parameter {name}={value!r} is not one of {allowed}")
        if str(spec.get("Type", "")).startswith(("CommaDelimitedList", "List<")) and isinstance(value, str):
            value = [item.strip() for item in value.split(",")]
        values[name] = value
    return values


# --- creation ------------------------------------------------------------------------------------------------------

Creator = Callable[["World", str, dict[str, Any]], Resource]


def build_world(
    template: Template | str | Path | None = None,
    *,
    session_or_clients: boto3.Session | None = None,
    stack_name: str = DEFAULT_STACK_NAME,
    parameters: Mapping[str, Any] | None = None,
) -> World:
    """Create (or find) every emulated resource of the template, dependencies first, and return the World."""
    template = template if isinstance(template, Template) else load_template(template)
    session = session_or_clients or boto3.Session()
    region = session.region_name or "us-east-1"
    try:
        account_id = str(session.client("sts", region_name=region).get_caller_identity()["Account"])
    except (BotoCoreError, ClientError) as error:
        # Some AWS-compatible endpoints have no STS; moto's account is the usual local answer.
        log.warning("STS unavailable (%s); assuming account %s", error, MOTO_ACCOUNT_ID)
        account_id = MOTO_ACCOUNT_ID
    world = World(template, stack_name=stack_name, region=region, account_id=account_id, parameters=parameters)
    world.session = session
    for logical_id in _creation_order(world):
        declared = template.resources[logical_id]
        resource = _CREATORS[declared["Type"]](world, logical_id, world.resolve(template.properties(logical_id)))
        world.resources[logical_id] = resource
        log.info("%s: %s %s", logical_id, declared["Type"], resource.name)
    return world


def _creation_order(world: World) -> list[str]:
    # Dependencies first (a redrive policy needs its DLQ's ARN, an alias its key), otherwise template order.
    pending = {
        logical_id: res
        for logical_id, res in world.template.resources.items()
        if res.get("Type") in _CREATORS and world.is_active(logical_id)
    }
    needs = {
        logical_id: (_references(res.get("Properties")) | set(_as_list(res.get("DependsOn")))) & set(pending)
        for logical_id, res in pending.items()
    }
    order: list[str] = []
    while pending:
        ready = [logical_id for logical_id in pending if needs[logical_id] <= set(order)]
        if not ready:
            raise TemplateError(f"circular references between {', '.join(pending)}")
        for logical_id in ready:
            order.append(logical_id)
            del pending[logical_id]
    return order


def _references(value: Any) -> set[str]:
    if isinstance(value, list):
        return set().union(*map(_references, value)) if value else set()
    if not isinstance(value, Mapping):
        return set()
    if len(value) == 1:
        ((key, arg),) = value.items()
        if key == "Ref" and isinstance(arg, str):
            return {arg}
        if key == "Fn::GetAtt":
            return {(arg.split(".", 1) if isinstance(arg, str) else arg)[0]}
        if key == "Fn::Sub":
            text, variables = (arg[0], arg[1]) if isinstance(arg, list) else (arg, {})
            names = {m.split(".", 1)[0] for m in _SUB_VARIABLE.findall(str(text)) if not m.startswith(("!", "AWS::"))}
            return names | _references(variables)
    return _references(list(value.values()))


def _as_list(value: Any) -> list[Any]:
    return [] if value is None else value if isinstance(value, list) else [value]


def _error_code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


def _attribute(value: Any) -> str:
    """SQS/SNS attribute values are strings; CloudFormation lets the template write booleans and numbers."""
    if isinstance(value, Mapping | list):
        return json.dumps(value)  # RedrivePolicy and friends may be written as objects
    return _to_str(value, "attribute")


def _tags(props: Mapping[str, Any]) -> list[dict[str, str]]:
    return [{"Key": str(tag["Key"]), "Value": str(tag["Value"])} for tag in props.get("Tags") or []]


_TABLE_PASSTHROUGH = (
    "AttributeDefinitions", "KeySchema", "BillingMode", "ProvisionedThroughput", "LocalSecondaryIndexes",
    "TableClass", "DeletionProtectionEnabled", "OnDemandThroughput"
)  # fmt: skip


def _create_table(world: World, logical_id: str, props: dict[str, Any]) -> Resource:
    ddb: DynamoDBClient = world.client("dynamodb")
    name = str(props.get("TableName") or world.default_name(logical_id, max_length=255))
    request: dict[str, Any] = {key: props[key] for key in _TABLE_PASSTHROUGH if key in props}
    if props.get("GlobalSecondaryIndexes"):
        # ContributorInsightsSpecification is CloudFormation-only; the API sets it with a separate call.
        request["GlobalSecondaryIndexes"] = [
            {key: value for key, value in index.items() if key != "ContributorInsightsSpecification"}
            for index in props["GlobalSecondaryIndexes"]
        ]
    if props.get("StreamSpecification"):
        request["StreamSpecification"] = {
            "StreamEnabled": True,
            "StreamViewType": props["StreamSpecification"]["StreamViewType"],
        }
    if props.get("SSESpecification"):
        sse = props["SSESpecification"]
        extra = {key: sse[key] for key in ("SSEType", "KMSMasterKeyId") if key in sse}
        request["SSESpecification"] = {"Enabled": _truthy(sse.get("SSEEnabled")), **extra}
    if _tags(props):
        request["Tags"] = _tags(props)
    existed = False
    try:
        ddb.create_table(TableName=name, **request)
    except ClientError as error:
        if _error_code(error) != "ResourceInUseException":
            raise
        existed = True
    ddb.get_waiter("table_exists").wait(TableName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 120})
    table: dict[str, Any] = dict(ddb.describe_table(TableName=name)["Table"])
    if existed and (
        table.get("KeySchema") != request.get("KeySchema")
        or (table.get("StreamSpecification") or {}).get("StreamViewType")
        != (request.get("StreamSpecification") or {}).get("StreamViewType")
    ):
        log.warning("table %s exists with another key schema or stream than the template's; delete it to rebuild", name)

    if "TimeToLiveSpecification" in props:
        wanted = props["TimeToLiveSpecification"]
        current = ddb.describe_time_to_live(TableName=name)["TimeToLiveDescription"]
        enabled = current.get("TimeToLiveStatus") in ("ENABLED", "ENABLING")
        if _truthy(wanted.get("Enabled")) and (not enabled or current.get("AttributeName") != wanted["AttributeName"]):
            spec: Any = {"AttributeName": wanted["AttributeName"], "Enabled": True}
            ddb.update_time_to_live(TableName=name, TimeToLiveSpecification=spec)
        elif not _truthy(wanted.get("Enabled")) and enabled:
            spec = {"AttributeName": current["AttributeName"], "Enabled": False}
            ddb.update_time_to_live(TableName=name, TimeToLiveSpecification=spec)
    if "PointInTimeRecoverySpecification" in props:
        pitr = props["PointInTimeRecoverySpecification"]
        ddb.update_continuous_backups(TableName=name, PointInTimeRecoverySpecification=pitr)

    attributes = {"Arn": table["TableArn"]}
    if table.get("LatestStreamArn"):
        attributes["StreamArn"] = table["LatestStreamArn"]
    return Resource(logical_id, "AWS::DynamoDB::Table", name, name, attributes)


_QUEUE_ATTRIBUTES = (
    "DelaySeconds", "MaximumMessageSize", "MessageRetentionPeriod", "ReceiveMessageWaitTimeSeconds",
    "VisibilityTimeout", "KmsMasterKeyId", "KmsDataKeyReusePeriodSeconds", "SqsManagedSseEnabled", "FifoQueue",
    "ContentBasedDeduplication", "DeduplicationScope", "FifoThroughputLimit", "RedrivePolicy",
    "RedriveAllowPolicy"
)  # fmt: skip


# The same condition has had several codes across SQS's query and JSON protocols.
_QUEUE_EXISTS = ("QueueAlreadyExists", "QueueNameExists", "AWS.SimpleQueueService.QueueNameExists")


def _create_queue(world: World, logical_id: str, props: dict[str, Any]) -> Resource:
    sqs: SQSClient = world.client("sqs")
    fifo = _truthy(props.get("FifoQueue"))
    name = str(props.get("QueueName") or world.default_name(logical_id, max_length=80, suffix=".fifo" if fifo else ""))
    attributes = {key: _attribute(props[key]) for key in _QUEUE_ATTRIBUTES if key in props}
    tags = {tag["Key"]: tag["Value"] for tag in _tags(props)}
    try:
        url = sqs.create_queue(QueueName=name, Attributes=attributes, tags=tags)["QueueUrl"]  # type: ignore[arg-type]
    except ClientError as error:
        if _error_code(error) not in _QUEUE_EXISTS:
            raise
        # The template changed since the queue was made: bring it in line (FifoQueue can never change).
        url = sqs.get_queue_url(QueueName=name)["QueueUrl"]
        mutable = {key: value for key, value in attributes.items() if key != "FifoQueue"}
        sqs.set_queue_attributes(QueueUrl=url, Attributes=mutable)  # type: ignore[arg-type]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    return Resource(logical_id, "AWS::SQS::Queue", name, url, {"Arn": arn, "QueueName": name, "QueueUrl": url})


def _create_bucket(world: World, logical_id: str, props: dict[str, Any]) -> Resource:
    s3: S3Client = world.client("s3")
    name = str(props.get("BucketName") or world.default_name(logical_id, max_length=63, lowercase=True))
    request: dict[str, Any] = {"Bucket": name}
    if world.region != "us-east-1":  # us-east-1 is the one region that rejects an explicit LocationConstraint
        request["CreateBucketConfiguration"] = {"LocationConstraint": world.region}
    if _truthy(props.get("ObjectLockEnabled")):
        request["ObjectLockEnabledForBucket"] = True
    try:
        s3.create_bucket(**request)
    except ClientError as error:
        if _error_code(error) != "BucketAlreadyOwnedByYou":
            raise
    # Ownership and public-access settings first: they are the ones that must hold before any object arrives.
    if "OwnershipControls" in props:
        s3.put_bucket_ownership_controls(Bucket=name, OwnershipControls=props["OwnershipControls"])
    if "PublicAccessBlockConfiguration" in props:
        s3.put_public_access_block(Bucket=name, PublicAccessBlockConfiguration=props["PublicAccessBlockConfiguration"])
    if "VersioningConfiguration" in props:
        versioning: Any = {"Status": props["VersioningConfiguration"]["Status"]}
        s3.put_bucket_versioning(Bucket=name, VersioningConfiguration=versioning)
    if "ObjectLockConfiguration" in props:
        try:
            s3.put_object_lock_configuration(Bucket=name, ObjectLockConfiguration=props["ObjectLockConfiguration"])
        except ClientError as error:
            # moto refuses the update on a bucket that holds objects (S3 does not): a restart against the same
            # endpoint finds the configuration already in place, from the run that created the bucket.
            if _error_code(error) != "InvalidBucket":
                raise
    if "BucketEncryption" in props:
        # CloudFormation says ServerSideEncryptionByDefault where the API says ApplyServerSideEncryptionByDefault.
        rules: Any = [
            {("ApplyServerSideEncryptionByDefault" if key == "ServerSideEncryptionByDefault" else key): value
             for key, value in rule.items()}
            for rule in props["BucketEncryption"]["ServerSideEncryptionConfiguration"]
        ]  # fmt: skip
        s3.put_bucket_encryption(Bucket=name, ServerSideEncryptionConfiguration={"Rules": rules})
    if _tags(props):
        s3.put_bucket_tagging(Bucket=name, Tagging={"TagSet": _tags(props)})  # type: ignore[typeddict-item]
    # Lifecycle, CORS, notifications, logging and replication are not emulated: nothing local depends on them.
    attributes = {
        "Arn": f"arn:aws:s3:::{name}",
        "DomainName": f"{name}.s3.amazonaws.com",
        "RegionalDomainName": f"{name}.s3.{world.region}.amazonaws.com",
        "DualStackDomainName": f"{name}.s3.dualstack.{world.region}.amazonaws.com",
    }
    return Resource(logical_id, "AWS::S3::Bucket", name, name, attributes)


def _create_key(world: World, logical_id: str, props: dict[str, Any]) -> Resource:
    kms: KMSClient = world.client("kms")
    lookup_alias = f"alias/{re.sub(r'[^a-zA-Z0-9/_-]', '-', world.stack_name)}/{logical_id}"
    try:
        metadata = kms.describe_key(KeyId=lookup_alias)["KeyMetadata"]
    except ClientError as error:
        if _error_code(error) != "NotFoundException":
            raise
        keys = ("Description", "KeyUsage", "KeySpec", "MultiRegion")
        request: dict[str, Any] = {key: props[key] for key in keys if key in props}
        if "KeyPolicy" in props:
            policy = props["KeyPolicy"]
            request["Policy"] = policy if isinstance(policy, str) else json.dumps(policy)
        if _tags(props):
            request["Tags"] = [{"TagKey": tag["Key"], "TagValue": tag["Value"]} for tag in _tags(props)]
        metadata = kms.create_key(**request)["KeyMetadata"]
        kms.create_alias(AliasName=lookup_alias, TargetKeyId=metadata["KeyId"])
    key_id = metadata["KeyId"]
    if _truthy(props.get("EnableKeyRotation")):
        period = {"RotationPeriodInDays": int(props["RotationPeriodInDays"])} if "RotationPeriodInDays" in props else {}
        kms.enable_key_rotation(KeyId=key_id, **period)
    if "Enabled" in props and not _truthy(props["Enabled"]):
        kms.disable_key(KeyId=key_id)
    return Resource(logical_id, "AWS::KMS::Key", key_id, key_id, {"Arn": metadata["Arn"], "KeyId": key_id})


def _create_alias(world: World, logical_id: str, props: dict[str, Any]) -> Resource:
    name, target = str(props["AliasName"]), str(props["TargetKeyId"])
    try:
        world.client("kms").create_alias(AliasName=name, TargetKeyId=target)
    except ClientError as error:
        if _error_code(error) != "AlreadyExistsException":
            raise
        world.client("kms").update_alias(AliasName=name, TargetKeyId=target)
    return Resource(logical_id, "AWS::KMS::Alias", name, name)


_TOPIC_ATTRIBUTES = (
    "DisplayName", "KmsMasterKeyId", "FifoTopic", "ContentBasedDeduplication", "SignatureVersion", "TracingConfig",
    "ArchivePolicy"
)  # fmt: skip


def _create_topic(world: World, logical_id: str, props: dict[str, Any]) -> Resource:
    sns: SNSClient = world.client("sns")
    fifo = _truthy(props.get("FifoTopic"))
    name = str(props.get("TopicName") or world.default_name(logical_id, max_length=256, suffix=".fifo" if fifo else ""))
    attributes = {key: _attribute(props[key]) for key in _TOPIC_ATTRIBUTES if key in props}
    arn = sns.create_topic(Name=name, Attributes=attributes, Tags=_tags(props))["TopicArn"]  # type: ignore[arg-type]
    for subscription in props.get("Subscription") or []:
        sns.subscribe(
            TopicArn=arn,
            Protocol=subscription["Protocol"],
            Endpoint=subscription["Endpoint"],
            ReturnSubscriptionArn=True,
        )
    return Resource(logical_id, "AWS::SNS::Topic", name, arn, {"TopicArn": arn, "TopicName": name})


def _create_subscription(world: World, logical_id: str, props: dict[str, Any]) -> Resource:
    keys = ("RawMessageDelivery", "FilterPolicy", "FilterPolicyScope", "RedrivePolicy", "DeliveryPolicy")
    attributes = {key: _attribute(props[key]) for key in keys if key in props}
    arn = world.client("sns").subscribe(
        TopicArn=props["TopicArn"],
        Protocol=props["Protocol"],
        Endpoint=props["Endpoint"],
        Attributes=attributes,
        ReturnSubscriptionArn=True,
    )["SubscriptionArn"]
    return Resource(logical_id, "AWS::SNS::Subscription", arn, arn)


def _create_secret(world: World, logical_id: str, props: dict[str, Any]) -> Resource:
    """A generated secret, as CloudFormation's GenerateSecretString makes it; kept across restarts on one endpoint."""
    manager = world.client("secretsmanager")
    name = str(props.get("Name") or world.default_name(logical_id, max_length=256))
    generate = props.get("GenerateSecretString") or {}
    alphabet = string.ascii_letters + string.digits
    if not _truthy(generate.get("ExcludePunctuation")):
        alphabet += "!#$%&()*+,-.:;<=>?@[]^_{|}~"
    value = "".join(secrets.choice(alphabet) for _ in range(int(generate.get("PasswordLength", 32))))
    if generate.get("SecretStringTemplate") and generate.get("GenerateStringKey"):
        # As CloudFormation does: the template's JSON object with the generated string under the key.
        template = json.loads(str(generate["SecretStringTemplate"]))
        value = json.dumps({**template, str(generate["GenerateStringKey"]): value})
    request = {"Name": name, "SecretString": value, **({"KmsKeyId": props["KmsKeyId"]} if "KmsKeyId" in props else {})}
    try:
        arn = manager.create_secret(**request)["ARN"]
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") != "ResourceExistsException":
            raise
        arn = manager.describe_secret(SecretId=name)["ARN"]
    return Resource(logical_id, "AWS::SecretsManager::Secret", name, arn, {"Id": arn})


_USER_POOL_PASSTHROUGH = (
    "AccountRecoverySetting", "AdminCreateUserConfig", "AliasAttributes", "AutoVerifiedAttributes",
    "DeletionProtection", "DeviceConfiguration", "EmailConfiguration", "EmailVerificationMessage",
    "EmailVerificationSubject", "LambdaConfig", "Policies", "Schema", "SmsAuthenticationMessage", "SmsConfiguration",
    "SmsVerificationMessage", "UserAttributeUpdateSettings", "UsernameAttributes", "UsernameConfiguration",
    "UserPoolAddOns", "UserPoolTags", "UserPoolTier", "VerificationMessageTemplate"
)  # fmt: skip


def _create_user_pool(world: World, logical_id: str, props: dict[str, Any]) -> Resource:
    cognito = world.client("cognito-idp")
    name = str(props.get("UserPoolName") or world.default_name(logical_id, max_length=128))
    pages = cognito.get_paginator("list_user_pools").paginate(MaxResults=60)
    pool_id = next((pool["Id"] for page in pages for pool in page["UserPools"] if pool["Name"] == name), None)
    if pool_id is None:
        request = {key: props[key] for key in _USER_POOL_PASSTHROUGH if key in props}
        pool_id = cognito.create_user_pool(PoolName=name, **request)["UserPool"]["Id"]
    _set_mfa(cognito, pool_id, props, logical_id)
    arn = cognito.describe_user_pool(UserPoolId=pool_id)["UserPool"]["Arn"]
    provider = f"cognito-idp.{world.region}.amazonaws.com/{pool_id}"
    attributes = {"Arn": arn, "ProviderName": provider, "ProviderURL": f"https://{provider}", "UserPoolId": pool_id}
    return Resource(logical_id, "AWS::Cognito::UserPool", name, pool_id, attributes)


def _set_mfa(cognito: Any, pool_id: str, props: Mapping[str, Any], logical_id: str) -> None:
    # CreateUserPool cannot turn TOTP on; CloudFormation's EnabledMfas is a SetUserPoolMfaConfig call after it.
    mode = str(props.get("MfaConfiguration", "OFF"))
    if mode == "OFF":
        return
    enabled = set(props.get("EnabledMfas") or ["SMS_MFA"])  # CloudFormation's default: SMS only
    request: dict[str, Any] = {}
    if "SOFTWARE_TOKEN_MFA" in enabled:
        request["SoftwareTokenMfaConfiguration"] = {"Enabled": True}
    if "SMS_MFA" in enabled and "SmsConfiguration" in props:
        request["SmsMfaConfiguration"] = {"SmsConfiguration": props["SmsConfiguration"]}
        if "SmsAuthenticationMessage" in props:
            request["SmsMfaConfiguration"]["SmsAuthenticationMessage"] = props["SmsAuthenticationMessage"]
    if not request:
        raise TemplateError(f"{logical_id}: MfaConfiguration {mode} needs SOFTWARE_TOKEN_MFA or an SmsConfiguration")
    cognito.set_user_pool_mfa_config(UserPoolId=pool_id, MfaConfiguration=mode, **request)


_USER_POOL_CLIENT_PASSTHROUGH = (
    "AccessTokenValidity", "AllowedOAuthFlows", "AllowedOAuthFlowsUserPoolClient", "AllowedOAuthScopes",
    "AnalyticsConfiguration", "AuthSessionValidity", "CallbackURLs", "DefaultRedirectURI",
    "EnablePropagateAdditionalUserContextData", "EnableTokenRevocation", "ExplicitAuthFlows", "IdTokenValidity",
    "LogoutURLs", "PreventUserExistenceErrors", "ReadAttributes", "RefreshTokenRotation", "RefreshTokenValidity",
    "SupportedIdentityProviders", "TokenValidityUnits", "WriteAttributes"
)  # fmt: skip


def _create_user_pool_client(world: World, logical_id: str, props: dict[str, Any]) -> Resource:
    cognito = world.client("cognito-idp")
    pool_id = str(props["UserPoolId"])
    name = str(props.get("ClientName") or world.default_name(logical_id, max_length=128))
    request = {key: props[key] for key in _USER_POOL_CLIENT_PASSTHROUGH if key in props}
    if "ReadAttributes" not in request:
        # Cognito's default is every attribute; moto's is none (see the module docstring).
        schema = cognito.describe_user_pool(UserPoolId=pool_id)["UserPool"].get("SchemaAttributes") or []
        request["ReadAttributes"] = [
            attribute["Name"]
            for attribute in schema
            if attribute["Name"] not in ("sub", "identities") and not attribute["Name"].startswith("dev:")
        ]
    pages = cognito.get_paginator("list_user_pool_clients").paginate(UserPoolId=pool_id, MaxResults=60)
    client_id = next(
        (c["ClientId"] for page in pages for c in page["UserPoolClients"] if c["ClientName"] == name), None
    )
    if client_id is None:
        generate = {"GenerateSecret": _truthy(props["GenerateSecret"])} if "GenerateSecret" in props else {}
        created = cognito.create_user_pool_client(UserPoolId=pool_id, ClientName=name, **generate, **request)
        client = created["UserPoolClient"]
    else:  # GenerateSecret is the one setting that cannot change
        client = cognito.update_user_pool_client(UserPoolId=pool_id, ClientId=client_id, ClientName=name, **request)[
            "UserPoolClient"
        ]
    attributes = {"ClientId": client["ClientId"], "Name": name}
    if client.get("ClientSecret"):
        attributes["ClientSecret"] = client["ClientSecret"]
    return Resource(logical_id, "AWS::Cognito::UserPoolClient", name, client["ClientId"], attributes)


def _create_user_pool_group(world: World, logical_id: str, props: dict[str, Any]) -> Resource:
    cognito = world.client("cognito-idp")
    pool_id = str(props["UserPoolId"])
    name = str(props.get("GroupName") or world.default_name(logical_id, max_length=128))
    request = {key: props[key] for key in ("Description", "Precedence", "RoleArn") if key in props}
    try:
        cognito.create_group(UserPoolId=pool_id, GroupName=name, **request)
    except ClientError as error:
        if _error_code(error) != "GroupExistsException":
            raise
        cognito.update_group(UserPoolId=pool_id, GroupName=name, **request)
    return Resource(logical_id, "AWS::Cognito::UserPoolGroup", name, name)


def _create_email_identity(world: World, logical_id: str, props: dict[str, Any]) -> Resource:
    """An SES v2 identity; moto verifies it at once (SES would wait for the address's owner), so SendEmail works."""
    ses = world.client("sesv2")
    identity = str(props["EmailIdentity"])
    request: dict[str, Any] = {"Tags": _tags(props)} if _tags(props) else {}
    if "DkimSigningAttributes" in props:
        request["DkimSigningAttributes"] = props["DkimSigningAttributes"]
    if (props.get("ConfigurationSetAttributes") or {}).get("ConfigurationSetName"):
        request["ConfigurationSetName"] = props["ConfigurationSetAttributes"]["ConfigurationSetName"]
    try:
        ses.create_email_identity(EmailIdentity=identity, **request)
    except ClientError as error:
        if _error_code(error) != "AlreadyExistsException":
            raise
    return Resource(logical_id, "AWS::SES::EmailIdentity", identity, identity)


_CREATORS: dict[str, Creator] = {
    "AWS::SecretsManager::Secret": _create_secret,
    "AWS::DynamoDB::Table": _create_table,
    "AWS::SQS::Queue": _create_queue,
    "AWS::S3::Bucket": _create_bucket,
    "AWS::KMS::Key": _create_key,
    "AWS::KMS::Alias": _create_alias,
    "AWS::SNS::Topic": _create_topic,
    "AWS::SNS::Subscription": _create_subscription,
    "AWS::Cognito::UserPool": _create_user_pool,
    "AWS::Cognito::UserPoolClient": _create_user_pool_client,
    "AWS::Cognito::UserPoolGroup": _create_user_pool_group,
    "AWS::SES::EmailIdentity": _create_email_identity,
}
