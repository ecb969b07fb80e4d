"""Where moto (5.2.5) answers unlike AWS, made good for tests and `make run` only: S3's evidence checks on a client,
and DynamoDB under concurrent callers in the process that runs moto (`serialise_dynamodb`, at the end).

The quarantine worker verifies evidence copies without reading them (GetObjectAttributes, GetObjectLegalHold,
GetObjectRetention; shared/adapters/evidence_bucket.py). moto falls short on two of those, and product code must not
know: `install` fixes them on a boto3 S3 client (or a session, for clients made from it afterwards) by event hooks.

- GetObjectRetention answers 500 (not implemented). The answer is made at `before-send`, so the request passes every
  `before-call`/`after-call` hook as a real one would (fault injection and request counting see it), from a HeadObject
  sent through a separate client (moto checks no IAM; HeadObject carries the same two fields), as S3's XML: the mode
  and date, or 404 NoSuchObjectLockConfiguration when the version has no retention.
- GetObjectAttributes lists no ObjectParts. When moto runs in this process (embedded `mock_aws`, or a server thread),
  the parts it stored are listed as S3 lists them (number, size, SHA-256 of the part's bytes, 1,000 per page); a
  moto server in another process is out of reach, and the answer is left as moto gave it (S3 also gives only a
  count at times; the adapter copes).
"""

from __future__ import annotations

import base64
import copy
import hashlib
import io
import json
import threading
import types
from datetime import UTC, datetime
from typing import Any

import boto3
from botocore.awsrequest import AWSResponse, HTTPHeaders
from botocore.exceptions import ClientError
from urllib3.response import HTTPResponse

_RETENTION = "moto-gaps-retention"
_ATTRIBUTES = "moto-gaps-attributes"
_XMLNS = "http://s3.amazonaws.com/doc/2006-03-01/"


def install(target: Any) -> None:
    """Register the fixes on an S3 client (`client.meta.events`) or a boto3/botocore session (`.events`)."""
    events = target.meta.events if hasattr(target, "meta") else target.events
    plain: list[Any] = []

    def side_client() -> Any:
        # Its own client: the fix's HeadObject is not the product's request and must not be counted as one.
        if not plain:
            if hasattr(target, "meta"):
                meta = target.meta
                plain.append(boto3.client("s3", region_name=meta.region_name, endpoint_url=meta.endpoint_url))
            else:
                plain.append(boto3.client("s3"))
        return plain[0]

    def remember(params: dict[str, Any], context: dict[str, Any], model: Any, **_: Any) -> None:
        context[_RETENTION if model.name == "GetObjectRetention" else _ATTRIBUTES] = dict(params)

    def answer_retention(request: Any, **_: Any) -> AWSResponse | None:
        params = (getattr(request, "context", None) or {}).get(_RETENTION)
        if params is None:
            return None
        where = {name: params[name] for name in ("Bucket", "Key", "VersionId") if name in params}
        try:
            head = side_client().head_object(**where)
        except ClientError as error:
            code = str(error.response.get("Error", {}).get("Code", "404"))
            return _xml(request.url, 404, _error("NoSuchVersion" if "VersionId" in where else "NoSuchKey", code))
        if not head.get("ObjectLockMode"):
            return _xml(request.url, 404, _error("NoSuchObjectLockConfiguration", "no retention on this version"))
        until = head["ObjectLockRetainUntilDate"].astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")
        body = f'<Retention xmlns="{_XMLNS}"><Mode>{head["ObjectLockMode"]}</Mode><RetainUntilDate>{until}'
        return _xml(request.url, 200, body + "</RetainUntilDate></Retention>")

    def list_parts(parsed: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        params = context.get(_ATTRIBUTES)
        if not params or "ObjectParts" not in params.get("ObjectAttributes", []) or "VersionId" not in parsed:
            return
        parts = _stored_parts(params["Bucket"], params["Key"], str(parsed["VersionId"]))
        if parts is None:
            return
        marker, most = int(params.get("PartNumberMarker") or 0), int(params.get("MaxParts") or 1000)
        page = [part for part in parts if part["PartNumber"] > marker][:most]
        listing: dict[str, Any] = {"TotalPartsCount": len(parts), "PartNumberMarker": marker, "MaxParts": most}
        listing |= {"Parts": page, "IsTruncated": bool(page) and page[-1]["PartNumber"] < parts[-1]["PartNumber"]}
        if listing["IsTruncated"]:
            listing["NextPartNumberMarker"] = page[-1]["PartNumber"]
        parsed["ObjectParts"] = listing

    for operation in ("GetObjectRetention", "GetObjectAttributes"):
        events.register(f"before-parameter-build.s3.{operation}", remember, unique_id=f"moto-gaps-remember-{operation}")
    events.register("before-send.s3.GetObjectRetention", answer_retention, unique_id="moto-gaps-retention")
    events.register("after-call.s3.GetObjectAttributes", list_parts, unique_id="moto-gaps-object-parts")


def _stored_parts(bucket: str, key: str, version_id: str) -> list[dict[str, Any]] | None:
    """The parts moto keeps for a completed multipart upload in this process, as S3 lists them; None if unknown."""
    try:
        from moto.core import DEFAULT_ACCOUNT_ID
        from moto.s3.models import s3_backends
    except ImportError:
        return None
    try:
        stored = s3_backends[DEFAULT_ACCOUNT_ID]["aws"].get_object(bucket, key, version_id=version_id)
    except Exception:  # noqa: BLE001 - a bucket moto does not hold here (another process's server): nothing to add
        return None
    multipart = getattr(stored, "multipart", None)
    if stored is None or multipart is None:
        return None
    # moto closes the parts' own buffers on completion but keeps their sizes; the bytes are the object's, in order.
    data, offset, listed = stored.value, 0, []
    for number in multipart.partlist:
        size = int(multipart.parts[number].contentsize)
        checksum = base64.b64encode(hashlib.sha256(data[offset : offset + size]).digest()).decode()
        listed.append({"PartNumber": number, "Size": size, "ChecksumSHA256": checksum})
        offset += size
    return listed if offset == len(data) else None


def _error(code: str, message: str) -> str:
    return f"<Error><Code>{code}</Code><Message>{message}</Message></Error>"


def _xml(url: str, status: int, body: str) -> AWSResponse:
    raw = HTTPResponse(
        body=io.BytesIO(('<?xml version="1.0" encoding="UTF-8"?>' + body).encode()),
        status=status,
        preload_content=False,
    )
    headers = HTTPHeaders()
    headers["Content-Type"] = "application/xml"
    headers["Date"] = datetime.now(UTC).strftime("%a, %d %b %Y %H:%M:%S GMT")
    return AWSResponse(url, status, headers, raw)


# ---------------------------------------------------------------------------------------------------------------
# DynamoDB under concurrency, in the process that runs moto
# ---------------------------------------------------------------------------------------------------------------

_dynamodb_lock = threading.RLock()
_dynamodb_patched: list[bool] = []


def serialise_dynamodb() -> None:
    """Make a moto server running in this process answer DynamoDB as DynamoDB does under concurrent callers.

    Two gaps show when many requests arrive at once (a viral case: 30 partners, four stream pollers):
    - moto's DynamoDB backend is not thread-safe: a transaction, a Scan or a Query iterates a table's items while
      another request thread adds to them, and answers 500 (`dictionary changed size during iteration`). DynamoDB
      serialises each item's writes; here every DynamoDB request runs under one lock. DynamoDB has no long poll, so
      the lock is held for one request's work only (SQS, which does long-poll, is left alone).
    - before a transaction moto deep-copies the whole table once per action, stream records included, to roll back
      on a cancellation: a 91-action transaction on a 10,000-item table makes 91 copies of it, seconds of work per
      batch that DynamoDB does in milliseconds. Instead only the items the transaction names are kept, and put back
      as they were when it is cancelled (the stream keeps the records of the writes undone: every one is of an item
      that is not a new report, which is all the dispatcher reads).
    - GetRecords goes through moto's generic response serializer, which walks every attribute of every image against
      the service model: under a viral case it took a third of the process's time. The records are already in the
      wire format (DynamoDB JSON), so they are written out as JSON directly.
    Idempotent; effective only where moto runs in this process (embedded `make run`, a test's moto server).
    """
    if _dynamodb_patched:
        return
    from moto.dynamodb import models
    from moto.dynamodb.models.dynamo_type import DynamoType
    from moto.dynamodb.responses import DynamoHandler
    from moto.dynamodbstreams.responses import DynamoDBStreamsHandler

    def records_as_json(self: Any) -> str:
        result = self.backend.get_records(self._get_param("ShardIterator"), self._get_param("Limit") or 1000)
        # The wire format's timestamps are epoch seconds; moto keeps datetimes.
        return json.dumps(result, default=lambda value: value.timestamp() if isinstance(value, datetime) else value)

    call_action = DynamoHandler.call_action

    def call_action_alone(self: Any) -> Any:
        with _dynamodb_lock:
            return call_action(self)

    real_transaction = models.DynamoDBBackend.transact_write_items

    def item_slot(table: Any, op: dict[str, Any]) -> tuple[Any, Any]:
        key = op.get("Key") or op.get("Item") or {}
        hash_value = DynamoType(key[table.hash_key_attr])
        range_value = DynamoType(key[table.range_key_attr]) if table.range_key_attr else None
        return hash_value, range_value

    def transaction_keeping_named_items(self: Any, transact_items: list[dict[str, Any]]) -> None:
        kept: list[tuple[Any, Any, Any, Any]] = []
        for action in transact_items:
            op = next(iter(action.values()))
            table = self.tables.get(op.get("TableName"))
            if table is None or not isinstance(op, dict):
                continue
            try:
                hash_value, range_value = item_slot(table, op)
            except (KeyError, TypeError):
                continue  # moto refuses the action itself, before any write
            stored = table.items.get(hash_value)
            if range_value is not None:
                stored = stored.get(range_value) if isinstance(stored, dict) else None
            kept.append((table, hash_value, range_value, copy.deepcopy(stored)))
        original_copy = models.copy
        models.copy = types.SimpleNamespace(deepcopy=lambda value, memo=None: value)  # type: ignore[assignment]
        try:
            real_transaction(self, transact_items)
        except Exception:
            for table, hash_value, range_value, before in reversed(kept):
                _put_back(table, hash_value, range_value, before)
            raise
        finally:
            models.copy = original_copy

    DynamoDBStreamsHandler.get_records = records_as_json  # type: ignore[method-assign,assignment]
    DynamoHandler.call_action = call_action_alone  # type: ignore[method-assign]
    models.DynamoDBBackend.transact_write_items = transaction_keeping_named_items  # type: ignore[method-assign]
    _dynamodb_patched.append(True)


def _put_back(table: Any, hash_value: Any, range_value: Any, before: Any) -> None:
    if range_value is None:
        if before is None:
            table.items.pop(hash_value, None)
        else:
            table.items[hash_value] = before
        return
    items = table.items[hash_value]
    if before is None:
        items.pop(range_value, None)
        if not items:
            table.items.pop(hash_value, None)
    else:
        items[range_value] = before
