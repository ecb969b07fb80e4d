"""What infra/template.yaml must say that no linter checks: least privilege, failure handling, evidence protection.

Each rule is ``rule(body) -> list[str]``: one message per violation, each starting with the logical id at fault, and
an empty list when the template complies. ``body`` is the template as plain data with intrinsics in long form
(``local.template.load_template(...).body``), so the tests run the same rules on the real template and on mutated
copies of it. A rule whose resources are absent (no queue yet, no bucket yet) has nothing to say.

The rules read the SAM form, where the author's intent is; the least-privilege rule also reads the CloudFormation
that SAM makes of it (``tests.template.translate``), because SAM policy templates and event sources only show their
statements there.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from local.template import TEMPLATE_PATH, Template, referenced_logical_id
from tests.template.translate import translate_body

Body = Mapping[str, Any]
Rule = Callable[[Body], list[str]]

SAM_FUNCTION = "AWS::Serverless::Function"
LAMBDA_FUNCTION = "AWS::Lambda::Function"
FUNCTION_TYPES = (SAM_FUNCTION, LAMBDA_FUNCTION)
QUEUE = "AWS::SQS::Queue"
BUCKET = "AWS::S3::Bucket"
ESM = "AWS::Lambda::EventSourceMapping"
ALARM = "AWS::CloudWatch::Alarm"
STREAM_TYPES = ("AWS::DynamoDB::Table", "AWS::Kinesis::Stream")

# The artifact that `build-%` in tools.mk makes: cp312 wheels for aarch64, compiled by python3.12.
ARTIFACT_RUNTIME = "python3.12"
ARTIFACT_ARCHITECTURE = "arm64"
MINIMUM_PYTHON = (3, 12)

# AWS managed policies a function role may carry. SAM attaches them itself: logs, X-Ray (Tracing: Active), and the
# pollers of SQS and DynamoDB-stream event sources. The last two grant their read actions on every queue/stream of
# the account and SAM has no switch to scope them; a function that must not have that needs its own Role.
ALLOWED_MANAGED_POLICIES = frozenset(
    {
        "service-role/AWSLambdaBasicExecutionRole",
        "AWSXrayWriteOnlyAccess",
        "service-role/AWSLambdaSQSQueueExecutionRole",
        "service-role/AWSLambdaDynamoDBExecutionRole",
    }
)

# Actions that take no resource-level permission: `Resource: "*"` is the only way to grant them.
NON_RESOURCE_ACTIONS = frozenset(
    {
        "cloudwatch:putmetricdata",
        "xray:puttracesegments",
        "xray:puttelemetryrecords",
        "xray:getsamplingrules",
        "xray:getsamplingtargets",
        "xray:getsamplingstatisticsummaries",
        "sts:getcalleridentity",
        "ec2:createnetworkinterface",
        "ec2:describenetworkinterfaces",
        "ec2:deletenetworkinterface",
        "ec2:assignprivateipaddresses",
        "ec2:unassignprivateipaddresses",
    }
)

# An ARN whose resource part is only a wildcard names every resource of its kind (`arn:aws:s3:::*`,
# `...:table/*`); `${Bucket.Arn}/*` (the objects of one bucket) and `table/x/index/*` (one table's GSIs) do not.
_EVERYTHING_ARN = re.compile(r"(^\*$)|(:\*$)|(:::\*(/\*)?$)|(:(table|key|alias|function|secret|parameter|stream)/\*$)")

DLQ_DEPTH_METRICS = frozenset({"ApproximateNumberOfMessagesVisible"})


# --- reading the template -------------------------------------------------------------------------------------


def _template(body: Body) -> Template:
    return Template(path=TEMPLATE_PATH, body=body)


def _resources(body: Body, *types: str) -> dict[str, Mapping[str, Any]]:
    return {lid: res for lid, res in (body.get("Resources") or {}).items() if res.get("Type") in types}


def _props(body: Body, logical_id: str) -> dict[str, Any]:
    """Properties with SAM's Globals applied for functions and APIs."""
    return _template(body).properties(logical_id)


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, list) else [value]


def _ref(value: Any) -> str | None:
    """`!Ref X`, `!GetAtt X.Attr`, `!Sub "${X.Arn}"` -> "X"; anything else -> None."""
    found = referenced_logical_id(value)
    if found is None and isinstance(value, Mapping) and isinstance(value.get("Fn::Sub"), str):
        match = re.fullmatch(r"\$\{([A-Za-z0-9]+)(\.[A-Za-z.]+)?\}", value["Fn::Sub"])
        found = match.group(1) if match else None
    return found


def _attribute(value: Any) -> tuple[str, str] | None:
    """`!GetAtt X.Attr` -> ("X", "Attr")."""
    if isinstance(value, Mapping) and isinstance(value.get("Fn::GetAtt"), list) and len(value["Fn::GetAtt"]) == 2:
        logical_id, attribute = value["Fn::GetAtt"]
        return str(logical_id), str(attribute)
    return None


def _mentions(value: Any, logical_id: str) -> bool:
    """Whether ``value`` refers to ``logical_id`` anywhere (Ref, GetAtt, or a ${...} inside Sub)."""
    if isinstance(value, Mapping):
        if _ref(value) == logical_id:
            return True
        sub = value.get("Fn::Sub")
        text = sub[0] if isinstance(sub, list) and sub else sub
        if isinstance(text, str) and re.search(r"\$\{" + re.escape(logical_id) + r"[.}]", text):
            return True
        return any(_mentions(v, logical_id) for v in value.values())
    if isinstance(value, list):
        return any(_mentions(v, logical_id) for v in value)
    return False


def _walk(node: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], Any]]:
    """Every (key path, value) in a nested structure, list indices left out of the path."""
    if isinstance(node, Mapping):
        for key, value in node.items():
            yield (*path, str(key)), value
            yield from _walk(value, (*path, str(key)))
    elif isinstance(node, list):
        for item in node:
            yield from _walk(item, path)


def _truthy(value: Any) -> bool:
    return value is True or (isinstance(value, str) and value.lower() == "true")


def _event_sources(body: Body) -> Iterator[tuple[str, str, Mapping[str, Any]]]:
    """(where, source type, properties) for every event source mapping, SAM event or plain resource.

    Source type is "SQS" or "stream" (DynamoDB, Kinesis); other kinds of event (Api, Schedule...) are left out.
    """
    for function in _resources(body, SAM_FUNCTION):
        for name, event in (_props(body, function).get("Events") or {}).items():
            kind = event.get("Type")
            if kind in ("SQS", "DynamoDB", "Kinesis"):
                yield f"{function}.Events.{name}", "SQS" if kind == "SQS" else "stream", event.get("Properties") or {}
    resources = body.get("Resources") or {}
    for logical_id, resource in _resources(body, ESM).items():
        props = resource.get("Properties") or {}
        source = resources.get(_ref(props.get("EventSourceArn")) or "", {}).get("Type")
        if source == QUEUE:
            yield logical_id, "SQS", props
        elif source in STREAM_TYPES or "StartingPosition" in props:
            yield logical_id, "stream", props


def _dead_letter_queues(body: Body) -> set[str]:
    """Queues that receive what something else gave up on: redrive targets, function DLQs, on-failure destinations."""
    queues = set(_resources(body, QUEUE))
    found = set()
    for path, value in _walk(body.get("Resources") or {}):
        key = path[-1]
        parent = path[-2] if len(path) > 1 else ""
        if (
            key == "deadLetterTargetArn"
            or (parent in ("DeadLetterQueue", "DeadLetterConfig") and key in ("TargetArn", "Arn"))
            or (parent == "OnFailure" and key == "Destination")
        ):
            target = _ref(value)
            if target in queues:
                found.add(target)
    return found


def _statements(document: Any) -> list[Mapping[str, Any]]:
    if not isinstance(document, Mapping):
        return []
    return [s for s in _as_list(document.get("Statement")) if isinstance(s, Mapping)]


def _resource_text(value: Any) -> str | None:
    if isinstance(value, str):
        return value
    if isinstance(value, Mapping) and "Fn::Sub" in value:
        sub = value["Fn::Sub"]
        text = sub[0] if isinstance(sub, list) and sub else sub
        return text if isinstance(text, str) else None
    return None


# --- the rules ----------------------------------------------------------------------------------------------------


def least_privilege(body: Body) -> list[str]:
    """No *CrudPolicy, no FullAccess, no wildcard action, no data action on every resource, no NotAction/Resource."""
    problems = []
    # SAM policy templates are only seen by name here: a *CrudPolicy expands to exact actions, just too many of them.
    for function in _resources(body, SAM_FUNCTION):
        for policy in _as_list(_props(body, function).get("Policies")):
            names = [policy] if isinstance(policy, str) else list(policy) if isinstance(policy, Mapping) else []
            problems += [
                f"{function}: SAM policy template {name} grants every read and write action of its service"
                for name in names
                if isinstance(name, str) and name.endswith("CrudPolicy")
            ]
    # The rest is judged on the roles as deployed: inline statements, expanded policy templates, managed policies.
    problems += _translated_role_problems(body)
    return problems


def _translated_role_problems(body: Body) -> list[str]:
    try:
        translated = translate_body(body)
    except Exception as error:  # noqa: BLE001 - whatever SAM rejects, the message says it
        return [f"(template): SAM cannot translate it, so its roles cannot be checked: {error}"]
    resources = translated.get("Resources") or {}
    owner = {}
    for logical_id, resource in resources.items():
        if resource.get("Type") == LAMBDA_FUNCTION:
            role = _ref((resource.get("Properties") or {}).get("Role"))
            if role:
                owner[role] = logical_id
    problems = []
    for logical_id, resource in resources.items():
        props = resource.get("Properties") or {}
        kind = resource.get("Type")
        who = f"{owner[logical_id]} (role {logical_id})" if logical_id in owner else logical_id
        if kind == "AWS::IAM::Role":
            documents = [p.get("PolicyDocument") for p in _as_list(props.get("Policies")) if isinstance(p, Mapping)]
            for arn in _as_list(props.get("ManagedPolicyArns")):
                problems += _managed_policy_problems(who, arn)
        elif kind in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"):
            documents = [props.get("PolicyDocument")]
        else:
            continue
        for document in documents:
            for statement in _statements(document):
                problems += _statement_problems(who, statement)
    return problems


def _managed_policy_problems(who: str, arn: Any) -> list[str]:
    text = _resource_text(arn)
    if text is None:
        return [f"{who}: managed policy {arn!r} cannot be checked (not a literal ARN)"]
    name = text.split(":policy/", 1)[-1]
    if "FullAccess" in name:
        return [f"{who}: managed policy {name} is a FullAccess policy"]
    if name not in ALLOWED_MANAGED_POLICIES:
        return [f"{who}: managed policy {name} is not one SAM attaches itself; write the statements it needs inline"]
    return []


def _statement_problems(who: str, statement: Mapping[str, Any]) -> list[str]:
    if statement.get("Effect") != "Allow":
        return []
    problems = []
    for key in ("NotAction", "NotResource"):
        if key in statement:
            problems.append(f"{who}: an Allow with {key} grants everything it does not name")
    actions = [a for a in _as_list(statement.get("Action")) if isinstance(a, str)]
    problems += [f"{who}: wildcard action {action!r}" for action in actions if "*" in action]
    everything = [
        text
        for text in (_resource_text(r) for r in _as_list(statement.get("Resource")))
        if text is not None and _EVERYTHING_ARN.search(text)
    ]
    for text in everything:
        for action in actions:
            if "*" not in action and action.lower() not in NON_RESOURCE_ACTIONS:
                problems.append(f"{who}: data action {action} on Resource {text!r} (every resource of its kind)")
    return problems


def sqs_sources_report_batch_item_failures(body: Body) -> list[str]:
    """One bad message must not send its whole batch back to the queue (and on, after N receives, to the DLQ)."""
    return [
        f"{where}: SQS event source without FunctionResponseTypes [ReportBatchItemFailures]"
        for where, kind, props in _event_sources(body)
        if kind == "SQS" and "ReportBatchItemFailures" not in _as_list(props.get("FunctionResponseTypes"))
    ]


def stream_sources_bounded(body: Body) -> list[str]:
    """A poison record must not block its shard until it expires: bounded retries, bisect, an on-failure destination."""
    problems = []
    for where, kind, props in _event_sources(body):
        if kind != "stream":
            continue
        retries = props.get("MaximumRetryAttempts")
        if not isinstance(retries, int) or isinstance(retries, bool) or not 0 <= retries <= 10_000:
            problems.append(f"{where}: stream source needs MaximumRetryAttempts 0..10000 (unset or -1 retries forever)")
        if not _truthy(props.get("BisectBatchOnFunctionError")):
            problems.append(f"{where}: stream source needs BisectBatchOnFunctionError: true")
        destination = ((props.get("DestinationConfig") or {}).get("OnFailure") or {}).get("Destination")
        if destination is None:
            problems.append(f"{where}: stream source needs DestinationConfig.OnFailure.Destination")
    return problems


def queues_have_dead_letter_queues(body: Body) -> list[str]:
    """Every queue that is not itself a DLQ redrives to one in this template, after a bounded number of receives."""
    queues = _resources(body, QUEUE)
    dead_letter = _dead_letter_queues(body)
    problems = []
    for logical_id, resource in queues.items():
        if logical_id in dead_letter:
            continue
        redrive = (resource.get("Properties") or {}).get("RedrivePolicy")
        if not isinstance(redrive, Mapping):
            problems.append(f"{logical_id}: queue has no RedrivePolicy (no DLQ)")
            continue
        target = _ref(redrive.get("deadLetterTargetArn"))
        if target not in queues:
            problems.append(
                f"{logical_id}: RedrivePolicy.deadLetterTargetArn must be !GetAtt <Queue>.Arn of a queue in this "
                f"template (got {redrive.get('deadLetterTargetArn')!r})"
            )
        if not isinstance(redrive.get("maxReceiveCount"), int):
            problems.append(f"{logical_id}: RedrivePolicy needs maxReceiveCount")
    return problems


def evidence_bucket_locked(body: Body) -> list[str]:
    """Evidence: Object Lock in GOVERNANCE (never COMPLIANCE) for at least a year, versioned, private, SSE-KMS."""
    buckets = _resources(body, BUCKET)
    problems = []
    for logical_id, resource in buckets.items():
        mode = _default_retention(resource).get("Mode")
        if mode == "COMPLIANCE":
            problems.append(
                f"{logical_id}: Object Lock COMPLIANCE mode cannot be lifted, not even when the law orders destruction"
            )
    for logical_id in _evidence_buckets(body):
        props = buckets[logical_id].get("Properties") or {}
        if not _truthy(props.get("ObjectLockEnabled")):
            problems.append(f"{logical_id}: evidence bucket needs ObjectLockEnabled: true")
        retention = _default_retention(buckets[logical_id])
        days = retention.get("Days") or 365 * (retention.get("Years") or 0)
        if retention.get("Mode") != "GOVERNANCE" or not isinstance(days, int) or days < 365:
            problems.append(f"{logical_id}: evidence bucket needs default retention Mode GOVERNANCE for >= 365 days")
        if (props.get("VersioningConfiguration") or {}).get("Status") != "Enabled":
            problems.append(f"{logical_id}: evidence bucket needs VersioningConfiguration Status Enabled")
        problems += _public_access_problems(logical_id, props)
        problems += _kms_problems(logical_id, props)
        ownership = [r.get("ObjectOwnership") for r in _as_list((props.get("OwnershipControls") or {}).get("Rules"))]
        if ownership and ownership != ["BucketOwnerEnforced"]:
            problems.append(
                f"{logical_id}: evidence bucket must keep ACLs disabled (ObjectOwnership BucketOwnerEnforced)"
            )
        problems += _legal_hold_problems(body, logical_id)
    return problems


def _evidence_buckets(body: Body) -> list[str]:
    # By its lock, or by its name (`EvidenceBucket`, `Evidence`, `EvidenceStore`; not `EvidenceAccessLogsBucket`).
    return [
        logical_id
        for logical_id, resource in _resources(body, BUCKET).items()
        if re.search(r"evidence(bucket|store)?$", logical_id, re.IGNORECASE)
        or _truthy((resource.get("Properties") or {}).get("ObjectLockEnabled"))
    ]


def _default_retention(bucket: Mapping[str, Any]) -> Mapping[str, Any]:
    lock = (bucket.get("Properties") or {}).get("ObjectLockConfiguration") or {}
    return ((lock.get("Rule") or {}).get("DefaultRetention")) or {}


def _public_access_problems(logical_id: str, props: Mapping[str, Any]) -> list[str]:
    block = props.get("PublicAccessBlockConfiguration") or {}
    flags = ("BlockPublicAcls", "BlockPublicPolicy", "IgnorePublicAcls", "RestrictPublicBuckets")
    missing = [flag for flag in flags if not _truthy(block.get(flag))]
    return [f"{logical_id}: public access block incomplete, not true: {', '.join(missing)}"] if missing else []


def _kms_problems(logical_id: str, props: Mapping[str, Any]) -> list[str]:
    rules = _as_list((props.get("BucketEncryption") or {}).get("ServerSideEncryptionConfiguration"))
    defaults = [(r.get("ServerSideEncryptionByDefault") or {}) for r in rules if isinstance(r, Mapping)]
    if not any(d.get("SSEAlgorithm") in ("aws:kms", "aws:kms:dsse") and d.get("KMSMasterKeyID") for d in defaults):
        return [f"{logical_id}: evidence bucket needs SSE-KMS (SSEAlgorithm aws:kms with a KMSMasterKeyID)"]
    return []


def _legal_hold_problems(body: Body, bucket: str) -> list[str]:
    # Whoever writes evidence must be able to put the legal hold on it in the same breath.
    problems = []
    for who, statement in _authored_statements(body):
        if statement.get("Effect") != "Allow" or not _mentions(statement.get("Resource"), bucket):
            continue
        actions = {a.lower() for a in _as_list(statement.get("Action")) if isinstance(a, str)}
        if "s3:putobject" in actions and "s3:putobjectlegalhold" not in actions:
            problems.append(f"{who}: writes to evidence bucket {bucket} without s3:PutObjectLegalHold (legal hold)")
    return problems


def _authored_statements(body: Body) -> Iterator[tuple[str, Mapping[str, Any]]]:
    for function in _resources(body, SAM_FUNCTION):
        for policy in _as_list(_props(body, function).get("Policies")):
            for statement in _statements(policy):
                yield function, statement
    for logical_id, resource in _resources(
        body, "AWS::IAM::Role", "AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"
    ).items():
        props = resource.get("Properties") or {}
        documents = [props.get("PolicyDocument")] + [p.get("PolicyDocument") for p in _as_list(props.get("Policies"))]
        for document in documents:
            for statement in _statements(document):
                yield logical_id, statement


def tables_protected(body: Body) -> list[str]:
    """Reports are the record of what was reported: point-in-time recovery and encryption at rest."""
    problems = []
    for logical_id, resource in _resources(body, "AWS::DynamoDB::Table").items():
        props = resource.get("Properties") or {}
        if not _truthy((props.get("PointInTimeRecoverySpecification") or {}).get("PointInTimeRecoveryEnabled")):
            problems.append(f"{logical_id}: table needs PointInTimeRecoveryEnabled: true")
        if not _truthy((props.get("SSESpecification") or {}).get("SSEEnabled")):
            problems.append(f"{logical_id}: table needs SSESpecification SSEEnabled: true (KMS)")
    return problems


def runtimes_current(body: Body) -> list[str]:
    """python3.12 or newer everywhere."""
    problems = []
    for logical_id in _resources(body, *FUNCTION_TYPES):
        props = _props(body, logical_id)
        if props.get("PackageType") == "Image":
            continue
        runtime = props.get("Runtime")
        match = re.fullmatch(r"python(\d+)\.(\d+)", runtime) if isinstance(runtime, str) else None
        if match is None or (int(match.group(1)), int(match.group(2))) < MINIMUM_PYTHON:
            problems.append(f"{logical_id}: runtime {runtime!r}, need python3.12 or newer")
    return problems


def alarms_on_failures(body: Body) -> list[str]:
    """Nothing fails silently: an Errors alarm per function, a depth alarm per DLQ that fires on the first message."""
    watched = list(_alarmed_metrics(body))
    problems = []
    for function in _resources(body, *FUNCTION_TYPES):
        if not any(
            ns == "AWS/Lambda" and metric == "Errors" and _ref(dims.get("FunctionName")) == function
            for ns, metric, dims, _ in watched
        ):
            problems.append(f"{function}: no alarm on AWS/Lambda Errors with dimension FunctionName !Ref {function}")
    for queue in sorted(_dead_letter_queues(body)):
        alarms = [
            first_message
            for ns, metric, dims, first_message in watched
            if ns == "AWS/SQS"
            and metric in DLQ_DEPTH_METRICS
            and _attribute(dims.get("QueueName")) == (queue, "QueueName")
        ]
        if not alarms:
            problems.append(
                f"{queue}: DLQ without an alarm on AWS/SQS ApproximateNumberOfMessagesVisible, dimension QueueName "
                f"!GetAtt {queue}.QueueName (!Ref gives the URL, which matches no metric)"
            )
        elif not any(alarms):
            problems.append(f"{queue}: DLQ depth alarm must fire on the first message (>= 1, or > 0)")
    return problems


def _alarmed_metrics(body: Body) -> Iterator[tuple[str, str, dict[str, Any], bool]]:
    """(namespace, metric, dimensions by name, fires on the first unit) for each metric an alarm watches."""
    for resource in _resources(body, ALARM).values():
        props = resource.get("Properties") or {}
        threshold, operator = props.get("Threshold"), props.get("ComparisonOperator")
        first: bool = (operator == "GreaterThanOrEqualToThreshold" and threshold in (1, 1.0)) or (
            operator == "GreaterThanThreshold" and threshold in (0, 0.0)
        )
        metrics = [props] + [
            (m.get("MetricStat") or {}).get("Metric") or {}
            for m in _as_list(props.get("Metrics"))
            if isinstance(m, Mapping)
        ]
        for metric in metrics:
            if metric.get("MetricName"):
                dims = {
                    str(d.get("Name")): d.get("Value")
                    for d in _as_list(metric.get("Dimensions"))
                    if isinstance(d, Mapping)
                }
                yield str(metric.get("Namespace")), str(metric.get("MetricName")), dims, first


def functions_use_the_artifact_build(body: Body) -> list[str]:
    """Every function is built by `build-%` (tools.mk): only shared/ and functions/, for the platform it targets."""
    problems = []
    for function, resource in _resources(body, SAM_FUNCTION).items():
        props = _props(body, function)
        if (resource.get("Metadata") or {}).get("BuildMethod") != "makefile":
            problems.append(
                f"{function}: needs Metadata BuildMethod: makefile, else sam build copies the whole repository"
            )
        if props.get("Runtime") != ARTIFACT_RUNTIME:
            problems.append(
                f"{function}: the artifact is built for {ARTIFACT_RUNTIME}, runtime is {props.get('Runtime')!r}"
            )
        if _as_list(props.get("Architectures")) != [ARTIFACT_ARCHITECTURE]:
            problems.append(f"{function}: the artifact's wheels are for {ARTIFACT_ARCHITECTURE} only")
    return problems


RULES: tuple[Rule, ...] = (
    least_privilege,
    sqs_sources_report_batch_item_failures,
    stream_sources_bounded,
    queues_have_dead_letter_queues,
    evidence_bucket_locked,
    tables_protected,
    runtimes_current,
    alarms_on_failures,
    functions_use_the_artifact_build,
)


def violations(body: Body) -> list[str]:
    """Every rule's messages, in rule order."""
    return [message for rule in RULES for message in rule(body)]
