"""What a cut-off recording still holds: the messages of an mcap bag up to where it was cut.

A recorder killed mid-write (or a full disk) leaves an mcap file without its summary and
footer; rosbags cannot open it. Its records are still in order from the start, so they are
read one by one (the mcap package's stream reader) until the first one that is incomplete,
and written into a readable copy of the bag, message for message.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import suppress
from pathlib import Path
from typing import Any

from mcap.records import Channel, Message, Schema
from mcap.stream_reader import StreamReader
from rosbags.rosbag2 import StoragePlugin, Writer
from rosbags.typesys import get_types_from_idl, get_types_from_msg

from lerobot_recorder.bag import SALVAGE_MARKER, suite_typestore
from lerobot_recorder.errors import BagError


def salvage(bag: Path, folder: Path) -> tuple[Path, dict[str, Any]]:
    """A readable copy of `bag` (a folder of mcap files, or one file) in `folder`, holding
    every message before the cut; and what was kept."""
    files = sorted(bag.glob("*.mcap")) if bag.is_dir() else [bag]
    copy = folder / bag.name
    writer = Writer(copy, version=9, storage_plugin=StoragePlugin.MCAP)
    writer.open()
    kept, last_ns = 0, 0
    cut: list[str] = []
    by_topic: dict[tuple[str, str], Any] = {}  # a split bag declares its topics again in every file
    try:
        for file in files:
            connections: dict[int, Any] = {}
            schemas: dict[int, Schema] = {}
            with file.open("rb") as stream:
                for record in _intact(StreamReader(stream).records, cut, file.name):
                    if isinstance(record, Schema):
                        schemas[record.id] = record
                    elif isinstance(record, Channel):
                        connections[record.id] = _connection(writer, by_topic, record, schemas.get(record.schema_id))
                    elif isinstance(record, Message) and record.channel_id in connections:
                        writer.write(connections[record.channel_id], record.log_time, record.data)
                        kept, last_ns = kept + 1, max(last_ns, record.log_time)
    finally:
        writer.close()
    if kept == 0:
        raise BagError(
            f"bag {bag} is cut inside its first chunk: no complete message survived, so there is nothing to salvage"
        )
    info = {"files_cut": cut, "messages_kept": kept, "last_message_s": last_ns / 1e9}
    (copy / SALVAGE_MARKER).write_text(json.dumps(info))
    return copy, info


def _intact(records: Iterator[Any], cut: list[str], name: str) -> Iterator[Any]:
    """The records up to the first one that is incomplete (the cut), which is noted."""
    while True:
        try:
            record = next(records)
        except StopIteration:
            return
        except Exception:  # an incomplete record, chunk or compressed block: the file ends here
            cut.append(name)
            return
        yield record


def _connection(writer: Writer, known: dict[tuple[str, str], Any], channel: Channel, schema: Schema | None) -> Any:
    """The copy's connection for a channel, with the message definition the bag carries (or,
    where it carries none that parses, the standard one)."""
    msgtype = schema.name if schema is not None else channel.metadata.get("type", "")
    if (channel.topic, msgtype) not in known:
        store = suite_typestore()
        if schema is not None and schema.data:
            parse = get_types_from_msg if schema.encoding == "ros2msg" else lambda text, _: get_types_from_idl(text)
            with suppress(Exception):  # rosbags' parsers raise assorted errors on odd definitions
                store.register(parse(schema.data.decode(), msgtype))
        known[channel.topic, msgtype] = writer.add_connection(channel.topic, msgtype, typestore=store)
    return known[channel.topic, msgtype]
