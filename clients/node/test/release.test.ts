/** Protocol 1.1 against the live daemon: release, StillRunningError, list filters and pages. */

import * as assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";

import { Client, ErrorCode, NoSuchProcessError, Process, StillRunningError, argv, isRpcError } from "../src";
import { type Daemon, startDaemon, TEST_TIMEOUT } from "./helpers";

let daemon: Daemon;
let client: Client;

before(async () => {
  daemon = await startDaemon();
  client = await Client.connect(daemon.socketPath);
});

after(async () => {
  await client?.close();
  assert.equal(await daemon?.stop(), 0);
});

async function exits(code: number): Promise<Process> {
  const p = client.process({ target: argv("sh", "-c", `exit ${code}`) });
  await p.start({ output: "null" });
  assert.equal((await p.join(30)).exitcode, code);
  return p;
}

describe("process.release", () => {
  test("an exited process is forgotten: its id is unknown, and never given again", TEST_TIMEOUT, async () => {
    assert.equal(client.daemon?.protocol_version, "1.1");
    const p = await exits(3);
    await p.release();
    assert.equal(p.exitcode, 3, "what the object learnt stays");
    await assert.rejects(p.info(), NoSuchProcessError);
    await assert.rejects(p.release(), NoSuchProcessError);
    await assert.rejects(client.release(p.id!), (err: unknown) => isRpcError(err, ErrorCode.NoSuchProcess));
    const next = await client.process().ready();
    assert.ok(next.id > p.id!);
    await client.release(next.id); // never started: nothing runs, so it may go
    await assert.rejects(client.attach(next.id).info(), NoSuchProcessError);
  });

  test("a running process is refused with StillRunningError, and runs on", TEST_TIMEOUT, async () => {
    const p = client.process({ target: argv("sleep", "60") });
    await p.start({ output: "null" });
    await assert.rejects(p.release(), (err: unknown) => {
      assert.ok(err instanceof StillRunningError, String(err));
      assert.equal(err.code, 1012);
      assert.deepEqual(err.data, { id: p.id });
      assert.match(err.message, /join/);
      return true;
    });
    assert.equal(await p.isAlive(), true);
    await p.kill();
    assert.equal((await p.join(30)).exitcode, -9);
    await p.release();
  });
});

describe("process.list filters and pages", () => {
  test("state, parent, after and limit; processes() pages through every one once", TEST_TIMEOUT, async () => {
    const first = await client.process().ready();
    const ended = [];
    for (let k = 0; k < 4; k++) ended.push((await exits(k)).id!);
    const ids = (infos: { id: number }[]) => infos.map((i) => i.id);
    assert.deepEqual(ids(await client.list({ after: first.id })), ended);
    assert.deepEqual(ids(await client.list({ after: first.id, limit: 2 })), ended.slice(0, 2));
    assert.deepEqual(ids(await client.list({ after: ended[1], limit: 2 })), ended.slice(2));
    assert.deepEqual(ids(await client.list({ after: first.id, state: "created" })), []);
    assert.ok(ids(await client.list({ state: "created", parent: 0 })).includes(first.id));
    assert.deepEqual(await client.list({ parent: first.id }), []);
    const all = await client.list();
    const paged = [];
    for await (const info of client.processes({ pageSize: 3 })) paged.push(info);
    assert.deepEqual(paged, all);
    const exited = [];
    for await (const info of client.processes({ state: "exited", pageSize: 1 })) exited.push(info.id);
    assert.deepEqual(exited.slice(-4), ended);
    await client.release(ended[1]!);
    assert.deepEqual(ids(await client.list({ after: first.id })), [ended[0], ...ended.slice(2)]);
    await assert.rejects(client.list({ limit: 0 }), (err: unknown) => isRpcError(err, ErrorCode.InvalidParams));
  });
});
