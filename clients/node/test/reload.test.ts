/** daemon.reload against a live daemon started with a config file (protocol 1.1). */

import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { after, before, test } from "node:test";

import { BadConfigError, Client, ErrorCode, listPrograms, reload } from "../src";
import { type Daemon, startDaemon, TEST_TIMEOUT } from "./helpers";

let daemon: Daemon;
let client: Client;
let dir: string;
let config: string;

before(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "sl-node-cfg-"));
  config = path.join(dir, "config.toml");
  fs.writeFileSync(config, '[programs.web]\ncommand = ["sleep", "300"]\n');
  daemon = await startDaemon("--config", config);
  client = await Client.connect(daemon.socketPath);
});

after(async () => {
  await client?.close();
  await daemon?.stop();
  fs.rmSync(dir, { recursive: true, force: true });
});

test("a reload adds, keeps and removes the file's programs; a bad file changes nothing", TEST_TIMEOUT, async () => {
  assert.deepEqual((await reload(client)).unchanged, ["web"]);
  fs.writeFileSync(config, '[programs.web]\ncommand = ["sleep", "300"]\n[programs.api]\ncommand = ["sleep", "301"]\n');
  const r = await reload(client);
  assert.equal(r.config, config);
  assert.deepEqual([r.added, r.unchanged, r.removed], [["api"], ["web"], []]);
  fs.writeFileSync(config, "[programs.web]\ncommand = 5\n");
  await assert.rejects(reload(client), (err: unknown) => err instanceof BadConfigError && err.code === ErrorCode.BadConfig);
  assert.deepEqual((await listPrograms(client)).map((p) => p.name).sort(), ["api", "web"]);
  fs.writeFileSync(config, '[programs.api]\ncommand = ["sleep", "301"]\n');
  assert.deepEqual((await reload(client)).removed, ["web"]);
});
