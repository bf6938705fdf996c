/**
 * The package as its users get it: `npm pack` (its prepare script builds dist/), the tarball
 * installed in a temporary project outside the repository, and a folder install of a copy that
 * never had an install of its own; each then runs the README examples verbatim, as example.mjs,
 * against a live daemon, and must exit by itself. No registry is needed but for the folder
 * install's pinned TypeScript (npm's cache has it after `npm ci`).
 */

import * as assert from "node:assert/strict";
import { execFile } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { after, before, describe, test } from "node:test";
import { promisify } from "node:util";

import { type Daemon, PACKAGE_DIR, REPO_ROOT, startDaemon } from "./helpers";

const run = promisify(execFile);
const SLOW = { timeout: 240_000 };
/** What a checkout holds that packing needs (not node_modules, not dist). */
const SOURCES = ["src", "scripts", "package.json", "package-lock.json", "tsconfig.json", "tsconfig.build.json", "README.md"];

/** The first ```js block after `marker` in a Markdown file. */
function example(markdown: string, marker: string): string {
  const text = fs.readFileSync(markdown, "utf8");
  const at = text.indexOf(marker);
  assert.ok(at >= 0, `${markdown}: no ${JSON.stringify(marker)}`);
  const block = /```js\n([\s\S]*?)```/.exec(text.slice(at));
  assert.ok(block, `${markdown}: no js example after ${JSON.stringify(marker)}`);
  return block[1]!;
}

const EXAMPLES = [
  { name: "README.md", code: () => example(path.join(REPO_ROOT, "README.md"), "**Node.js / TypeScript**"), out: /^7\n$/ },
  { name: "clients/node/README.md", code: () => example(path.join(PACKAGE_DIR, "README.md"), "# supervisord-lite-client"), out: /^Process-\d+ 7\n$/ },
];

function copySources(to: string): void {
  fs.mkdirSync(to);
  for (const entry of SOURCES) fs.cpSync(path.join(PACKAGE_DIR, entry), path.join(to, entry), { recursive: true });
}

async function npm(cwd: string, ...args: string[]): Promise<string> {
  const { stdout } = await run("npm", [...args, "--no-audit", "--no-fund", "--loglevel=error"], {
    cwd,
    env: { ...process.env, npm_config_update_notifier: "false" },
    maxBuffer: 16 << 20,
  });
  return stdout;
}

function newProject(dir: string): void {
  fs.mkdirSync(dir);
  fs.writeFileSync(path.join(dir, "package.json"), JSON.stringify({ name: "app", version: "1.0.0", private: true }));
}

/** Each README example, as example.mjs in `project`: its output, and node must exit by itself. */
async function runExamples(project: string, socketPath: string): Promise<void> {
  for (const ex of EXAMPLES) {
    fs.writeFileSync(path.join(project, "example.mjs"), ex.code());
    const env: NodeJS.ProcessEnv = { ...process.env, SUPERVISORD_LITE_SOCKET: socketPath };
    delete env.NODE_TEST_CONTEXT;
    const { stdout } = await run(process.execPath, ["example.mjs"], { cwd: project, env, timeout: 30_000 }).catch(
      (err: Error & { killed?: boolean; stderr?: string }) => {
        throw new Error(`${ex.name}'s example ${err.killed ? "did not exit within 30 s" : "failed"}: ${err.stderr ?? err.message}`);
      },
    );
    assert.match(stdout, ex.out, `${ex.name}'s example printed ${JSON.stringify(stdout)}`);
  }
}

describe("the package, installed as its users install it", () => {
  let daemon: Daemon;
  let tmp: string;
  before(async () => {
    daemon = await startDaemon();
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), "sl-node-pack-"));
  });
  after(async () => {
    await daemon?.stop();
    if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
  });

  test("npm pack, then the tarball installed in another project", SLOW, async () => {
    const pkg = path.join(tmp, "pkg");
    copySources(pkg);
    // This checkout's TypeScript, so packing is offline (and dist/ here is left alone).
    fs.symlinkSync(path.join(PACKAGE_DIR, "node_modules"), path.join(pkg, "node_modules"));
    const name = (await npm(pkg, "pack", "--pack-destination", tmp)).trim().split("\n").pop()!;
    const tarball = path.join(tmp, name);
    assert.ok(fs.existsSync(tarball), `npm pack made no ${tarball}`);
    const project = path.join(tmp, "app");
    newProject(project);
    await npm(project, "install", tarball);
    const installed = path.join(project, "node_modules", "supervisord-lite-client");
    assert.ok(!fs.lstatSync(installed).isSymbolicLink(), "the tarball is unpacked, not linked");
    assert.ok(fs.existsSync(path.join(installed, "dist", "src", "index.js")), "the tarball holds the built files");
    await runExamples(project, daemon.socketPath);
  });

  test("npm install of a folder that never had an install of its own", SLOW, async () => {
    const pkg = path.join(tmp, "folder");
    copySources(pkg);
    const project = path.join(tmp, "app-folder");
    newProject(project);
    await npm(project, "install", pkg);
    assert.ok(fs.existsSync(path.join(pkg, "dist", "src", "index.js")), "prepare built dist/ in the folder");
    await runExamples(project, daemon.socketPath);
  });
});
