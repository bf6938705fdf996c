/** Process against the live daemon: the seed flow, join, kill, names, authkeys, targets, errors. */

import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { after, before, describe, test } from "node:test";

import {
  AlreadyStartedError,
  BadTargetError,
  Client,
  ErrorCode,
  InvalidParamsError,
  NoSuchProcessError,
  NotStartedError,
  Process,
  RpcError,
  SpawnFailedError,
  TargetFailedError,
  argv,
  callable,
} from "../src";
import { type Daemon, FIXTURES_DIR, privateDir, startDaemon, TEST_TIMEOUT, track } from "./helpers";

let daemon: Daemon;
let client: Client;

before(async () => {
  daemon = await startDaemon();
  client = await Client.connect(daemon.socketPath);
});

after(async () => {
  await client?.close();
  const code = await daemon?.stop();
  assert.equal(code, 0, "the daemon exits 0 on SIGTERM");
});

function isHex(s: unknown): boolean {
  return typeof s === "string" && /^[0-9a-f]+$/.test(s);
}

describe("the seed flow", () => {
  test("argv sh -c 'exit 7': create, start, join → exitcode 7", TEST_TIMEOUT, async () => {
    const p = new Process(client, { target: { argv: ["sh", "-c", "exit 7"] } });
    assert.equal(p.pid, null);
    assert.equal(p.exitcode, null);
    const created = await p.ready();
    assert.equal(created.state, "created");
    assert.equal(created.pid, null);
    assert.equal(created.parent, null);
    assert.match(created.name, /^Process-\d+$/);
    assert.equal(p.id, created.id);

    const started = await p.start();
    assert.ok(Number.isInteger(started.pid) && started.pid! > 0);
    assert.equal(p.pid, started.pid);

    const joined = await p.join();
    assert.equal(joined.state, "exited");
    assert.equal(joined.exitcode, 7);
    assert.equal(p.exitcode, 7);
    assert.equal((await p.info()).exitcode, 7);
    // Any number of joins.
    assert.equal((await p.join()).exitcode, 7);
    assert.equal(await p.isAlive(), false);
    assert.ok((await client.list()).some((i) => i.id === p.id && i.exitcode === 7));
  });

  test("no target runs nothing and exits 0; client.process() is new Process()", TEST_TIMEOUT, async () => {
    const p = client.process();
    await p.start();
    assert.equal((await p.join(20)).exitcode, 0);
  });

  test("args are appended to argv", TEST_TIMEOUT, async () => {
    const p = client.process({ target: argv("sh", "-c", 'exit "$1"', "sh"), args: ["42"] });
    await p.start();
    assert.equal((await p.join()).exitcode, 42);
  });
});

describe("join, terminate, kill", () => {
  test("join with a timeout on sleep 30 returns with exitcode null; kill → -9", TEST_TIMEOUT, async () => {
    const p = client.process({ target: { argv: ["sleep", "30"] } });
    await p.start({ output: "null" });
    const t0 = Date.now();
    const timedOut = await p.join(0.3);
    const waited = Date.now() - t0;
    assert.ok(waited >= 250, `join(0.3) returned after ${waited} ms`);
    assert.ok(waited < 10_000, `join(0.3) returned after ${waited} ms`);
    assert.equal(timedOut.exitcode, null);
    assert.equal(timedOut.state, "running");
    assert.equal(await p.isAlive(), true);

    await p.kill();
    const joined = await p.join();
    assert.equal(joined.exitcode, -9);
    assert.equal(p.exitcode, -9);
    assert.equal(joined.state, "exited");
  });

  test("terminate → -15; terminate and kill on an ended process leave it alone", TEST_TIMEOUT, async () => {
    const p = client.process({ target: argv("sleep", "30") });
    await p.start({ output: "null" });
    await p.terminate();
    assert.equal((await p.join(20)).exitcode, -15);
    assert.equal((await p.terminate()).exitcode, -15);
    assert.equal((await p.kill()).exitcode, -15);
  });

  test("a pending join does not block getName, nor other calls", TEST_TIMEOUT, async () => {
    const p = client.process({ target: argv("sleep", "30"), name: "sleeper" });
    await p.start({ output: "null" });
    const join = track(p.join());
    const join2 = track(p.join()); // any number of joins, at once
    assert.equal(await p.getName(), "sleeper");
    await p.setName("still-sleeping");
    assert.equal(await p.getName(), "still-sleeping");
    assert.equal((await p.info()).state, "running");
    assert.ok(isHex(await p.getAuthKey()));
    const q = client.process({ target: argv("true") });
    await q.start();
    assert.equal((await q.join()).exitcode, 0);
    assert.equal(join.settled(), false, "the join is still waiting");
    await p.kill();
    assert.equal((await join.promise).exitcode, -9);
    assert.equal((await join2.promise).exitcode, -9);
    assert.equal((await join.promise).name, "still-sleeping");
  });
});

describe("typed errors", () => {
  test("start twice → AlreadyStarted (1002)", TEST_TIMEOUT, async () => {
    const p = client.process({ target: argv("true") });
    await p.start();
    await assert.rejects(p.start(), (err: unknown) => {
      assert.ok(err instanceof AlreadyStartedError);
      assert.ok(err instanceof RpcError);
      assert.ok(err instanceof Error);
      assert.equal(err.code, ErrorCode.AlreadyStarted);
      assert.equal(err.code, 1002);
      assert.ok(err.isCode(ErrorCode.AlreadyStarted));
      assert.equal(err.method, "process.start");
      return true;
    });
    await p.join();
  });

  test("join before start → NotStarted (1003)", TEST_TIMEOUT, async () => {
    const p = client.process({ target: argv("true") });
    await assert.rejects(p.join(), NotStartedError);
    await assert.rejects(p.join(0), (err: unknown) => err instanceof RpcError && err.code === 1003);
  });

  test("unknown id → NoSuchProcess (1001) with data {id}", TEST_TIMEOUT, async () => {
    const ghost = client.attach(987654321);
    for (const call of [() => ghost.info(), () => ghost.getName(), () => ghost.start(), () => ghost.kill()]) {
      await assert.rejects(call(), (err: unknown) => {
        assert.ok(err instanceof NoSuchProcessError, String(err));
        assert.equal(err.code, 1001);
        assert.deepEqual(err.data, { id: 987654321 });
        return true;
      });
    }
  });

  test("malformed targets → BadTarget (1005), on create", TEST_TIMEOUT, async () => {
    const withKwargs = client.process({ target: argv("true"), kwargs: { a: 1 } });
    await assert.rejects(withKwargs.ready(), BadTargetError);
    await assert.rejects(withKwargs.start(), BadTargetError); // every method reports the failed create
    await assert.rejects(client.process({ target: { argv: [] } }).ready(), BadTargetError);
    await assert.rejects(client.process({ target: { callable: "no colon here" } }).ready(), BadTargetError);
  });

  test("a program that cannot be executed → SpawnFailed (1006), the process stays created", TEST_TIMEOUT, async () => {
    const p = client.process({ target: argv("/nonexistent/supervisord-lite-test-program") });
    await assert.rejects(p.start(), SpawnFailedError);
    assert.equal((await p.info()).state, "created");
    const q = client.process({ target: { argv: ["true"], cwd: "/nonexistent/dir" } });
    await assert.rejects(q.start(), SpawnFailedError);
  });

  test("a callable that cannot be imported → TargetFailed (1007), exited with 1", TEST_TIMEOUT, async () => {
    const p = client.process({ target: callable("supervisord_lite_no_such_module:f") });
    await assert.rejects(p.start({ output: "null" }), TargetFailedError);
    const info = await p.info();
    assert.equal(info.state, "exited");
    assert.equal(info.exitcode, 1);
  });

  test("a supervised program joining its own process → JoinSelf (1008)", TEST_TIMEOUT, async () => {
    const p = client.process({ target: argv(process.execPath, path.join(FIXTURES_DIR, "join-self.js")) });
    await p.start();
    assert.equal((await p.join()).exitcode, 0, `join-self fixture failed; daemon stderr:\n${daemon.stderr()}`);
  });

  test("bad params → InvalidParams (-32602) with data.errors", TEST_TIMEOUT, async () => {
    const p = client.process({ target: argv("true") });
    await p.start();
    await assert.rejects(p.join(-1), (err: unknown) => {
      assert.ok(err instanceof InvalidParamsError);
      assert.equal(err.code, ErrorCode.InvalidParams);
      assert.ok(Array.isArray((err.data as { errors?: unknown }).errors));
      return true;
    });
    await p.join();
  });
});

describe("targets", () => {
  test("a Python callable by reference, with args: sys:exit(3) → 3", TEST_TIMEOUT, async () => {
    const p = client.process({ target: { callable: "sys:exit" }, args: [3] });
    await p.start();
    assert.equal((await p.join()).exitcode, 3);
  });

  test("a Python callable with kwargs, env and cwd", TEST_TIMEOUT, async () => {
    const dir = privateDir();
    try {
      // os.makedirs(name="made", exist_ok=True) relative to cwd, with nothing else to it.
      const p = client.process({
        target: { callable: "os:makedirs", cwd: dir, env: { SL_NODE_TEST: "1" } },
        args: ["made"],
        kwargs: { exist_ok: true },
      });
      await p.start();
      assert.equal((await p.join()).exitcode, 0);
      assert.ok(fs.statSync(path.join(dir, "made")).isDirectory());
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  test("argv with env (set and removed) and cwd", TEST_TIMEOUT, async () => {
    const dir = fs.realpathSync(privateDir());
    try {
      const script =
        'test "$SL_FOO" = "bar baz" || exit 11; ' +
        'test -z "${HOME+set}" || exit 12; ' +
        'test "$(pwd -P)" = "$SL_DIR" || exit 13; ' +
        'test -n "$SUPERVISORD_LITE_SOCKET" || exit 14; ' +
        "exit 0";
      const p = client.process({
        target: { argv: ["sh", "-c", script], env: { SL_FOO: "bar baz", SL_DIR: dir, HOME: null }, cwd: dir },
      });
      await p.start();
      assert.equal((await p.join()).exitcode, 0);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("names", () => {
  test("default names Process-k by creation order; a custom name still takes its number", TEST_TIMEOUT, async () => {
    const fresh = await startDaemon();
    const c = await Client.connect(fresh.socketPath);
    try {
      const a = c.process();
      const b = c.process({ name: "worker" });
      const d = new Process(c);
      assert.deepEqual(
        await Promise.all([a.getName(), b.getName(), d.getName()]),
        ["Process-1", "worker", "Process-3"],
      );
      await a.setName("renamed");
      assert.equal(await a.getName(), "renamed");
      assert.equal((await a.info()).name, "renamed");
      assert.equal(await c.process().getName(), "Process-4");
      // Names are not unique.
      assert.equal(await c.process({ name: "worker" }).getName(), "worker");
      assert.equal(await c.process({ name: "" }).getName(), "");
    } finally {
      await c.close();
      await fresh.stop();
    }
  });
});

describe("authkeys", () => {
  test("every process inherits the daemon's authkey; setAuthKey sets it, null draws a new one", TEST_TIMEOUT, async () => {
    const a = client.process();
    const b = client.process();
    const keyA = await a.getAuthKey();
    assert.ok(isHex(keyA), keyA);
    assert.equal(await b.getAuthKey(), keyA, "both inherit the daemon's key");

    await a.setAuthKey(null);
    const regenerated = await a.getAuthKey();
    assert.ok(isHex(regenerated));
    assert.notEqual(regenerated, keyA);
    assert.equal(await b.getAuthKey(), keyA, "only the one process changed");

    await a.setAuthKey("00c0ffee");
    assert.equal(await a.getAuthKey(), "00c0ffee");
    // A process created later still gets the daemon's key, not a sibling's.
    assert.equal(await client.process().getAuthKey(), keyA);
  });

  test("create takes the creator's own authkey, as bytes or text; a Python child gets those bytes", TEST_TIMEOUT, async () => {
    const key = Buffer.from([0, 0xff, 0x80, 0x41, 0x0a]); // not UTF-8 text
    const out = path.join(privateDir(), "key");
    const code =
      "import multiprocessing; " +
      `open(${JSON.stringify(out)}, 'w').write(bytes(multiprocessing.current_process().authkey).hex())`;
    const p = client.process({ target: callable("builtins:exec"), args: [code], authkey: key });
    assert.deepEqual(await p.getAuthKeyBytes(), key);
    await assert.rejects(p.getAuthKey(), InvalidParamsError, "bytes that are not text");
    await p.start({ output: "null" });
    assert.equal((await p.join()).exitcode, 0, daemon.stderr());
    assert.equal(fs.readFileSync(out, "utf8"), key.toString("hex"));

    const text = client.process({ authkey: "node-key" });
    assert.equal(await text.getAuthKey(), "node-key");
    await text.setAuthKeyBytes(Buffer.from([1, 2, 0xfe]));
    assert.deepEqual(await text.getAuthKeyBytes(), Buffer.from([1, 2, 0xfe]));
    const daemonKey = await client.process().getAuthKey();
    assert.ok(isHex(daemonKey), "without it, the daemon's key as before");
  });

  test("a process created by a supervised program inherits its parent's authkey and is named Process-k:1", TEST_TIMEOUT, async () => {
    const parent = client.process({
      target: { argv: [process.execPath, path.join(FIXTURES_DIR, "create-child.js")] },
    });
    const defaultName = await parent.getName();
    assert.match(defaultName, /^Process-\d+$/);
    // Numbering follows identity, not the current name; the key set now is what the child inherits.
    await parent.setName("parent-renamed");
    await parent.setAuthKey("abcdef0123456789");
    await parent.start();
    assert.equal((await parent.join()).exitcode, 0, `the fixture failed; daemon stderr:\n${daemon.stderr()}`);

    const children = (await client.list()).filter((i) => i.parent === parent.id);
    assert.equal(children.length, 1, JSON.stringify(children));
    const child = client.attach(children[0]!);
    assert.equal(child.id, children[0]!.id);
    assert.equal(await child.getName(), `${defaultName}:1`);
    assert.equal(await child.getAuthKey(), "abcdef0123456789");

    await child.setAuthKey(null);
    const fresh = await child.getAuthKey();
    assert.ok(isHex(fresh));
    assert.notEqual(fresh, "abcdef0123456789");
    assert.equal(await parent.getAuthKey(), "abcdef0123456789");
  });
});
