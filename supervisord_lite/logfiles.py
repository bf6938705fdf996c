"""The on-disk form of captured output, shared by its writer (owner/output.py) and its reader
(supervision/logs.py).

A process's log is a directory `<log_dir>/<process id>/` (0700) of segments (0600), each named by
the log offset of its first byte (`00000000000000000000.log`): the offset of a record in the
whole log, across rotations, is the segment's name plus its place in the segment, and that offset
is the cursor `process.logs` hands out. Rotation opens a new segment once the current one holds
`log_max_bytes` and deletes all but the newest `log_backups` + 1.

Each record is one line, the wire's own log line object, so reading is a parse and no more:
`{"stream": "stdout"|"stderr", "text": ..., "encoding": "utf-8"|"base64", "ts": RFC 3339}`,
plus `"partial": true` on a piece of a line longer than LINE_MAX (the rest follows in the next
record) and on output that ended without a newline. `text` is the line without its newline; when
the bytes are not valid UTF-8 it is their base64 and `encoding` says so (lossless either way).
A file `closed` appears once the child's output pipes have both reached EOF: nothing follows.
"""

from __future__ import annotations

import base64
import os

import orjson

LINE_MAX = 64 * 1024  # a longer line is split into pieces of at most this many bytes
SUFFIX = ".log"
CLOSED = "closed"


def ended(directory: str) -> bool:
    """The writer has closed this log: both streams reached their end (the CLOSED marker)."""
    return os.path.exists(os.path.join(directory, CLOSED))


def segment_name(start: int) -> str:
    return f"{start:020d}{SUFFIX}"


def segments(directory: str) -> list[int]:
    """The start offsets of a log's segments, oldest first ([] if it has none)."""
    try:
        names = os.listdir(directory)
    except FileNotFoundError:
        return []
    return sorted(int(n[: -len(SUFFIX)]) for n in names if n.endswith(SUFFIX) and n[:-4].isdigit())


def record(stream: str, data: bytes, ts: str, *, partial: bool = False) -> bytes:
    try:
        text, encoding = data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        text, encoding = base64.b64encode(data).decode("ascii"), "base64"
    line: dict[str, object] = {"stream": stream, "text": text, "encoding": encoding, "ts": ts}
    if partial:
        line["partial"] = True
    return orjson.dumps(line, option=orjson.OPT_APPEND_NEWLINE)


def split_point(data: bytes | bytearray, limit: int) -> int:
    """Where to cut a line longer than `limit`: at `limit`, moved back to the start of a UTF-8
    character if the cut would fall inside one (so each piece stays text if the line was)."""
    cut = limit
    for _ in range(3):
        if cut > 0 and (data[cut] & 0xC0) == 0x80:
            cut -= 1
        else:
            break
    return cut if cut > 0 else limit
