/** Protocol 1.1 against the live daemon (local backend): a placement is sent and refused there
 * with BadPlacement (1020); a local process has no node. */

import * as assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";

import { BadPlacementError, Client, ErrorCode, Process, RpcError } from "../src";
import { type Daemon, startDaemon, TEST_TIMEOUT } from "./helpers";

let daemon: Daemon;
let client: Client;

before(async () => {
  daemon = await startDaemon();
  client = await Client.connect(daemon.socketPath);
});

after(async () => {
  await client?.close();
  await daemon?.stop();
});

describe("placement and node (1.1)", () => {
  test("a local daemon refuses a placement with BadPlacement (1020)", TEST_TIMEOUT, async () => {
    const p = new Process(client, { target: { argv: ["true"] }, placement: { resources: { CPU: 1 } } });
    await assert.rejects(p.ready(), (err: unknown) => {
      assert.ok(err instanceof BadPlacementError && err instanceof RpcError);
      assert.equal(err.code, ErrorCode.BadPlacement);
      assert.match(err.message, /--backend ray/);
      return true;
    });
  });

  test("a local process has no node; a null placement is not sent", TEST_TIMEOUT, async () => {
    const p = new Process(client, { target: { argv: ["true"] }, placement: null });
    await p.start({ output: "null" });
    const joined = await p.join();
    assert.equal(joined.exitcode, 0);
    assert.equal(joined.node, undefined);
    assert.equal(p.node, null);
  });
});
