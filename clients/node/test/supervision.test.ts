/** Programs, events and log following against the live daemon (protocol 1.1). */

import * as assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";

import {
  Client,
  type Event,
  EventsExpiredError,
  ErrorCode,
  NoSuchProgramError,
  ProgramExistsError,
  addProgram,
  argv,
  events,
  followLogs,
  lineBytes,
  listPrograms,
  program,
  removeProgram,
  RpcError,
} from "../src";
import { type Daemon, startDaemon, TEST_TIMEOUT } from "./helpers";

let daemon: Daemon;
let client: Client;
const FAST = { restart_delay: 0.01, restart_max_delay: 0.05, healthy_after: 30, stop_timeout: 5 };

before(async () => {
  daemon = await startDaemon();
  client = await Client.connect(daemon.socketPath);
});

after(async () => {
  await client?.close();
  await daemon?.stop();
});

describe("programs and events", () => {
  test("a crashing program restarts, then fails; the event stream shows it in order", TEST_TIMEOUT, async () => {
    const first = await client.call<{ next: number }>("events.read", { since: 0, timeout: 0, limit: 10000 });
    const st = await addProgram(client, { name: "node-crash", target: argv("sh", "-c", "exit 5"), max_restarts: 1, ...FAST });
    assert.equal(st.name, "node-crash");
    assert.equal(st.process?.program, "node-crash");
    assert.deepEqual(st.process?.argv, ["sh", "-c", "exit 5"]);
    const seen: Event[] = [];
    const abort = new AbortController();
    for await (const e of events(client, { since: first.next, timeoutSeconds: 20, signal: abort.signal })) {
      seen.push(e);
      if (e.type === "program.failed") break;
    }
    const seqs = seen.map((e) => e.seq);
    assert.deepEqual(seqs, [...seqs].sort((a, b) => a - b));
    assert.ok(seen.some((e) => e.type === "program.restarting"));
    const status = await program(client, "status", "node-crash");
    assert.equal(status.state, "failed");
    assert.equal(status.runs, 2);
    assert.equal(status.last_exitcode, 5);
    await assert.rejects(addProgram(client, { name: "node-crash", target: argv("true") }), ProgramExistsError);
    await removeProgram(client, "node-crash");
    await assert.rejects(program(client, "status", "node-crash"), NoSuchProgramError);
    assert.ok(!(await listPrograms(client)).some((p) => p.name === "node-crash"));
  });

  test("EventsExpired is its own error class with the oldest seq", () => {
    const e = RpcError.from({ code: ErrorCode.EventsExpired, message: "gone", data: { oldest: 9 } });
    assert.ok(e instanceof EventsExpiredError);
    assert.equal((e as EventsExpiredError).oldest, 9);
  });
});

describe("logs", () => {
  test("followLogs iterates a program's output until it ends, binary kept", TEST_TIMEOUT, async () => {
    await addProgram(client, {
      name: "node-logs",
      target: argv("sh", "-c", "echo one; echo two; printf '\\377\\n' >&2"),
      restart: "no",
      ...FAST,
    });
    const state = { cursor: 0, done: false };
    const lines = [];
    for await (const line of followLogs(client, { program: "node-logs", timeoutSeconds: 20 }, state)) lines.push(line);
    assert.ok(state.done);
    assert.deepEqual(lines.filter((l) => l.stream === "stdout").map((l) => l.text), ["one", "two"]);
    const err = lines.find((l) => l.stream === "stderr");
    assert.equal(err?.encoding, "base64");
    assert.deepEqual(lineBytes(err!), Buffer.from([0xff]));
    const again = [];
    for await (const line of followLogs(client, { program: "node-logs", cursor: state.cursor, timeoutSeconds: 1 })) again.push(line);
    assert.deepEqual(again, []);
    await removeProgram(client, "node-logs");
  });
});

describe("a program's runs", () => {
  test("followLogs goes on across a program's runs and ends once it is failed", TEST_TIMEOUT, async () => {
    const st = await addProgram(client, {
      name: "node-runs",
      target: argv("sh", "-c", "echo run-$SUPERVISORD_LITE_PROCESS_ID; exit 1"),
      max_restarts: 1,
      ...FAST,
    });
    const state = { cursor: 0, done: false } as { cursor: number; done: boolean; id?: number };
    const texts = [];
    // From the first run by its id (the current run may already be the next one).
    const first = { program: "node-runs", id: st.process!.id, timeoutSeconds: 20 };
    for await (const line of followLogs(client, first, state)) texts.push(line.text);
    assert.equal(texts.length, 2);
    assert.equal(texts[0], `run-${st.process!.id}`);
    assert.ok(state.id! > st.process!.id);
    await removeProgram(client, "node-runs");
  });
});
