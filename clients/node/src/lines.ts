/**
 * NDJSON framing: split a byte stream into lines, whatever the chunk boundaries (a line, or a
 * multi-byte UTF-8 character, may be cut across any number of chunks). Works on bytes, decodes
 * only whole lines. `\r\n` is accepted; blank lines are dropped (PROTOCOL.md, "Framing").
 */

const NL = 0x0a;
const CR = 0x0d;

export class LineTooLongError extends Error {
  readonly limit: number;

  constructor(limit: number) {
    super(`a line longer than ${limit} bytes was received`);
    this.name = "LineTooLongError";
    this.limit = limit;
  }
}

export class LineSplitter {
  private parts: Buffer[] = [];
  private pending = 0;

  /** `maxLine`: the longest line accepted, in bytes (without its newline). */
  constructor(private readonly maxLine: number = Number.POSITIVE_INFINITY) {}

  /** Feed one chunk; returns the complete, non-blank lines it finished, decoded as UTF-8. */
  push(chunk: Buffer): string[] {
    const lines: string[] = [];
    let start = 0;
    for (;;) {
      const nl = chunk.indexOf(NL, start);
      if (nl === -1) break;
      let line: Buffer;
      if (this.parts.length === 0) {
        line = chunk.subarray(start, nl);
      } else {
        this.parts.push(chunk.subarray(start, nl));
        line = Buffer.concat(this.parts);
        this.parts = [];
        this.pending = 0;
      }
      if (line.length > this.maxLine) throw new LineTooLongError(this.maxLine);
      start = nl + 1;
      let end = line.length;
      if (end > 0 && line[end - 1] === CR) end -= 1;
      const text = line.toString("utf8", 0, end);
      if (text.trim() !== "") lines.push(text);
    }
    if (start < chunk.length) {
      // Copy: the caller may reuse its buffer.
      const rest = Buffer.from(chunk.subarray(start));
      this.pending += rest.length;
      if (this.pending > this.maxLine) throw new LineTooLongError(this.maxLine);
      this.parts.push(rest);
    }
    return lines;
  }

  /** Bytes received after the last newline (a line not finished yet). */
  get buffered(): number {
    return this.pending;
  }
}
