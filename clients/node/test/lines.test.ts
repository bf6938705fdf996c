/** The NDJSON line splitter, alone: chunk boundaries anywhere, CRLF, blank lines, the size limit. */

import * as assert from "node:assert/strict";
import { test } from "node:test";

import { LineSplitter, LineTooLongError } from "../src";
import { TEST_TIMEOUT } from "./helpers";

function feedAll(splitter: LineSplitter, chunks: Buffer[]): string[] {
  return chunks.flatMap((c) => splitter.push(c));
}

test("whole lines in one chunk", TEST_TIMEOUT, () => {
  const s = new LineSplitter();
  assert.deepEqual(s.push(Buffer.from('{"a":1}\n{"b":2}\n')), ['{"a":1}', '{"b":2}']);
  assert.equal(s.buffered, 0);
});

test("a line split at every possible byte, multi-byte UTF-8 included", TEST_TIMEOUT, () => {
  const text = '{"name":"Prozeß-✓-🐍"}\n{"id":2}\n';
  const bytes = Buffer.from(text);
  for (let cut = 0; cut <= bytes.length; cut++) {
    const s = new LineSplitter();
    const got = feedAll(s, [bytes.subarray(0, cut), bytes.subarray(cut)]);
    assert.deepEqual(got, ['{"name":"Prozeß-✓-🐍"}', '{"id":2}'], `cut at ${cut}`);
  }
  const s = new LineSplitter();
  const oneByOne = feedAll(s, [...bytes].map((b) => Buffer.from([b])));
  assert.deepEqual(oneByOne, ['{"name":"Prozeß-✓-🐍"}', '{"id":2}']);
});

test("CRLF is accepted and blank lines are dropped", TEST_TIMEOUT, () => {
  const s = new LineSplitter();
  assert.deepEqual(s.push(Buffer.from('\n\r\n  \n{"a":1}\r\n\n{"b":')), ['{"a":1}']);
  assert.deepEqual(s.push(Buffer.from("2}")), []);
  assert.equal(s.buffered, 7);
  assert.deepEqual(s.push(Buffer.from("\r")), []);
  assert.deepEqual(s.push(Buffer.from("\n")), ['{"b":2}']);
});

test("the caller may reuse its buffer", TEST_TIMEOUT, () => {
  const s = new LineSplitter();
  const buf = Buffer.from("abc");
  s.push(buf);
  buf.write("xyz");
  assert.deepEqual(s.push(Buffer.from("\n")), ["abc"]);
});

test("a line over the limit is refused, even before its newline", TEST_TIMEOUT, () => {
  const s = new LineSplitter(8);
  assert.deepEqual(s.push(Buffer.from("12345678\n")), ["12345678"]);
  assert.throws(() => s.push(Buffer.from("123456789\n")), LineTooLongError);
  const t = new LineSplitter(8);
  t.push(Buffer.from("12345"));
  assert.throws(() => t.push(Buffer.from("6789")), LineTooLongError);
});
