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

import fnmatch
import json
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
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

# The AWS managed policies SAM attaches to a role it generates: logs, X-Ray (Tracing: Active), and the pollers of SQS
# and DynamoDB-stream event sources. Each grants its actions on every log group, queue or stream of the account, and
# SAM has no switch to scope them: every function has a Role of its own instead, and no managed policy is allowed.
SAM_MANAGED_POLICIES = frozenset(
    {
        "service-role/AWSLambdaBasicExecutionRole",
        "AWSXrayWriteOnlyAccess",
        "service-role/AWSLambdaSQSQueueExecutionRole",
        "service-role/AWSLambdaDynamoDBExecutionRole",
        "service-role/AWSLambdaKinesisExecutionRole",
    }
)

# Which items of the single table each owner may touch, by partition-key prefix (shared/storage.py, shared/custody.py):
# the front doors write and read reports; the dispatcher counts reports into cases; the quarantine worker appends
# custody events; the escalation worker reads cases and custody events and records what it did on the case; the
# custodian records releases and destructions. An owner not listed may use any prefix, but never every key.
OWNED_KEY_PREFIXES: Mapping[str, frozenset[str]] = {
    # The report, and the first custody event of each evidence payload it brings (written in the same transaction).
    "IntakeFunction": frozenset({"REPORT#", "CUSTODY#intake/"}),
    "WebFormFunction": frozenset({"REPORT#"}),
    "DispatcherFunction": frozenset({"REPORT#", "CASE#", "INCREMENT#", "REPORTER#"}),
    # The dispatch path again, plus the partitions of its two sparse indexes (shared/domain/sweep.py).
    "SweeperFunction": frozenset({"REPORT#", "CASE#", "INCREMENT#", "REPORTER#", "QUEUED#", "WAITING"}),
    "QuarantineFunction": frozenset({"CUSTODY#"}),
    "EscalationFunction": frozenset({"CASE#", "CUSTODY#"}),
    "EvidenceCustodianRole": frozenset({"CUSTODY#"}),
    # Cases and their decisions, the reports and custody chains they show, the audit log.
    "CaseworkFunction": frozenset({"CASE#", "REPORT#", "CUSTODY#", "AUDIT#", "REPORTER#"}),
    # Reports of decided cases, their contact items and outcome-email markers; the case, read; track records counted.
    "CompletionFunction": frozenset({"REPORT#", "CASE#", "REPORTER#"}),
    # The case and its filing item, read and written; its reports' evidence entries and its files' custody, read;
    # each filed file's `reported` event, written.
    "CyberTiplineFunction": frozenset({"CASE#", "CUSTODY#", "REPORT#"}),
}
# Queries of a global secondary index whose partitions are not key prefixes (case ids): LeadingKeys would name those
# values, so such a grant (no LeadingKeys) is judged by which index, for whom; it reads only what the index projects.
INDEX_READERS = {
    "IntakeFunction": frozenset({"CorrelationIndex"}),
    "CaseworkFunction": frozenset({"QueueIndex", "CaseReportsIndex"}),
    "CompletionFunction": frozenset({"CaseReportsIndex"}),
    "CyberTiplineFunction": frozenset({"CaseReportsIndex"}),
}
_INDEX_ARN = re.compile(r"/index/([A-Za-z0-9_.-]+)$")
ITEM_ACTIONS = frozenset(
    {
        "dynamodb:getitem",
        "dynamodb:putitem",
        "dynamodb:updateitem",
        "dynamodb:deleteitem",
        "dynamodb:batchgetitem",
        "dynamodb:batchwriteitem",
        "dynamodb:query",
        "dynamodb:conditioncheckitem",
        "dynamodb:scan",
        "dynamodb:partiqlselect",
        "dynamodb:partiqlinsert",
        "dynamodb:partiqlupdate",
        "dynamodb:partiqldelete",
    }
)

# Who may read evidence bytes besides the principals of a parameter: the escalation function and the casework API,
# whose role signs the analysts' recorded 60-second views (the NCMEC filer comes as a parameter). Everyone else, the
# quarantine worker that writes the copies included, is denied s3:GetObject by the bucket policy and granted no read
# by IAM.
# The CyberTipline filer reads the drafts and copies it sends to NCMEC (18 U.S.C. 2258A), never to show them to anyone.
EVIDENCE_READERS = frozenset({"EscalationFunction", "CaseworkFunction", "CyberTiplineFunction"})
EVIDENCE_BYTE_ACTIONS = ("s3:getobject", "s3:getobjectversion")

# Key policies: what the account (root) may keep so the key stays manageable (lockout safety), and what counts as
# using a key rather than administering it.
KEY_LOCKOUT_ACTIONS = frozenset({"kms:putkeypolicy", "kms:getkeypolicy", "kms:describekey"})
KEY_DATA_PREFIXES = (
    "kms:encrypt",
    "kms:decrypt",
    "kms:reencrypt",
    "kms:generatedatakey",
    "kms:generatemac",
    "kms:verifymac",
    "kms:sign",
    "kms:verify",
)
KEY_DELETION_WINDOW_DAYS = 30

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
        "dynamodb:liststreams",
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
    """A policy's statements; one under `!If [Condition, statement, !Ref AWS::NoValue]` counts (either branch)."""
    if not isinstance(document, Mapping):
        return []
    return [s for item in _as_list(document.get("Statement")) for s in _branches(item) if isinstance(s, Mapping)]


def _branches(value: Any) -> Iterator[Any]:
    """Each value an `Fn::If` may take (both branches, recursively); `!Ref AWS::NoValue` takes none."""
    if isinstance(value, Mapping) and len(value) == 1 and "Fn::If" in value:
        arguments = value["Fn::If"]
        if isinstance(arguments, list) and len(arguments) == 3:
            for branch in arguments[1:]:
                yield from _branches(branch)
            return
    if isinstance(value, Mapping) and value == {"Ref": "AWS::NoValue"}:
        return
    yield value


def _references(value: Any) -> set[str]:
    """Every logical id or parameter that ``value`` names (Ref, GetAtt, ${...} of a Sub), through any intrinsic."""
    found: set[str] = set()
    if isinstance(value, Mapping):
        ref = _ref(value)
        if ref is not None and not ref.startswith("AWS::"):
            found.add(ref)
        sub = value.get("Fn::Sub")
        text = sub[0] if isinstance(sub, list) and sub else sub
        if isinstance(text, str):
            found |= {m.split(".", 1)[0] for m in re.findall(r"\$\{([A-Za-z0-9:.]+)\}", text) if "::" not in m}
        for item in value.values():
            found |= _references(item)
    elif isinstance(value, list):
        for item in value:
            found |= _references(item)
    return found


def _actions(statement: Mapping[str, Any]) -> list[str]:
    return [a.lower() for a in _as_list(statement.get("Action")) if isinstance(a, str)]


def _covers(patterns: Iterable[str], action: str) -> bool:
    """Whether any IAM action pattern (`s3:Get*`, `*`) matches ``action`` (both lower case)."""
    return any(fnmatch.fnmatchcase(action, pattern) for pattern in patterns)


def _everyone(principal: Any) -> bool:
    return principal == "*" or (isinstance(principal, Mapping) and principal.get("AWS") == "*")


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
    """No managed policy, no *CrudPolicy, no wildcard action, no data action on every resource, no NotAction."""
    problems = []
    for function in _resources(body, SAM_FUNCTION):
        props = _props(body, function)
        # SAM policy templates are only seen by name here: a *CrudPolicy expands to exact actions, just too many.
        for policy in _as_list(props.get("Policies")):
            names = [policy] if isinstance(policy, str) else list(policy) if isinstance(policy, Mapping) else []
            problems += [
                f"{function}: SAM policy template {name} grants every read and write action of its service"
                for name in names
                if isinstance(name, str) and name.endswith("CrudPolicy")
            ]
        if props.get("Role") is not None and props.get("Policies"):
            problems.append(f"{function}: SAM ignores Policies when Role is set; put the statements in the role")
    # The rest is judged on the roles as deployed: inline statements, expanded policy templates, managed policies.
    try:
        grants = _translated_grants(body)
    except Exception as error:  # noqa: BLE001 - whatever SAM rejects, the message says it
        return [*problems, f"(template): SAM cannot translate it, so its roles cannot be checked: {error}"]
    for managed in grants.managed:
        problems += _managed_policy_problems(managed.who, managed.arn)
    for grant in grants.statements:
        problems += _statement_problems(grant.who, grant.statement)
    return problems


@dataclass(frozen=True)
class _Statement:
    who: str  # "Function (role FunctionRole)", or the role's or policy's logical id when no function uses it
    owner: str  # the function whose role it is, else the role's logical id
    role: str | None  # the role's logical id (None: a policy attached to no role of the template)
    statement: Mapping[str, Any]


@dataclass(frozen=True)
class _ManagedPolicy:
    who: str
    arn: Any


@dataclass(frozen=True)
class _Grants:
    statements: list[_Statement]
    managed: list[_ManagedPolicy]
    function_roles: dict[str, str]  # role logical id -> the function it runs


def _translated_grants(body: Body) -> _Grants:
    """Every IAM statement and managed policy of the template as SAM deploys it, with the role and function it serves.

    Roles' inline policies, `AWS::IAM::RolePolicy` (one role), `AWS::IAM::Policy` and `ManagedPolicy` (their roles).
    """
    resources = _translated(body).get("Resources") or {}
    function_roles: dict[str, str] = {}
    for logical_id, resource in resources.items():
        if resource.get("Type") == LAMBDA_FUNCTION:
            role = _ref((resource.get("Properties") or {}).get("Role"))
            if role:
                function_roles[role] = logical_id

    def who(role: str) -> str:
        return f"{function_roles[role]} (role {role})" if role in function_roles else role

    statements: list[_Statement] = []
    managed: list[_ManagedPolicy] = []
    for logical_id, resource in resources.items():
        props = resource.get("Properties") or {}
        kind = resource.get("Type")
        if kind == "AWS::IAM::Role":
            documents = [p.get("PolicyDocument") for p in _as_list(props.get("Policies")) if isinstance(p, Mapping)]
            roles = [logical_id]
            managed += [_ManagedPolicy(who(logical_id), arn) for arn in _as_list(props.get("ManagedPolicyArns"))]
        elif kind == "AWS::IAM::RolePolicy":
            documents, roles = [props.get("PolicyDocument")], [_ref(props.get("RoleName"))]
        elif kind in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"):
            documents, roles = [props.get("PolicyDocument")], [_ref(r) for r in _as_list(props.get("Roles"))]
        else:
            continue
        for role in [r for r in roles if r] or [None]:
            label = who(role) if role else logical_id
            owner = function_roles.get(role, role) if role else logical_id
            for document in documents:
                statements += [_Statement(label, owner, role, s) for s in _statements(document)]
    return _Grants(statements=statements, managed=managed, function_roles=function_roles)


_TRANSLATIONS: dict[str, dict[str, Any]] = {}


def _translated(body: Body) -> dict[str, Any]:
    """SAM's translation of ``body``; the last few are kept, since several rules judge the same template in a row."""
    text = json.dumps(body, sort_keys=True, default=str)
    if text not in _TRANSLATIONS:
        if len(_TRANSLATIONS) >= 4:
            _TRANSLATIONS.pop(next(iter(_TRANSLATIONS)))
        _TRANSLATIONS[text] = translate_body(body)
    return _TRANSLATIONS[text]


def _managed_policy_problems(who: str, arn: Any) -> list[str]:
    text = _resource_text(arn)
    if text is None:
        return [f"{who}: managed policy {arn!r} cannot be checked (not a literal ARN)"]
    name = text.split(":policy/", 1)[-1]
    if "FullAccess" in name:
        return [f"{who}: managed policy {name} is a FullAccess policy"]
    if name in SAM_MANAGED_POLICIES:
        return [
            f"{who}: managed policy {name}, which SAM attaches to the roles it makes, grants its actions on every "
            f"resource of the account; give the function a Role of its own with statements scoped to its log group, "
            f"queues and streams"
        ]
    return [f"{who}: managed policy {name}: write the statements the role needs inline, scoped to its resources"]


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


def table_items_by_key_prefix(body: Body) -> list[str]:
    """Item actions on a table only under `dynamodb:LeadingKeys`, each owner only on the key prefixes it owns."""
    tables = set(_resources(body, "AWS::DynamoDB::Table", "AWS::DynamoDB::GlobalTable"))
    if not tables:
        return []
    try:
        grants = _translated_grants(body)
    except Exception as error:  # noqa: BLE001
        return [f"(template): SAM cannot translate it, so its roles cannot be checked: {error}"]
    problems = []
    for grant in grants.statements:
        statement = grant.statement
        resource = statement.get("Resource")
        everything = any(
            (text := _resource_text(r)) is not None and _EVERYTHING_ARN.search(text) for r in _as_list(resource)
        )
        named = sorted(tables & _references(resource))
        if statement.get("Effect") != "Allow" or not (named or everything):
            continue
        actions = [
            a for a in _actions(statement) if a in ITEM_ACTIONS or ("*" in a and _covers([a], "dynamodb:getitem"))
        ]
        if not actions:
            continue
        where = ", ".join(named) or "every table"
        shown = ", ".join(actions)
        indexes = [_INDEX_ARN.search(text or "") for text in map(_resource_text, _as_list(resource))]
        if indexes and all(indexes) and not everything and _leading_keys(statement.get("Condition")) is None:
            allowed = INDEX_READERS.get(grant.owner, frozenset())
            names = sorted({match.group(1) for match in indexes if match})
            if set(actions) != {"dynamodb:query"} or not set(names) <= allowed:
                problems.append(
                    f"{grant.who}: {shown} on index {', '.join(names)} of {where}; {grant.owner} may only Query "
                    f"{', '.join(sorted(allowed)) or 'no index'}"
                )
            continue
        if any(a in ("dynamodb:scan", "dynamodb:partiqlselect") for a in actions):
            problems.append(
                f"{grant.who}: {shown} on {where} reads items whatever their key; no LeadingKeys can limit it"
            )
            continue
        prefixes = _leading_keys(statement.get("Condition"))
        if prefixes is None:
            problems.append(
                f"{grant.who}: {shown} on {where} without a ForAllValues dynamodb:LeadingKeys condition: every item "
                f"of the table (reports, cases, custody events)"
            )
            continue
        owned = OWNED_KEY_PREFIXES.get(grant.owner)
        for pattern in prefixes:
            head = pattern.split("*", 1)[0]
            if not head:
                problems.append(f"{grant.who}: {shown} on {where} under LeadingKeys {pattern!r}, which is every key")
            elif owned is not None and not any(head.startswith(prefix) for prefix in owned):
                problems.append(
                    f"{grant.who}: {shown} on {where} may touch keys {pattern}; {grant.owner} owns "
                    f"{', '.join(sorted(owned))} only"
                )
    return problems


def _leading_keys(condition: Any) -> list[str] | None:
    """The patterns of a `ForAllValues:StringLike|StringEquals` `dynamodb:LeadingKeys` condition; None without one."""
    if not isinstance(condition, Mapping):
        return None
    for operator in ("ForAllValues:StringLike", "ForAllValues:StringEquals"):
        values = (condition.get(operator) or {}).get("dynamodb:LeadingKeys")
        if values is not None:
            return [str(v) for v in _as_list(values)]
    return None


def evidence_access_limited(body: Body) -> list[str]:
    """Evidence is read by its readers only, and only a custodian (never a function) lifts holds or bypasses retention.

    Judged on the bucket policy, which holds whatever IAM policies the account grows: a deny of s3:GetObject to every
    principal outside EVIDENCE_READERS (and the readers' parameter), of s3:BypassGovernanceRetention and of lifting a
    legal hold to every function. And on IAM as deployed: no role outside EVIDENCE_READERS is granted a read.
    """
    buckets = _evidence_buckets(body)
    if not buckets:
        return []
    function_roles = _sam_function_roles(body)
    reader_roles = {role for role, function in function_roles.items() if function in EVIDENCE_READERS}
    problems = []
    for bucket in buckets:
        statements = [
            s
            for policy in _resources(body, "AWS::S3::BucketPolicy").values()
            if _ref((policy.get("Properties") or {}).get("Bucket")) == bucket
            for s in _statements((policy.get("Properties") or {}).get("PolicyDocument"))
        ]
        reads = _denies(statements, bucket, "s3:getobject")
        if not any(exempt <= reader_roles | _parameters(body) for exempt in reads):
            others = sorted({who for exempt in reads for who in exempt - reader_roles - _parameters(body)})
            problems.append(
                f"{bucket}: its bucket policy must deny s3:GetObject to every principal but the evidence readers "
                f"({', '.join(sorted(EVIDENCE_READERS))} and a parameter)"
                + (f"; the deny it has also exempts {', '.join(others)}" if others else "")
            )
        for action, what in (
            ("s3:bypassgovernanceretention", "s3:BypassGovernanceRetention (shortening GOVERNANCE retention)"),
            ("s3:putobjectlegalhold", "s3:PutObjectLegalHold with status OFF (lifting a legal hold)"),
        ):
            denies = _denies(statements, bucket, action, allowed_conditions=("s3:object-lock-legal-hold",))
            if not any(not exempt & set(function_roles) for exempt in denies):
                problems.append(
                    f"{bucket}: its bucket policy must deny {what} to every principal but an evidence custodian role "
                    f"(never a function's)"
                )
    try:
        grants = _translated_grants(body)
    except Exception as error:  # noqa: BLE001
        return [*problems, f"(template): SAM cannot translate it, so its roles cannot be checked: {error}"]
    for grant in grants.statements:
        statement = grant.statement
        if statement.get("Effect") != "Allow" or grant.owner in EVIDENCE_READERS:
            continue
        actions = _actions(statement)
        read = [a for a in EVIDENCE_BYTE_ACTIONS if _covers(actions, a)]
        if not read:
            continue
        resource = statement.get("Resource")
        everything = any(
            (text := _resource_text(r)) is not None and _EVERYTHING_ARN.search(text) for r in _as_list(resource)
        )
        for bucket in sorted(set(buckets) & _references(resource)) or (["every bucket"] if everything else []):
            problems.append(
                f"{grant.who}: may read evidence in {bucket} ({', '.join(read)}); only "
                f"{', '.join(sorted(EVIDENCE_READERS))} and the readers' parameter may"
            )
    return problems


def _sam_function_roles(body: Body) -> dict[str, str]:
    """Role logical id -> function, for every function: its own Role, or the one SAM makes (`<Function>Role`)."""
    roles = {}
    for function in _resources(body, SAM_FUNCTION):
        role = _ref(_props(body, function).get("Role"))
        roles[role or f"{function}Role"] = function
    for function, resource in _resources(body, LAMBDA_FUNCTION).items():
        role = _ref((resource.get("Properties") or {}).get("Role"))
        if role:
            roles[role] = function
    return roles


def _parameters(body: Body) -> set[str]:
    return set(body.get("Parameters") or {})


_EXEMPTING_OPERATORS = ("ArnNotEquals", "ArnNotLike", "StringNotEquals", "StringNotLike")


def _denies(
    statements: list[Mapping[str, Any]], bucket: str, action: str, allowed_conditions: tuple[str, ...] = ()
) -> list[set[str]]:
    """For each Deny of ``action`` on the bucket's objects to everyone, the logical ids and parameters it exempts.

    A deny counts only if its conditions do nothing but exempt principals by aws:PrincipalArn (plus the condition
    keys named), in any branch of an `!If`.
    """
    found = []
    for statement in statements:
        if statement.get("Effect") != "Deny" or not _everyone(statement.get("Principal")):
            continue
        if not _covers(_actions(statement), action) or not _mentions(statement.get("Resource"), bucket):
            continue
        exempt: set[str] = set()
        pure = True
        for condition in _branches(statement.get("Condition")):
            if condition is None:
                continue
            if not isinstance(condition, Mapping):
                pure = False
                continue
            for operator, entries in condition.items():
                for entry in _branches(entries):
                    if not isinstance(entry, Mapping):
                        pure = False
                        continue
                    for key, values in entry.items():
                        if key.lower() == "aws:principalarn" and operator in _EXEMPTING_OPERATORS:
                            exempt |= _references(values)
                        elif key not in allowed_conditions:
                            pure = False
        if pure:
            found.append(exempt)
    return found


def keys_administered_apart(body: Body) -> list[str]:
    """Key policies: administrators who cannot use the key, functions that can only use it, no kms:*, 30 days' notice.

    The account (root) keeps only what lockout safety needs (kms:PutKeyPolicy, reading the policy), or data actions
    through one service (kms:ViaService); with kms:* IAM would decide who may kms:ScheduleKeyDeletion. And no role of
    a function is granted anything but data actions on a key by IAM either.
    """
    function_roles = _sam_function_roles(body)
    problems = []
    for key, resource in _resources(body, "AWS::KMS::Key").items():
        props = resource.get("Properties") or {}
        if props.get("PendingWindowInDays") != KEY_DELETION_WINDOW_DAYS:
            problems.append(
                f"{key}: PendingWindowInDays must be {KEY_DELETION_WINDOW_DAYS} (a deletion scheduled by mistake, "
                f"or by an intruder, can be cancelled for a month), is {props.get('PendingWindowInDays')!r}"
            )
        for statement in _statements(props.get("KeyPolicy")):
            if statement.get("Effect") != "Allow":
                continue
            actions = _actions(statement)
            principal = statement.get("Principal")
            aws = principal.get("AWS") if isinstance(principal, Mapping) else principal
            named = _references(aws)
            shown = ", ".join(actions)
            if any(a in ("*", "kms:*") for a in actions):
                problems.append(f"{key}: key policy grants kms:* ({statement.get('Sid', 'a statement')})")
                continue
            data = [a for a in actions if a.startswith(KEY_DATA_PREFIXES)]
            admin = [a for a in actions if not a.startswith(KEY_DATA_PREFIXES) and a != "kms:describekey"]
            if _is_account_root(aws):
                via_service = "kms:ViaService" in str(statement.get("Condition"))
                if not (set(actions) <= KEY_LOCKOUT_ACTIONS or (not admin and via_service)):
                    problems.append(
                        f"{key}: the account (root) may {shown}: IAM policies would decide who administers or uses "
                        f"the key; keep kms:PutKeyPolicy/GetKeyPolicy/DescribeKey, or data actions through one "
                        f"service"
                    )
            for role in sorted(named & set(function_roles)):
                if admin:
                    problems.append(f"{key}: function role {role} may {', '.join(admin)}; functions only use keys")
            if admin and data:
                problems.append(
                    f"{key}: key administrators ({statement.get('Sid', 'a statement')}) must not also {', '.join(data)}"
                )
    try:
        grants = _translated_grants(body)
    except Exception as error:  # noqa: BLE001
        return [*problems, f"(template): SAM cannot translate it, so its roles cannot be checked: {error}"]
    for grant in grants.statements:
        if grant.role not in grants.function_roles or grant.statement.get("Effect") != "Allow":
            continue
        kms = [a for a in _actions(grant.statement) if a.startswith("kms:") or a == "*"]
        admin = [a for a in kms if not a.startswith(KEY_DATA_PREFIXES) and a != "kms:describekey"]
        if admin:
            problems.append(f"{grant.who}: {', '.join(admin)} on a key; functions only use keys, never administer them")
    return problems


def _is_account_root(principal: Any) -> bool:
    for value in _as_list(principal):
        text = _resource_text(value)
        if text is not None and (text.endswith(":root") or re.fullmatch(r"\d{12}", text)):
            return True
        if isinstance(value, Mapping) and value.get("Ref") == "AWS::AccountId":
            return True
    return False


def alarms_page_on_call(body: Body) -> list[str]:
    """Every alarm pages an SNS topic of the template, under a key CloudWatch may use, that it may publish to."""
    topics = _resources(body, "AWS::SNS::Topic")
    keys = _resources(body, "AWS::KMS::Key")
    problems = []
    paged: set[str] = set()
    for alarm, resource in _resources(body, ALARM).items():
        actions = _as_list((resource.get("Properties") or {}).get("AlarmActions"))
        targets = [_ref(a) for a in actions]
        if not actions:
            problems.append(f"{alarm}: alarm has no AlarmActions: it goes off and pages nobody")
        elif not all(target in topics for target in targets):
            problems.append(f"{alarm}: AlarmActions must be !Ref of the on-call SNS topic(s) of this template")
        paged |= {target for target in targets if target in topics}
    for topic in sorted(paged):
        key = _ref((topics[topic].get("Properties") or {}).get("KmsMasterKeyId"))
        if key not in keys:
            problems.append(
                f"{topic}: alarms page it, so it needs a customer-managed key of this template (KmsMasterKeyId); "
                f"CloudWatch cannot publish to a topic under aws/sns"
            )
        elif not _lets_cloudwatch(_statements((keys[key].get("Properties") or {}).get("KeyPolicy")), "kms"):
            problems.append(
                f"{key}: encrypts on-call topic {topic} but does not let cloudwatch.amazonaws.com kms:Decrypt and "
                f"kms:GenerateDataKey* (with an aws:SourceAccount or aws:SourceArn condition)"
            )
        topic_statements = [
            s
            for policy in _resources(body, "AWS::SNS::TopicPolicy").values()
            if topic in {_ref(t) for t in _as_list((policy.get("Properties") or {}).get("Topics"))}
            for s in _statements((policy.get("Properties") or {}).get("PolicyDocument"))
        ]
        if not _lets_cloudwatch(topic_statements, "sns"):
            problems.append(
                f"{topic}: no topic policy lets cloudwatch.amazonaws.com sns:Publish (with an aws:SourceAccount or "
                f"aws:SourceArn condition)"
            )
    return problems


def _lets_cloudwatch(statements: list[Mapping[str, Any]], service: str) -> bool:
    needed = ("kms:decrypt", "kms:generatedatakey") if service == "kms" else ("sns:publish",)
    for statement in statements:
        principal = statement.get("Principal")
        services = _as_list(principal.get("Service")) if isinstance(principal, Mapping) else []
        condition = str(statement.get("Condition"))
        if (
            statement.get("Effect") == "Allow"
            and "cloudwatch.amazonaws.com" in services
            and all(_covers(_actions(statement), action) for action in needed)
            and ("aws:SourceAccount" in condition or "aws:SourceArn" in condition)
        ):
            return True
    return False


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
        body, "AWS::IAM::Role", "AWS::IAM::RolePolicy", "AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"
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
    table_items_by_key_prefix,
    evidence_access_limited,
    keys_administered_apart,
    alarms_page_on_call,
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
