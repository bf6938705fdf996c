/**
 * Programs, events and captured output (protocol 1.1): typed results, and async iterators that
 * follow a log or the event stream with one long-polling call per batch, resuming from a cursor.
 *
 *   await addProgram(client, { name: "web", target: argv("node", "server.js"), restart: "always" });
 *   for await (const line of followLogs(client, { program: "web" })) console.log(line.text);
 */

import type { CallOptions, Client } from "./client";
import type { ArgvTarget, CallableTarget, ProcessInfo } from "./types";

export type ProgramState = "stopped" | "starting" | "running" | "backoff" | "exited" | "failed";

export interface ProgramStatus {
  name: string;
  state: ProgramState;
  /** The current (or last) run. */
  process: ProcessInfo | null;
  runs: number;
  restarts: number;
  last_exitcode: number | null;
  /** When it entered its state (RFC 3339 UTC). */
  since: string;
}

export interface ProgramSpec {
  name: string;
  target: ArgvTarget | CallableTarget;
  args?: unknown[];
  kwargs?: Record<string, unknown>;
  restart?: "no" | "on-failure" | "always";
  restart_delay?: number;
  restart_max_delay?: number;
  healthy_after?: number;
  max_restarts?: number;
  restart_window?: number;
  stop_signal?: string;
  stop_timeout?: number;
  output?: "log" | "daemon" | "null";
  log_max_bytes?: number;
  log_backups?: number;
  start?: boolean;
}

export interface LogLine {
  stream: "stdout" | "stderr";
  /** The line without its newline; base64 of its bytes when `encoding` is "base64". */
  text: string;
  encoding: "utf-8" | "base64";
  ts: string;
  /** A piece of a longer line, or output that ended without a newline. */
  partial?: boolean;
}

/** A line's bytes, whatever its encoding on the wire. */
export function lineBytes(line: LogLine): Buffer {
  return line.encoding === "base64" ? Buffer.from(line.text, "base64") : Buffer.from(line.text, "utf8");
}

export interface Event {
  seq: number;
  ts: string;
  type: string;
  [field: string]: unknown;
}

export type ProgramAction = "start" | "stop" | "restart" | "status";

export function addProgram(client: Client, spec: ProgramSpec, options?: CallOptions): Promise<ProgramStatus> {
  return client.call<ProgramStatus>("program.add", { ...spec }, options);
}

export function program(client: Client, action: ProgramAction, name: string, options?: CallOptions): Promise<ProgramStatus> {
  return client.call<ProgramStatus>(`program.${action}`, { name }, options);
}

export async function removeProgram(client: Client, name: string): Promise<void> {
  await client.call("program.remove", { name });
}

export function listPrograms(client: Client): Promise<ProgramStatus[]> {
  return client.call<ProgramStatus[]>("program.list");
}

export interface FollowOptions {
  id?: number;
  program?: string;
  cursor?: number;
  stream?: "stdout" | "stderr";
  /** Seconds each call waits on the daemon for a line (default 30). */
  timeoutSeconds?: number;
  /** Stops the iteration (the call in flight is abandoned). */
  signal?: AbortSignal;
}

/** What a follow has reached: pass `cursor` to a new follow (after a reconnect) to go on. */
export interface FollowState {
  cursor: number;
  done: boolean;
  /** The process (run) the cursor is in: for a program, which of its runs. */
  id?: number;
}

/**
 * An async iterator over a process's log lines, or a program's across its runs; it ends when the
 * output has ended and every line was read (for a program: once it is not meant to run again).
 * `state` (`id`, `cursor`) says where it is.
 */
export async function* followLogs(client: Client, options: FollowOptions, state: FollowState = { cursor: 0, done: false }): AsyncGenerator<LogLine> {
  state.cursor = options.cursor ?? state.cursor;
  state.id = options.id ?? state.id;
  while (!state.done && !options.signal?.aborted) {
    const params: Record<string, unknown> = {
      cursor: state.cursor,
      follow: true,
      timeout: options.timeoutSeconds ?? 30,
    };
    if (options.program !== undefined) params.program = options.program;
    if (state.id !== undefined) params.id = state.id;
    if (options.stream) params.stream = options.stream;
    const r = await client.call<{ id: number; lines: LogLine[]; cursor: number; done: boolean }>("process.logs", params, {
      signal: options.signal,
    });
    state.id = r.id;
    state.cursor = r.cursor;
    state.done = r.done;
    yield* r.lines;
  }
}

export interface EventOptions {
  since?: number;
  timeoutSeconds?: number;
  signal?: AbortSignal;
}

/** An endless async iterator over the daemon's events after `since` (stop it with `signal` or `break`). */
export async function* events(client: Client, options: EventOptions = {}): AsyncGenerator<Event> {
  let since = options.since ?? 0;
  while (!options.signal?.aborted) {
    const r = await client.call<{ events: Event[]; next: number }>(
      "events.read",
      { since, timeout: options.timeoutSeconds ?? 30 },
      { signal: options.signal },
    );
    since = r.next;
    yield* r.events;
  }
}

/** Protocol 1.1: what `daemon.reload` did (program names), and the config file it read. */
export interface ReloadResult {
  config: string | null;
  added: string[];
  changed: string[];
  removed: string[];
  unchanged: string[];
}

/**
 * Make the daemon apply its config file again, as `supervisorctl update` does (also SIGHUP,
 * systemd's ExecReload=). A file it cannot use changes nothing: `BadConfigError` (1018).
 */
export function reload(client: Client, options?: CallOptions): Promise<ReloadResult> {
  return client.call<ReloadResult>("daemon.reload", undefined, options);
}
