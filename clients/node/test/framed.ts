/**
 * LSP-style framing for the tests' raw connections (a vector's `"framing": "content-length"`):
 * `Content-Length: N\r\n\r\n` then N bytes. The client itself speaks NDJSON; this is the
 * header-framed client of our own that shows the daemon answers such a client in kind.
 */

const HEADER_END = Buffer.from("\r\n\r\n");

/** One message: the header, then the body as is. */
export function frame(body: string | Buffer): Buffer {
  const bytes = typeof body === "string" ? Buffer.from(body, "utf8") : body;
  return Buffer.concat([Buffer.from(`Content-Length: ${bytes.length}\r\n\r\n`), bytes]);
}

/** Split a byte stream into message bodies, whatever the chunk boundaries. */
export class MessageSplitter {
  private buf: Buffer = Buffer.alloc(0);

  push(chunk: Buffer): string[] {
    this.buf = Buffer.concat([this.buf, chunk]);
    const bodies: string[] = [];
    for (;;) {
      const end = this.buf.indexOf(HEADER_END);
      if (end === -1) break;
      const head = this.buf.subarray(0, end).toString("latin1");
      const lengths = head
        .split("\r\n")
        .map((line) => /^\s*content-length\s*:\s*(\d+)\s*$/i.exec(line))
        .filter((m): m is RegExpExecArray => m !== null);
      if (lengths.length !== 1) throw new Error(`a reply without one Content-Length header: ${JSON.stringify(head)}`);
      const n = Number(lengths[0]![1]);
      const start = end + HEADER_END.length;
      if (this.buf.length < start + n) break;
      bodies.push(this.buf.subarray(start, start + n).toString("utf8"));
      this.buf = this.buf.subarray(start + n);
    }
    return bodies;
  }
}
