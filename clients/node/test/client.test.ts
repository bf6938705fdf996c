/**
 * The connection: default path, a missing daemon, framing across chunks, id matching, concurrent
 * calls, pending calls on close, id-less errors, the protocol version check. Against the live
 * daemon, and against small fake servers where the daemon cannot be made to misbehave on cue.
 */

import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as net from "node:net";
import * as path from "node:path";
import { after, before, describe, test } from "node:test";

import {
  Client,
  ConnectionClosedError,
  ConnectionError,
  defaultSocketPath,
  ErrorCode,
  InvalidRequestError,
  MethodNotFoundError,
  PermissionDeniedError,
  ProtocolVersionError,
  RpcError,
  isEnded,
  isRpcError,
} from "../src";
import { LineSplitter } from "../src/lines";
import { type Daemon, privateDir, startDaemon, TEST_TIMEOUT, track, waitFor } from "./helpers";

// ---------------------------------------------------------------------------------------------
// A fake daemon: answers each request line with whatever `respond` writes.

interface Fake {
  socketPath: string;
  received: unknown[];
  connections: net.Socket[];
  close(): Promise<void>;
}

async function fakeServer(respond: (request: any, socket: net.Socket, fake: Fake) => void): Promise<Fake> {
  const dir = privateDir();
  const socketPath = path.join(dir, "fake.sock");
  const fake: Fake = {
    socketPath,
    received: [],
    connections: [],
    close: () =>
      new Promise((resolve) => {
        for (const c of fake.connections) c.destroy();
        server.close(() => {
          fs.rmSync(dir, { recursive: true, force: true });
          resolve();
        });
      }),
  };
  const server = net.createServer((socket) => {
    fake.connections.push(socket);
    const splitter = new LineSplitter();
    socket.on("error", () => undefined);
    socket.on("data", (chunk: Buffer) => {
      for (const line of splitter.push(chunk)) {
        const request = JSON.parse(line);
        fake.received.push(request);
        respond(request, socket, fake);
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(socketPath, resolve));
  return fake;
}

function reply(socket: net.Socket, id: unknown, result: unknown): void {
  socket.write(JSON.stringify({ jsonrpc: "2.0", result, id }) + "\n");
}

const DAEMON_INFO = { version: "test", protocol_version: "1.0", pid: 1 };

/** A fake that answers daemon.info at once and hands every other request to `other`. */
function withInfo(other: (request: any, socket: net.Socket, fake: Fake) => void = () => undefined) {
  return (request: any, socket: net.Socket, fake: Fake) => {
    if (request.method === "daemon.info") reply(socket, request.id, DAEMON_INFO);
    else other(request, socket, fake);
  };
}

// ---------------------------------------------------------------------------------------------

describe("default socket path (PROTOCOL.md)", () => {
  test("SUPERVISORD_LITE_SOCKET, then XDG_RUNTIME_DIR, then root's, then /tmp per uid", TEST_TIMEOUT, () => {
    assert.equal(defaultSocketPath({ SUPERVISORD_LITE_SOCKET: "/x/s", XDG_RUNTIME_DIR: "/run/user/5" }, 5), "/x/s");
    assert.equal(defaultSocketPath({ SUPERVISORD_LITE_SOCKET: "", XDG_RUNTIME_DIR: "/run/user/5" }, 5), "/run/user/5/supervisord-lite/sock");
    assert.equal(defaultSocketPath({}, 0), "/run/supervisord-lite/sock");
    assert.equal(defaultSocketPath({ XDG_RUNTIME_DIR: "" }, 1000), "/tmp/supervisord-lite-1000/sock");
  });
});

describe("no daemon", () => {
  test("connecting to a missing socket rejects with an error naming the path", TEST_TIMEOUT, async () => {
    const dir = privateDir();
    const missing = path.join(dir, "nobody-here.sock");
    try {
      await assert.rejects(Client.connect(missing), (err: unknown) => {
        assert.ok(err instanceof ConnectionError, String(err));
        assert.equal(err.socketPath, missing);
        assert.equal(err.code, "ENOENT");
        assert.ok(err.message.includes(missing), err.message);
        return true;
      });
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  test("a socket file nobody listens on: ECONNREFUSED, path named", TEST_TIMEOUT, async () => {
    const fake = await fakeServer(() => undefined);
    const dir = privateDir();
    const stale = path.join(dir, "stale.sock");
    fs.linkSync(fake.socketPath, stale); // the same socket inode, left behind when its server stops
    await fake.close();
    try {
      await assert.rejects(Client.connect(stale), (err: unknown) => {
        assert.ok(err instanceof ConnectionError, String(err));
        assert.equal(err.code, "ECONNREFUSED");
        assert.ok(err.message.includes(stale), err.message);
        return true;
      });
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("against fake servers", () => {
  test("a response cut into one-byte chunks, with multi-byte UTF-8, is read whole", TEST_TIMEOUT, async () => {
    const name = "Prozeß ✓ 🐍 " + "x".repeat(70_000);
    const fake = await fakeServer(
      withInfo((request, socket) => {
        const bytes = Buffer.from(JSON.stringify({ jsonrpc: "2.0", result: name, id: request.id }) + "\r\n");
        // The first 200 bytes one at a time, then the rest in uneven pieces.
        let i = 0;
        const pump = () => {
          if (i >= bytes.length) return;
          const n = i < 200 ? 1 : 4093;
          socket.write(bytes.subarray(i, i + n));
          i += n;
          setImmediate(pump);
        };
        pump();
      }),
    );
    const client = await Client.connect(fake.socketPath);
    try {
      assert.equal(await client.call("process.getName", { id: 1 }), name);
    } finally {
      await client.close();
      await fake.close();
    }
  });

  test("responses in any order, and several in one chunk, reach their own calls", TEST_TIMEOUT, async () => {
    let held: any[] = [];
    const fake = await fakeServer(
      withInfo((request, socket) => {
        held.push(request);
        if (held.length === 3) {
          // Answer in reverse order, all in one write, with a blank line in between.
          const out = held
            .reverse()
            .map((r) => JSON.stringify({ jsonrpc: "2.0", result: `answer to ${r.params.n}`, id: r.id }))
            .join("\n\n");
          held = [];
          socket.write(out + "\n");
        }
      }),
    );
    const client = await Client.connect(fake.socketPath);
    try {
      const got = await Promise.all([1, 2, 3].map((n) => client.call("echo", { n })));
      assert.deepEqual(got, ["answer to 1", "answer to 2", "answer to 3"]);
    } finally {
      await client.close();
      await fake.close();
    }
  });

  test("the server closing the connection rejects every pending call, and later calls", TEST_TIMEOUT, async () => {
    const fake = await fakeServer(
      withInfo((_request, socket, f) => {
        if (f.received.length === 3) socket.destroy(); // the second request after daemon.info: hang up
      }),
    );
    const client = await Client.connect(fake.socketPath);
    const closed = new Promise((resolve) => client.once("close", resolve));
    try {
      const a = client.call("process.join", { id: 1, timeout: null });
      const b = client.call("process.join", { id: 2, timeout: null });
      for (const p of [a, b]) {
        await assert.rejects(p, (err: unknown) => {
          assert.ok(err instanceof ConnectionClosedError, String(err));
          assert.ok(err.message.includes(fake.socketPath), err.message);
          return true;
        });
      }
      await closed;
      assert.equal(client.closed, true);
      await assert.rejects(client.daemonInfo(), ConnectionClosedError);
    } finally {
      await fake.close();
    }
  });

  test("a daemon speaking protocol 2.x is refused", TEST_TIMEOUT, async () => {
    const fake = await fakeServer((request, socket) =>
      reply(socket, request.id, { version: "9", protocol_version: "2.0", pid: 1 }),
    );
    try {
      await assert.rejects(Client.connect(fake.socketPath), (err: unknown) => {
        assert.ok(err instanceof ProtocolVersionError);
        assert.equal(err.protocolVersion, "2.0");
        return true;
      });
      // A later minor version of 1 is fine.
      const fake2 = await fakeServer((request, socket) =>
        reply(socket, request.id, { version: "9", protocol_version: "1.7", pid: 1 }),
      );
      const client = await Client.connect(fake2.socketPath);
      assert.equal(client.daemon?.protocol_version, "1.7");
      await client.close();
      await fake2.close();
    } finally {
      await fake.close();
    }
  });

  test("a 1010 error with a null id rejects the pending calls with PermissionDeniedError", TEST_TIMEOUT, async () => {
    const fake = await fakeServer((_request, socket) => {
      socket.end(JSON.stringify({ jsonrpc: "2.0", error: { code: 1010, message: "Permission denied" }, id: null }) + "\n");
    });
    try {
      await assert.rejects(Client.connect(fake.socketPath), (err: unknown) => {
        assert.ok(err instanceof PermissionDeniedError, String(err));
        assert.equal(err.code, ErrorCode.PermissionDenied);
        return true;
      });
    } finally {
      await fake.close();
    }
  });

  test("a 'too large' error with a null id goes to the call whose line was too long", TEST_TIMEOUT, async () => {
    let answerSmall = (): void => undefined;
    const fake = await fakeServer(
      withInfo((request, socket) => {
        if (request.method === "big") {
          socket.write(
            JSON.stringify({ jsonrpc: "2.0", error: { code: -32600, message: "Invalid Request", data: { limit: 1000 } }, id: null }) + "\n",
          );
          answerSmall(); // only now: the null-id error comes while "small" still waits
        } else {
          answerSmall = () => reply(socket, request.id, "small ok");
        }
      }),
    );
    const client = await Client.connect(fake.socketPath);
    try {
      const small = client.call("small", { x: 1 });
      const big = client.call("big", { x: "y".repeat(2000) });
      await assert.rejects(big, (err: unknown) => {
        assert.ok(err instanceof InvalidRequestError);
        assert.deepEqual(err.data, { limit: 1000 });
        return true;
      });
      assert.equal(await small, "small ok");
    } finally {
      await client.close();
      await fake.close();
    }
  });

  test("an aborted call rejects at once; its late response is ignored", TEST_TIMEOUT, async () => {
    const fake = await fakeServer(withInfo((request, socket) => setTimeout(() => reply(socket, request.id, "late"), 100)));
    const client = await Client.connect(fake.socketPath);
    try {
      const controller = new AbortController();
      const call = client.call("slow", {}, { signal: controller.signal });
      controller.abort(new Error("gave up"));
      await assert.rejects(call, /gave up/);
      assert.equal(client.pendingCalls, 0);
      assert.equal(await client.call("slow", {}), "late");
    } finally {
      await client.close();
      await fake.close();
    }
  });

  test("a lost process (protocol 1.1) is ended: not alive, exitcode null, a join returns it", TEST_TIMEOUT, async () => {
    // Only a daemon that lost a child reports "lost", so a fake serves it.
    const lost = { id: 4, name: "Process-4", parent: null, state: "lost", pid: 77, exitcode: null };
    const fake = await fakeServer(withInfo((request, socket) => reply(socket, request.id, request.method === "process.list" ? [lost] : lost)));
    const client = await Client.connect(fake.socketPath);
    try {
      const p = client.attach(4);
      const joined = await p.join();
      assert.equal(joined.state, "lost");
      assert.equal(p.exitcode, null);
      assert.equal(p.state, "lost");
      assert.ok(isEnded(p.state));
      assert.equal(await p.isAlive(), false);
      assert.match(p.toString(), /lost/);
      const asked = fake.received.map((r: any) => r.method);
      assert.deepEqual(asked, ["daemon.info", "process.join"], "an ended process is not asked again");
      assert.deepEqual(await client.list({ state: "lost" }), [lost]);
      assert.deepEqual((fake.received.at(-1) as any).params, { state: "lost" });
    } finally {
      await client.close();
      await fake.close();
    }
  });

  test("list sends only the options given, and none at all without them (the 1.0 call)", TEST_TIMEOUT, async () => {
    const fake = await fakeServer(withInfo((request, socket) => reply(socket, request.id, [])));
    const client = await Client.connect(fake.socketPath);
    try {
      await client.list();
      await client.list({ parent: 0, after: 5, limit: 2 });
      const [plain, paged] = fake.received.slice(1) as any[];
      assert.equal("params" in plain, false);
      assert.deepEqual(paged.params, { parent: 0, after: 5, limit: 2 });
    } finally {
      await client.close();
      await fake.close();
    }
  });
});

describe("against the live daemon", () => {
  let daemon: Daemon;
  before(async () => {
    daemon = await startDaemon();
  });
  after(async () => {
    await daemon?.stop();
  });

  test("connect checks the protocol version; daemonInfo and list", TEST_TIMEOUT, async () => {
    const client = await Client.connect(daemon.socketPath);
    try {
      assert.ok(client.daemon);
      assert.match(client.daemon.protocol_version, /^1\./);
      const info = await client.daemonInfo();
      assert.equal(typeof info.version, "string");
      assert.equal(info.pid, daemon.proc.pid);
      assert.ok(Array.isArray(await client.list()));
    } finally {
      await client.close();
    }
  });

  test("connect() with no path uses SUPERVISORD_LITE_SOCKET", TEST_TIMEOUT, async () => {
    const saved = process.env.SUPERVISORD_LITE_SOCKET;
    process.env.SUPERVISORD_LITE_SOCKET = daemon.socketPath;
    try {
      const client = await Client.connect();
      assert.equal(client.socketPath, daemon.socketPath);
      await client.close();
    } finally {
      if (saved === undefined) delete process.env.SUPERVISORD_LITE_SOCKET;
      else process.env.SUPERVISORD_LITE_SOCKET = saved;
    }
  });

  test("low-level call: unknown method is MethodNotFound with data.method", TEST_TIMEOUT, async () => {
    const client = await Client.connect(daemon.socketPath);
    try {
      await assert.rejects(client.call("no.such.method", {}), (err: unknown) => {
        assert.ok(err instanceof MethodNotFoundError);
        assert.ok(err instanceof RpcError);
        assert.ok(isRpcError(err, ErrorCode.MethodNotFound));
        assert.equal(err.codeName, "MethodNotFound");
        assert.deepEqual(err.data, { method: "no.such.method" });
        assert.equal(err.method, "no.such.method");
        return true;
      });
      // Params by position, in the order of the table.
      const info = (await client.call("process.create", [null, [], {}, "by-position", null])) as { name: string };
      assert.equal(info.name, "by-position");
    } finally {
      await client.close();
    }
  });

  test("a request over the daemon's size limit gets its error; the connection goes on", TEST_TIMEOUT, async () => {
    const client = await Client.connect(daemon.socketPath);
    try {
      const small = client.call("daemon.info");
      const big = client.call("process.setName", { id: 1, name: "n".repeat(4 * 1024 * 1024 + 10) });
      await assert.rejects(big, (err: unknown) => {
        assert.ok(err instanceof InvalidRequestError, String(err));
        assert.equal(typeof (err.data as { limit?: unknown }).limit, "number");
        return true;
      });
      assert.equal(((await small) as { protocol_version: string }).protocol_version.split(".")[0], "1");
      assert.ok(Array.isArray(await client.list()));
    } finally {
      await client.close();
    }
  });

  test("a notification is carried out and never answered", TEST_TIMEOUT, async () => {
    const client = await Client.connect(daemon.socketPath);
    try {
      const before = (await client.list()).length;
      client.notify("process.create", { name: "from-a-notification" });
      await waitFor(async () => (await client.list()).length === before + 1, "the notification's process");
      const names = (await client.list()).map((p) => p.name);
      assert.ok(names.includes("from-a-notification"));
      assert.equal(client.pendingCalls, 0);
    } finally {
      await client.close();
    }
  });

  test("many concurrent calls on one connection each get their own answer", TEST_TIMEOUT, async () => {
    const client = await Client.connect(daemon.socketPath);
    try {
      const procs = Array.from({ length: 40 }, (_, i) => client.process({ name: `concurrent-${i}` }));
      const names = await Promise.all(procs.flatMap((p) => [p.getName(), p.getName()]));
      assert.deepEqual(
        names,
        procs.flatMap((_, i) => [`concurrent-${i}`, `concurrent-${i}`]),
      );
    } finally {
      await client.close();
    }
  });

  test("closing the client rejects a pending join with ConnectionClosedError", TEST_TIMEOUT, async () => {
    const client = await Client.connect(daemon.socketPath);
    const other = await Client.connect(daemon.socketPath);
    const p = client.process({ target: { argv: ["sleep", "30"] } });
    try {
      await p.start({ output: "null" });
      const join = track(p.join());
      assert.equal((await other.attach(p.id!).join(0.05)).exitcode, null); // still running
      assert.equal(join.settled(), false);
      client.destroy();
      await assert.rejects(join.promise, (err: unknown) => {
        assert.ok(err instanceof ConnectionClosedError, String(err));
        assert.ok(err.message.includes(daemon.socketPath));
        return true;
      });
      // The daemon goes on serving everybody else.
      const killed = await other.attach(p.id!).kill();
      assert.equal(killed.id, p.id);
      assert.equal((await other.attach(p.id!).join(20)).exitcode, -9);
    } finally {
      client.destroy();
      await other.close();
    }
  });
});

describe("the daemon stopping", () => {
  test("pending calls settle and later calls reject when the daemon goes away", TEST_TIMEOUT, async () => {
    const daemon = await startDaemon();
    const client = await Client.connect(daemon.socketPath);
    try {
      const p = client.process({ target: { argv: ["sleep", "30"] } });
      await p.start({ output: "null" });
      const join = track(p.join());
      const closed = new Promise((resolve) => client.once("close", resolve));
      await daemon.stop();
      await closed;
      // The daemon may answer the join (its child ended by its shutdown) before closing, or not.
      await join.promise.then(
        (info) => assert.equal(info.state, "exited"),
        (err: unknown) => assert.ok(err instanceof ConnectionClosedError, String(err)),
      );
      await assert.rejects(client.list(), ConnectionClosedError);
      await assert.rejects(p.info(), ConnectionClosedError);
    } finally {
      client.destroy();
      await daemon.stop();
    }
  });
});
