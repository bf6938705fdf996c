/**
 * Test helpers: a real supervisord-lite daemon on a socket in a private temporary directory,
 * started with `$SUPERVISORD_LITE_PYTHON -m supervisord_lite serve --socket DIR/sl.sock` from the
 * repository root, waited for by polling the socket (with a deadline), stopped with SIGTERM.
 */

import { spawn, type ChildProcess } from "node:child_process";
import * as fs from "node:fs";
import * as net from "node:net";
import * as os from "node:os";
import * as path from "node:path";

/** clients/node (this file is compiled to clients/node/dist/test/helpers.js). */
export const PACKAGE_DIR = path.resolve(__dirname, "..", "..");
/** The repository root, two levels above the package. */
export const REPO_ROOT = path.resolve(PACKAGE_DIR, "..", "..");
/** The Python that runs the daemon. */
export const PYTHON = process.env.SUPERVISORD_LITE_PYTHON || path.join(REPO_ROOT, ".venv", "bin", "python");
/** protocol/vectors, or $SUPERVISORD_LITE_VECTORS to replay another set. */
export const VECTORS_DIR = process.env.SUPERVISORD_LITE_VECTORS || path.join(REPO_ROOT, "protocol", "vectors");
/** Compiled test fixtures (scripts run as supervised processes). */
export const FIXTURES_DIR = path.join(__dirname, "fixtures");

/** Give every test this (node's test runner gets --test-timeout too). */
export const TEST_TIMEOUT = { timeout: 30_000 };

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Poll `cond` until it is true or `timeoutMs` passes (then throw, saying what was awaited). */
export async function waitFor(cond: () => boolean | Promise<boolean>, what: string, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let delay = 5;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(delay);
    delay = Math.min(delay * 2, 100);
  }
}

/** True when something accepts connections on the Unix socket `socketPath`. */
export function accepts(socketPath: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.createConnection({ path: socketPath });
    s.once("connect", () => {
      s.destroy();
      resolve(true);
    });
    s.once("error", () => resolve(false));
  });
}

/** A short private directory (a Unix socket path must fit in 108 bytes). */
export function privateDir(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), "sl-node-"));
}

export class Daemon {
  private exited: Promise<number | null>;
  private exitCode: number | null | undefined = undefined;

  constructor(
    readonly dir: string,
    readonly socketPath: string,
    readonly proc: ChildProcess,
    readonly stderrPath: string,
  ) {
    this.exited = new Promise((resolve) => {
      proc.once("exit", (code, signal) => {
        this.exitCode = code ?? (signal ? -1 : null);
        resolve(this.exitCode);
      });
    });
  }

  get running(): boolean {
    return this.exitCode === undefined;
  }

  stderr(): string {
    try {
      return fs.readFileSync(this.stderrPath, "utf8");
    } catch {
      return "";
    }
  }

  /** SIGTERM, then wait (SIGKILL after 15 s); returns the exit code. Removes the directory. */
  async stop(): Promise<number | null> {
    if (this.running) {
      this.proc.kill("SIGTERM");
      const timer = setTimeout(() => this.proc.kill("SIGKILL"), 15_000);
      await this.exited;
      clearTimeout(timer);
    }
    fs.rmSync(this.dir, { recursive: true, force: true });
    return this.exitCode ?? null;
  }
}

/** Start a daemon on a fresh socket and wait until it accepts connections. */
export async function startDaemon(...extraArgs: string[]): Promise<Daemon> {
  if (!fs.existsSync(PYTHON)) {
    throw new Error(
      `no Python for the daemon at ${PYTHON}: run \`make install\` at the repository root, ` +
        "or set SUPERVISORD_LITE_PYTHON",
    );
  }
  const dir = privateDir();
  const socketPath = path.join(dir, "sl.sock");
  const stderrPath = path.join(dir, "daemon.stderr");
  const env = { ...process.env };
  delete env.SUPERVISORD_LITE_SOCKET;
  delete env.NODE_TEST_CONTEXT; // node --test's own marker: not for supervised node programs
  const stderr = fs.openSync(stderrPath, "w");
  const proc = spawn(PYTHON, ["-m", "supervisord_lite", "serve", "--socket", socketPath, "--state-dir", path.join(dir, "state"), ...extraArgs], {
    cwd: REPO_ROOT,
    env,
    stdio: ["ignore", "ignore", stderr],
  });
  fs.closeSync(stderr);
  const daemon = new Daemon(dir, socketPath, proc, stderrPath);
  let spawnError: Error | undefined;
  proc.once("error", (err) => {
    spawnError = err;
  });
  try {
    await waitFor(
      async () => {
        if (spawnError) throw spawnError;
        if (!daemon.running) throw new Error(`the daemon exited early:\n${daemon.stderr()}`);
        return accepts(socketPath);
      },
      `the daemon to accept connections on ${socketPath}`,
      20_000,
    );
  } catch (err) {
    await daemon.stop();
    throw err;
  }
  return daemon;
}

/** Settle state of a promise without waiting for it. */
export function track<T>(promise: Promise<T>): { settled: () => boolean; promise: Promise<T> } {
  let done = false;
  promise.then(
    () => (done = true),
    () => (done = true),
  );
  return { settled: () => done, promise };
}
