/**
 * No squatting, from the Node client's side: it refuses a socket another user could have put in
 * place (its directory another user's or writable by others, or the socket another user's) before
 * it sends anything; and a burst of connects to the live daemon all succeed (retried, not refused).
 */

import * as assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as net from "node:net";
import * as path from "node:path";
import { after, before, describe, test } from "node:test";

import { AuthenticationFailedError, Client, hmacResponse, UntrustedDaemonError } from "../src";
import { type Daemon, privateDir, startDaemon, TEST_TIMEOUT, VECTORS_DIR } from "./helpers";

interface Fake {
  dir: string;
  socketPath: string;
  received: number;
  close(): Promise<void>;
}

/** A server that counts the bytes it receives and answers daemon.info. */
async function fake(): Promise<Fake> {
  const dir = privateDir();
  const socketPath = path.join(dir, "sock");
  const sockets: net.Socket[] = [];
  const f: Fake = {
    dir,
    socketPath,
    received: 0,
    close: () =>
      new Promise((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => {
          fs.rmSync(dir, { recursive: true, force: true });
          resolve();
        });
      }),
  };
  const server = net.createServer((socket) => {
    sockets.push(socket);
    socket.on("error", () => undefined);
    socket.on("data", (chunk: Buffer) => {
      f.received += chunk.length;
      const id = JSON.parse(chunk.toString().split("\n")[0] ?? "{}").id;
      socket.write(JSON.stringify({ jsonrpc: "2.0", id, result: { version: "x", protocol_version: "1.0", pid: 1 } }) + "\n");
    });
  });
  await new Promise<void>((resolve) => server.listen(socketPath, resolve));
  return f;
}

function refused(err: unknown, needle: string): boolean {
  assert.ok(err instanceof UntrustedDaemonError, String(err));
  assert.equal(err.code, "EUNTRUSTED");
  assert.ok(err.message.includes(needle), err.message);
  assert.ok(err.message.includes("Nothing was sent"), err.message);
  return true;
}

describe("no squatting", () => {
  test("a socket directory others can write is refused before anything is sent", TEST_TIMEOUT, async () => {
    const f = await fake();
    try {
      fs.chmodSync(f.dir, 0o777);
      await assert.rejects(Client.connect(f.socketPath), (err) => refused(err, "writable by others"));
      assert.equal(f.received, 0);
    } finally {
      await f.close();
    }
  });

  describe("with a second user", () => {
    const isRoot = process.geteuid?.() === 0;
    const name = `slnode${process.pid}`;
    let uid = -1;
    before(() => {
      if (!isRoot) return;
      execFileSync("useradd", ["--no-create-home", "--shell", "/bin/false", name]);
      uid = Number.parseInt(execFileSync("id", ["-u", name]).toString().trim(), 10);
    });
    after(() => {
      if (isRoot) execFileSync("userdel", [name]);
    });
    const skip = isRoot ? false : "needs root, to create a second user with useradd";

    test("another user's directory, or socket, is refused", { ...TEST_TIMEOUT, skip }, async () => {
      const f = await fake();
      try {
        fs.chownSync(f.dir, uid, uid);
        await assert.rejects(Client.connect(f.socketPath), (err) => refused(err, `belongs to uid ${uid}`));
        fs.chownSync(f.dir, 0, 0);
        fs.chownSync(f.socketPath, uid, uid);
        await assert.rejects(Client.connect(f.socketPath), (err) => refused(err, `socket belongs to uid ${uid}`));
        assert.equal(f.received, 0);
        const client = await Client.connect(f.socketPath, { daemonUid: uid }); // a shared daemon, named
        client.destroy();
        assert.ok(f.received > 0);
      } finally {
        await f.close();
      }
    });
  });
});

describe("a burst of connects", () => {
  let daemon: Daemon;
  before(async () => {
    daemon = await startDaemon();
  });
  after(async () => {
    await daemon?.stop();
  });

  test("300 clients connecting at once all get in", TEST_TIMEOUT, async () => {
    const clients = await Promise.all(Array.from({ length: 300 }, () => Client.connect(daemon.socketPath)));
    assert.equal(clients.length, 300);
    for (const c of clients) c.destroy();
  });
});

describe("daemon.authenticate", () => {
  test("the HMAC matches the known answers of protocol/vectors/auth", TEST_TIMEOUT, () => {
    const file = path.join(VECTORS_DIR, "auth", "hmac-sha256.json");
    const cases = JSON.parse(fs.readFileSync(file, "utf8")).cases as { authkey: string; challenge: string; response: string }[];
    assert.ok(cases.length > 0);
    for (const c of cases) assert.equal(hmacResponse(c.authkey, c.challenge), c.response);
  });

  let daemon: Daemon;
  before(async () => {
    daemon = await startDaemon();
  });
  after(async () => {
    await daemon?.stop();
  });

  test("the right key is proven, a wrong one is refused", TEST_TIMEOUT, async () => {
    const client = await Client.connect(daemon.socketPath);
    try {
      const p = await client.call<{ id: number }>("process.create", {});
      const key = await client.call<string>("process.getAuthKey", { id: p.id });
      await client.authenticate(p.id, key);
      await assert.rejects(client.authenticate(p.id, key + "x"), (err) => err instanceof AuthenticationFailedError);
    } finally {
      await client.close();
    }
  });
});
