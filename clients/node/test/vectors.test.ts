/**
 * Replays every protocol/vectors/*.json against the live daemon, following
 * protocol/vectors/README.md: each file on a fresh connection; each step sends one line and, unless
 * `expect` is absent or null, reads one response line and matches it (exact keys; `<<any>>`,
 * `<<string>>`, `<<int>>`, `<<hex>>`, `<<capture:NAME>>`, `<<var:NAME>>`; arrays as multisets
 * under `"unordered": true`).
 *
 * Then, for each vector made only of well-formed requests, the same steps again through
 * `Client.call`, rebuilding each response from the result or the RpcError: the client must hand
 * back exactly what the wire carried.
 */

import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as net from "node:net";
import * as path from "node:path";
import { after, before, describe, test } from "node:test";

import { Client, RpcError } from "../src";
import { LineSplitter } from "../src/lines";
import { frame, MessageSplitter } from "./framed";
import { type Daemon, startDaemon, TEST_TIMEOUT, VECTORS_DIR } from "./helpers";

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

interface Step {
  send?: Json;
  send_raw?: string;
  send_oversize?: number;
  send_eof?: boolean;
  expect?: Json;
  unordered?: boolean;
  description?: string;
  comment?: string;
}

type Framing = "ndjson" | "content-length";

interface Vector {
  description?: string;
  framing?: Framing;
  steps: Step[];
}

const SEND_KEYS = ["send", "send_raw", "send_oversize", "send_eof"];
const STEP_KEYS = new Set([...SEND_KEYS, "expect", "unordered", "description", "comment"]);

function vectorFiles(): string[] {
  if (!fs.existsSync(VECTORS_DIR)) return [];
  return fs
    .readdirSync(VECTORS_DIR)
    .filter((f) => f.endsWith(".json"))
    .sort()
    .map((f) => path.join(VECTORS_DIR, f));
}

function loadVector(file: string): Vector {
  const v = JSON.parse(fs.readFileSync(file, "utf8")) as Vector;
  assert.ok(v && Array.isArray(v.steps) && v.steps.length > 0, `${file}: no steps`);
  assert.ok(v.framing === undefined || v.framing === "ndjson" || v.framing === "content-length", `${file}: unknown framing`);
  v.steps.forEach((step, i) => {
    for (const key of Object.keys(step)) {
      assert.ok(STEP_KEYS.has(key), `${file} step ${i}: unknown key ${JSON.stringify(key)}`);
    }
    const sends = SEND_KEYS.filter((k) => k in step).length;
    assert.equal(sends, 1, `${file} step ${i}: exactly one of ${SEND_KEYS.join(", ")}`);
    if ("send_eof" in step) assert.ok(step.send_eof === true && i === v.steps.length - 1, `${file} step ${i}: send_eof is true, in the last step`);
  });
  return v;
}

// --------------------------------------------------------------------------------------------
// The matcher of protocol/vectors/README.md.

type Vars = Map<string, Json>;

const PLACEHOLDER = /^<<(any|string|int|hex|capture:(.+)|var:(.+))>>$/;

function isObject(v: unknown): v is { [key: string]: Json } {
  return v !== null && typeof v === "object" && !Array.isArray(v);
}

function deepEqual(a: unknown, b: unknown): boolean {
  try {
    assert.deepStrictEqual(a, b);
    return true;
  } catch {
    return false;
  }
}

class Matcher {
  /** Where the first mismatch was found, for the failure message. */
  where = "";

  constructor(private readonly unordered: boolean) {}

  /** Match `got` against `expect`; the variables after it, or null on a mismatch. */
  match(expect: Json, got: Json, vars: Vars, at: string): Vars | null {
    if (typeof expect === "string") {
      const m = PLACEHOLDER.exec(expect);
      if (m) {
        const kind = m[1]!;
        let ok: boolean;
        if (kind === "any") ok = true;
        else if (kind === "string") ok = typeof got === "string";
        else if (kind === "int") ok = typeof got === "number" && Number.isInteger(got);
        else if (kind === "hex") ok = typeof got === "string" && /^[0-9a-f]+$/.test(got);
        else if (m[2] !== undefined) {
          const next = new Map(vars);
          next.set(m[2], got);
          return next;
        } else {
          const name = m[3]!;
          if (!vars.has(name)) return this.fail(at, `<<var:${name}>> was never captured`);
          ok = deepEqual(vars.get(name), got);
        }
        return ok ? vars : this.fail(at, `${expect} does not match ${JSON.stringify(got)}`);
      }
    }
    if (Array.isArray(expect)) {
      if (!Array.isArray(got) || got.length !== expect.length) {
        return this.fail(at, `expected an array of ${expect.length}, got ${JSON.stringify(got)}`);
      }
      return this.unordered ? this.matchMultiset(expect, got, vars, at) : this.matchInOrder(expect, got, vars, at);
    }
    if (isObject(expect)) {
      if (!isObject(got)) return this.fail(at, `expected an object, got ${JSON.stringify(got)}`);
      const want = Object.keys(expect).sort();
      const have = Object.keys(got).sort();
      if (!deepEqual(want, have)) return this.fail(at, `keys ${JSON.stringify(have)}, expected ${JSON.stringify(want)}`);
      let v: Vars | null = vars;
      for (const key of want) {
        v = this.match(expect[key]!, got[key]!, v, `${at}.${key}`);
        if (!v) return null;
      }
      return v;
    }
    return expect === got ? vars : this.fail(at, `${JSON.stringify(got)} is not ${JSON.stringify(expect)}`);
  }

  private matchInOrder(expect: Json[], got: Json[], vars: Vars, at: string): Vars | null {
    let v: Vars | null = vars;
    for (let i = 0; i < expect.length && v; i++) v = this.match(expect[i]!, got[i]!, v, `${at}[${i}]`);
    return v;
  }

  /** Each expected element against a distinct received one, backtracking over captures. */
  private matchMultiset(expect: Json[], got: Json[], vars: Vars, at: string): Vars | null {
    const used = new Array<boolean>(got.length).fill(false);
    const probe = new Matcher(true);
    const search = (i: number, v: Vars): Vars | null => {
      if (i === expect.length) return v;
      for (let j = 0; j < got.length; j++) {
        if (used[j]) continue;
        const w = probe.match(expect[i]!, got[j]!, v, `${at}[${j}]`);
        if (!w) continue;
        used[j] = true;
        const done = search(i + 1, w);
        if (done) return done;
        used[j] = false;
      }
      return null;
    };
    const result = search(0, vars);
    return result ?? this.fail(at, `no arrangement of ${JSON.stringify(got)} matches ${JSON.stringify(expect)}`);
  }

  private fail(at: string, why: string): null {
    if (!this.where) this.where = `${at}: ${why}`;
    return null;
  }
}

/** `<<var:NAME>>` (a whole string) replaced by the stored value, anywhere in `value`. */
function substitute(value: Json, vars: Vars): Json {
  if (typeof value === "string") {
    const m = /^<<var:(.+)>>$/.exec(value);
    if (!m) return value;
    assert.ok(vars.has(m[1]!), `<<var:${m[1]}>> used before it was captured`);
    return vars.get(m[1]!)!;
  }
  if (Array.isArray(value)) return value.map((v) => substitute(v, vars));
  if (isObject(value)) return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, substitute(v, vars)]));
  return value;
}

// --------------------------------------------------------------------------------------------
// A raw line connection: exactly the bytes the vectors say, nothing of the client.

class RawConnection {
  private readonly socket: net.Socket;
  private readonly splitter: { push(chunk: Buffer): string[] };
  private readonly lines: string[] = [];
  private waiter: (() => void) | null = null;
  private ended: Error | null = null;

  private constructor(socket: net.Socket, framing: Framing) {
    this.socket = socket;
    this.splitter = framing === "content-length" ? new MessageSplitter() : new LineSplitter();
    socket.on("data", (chunk: Buffer) => {
      this.lines.push(...this.splitter.push(chunk));
      this.wake();
    });
    socket.on("error", (err) => {
      this.ended = err;
      this.wake();
    });
    socket.on("close", () => {
      this.ended ??= new Error("the daemon closed the connection");
      this.wake();
    });
  }

  static open(socketPath: string, framing: Framing = "ndjson"): Promise<RawConnection> {
    return new Promise((resolve, reject) => {
      const socket = net.createConnection({ path: socketPath });
      socket.once("error", reject);
      socket.once("connect", () => {
        socket.removeListener("error", reject);
        resolve(new RawConnection(socket, framing));
      });
    });
  }

  private wake(): void {
    const w = this.waiter;
    this.waiter = null;
    w?.();
  }

  write(data: string | Buffer): Promise<void> {
    return new Promise((resolve, reject) => this.socket.write(data, (err) => (err ? reject(err) : resolve())));
  }

  /** The next response line (blank lines are already dropped), or throw after `timeoutMs`. */
  async readLine(timeoutMs: number): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    while (this.lines.length === 0) {
      if (this.ended) throw this.ended;
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no response line within ${timeoutMs} ms`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.waiter = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
    return this.lines.shift()!;
  }

  /** Shut the writing side; replies are still read. */
  end(): Promise<void> {
    return new Promise((resolve) => this.socket.end(() => resolve()));
  }

  close(): void {
    this.socket.destroy();
  }
}

function clip(text: string, max = 300): string {
  return text.length > max ? `${text.slice(0, max)}… (${text.length} chars)` : text;
}

async function replayRaw(socketPath: string, vector: Vector): Promise<void> {
  const headers = vector.framing === "content-length";
  const conn = await RawConnection.open(socketPath, vector.framing);
  let vars: Vars = new Map();
  try {
    for (const [i, step] of vector.steps.entries()) {
      let line: string | Buffer;
      let shown: string;
      if ("send" in step) {
        const json = JSON.stringify(substitute(step.send!, vars));
        line = headers ? frame(json) : json + "\n";
        shown = clip(json);
      } else if ("send_raw" in step) {
        line = step.send_raw!;
        shown = clip(line.trimEnd());
      } else if ("send_oversize" in step) {
        const body = Buffer.alloc(step.send_oversize!, "x");
        line = headers ? frame(body) : Buffer.concat([body, Buffer.from("\n")]);
        shown = `<${body.length} bytes of x>`;
      } else {
        line = "";
        shown = "<end of input>";
        await conn.end();
      }
      if (line.length > 0) await conn.write(line);
      if (step.expect === undefined || step.expect === null) continue; // a notification
      const text = await conn.readLine(20_000).catch((err: Error) => {
        throw new Error(`step ${i}: no response to ${shown}: ${err.message}`);
      });
      const got = JSON.parse(text) as Json;
      const matcher = new Matcher(step.unordered === true);
      const next = matcher.match(step.expect, got, vars, "$");
      if (!next) {
        assert.fail(
          `step ${i}: sent ${shown}\n got  ${clip(text, 2000)}\n want ${JSON.stringify(step.expect)}\n at ${matcher.where}`,
        );
      }
      vars = next;
    }
  } finally {
    conn.close();
  }
}

// --------------------------------------------------------------------------------------------
// The same through Client.call, for vectors made only of well-formed requests with an id.

function isPlainRequest(send: unknown): send is { id: number | string; method: string; params?: Json } {
  if (!isObject(send)) return false;
  const keys = Object.keys(send);
  if (!keys.every((k) => ["jsonrpc", "id", "method", "params"].includes(k))) return false;
  return (
    send.jsonrpc === "2.0" &&
    (typeof send.id === "number" || typeof send.id === "string") &&
    typeof send.method === "string" &&
    (send.params === undefined || Array.isArray(send.params) || isObject(send.params))
  );
}

function clientReplayable(vector: Vector): boolean {
  return vector.steps.every(
    (s) =>
      "send" in s &&
      isPlainRequest(s.send) &&
      isObject(s.expect) &&
      !s.unordered &&
      ("result" in s.expect || "error" in s.expect),
  );
}

async function replayThroughClient(socketPath: string, vector: Vector): Promise<void> {
  const client = await Client.connect(socketPath);
  let vars: Vars = new Map();
  try {
    for (const [i, step] of vector.steps.entries()) {
      const send = substitute(step.send!, vars) as { id: number | string; method: string; params?: Json };
      let got: Json;
      try {
        const result = (await client.call(send.method, send.params as Record<string, unknown> | unknown[] | undefined)) as Json;
        got = { jsonrpc: "2.0", id: send.id, result };
      } catch (err) {
        if (!(err instanceof RpcError)) throw err;
        got = { jsonrpc: "2.0", id: send.id, error: err.error as unknown as Json };
      }
      const matcher = new Matcher(false);
      const next = matcher.match(step.expect!, got, vars, "$");
      if (!next) {
        assert.fail(
          `step ${i} through Client.call(${JSON.stringify(send.method)}):\n got  ${clip(JSON.stringify(got), 2000)}\n` +
            ` want ${JSON.stringify(step.expect)}\n at ${matcher.where}`,
        );
      }
      vars = next;
    }
  } finally {
    await client.close();
  }
}

// --------------------------------------------------------------------------------------------

const files = vectorFiles();

describe("protocol vectors", () => {
  if (files.length === 0) {
    test(`no protocol vectors in ${VECTORS_DIR} (*.json) yet: nothing to replay`, (t) => {
      t.skip(`no protocol vectors in ${VECTORS_DIR} (*.json) yet: nothing to replay`);
    });
    return;
  }

  let daemon: Daemon;
  before(async () => {
    daemon = await startDaemon();
  });
  after(async () => {
    await daemon?.stop();
  });

  for (const file of files) {
    const name = path.basename(file, ".json");
    describe(name, () => {
      const vector = loadVector(file);
      test(`wire: ${vector.description ?? name}`, TEST_TIMEOUT, async () => {
        await replayRaw(daemon.socketPath, vector);
      });
      test(`client: ${vector.description ?? name}`, TEST_TIMEOUT, async (t) => {
        if (!clientReplayable(vector)) {
          t.skip("not only well-formed requests with ids: replayed on the wire only");
          return;
        }
        await replayThroughClient(daemon.socketPath, vector);
      });
    });
  }
});

describe("the Content-Length reader of the raw connections", () => {
  test("bodies whatever the chunk boundaries, header names in any case", TEST_TIMEOUT, () => {
    const data = Buffer.concat([frame('{"a":1}'), Buffer.from("content-length: 3\r\nContent-Type: x\r\n\r\n[2]")]);
    for (let cut = 0; cut <= data.length; cut++) {
      const s = new MessageSplitter();
      assert.deepEqual([...s.push(data.subarray(0, cut)), ...s.push(data.subarray(cut))], ['{"a":1}', "[2]"]);
    }
    assert.throws(() => new MessageSplitter().push(Buffer.from("X: 1\r\n\r\n")), /Content-Length/);
  });
});

// The matcher itself, so a vector failure is the daemon's and not the replayer's.
describe("the vector matcher", () => {
  const m = (expect: Json, got: Json, unordered = false, vars: Vars = new Map()) =>
    new Matcher(unordered).match(expect, got, vars, "$");

  test("exact keys, scalars, placeholders", TEST_TIMEOUT, () => {
    assert.ok(m({ a: 1, b: "x" }, { b: "x", a: 1 }));
    assert.equal(m({ a: 1 }, { a: 1, b: 2 }), null);
    assert.equal(m({ a: 1, b: 2 }, { a: 1 }), null);
    assert.equal(m({ a: null }, { a: 0 }), null);
    assert.ok(m("<<any>>", { deep: [1] }));
    assert.ok(m("<<string>>", ""));
    assert.equal(m("<<string>>", 1), null);
    assert.ok(m("<<int>>", -3));
    assert.equal(m("<<int>>", 1.5), null);
    assert.equal(m("<<int>>", "1"), null);
    assert.ok(m("<<hex>>", "00ff"));
    assert.equal(m("<<hex>>", "00FF"), null);
    assert.equal(m("<<hex>>", ""), null);
    assert.equal(m([1, 2], [2, 1]), null);
    assert.equal(m([1, 2], [1, 2, 3]), null);
  });

  test("captures and vars, substitution in send", TEST_TIMEOUT, () => {
    const v = m({ id: "<<capture:p>>" }, { id: 7 });
    assert.ok(v);
    assert.equal(v.get("p"), 7);
    assert.ok(m({ id: "<<var:p>>" }, { id: 7 }, false, v));
    assert.equal(m({ id: "<<var:p>>" }, { id: 8 }, false, v), null);
    assert.equal(m("<<var:never>>", 1), null);
    assert.deepEqual(substitute({ params: { id: "<<var:p>>", name: "x <<var:p>>" } }, v), {
      params: { id: 7, name: "x <<var:p>>" },
    });
  });

  test("unordered arrays match as multisets, with backtracking over captures", TEST_TIMEOUT, () => {
    assert.ok(m([{ id: 1 }, { id: 2 }], [{ id: 2 }, { id: 1 }], true));
    assert.equal(m([{ id: 1 }, { id: 1 }], [{ id: 1 }, { id: 2 }], true), null);
    const v = m([{ id: "<<capture:a>>", r: "x" }, { id: 5, r: "<<any>>" }], [{ id: 5, r: "x" }, { id: 6, r: "x" }], true);
    assert.ok(v);
    assert.equal(v.get("a"), 6);
  });
});
