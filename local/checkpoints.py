"""Where the local stack's DynamoDB stream pollers are in each shard, kept on disk so a restart resumes there.

Lambda keeps a mapping's position per shard on its side; locally it is a small JSON file per mapping in the state
directory (``.local-state/`` in the repository, ``--state-dir`` or $LOCAL_STATE_DIR), saved after every batch that is
done, so after SIGKILL the next run re-delivers at most the batch in flight: at least once, never skipped.

A checkpoint belongs to one mapping (``CheckpointKey``): endpoint URL, stream ARN, function ARN and event name. The
stream ARN carries the stream's creation time, so a table created afresh (every run of the embedded moto) never
inherits an older position. It holds no record contents, only shard ids and sequence numbers, and is never written
in place: each save is a new file renamed over the old one (``os.replace``), so a SIGKILL mid-save leaves the previous
checkpoint or the new one. Two processes polling one mapping with one state directory would race; nothing guards that.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

STATE_DIR_ENV = "LOCAL_STATE_DIR"
DEFAULT_STATE_DIR = Path(__file__).resolve().parent.parent / ".local-state"
_FORMAT_VERSION = 1


def default_state_dir() -> Path:
    """$LOCAL_STATE_DIR if set, else the repository's ``.local-state/`` (gitignored); not cwd-relative."""
    configured = os.environ.get(STATE_DIR_ENV)
    return Path(configured).expanduser() if configured else DEFAULT_STATE_DIR


class CheckpointError(Exception):
    """A checkpoint file exists but cannot be used; the message names the file (delete it to start over)."""


@dataclass(frozen=True)
class CheckpointKey:
    """Which mapping a checkpoint belongs to (see the module docstring for why each part is there)."""

    endpoint: str
    stream_arn: str
    function_arn: str
    event: str

    def as_dict(self) -> dict[str, str]:
        return {
            "endpoint": self.endpoint,
            "streamArn": self.stream_arn,
            "functionArn": self.function_arn,
            "event": self.event,
        }

    def filename(self) -> str:
        digest = hashlib.sha256(json.dumps(self.as_dict(), sort_keys=True).encode()).hexdigest()[:24]
        # The readable part is only for people looking at the directory; the digest is what keeps keys apart.
        function = self.function_arn.rsplit(":", 1)[-1]
        readable = re.sub(r"[^A-Za-z0-9_.-]", "-", f"{function}-{self.event}")[:80]
        return f"stream-{readable}-{digest}.json"


@dataclass
class ShardPosition:
    """The last sequence number of the shard that is done (None: nothing yet), and whether the shard is read to its
    end (a closed shard whose every record is done; its children may start)."""

    sequence_number: str | None = None
    finished: bool = False


@dataclass
class StreamCheckpoint:
    starting_position: str  # the mapping's StartingPosition when it first ran (TRIM_HORIZON | LATEST)
    started_at: float  # epoch seconds of that first run: where LATEST was, for shards that have no position yet
    shards: dict[str, ShardPosition] = field(default_factory=dict)


class CheckpointStore:
    """One mapping's checkpoint file: ``load()`` once at start, ``save()`` after every batch that is done."""

    def __init__(self, directory: Path, key: CheckpointKey) -> None:
        self.directory = directory
        self.key = key
        self.path = directory / key.filename()

    def load(self) -> StreamCheckpoint | None:
        """The saved checkpoint, or None when this mapping has never saved one (a first run)."""
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        try:
            data: Any = json.loads(text)
            if data.get("version") != _FORMAT_VERSION or data.get("key") != self.key.as_dict():
                raise CheckpointError(f"{self.path}: written for another mapping or format; delete it to start over")
            return StreamCheckpoint(
                starting_position=str(data["startingPosition"]),
                started_at=float(data["startedAt"]),
                shards={
                    str(shard_id): ShardPosition(
                        sequence_number=_optional_str(position.get("sequenceNumber")),
                        finished=bool(position.get("finished", False)),
                    )
                    for shard_id, position in data["shards"].items()
                },
            )
        except (ValueError, KeyError, TypeError, AttributeError) as error:
            raise CheckpointError(f"{self.path}: unreadable checkpoint ({error}); delete it to start over") from error

    def save(self, checkpoint: StreamCheckpoint) -> None:
        data = {
            "version": _FORMAT_VERSION,
            "key": self.key.as_dict(),
            "startingPosition": checkpoint.starting_position,
            "startedAt": checkpoint.started_at,
            "shards": {
                shard_id: {"sequenceNumber": position.sequence_number, "finished": position.finished}
                for shard_id, position in sorted(checkpoint.shards.items())
            },
        }
        self.directory.mkdir(parents=True, exist_ok=True)
        # One writer per file, so a fixed temporary name is safe, and a SIGKILL mid-write leaves one stale temporary
        # file that the next save overwrites, not a growing pile. fsync before the rename: the rename must never
        # publish a file whose bytes are not on disk yet.
        temporary = self.path.with_name(self.path.name + ".tmp")
        with temporary.open("w", encoding="utf-8") as stream:
            json.dump(data, stream, indent=1)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temporary, self.path)


def _optional_str(value: Any) -> str | None:
    return None if value is None else str(value)
