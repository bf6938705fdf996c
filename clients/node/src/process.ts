/**
 * `Process`, as in Python's `processing` package (and this project's Python client), owned by the
 * daemon: created when constructed, `start()` at most once, `join()` any number of times.
 */

import type { Client } from "./client";
import { isEnded, type Output, type Placement, type ProcessInfo, type ProcessState, type Target } from "./types";

export interface ProcessOptions {
  /** What the process runs: `{argv: [...]}`, `{callable: "pkg.mod:func"}`, or null for nothing. */
  target?: Target;
  /** Appended to argv, or the positional arguments of the callable. */
  args?: unknown[];
  /** Keyword arguments of the callable (must be empty for argv targets). */
  kwargs?: Record<string, unknown>;
  /** Null or absent for the default `Process-N1:...:Nk`. */
  name?: string | null;
  /**
   * The process's authkey instead of the one it would inherit (its parent's, or the daemon's):
   * bytes, or a string (its UTF-8). In a Python child it is `current_process().authkey`.
   */
  authkey?: Uint8Array | string;
  /** Protocol 1.1: where a daemon with a cluster backend runs it (absent: anywhere). */
  placement?: Placement | null;
}

export interface StartOptions {
  /** Where the child's stdout and stderr go: the daemon's stderr (default) or /dev/null. */
  output?: Output;
}

/**
 * A process owned by the daemon. The constructor sends `process.create` at once (so default names
 * follow construction order); every method waits for it, and a failed create rejects them all.
 */
export class Process {
  readonly client!: Client;
  private created!: Promise<number>;
  private _id: number | null = null;
  private _info: ProcessInfo | null = null;

  constructor(client: Client, options: ProcessOptions = {}) {
    const params: Record<string, unknown> = {
      target: options.target ?? null,
      args: options.args ?? [],
      kwargs: options.kwargs ?? {},
      name: options.name ?? null,
      ...(options.authkey === undefined ? {} : { authkey: toBase64(options.authkey) }),
    };
    if (options.placement != null) params.placement = options.placement; // only to 1.1 daemons
    this.init(
      client,
      client.call<ProcessInfo>("process.create", params).then((info) => {
        this.update(info);
        return info.id;
      }),
    );
  }

  /** A handle on a process that already exists on the daemon (no `process.create` is sent). */
  static attach(client: Client, process: number | ProcessInfo): Process {
    const p = Object.create(Process.prototype) as Process;
    p._id = null;
    p._info = null;
    if (typeof process === "number") {
      p.init(client, Promise.resolve(process));
      p._id = process;
    } else {
      p.init(client, Promise.resolve(process.id));
      p.update(process);
    }
    return p;
  }

  private init(client: Client, created: Promise<number>): void {
    (this as { client: Client }).client = client;
    this.created = created;
    // The error is not lost: every method awaits `created` and rejects with it.
    created.catch(() => undefined);
  }

  private update(info: ProcessInfo): ProcessInfo {
    this._id = info.id;
    this._info = info;
    return info;
  }

  private async request(method: string, params: Record<string, unknown> = {}): Promise<unknown> {
    const id = await this.created;
    return this.client.call(method, { id, ...params });
  }

  private async requestInfo(method: string, params: Record<string, unknown> = {}): Promise<ProcessInfo> {
    return this.update((await this.request(method, params)) as ProcessInfo);
  }

  /** Wait for `process.create`; the ProcessInfo it returned (or the latest one since). */
  async ready(): Promise<ProcessInfo> {
    await this.created;
    return this._info ?? this.info();
  }

  /** The daemon's id for this process (null until `process.create` has answered). */
  get id(): number | null {
    return this._id;
  }

  /** The last ProcessInfo received (from create, start, join, info, terminate or kill). */
  get lastInfo(): ProcessInfo | null {
    return this._info;
  }

  /** The OS pid from the last info (null until started). */
  get pid(): number | null {
    return this._info?.pid ?? null;
  }

  /** The cluster node from the last info (protocol 1.1); null on the daemon's own machine. */
  get node(): string | null {
    return this._info?.node ?? null;
  }

  /** The exit code from the last info: null until it ended, minus the signal number for a signal. */
  get exitcode(): number | null {
    return this._info?.exitcode ?? null;
  }

  /** The state from the last info. */
  get state(): ProcessState | null {
    return this._info?.state ?? null;
  }

  /** `process.start`: at most once (else AlreadyStartedError, 1002). */
  start(options: StartOptions = {}): Promise<ProcessInfo> {
    return this.requestInfo("process.start", options.output ? { output: options.output } : {});
  }

  /**
   * `process.join`: wait until it ends, or `timeoutSeconds` (then `exitcode` is still null).
   * Only after `start()` (else NotStartedError, 1003). Other calls go on while it waits.
   */
  join(timeoutSeconds: number | null = null): Promise<ProcessInfo> {
    return this.requestInfo("process.join", { timeout: timeoutSeconds });
  }

  /** `process.info`: the current state. */
  info(): Promise<ProcessInfo> {
    return this.requestInfo("process.info");
  }

  /** True while it runs (started and not ended); an ended one (exited, lost) is not asked again. */
  async isAlive(): Promise<boolean> {
    if (isEnded(this._info?.state)) return false;
    return (await this.info()).state === "running";
  }

  /**
   * `process.release` (protocol 1.1): the daemon forgets the process (its record, name and key);
   * its id is then unknown to every method (NoSuchProcessError), and never given again. Allowed
   * once it has ended, or before `start()`; StillRunningError (1012) while it runs: join it first.
   * What this object learnt last (`exitcode`, `state`) stays readable.
   */
  async release(): Promise<void> {
    await this.request("process.release");
  }

  async getName(): Promise<string> {
    return (await this.request("process.getName")) as string;
  }

  async setName(name: string): Promise<void> {
    await this.request("process.setName", { name });
    if (this._info) this._info = { ...this._info, name };
  }

  /** The authkey, as a hex string (inherited from the creator at creation). */
  async getAuthKey(): Promise<string> {
    return (await this.request("process.getAuthKey")) as string;
  }

  /** Set the authkey (a hex string), or draw a new random one with null. */
  async setAuthKey(value: string | null): Promise<void> {
    await this.request("process.setAuthKey", { value });
  }

  /** Set the authkey to these bytes (which need not be text). */
  async setAuthKeyBytes(value: Uint8Array): Promise<void> {
    await this.request("process.setAuthKey", { value: toBase64(value), encoding: "base64" });
  }

  /** The authkey's bytes (a key given as bytes need not be text, so `getAuthKey()` may refuse it). */
  async getAuthKeyBytes(): Promise<Buffer> {
    const text = (await this.request("process.getAuthKey", { encoding: "base64" })) as string;
    return Buffer.from(text, "base64");
  }

  /** SIGTERM (nothing if it already ended). */
  terminate(): Promise<ProcessInfo> {
    return this.requestInfo("process.terminate");
  }

  /** SIGKILL (nothing if it already ended). */
  kill(): Promise<ProcessInfo> {
    return this.requestInfo("process.kill");
  }

  toString(): string {
    const info = this._info;
    if (!info) return `<Process ${this._id ?? "(being created)"}>`;
    const status = info.state === "exited" ? `exitcode=${info.exitcode}` : info.state;
    return `<Process ${info.id} ${JSON.stringify(info.name)} ${status}>`;
  }
}

/** A key as `process.create` takes it: standard base64 of its bytes. */
function toBase64(key: Uint8Array | string): string {
  return (typeof key === "string" ? Buffer.from(key, "utf8") : Buffer.from(key)).toString("base64");
}
