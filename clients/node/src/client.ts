/**
 * One connection to the daemon: JSON-RPC 2.0 over a Unix socket, newline-delimited JSON.
 * Calls run concurrently on the connection; responses are matched to calls by id.
 */

import { createHmac } from "node:crypto";
import { EventEmitter } from "node:events";
import * as fs from "node:fs";
import * as net from "node:net";
import * as path from "node:path";

import {
  ConnectionClosedError,
  ConnectionError,
  ErrorCode,
  ProtocolVersionError,
  RpcError,
  type RpcErrorObject,
  UntrustedDaemonError,
} from "./errors";
import { LineSplitter } from "./lines";
import { defaultSocketPath, ENV_DAEMON_UID } from "./paths";
import { Process, type ProcessOptions } from "./process";
import type { DaemonInfo, ListOptions, ProcessInfo } from "./types";

/** The protocol major version this client speaks. */
export const PROTOCOL_MAJOR = 1;

export interface ConnectOptions {
  /** Ask `daemon.info` and refuse a daemon whose protocol major version is not 1 (default true). */
  checkVersion?: boolean;
  /** Give up connecting after this many milliseconds (default 10000). */
  connectTimeoutMs?: number;
  /** The longest response line accepted, in bytes (default 64 MiB). */
  maxLineBytes?: number;
  /**
   * The uid of a shared daemon of another user (one started with `--allow-group`) to trust besides
   * this user and root; `$SUPERVISORD_LITE_DAEMON_UID` does the same.
   */
  daemonUid?: number;
}

export interface CallOptions {
  /** Stop waiting for the response (the request itself is not recalled). */
  signal?: AbortSignal;
}

/** Params by name (an object) or by position (an array), as JSON-RPC allows. */
export type Params = Record<string, unknown> | unknown[];

interface Pending {
  method: string;
  /** Size of the request line without its newline (to match a "message too large" error). */
  bytes: number;
  resolve(value: unknown): void;
  reject(reason: unknown): void;
  cleanup(): void;
}

const DEFAULT_MAX_LINE = 64 * 1024 * 1024;

function describeConnectFailure(socketPath: string, err: NodeJS.ErrnoException): string {
  const why =
    err.code === "ENOENT"
      ? "no socket there: is the daemon running? (`supervisord-lite serve`)"
      : err.code === "ECONNREFUSED"
        ? "nothing is listening on it: is the daemon running? (`supervisord-lite serve`)"
        : err.code === "EACCES"
          ? "permission denied"
          : err.message;
  return `cannot connect to supervisord-lite at ${socketPath}: ${err.code ? `${err.code}, ` : ""}${why}`;
}

function openSocketOnce(socketPath: string, timeoutMs: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const socket = net.createConnection({ path: socketPath });
    const timer = setTimeout(() => {
      socket.destroy();
      reject(
        new ConnectionError(
          `cannot connect to supervisord-lite at ${socketPath}: no answer within ${timeoutMs} ms`,
          socketPath,
          { code: "ETIMEDOUT" },
        ),
      );
    }, timeoutMs);
    const onError = (err: NodeJS.ErrnoException): void => {
      clearTimeout(timer);
      const options: { cause: unknown; code?: string } = { cause: err };
      if (err.code !== undefined) options.code = err.code;
      reject(new ConnectionError(describeConnectFailure(socketPath, err), socketPath, options));
    };
    socket.once("error", onError);
    socket.once("connect", () => {
      clearTimeout(timer);
      socket.removeListener("error", onError);
      resolve(socket);
    });
  });
}

/**
 * Connect, retrying a full backlog (EAGAIN) within the timeout and a refused connect (a daemon
 * restarting; ECONNREFUSED) for up to a second, with backoff.
 */
async function openSocket(socketPath: string, timeoutMs: number): Promise<net.Socket> {
  const start = Date.now();
  let delay = 2;
  for (;;) {
    const left = Math.max(timeoutMs - (Date.now() - start), 1);
    try {
      return await openSocketOnce(socketPath, left);
    } catch (err) {
      const code = err instanceof ConnectionError ? err.code : undefined;
      const window = code === "ECONNREFUSED" ? Math.min(REFUSED_RETRY_MS, timeoutMs) : timeoutMs;
      if ((code !== "EAGAIN" && code !== "ECONNREFUSED") || Date.now() - start + delay > window) throw err;
    }
    await new Promise((resolve) => setTimeout(resolve, delay));
    delay = Math.min(delay * 2, 100);
  }
}

const REFUSED_RETRY_MS = 1000;

/** daemon.authenticate's answer: hex HMAC-SHA256 of the challenge (hex) under the key's UTF-8. */
export function hmacResponse(authKey: string, challengeHex: string): string {
  return createHmac("sha256", Buffer.from(authKey, "utf8")).update(Buffer.from(challengeHex, "hex")).digest("hex");
}

/** Our own uid, root, `$SUPERVISORD_LITE_DAEMON_UID` and the `daemonUid` option. */
function trustedUids(daemonUid: number | undefined): Set<number> {
  const uids = new Set<number>([0]);
  const me = process.geteuid?.();
  if (me !== undefined) uids.add(me);
  const named = process.env[ENV_DAEMON_UID];
  if (named) uids.add(Number.parseInt(named, 10));
  if (daemonUid !== undefined) uids.add(daemonUid);
  return uids;
}

/**
 * Refuse a socket another user could have put in place, before anything is sent. Node cannot read
 * the peer's credentials (SO_PEERCRED), so this is OpenSSH's StrictModes from the client's side:
 * the socket's directory must belong to a trusted user and be writable by nobody else (then no one
 * else can change what the path names), and the socket itself must belong to a trusted user.
 */
function checkSocketOwner(socketPath: string, trusted: Set<number>): void {
  const dir = path.dirname(socketPath);
  const refuse = (why: string): never => {
    throw new UntrustedDaemonError(
      `refusing to talk to the daemon at ${socketPath}: ${why}; another user may have taken the ` +
        `socket's directory. Nothing was sent`,
      socketPath,
    );
  };
  const d = fs.statSync(dir);
  if (!trusted.has(d.uid)) refuse(`its directory ${dir} belongs to uid ${d.uid}, not to this user, root or $${ENV_DAEMON_UID}`);
  if ((d.mode & 0o022) !== 0 && (d.mode & 0o1000) === 0) {
    refuse(`its directory ${dir} is writable by others (mode ${(d.mode & 0o7777).toString(8)})`);
  }
  const s = fs.statSync(socketPath);
  if (!trusted.has(s.uid)) refuse(`the socket belongs to uid ${s.uid}, not to this user, root or $${ENV_DAEMON_UID}`);
}

/**
 * A connection to a supervisord-lite daemon.
 *
 * Events: `"close"` (the connection is gone; the argument is the ConnectionClosedError pending
 * calls were rejected with) and `"protocolError"` (a line from the daemon this client could not
 * attribute to a call: not JSON, or an error with a null id).
 */
export class Client extends EventEmitter {
  /** The socket this client is connected to. */
  readonly socketPath: string;
  /** What `daemon.info` said when connecting (null when the version check was turned off). */
  daemon: DaemonInfo | null = null;

  private readonly socket: net.Socket;
  private readonly splitter: LineSplitter;
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private closedError: ConnectionClosedError | null = null;
  private closingByUs = false;
  private lastFailure: unknown = undefined;

  private constructor(socketPath: string, socket: net.Socket, maxLineBytes: number) {
    super();
    this.socketPath = socketPath;
    this.socket = socket;
    this.splitter = new LineSplitter(maxLineBytes);
    socket.on("data", (chunk: Buffer) => this.onData(chunk));
    socket.on("error", (err) => {
      this.lastFailure = err;
    });
    socket.on("close", () => this.onClose());
  }

  /**
   * Connect to the daemon at `socketPath`, else `$SUPERVISORD_LITE_SOCKET`, else the default path
   * of PROTOCOL.md. Rejects with a ConnectionError naming the path when nothing is there, and with a
   * ProtocolVersionError when the daemon's protocol major version is not 1.
   */
  static async connect(socketPath?: string, options: ConnectOptions = {}): Promise<Client> {
    const where = socketPath || defaultSocketPath();
    const socket = await openSocket(where, options.connectTimeoutMs ?? 10_000);
    try {
      checkSocketOwner(where, trustedUids(options.daemonUid));
    } catch (err) {
      socket.destroy();
      throw err;
    }
    const client = new Client(where, socket, options.maxLineBytes ?? DEFAULT_MAX_LINE);
    if (options.checkVersion ?? true) {
      try {
        const info = await client.daemonInfo();
        client.daemon = info;
        const major = Number.parseInt(String(info.protocol_version).split(".")[0] ?? "", 10);
        if (major !== PROTOCOL_MAJOR) throw new ProtocolVersionError(String(info.protocol_version), PROTOCOL_MAJOR);
      } catch (err) {
        client.destroy();
        throw err;
      }
    }
    return client;
  }

  /** True once the connection is gone: every call then rejects with a ConnectionClosedError. */
  get closed(): boolean {
    return this.closedError !== null;
  }

  /** Number of calls waiting for their response. */
  get pendingCalls(): number {
    return this.pending.size;
  }

  /**
   * Send one request and resolve with its `result`, or reject with an RpcError (the subclass for
   * its code) or, if the connection goes away first, a ConnectionClosedError.
   */
  call<T = unknown>(method: string, params?: Params, options: CallOptions = {}): Promise<T> {
    if (this.closedError) return Promise.reject(this.closedError);
    const signal = options.signal;
    if (signal?.aborted) return Promise.reject(signal.reason);
    const id = this.nextId++;
    const request: Record<string, unknown> = { jsonrpc: "2.0", id, method };
    if (params !== undefined) request.params = params;
    // JSON.stringify never writes a raw newline: one request, one line.
    const line = JSON.stringify(request);
    return new Promise<T>((resolve, reject) => {
      let onAbort: (() => void) | undefined;
      const entry: Pending = {
        method,
        bytes: Buffer.byteLength(line),
        resolve: resolve as (value: unknown) => void,
        reject,
        cleanup: () => {
          if (onAbort) signal?.removeEventListener("abort", onAbort);
        },
      };
      if (signal) {
        onAbort = () => {
          if (this.pending.delete(id)) reject(signal.reason);
        };
        signal.addEventListener("abort", onAbort, { once: true });
      }
      this.pending.set(id, entry);
      this.socket.write(line + "\n");
    });
  }

  /** Send a notification: carried out by the daemon, never answered (not even on error). */
  notify(method: string, params?: Params): void {
    if (this.closedError) throw this.closedError;
    const request: Record<string, unknown> = { jsonrpc: "2.0", method };
    if (params !== undefined) request.params = params;
    this.socket.write(JSON.stringify(request) + "\n");
  }

  /** `daemon.info`: `{version, protocol_version, pid}`. */
  /**
   * Prove that this connection holds the key of process `processId` (multiprocessing's HMAC
   * challenge: the key never crosses the wire). From then on this connection may control that
   * process and its descendants, whatever user it runs as. Rejects with AuthenticationFailedError
   * if the key is wrong.
   */
  async authenticate(processId: number, authKey: string): Promise<void> {
    const asked = await this.call<{ challenge: string; digest: string }>("daemon.authenticate", { id: processId });
    if (asked.digest !== "sha256" || typeof asked.challenge !== "string") {
      throw new Error(`daemon.authenticate: unexpected challenge ${JSON.stringify(asked)}`);
    }
    const response = hmacResponse(authKey, asked.challenge);
    await this.call("daemon.authenticate", { id: processId, response });
  }

  daemonInfo(): Promise<DaemonInfo> {
    return this.call<DaemonInfo>("daemon.info");
  }

  /**
   * `process.list`, by id: every process, or (protocol 1.1) one page of them, filtered:
   * `{state, parent, after, limit}` (`parent: 0` for those the daemon created itself; `limit` 1 to
   * 10000). Without options it is the 1.0 call. `processes()` pages for you.
   */
  list(options: ListOptions = {}): Promise<ProcessInfo[]> {
    const params: Record<string, unknown> = {};
    for (const key of ["state", "parent", "after", "limit"] as const) {
      if (options[key] !== undefined && options[key] !== null) params[key] = options[key];
    }
    return this.call<ProcessInfo[]>("process.list", Object.keys(params).length ? params : undefined);
  }

  /**
   * Every process (filtered as `list`), by id, asked for `pageSize` at a time so that no answer
   * holds every record: `for await (const info of client.processes({ state: "exited" }))`.
   * Processes created or released meanwhile may or may not be seen; none is seen twice.
   */
  async *processes(options: Omit<ListOptions, "after" | "limit"> & { pageSize?: number } = {}): AsyncGenerator<ProcessInfo> {
    const { pageSize = 1000, ...filters } = options;
    let after = 0;
    for (;;) {
      const page = await this.list({ ...filters, after, limit: pageSize });
      yield* page;
      if (page.length < pageSize) return;
      after = page[page.length - 1]!.id;
    }
  }

  /**
   * `process.release` (protocol 1.1): the daemon forgets an ended (or never started) process; its
   * id is then unknown (NoSuchProcessError). StillRunningError while it runs.
   */
  async release(processId: number): Promise<void> {
    await this.call("process.release", { id: processId });
  }

  /** `rpc.discover`: the OpenRPC document. */
  discover(): Promise<Record<string, unknown>> {
    return this.call<Record<string, unknown>>("rpc.discover");
  }

  /** A new process on this daemon: the same as `new Process(client, options)`. */
  process(options: ProcessOptions = {}): Process {
    return new Process(this, options);
  }

  /** A handle on a process that already exists (by id, or from a ProcessInfo). */
  attach(process: number | ProcessInfo): Process {
    return Process.attach(this, process);
  }

  /** Close the connection; calls still pending reject with a ConnectionClosedError. */
  close(): Promise<void> {
    if (this.socket.destroyed) return Promise.resolve();
    this.closingByUs = true;
    return new Promise((resolve) => {
      this.socket.once("close", () => resolve());
      // Flush what was written, then go: nothing more is read, pending calls reject.
      this.socket.end(() => this.socket.destroy());
    });
  }

  /** Drop the connection at once. */
  destroy(): void {
    this.closingByUs = true;
    this.socket.destroy();
  }

  /** Let Node exit while this connection is open (and idle); `ref()` undoes it. */
  unref(): this {
    this.socket.unref();
    return this;
  }

  ref(): this {
    this.socket.ref();
    return this;
  }

  private onData(chunk: Buffer): void {
    let lines: string[];
    try {
      lines = this.splitter.push(chunk);
    } catch (err) {
      this.lastFailure = err;
      this.socket.destroy();
      return;
    }
    for (const line of lines) this.onLine(line);
  }

  private onLine(line: string): void {
    let message: unknown;
    try {
      message = JSON.parse(line);
    } catch {
      this.emit("protocolError", new Error(`the daemon sent a line that is not JSON: ${clip(line)}`));
      return;
    }
    // A batch response is an array of responses.
    for (const response of Array.isArray(message) ? message : [message]) this.onResponse(response);
  }

  private onResponse(response: unknown): void {
    if (response === null || typeof response !== "object") {
      this.emit("protocolError", new Error(`the daemon sent something that is not a response: ${clip(JSON.stringify(response))}`));
      return;
    }
    const r = response as { id?: unknown; result?: unknown; error?: RpcErrorObject };
    if (r.id === null || r.id === undefined) {
      this.onErrorWithoutId(r.error);
      return;
    }
    if (typeof r.id !== "number") return; // not one of ours
    const entry = this.pending.get(r.id);
    if (!entry) return; // abandoned (aborted) call
    this.pending.delete(r.id);
    entry.cleanup();
    if (r.error !== undefined && r.error !== null) entry.reject(RpcError.from(r.error, entry.method));
    else if ("result" in r) entry.resolve(r.result);
    else entry.reject(new Error(`the daemon answered ${entry.method} with neither result nor error`));
  }

  /** An error the daemon could not tie to a request id: see which pending calls it concerns. */
  private onErrorWithoutId(error: RpcErrorObject | undefined): void {
    if (!error || typeof error.code !== "number") {
      this.emit("protocolError", new Error("the daemon sent a response with a null id and no error"));
      return;
    }
    if (error.code === ErrorCode.PermissionDenied) {
      // Said once, then the daemon closes the connection: it concerns every call.
      this.lastFailure = RpcError.from(error);
      for (const [id, entry] of this.pending) {
        this.pending.delete(id);
        entry.cleanup();
        entry.reject(RpcError.from(error, entry.method));
      }
      return;
    }
    const limit = (error.data as { limit?: unknown } | undefined)?.limit;
    if (error.code === ErrorCode.InvalidRequest && typeof limit === "number") {
      // "Message too large": it was a request line longer than the limit.
      let matched = false;
      for (const [id, entry] of this.pending) {
        if (entry.bytes > limit) {
          this.pending.delete(id);
          entry.cleanup();
          entry.reject(RpcError.from(error, entry.method));
          matched = true;
          break; // one error line per oversize line
        }
      }
      if (matched) return;
    }
    this.emit("protocolError", RpcError.from(error));
  }

  private onClose(): void {
    const cause = this.lastFailure;
    const how = this.closingByUs ? "was closed" : "closed";
    const reason = cause instanceof Error ? `: ${cause.message}` : "";
    const error = new ConnectionClosedError(
      `the connection to supervisord-lite at ${this.socketPath} ${how}${reason}`,
      this.socketPath,
      cause === undefined ? undefined : { cause },
    );
    this.closedError = error;
    for (const [id, entry] of this.pending) {
      this.pending.delete(id);
      entry.cleanup();
      entry.reject(error);
    }
    this.emit("close", error);
  }
}

function clip(text: string, max = 200): string {
  return text.length > max ? `${text.slice(0, max)}…` : text;
}
