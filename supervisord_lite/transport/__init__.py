"""Byte streams around the dispatcher: NDJSON framing, Unix sockets (with peer credentials), stdio."""
