/** The objects of protocol/PROTOCOL.md, as TypeScript types. */

/**
 * `"lost"` (protocol 1.1): it was running when the daemon lost its hold on it; its exit status is
 * unknown (`exitcode` stays null) and it never runs again. `"exited"` and `"lost"` are final.
 */
export type ProcessState = "created" | "running" | "exited" | "lost";

/** True for the states a process never leaves (`"exited"`, `"lost"`). */
export function isEnded(state: ProcessState | null | undefined): boolean {
  return state === "exited" || state === "lost";
}

/** `process.list`'s optional params (protocol 1.1); results are always by id. */
export interface ListOptions {
  /** Only processes in this state. */
  state?: ProcessState;
  /** Only the children of this process id; 0: the processes the daemon created itself. */
  parent?: number;
  /** Only ids greater than this (the last id of the previous page). */
  after?: number;
  /** At most this many, 1 to 10000. */
  limit?: number;
}

/** What the daemon says about one process. It never contains an authkey. */
export interface ProcessInfo {
  id: number;
  name: string;
  /** The id of the process that created it, or null when the daemon did. */
  parent: number | null;
  state: ProcessState;
  /** Null until started. */
  pid: number | null;
  /** Null until it ended (for ever if lost); the exit status, or minus the signal number. */
  exitcode: number | null;
  /** Protocol 1.1: the program this process is a run of, or null. */
  program?: string | null;
  /** Protocol 1.1: what it runs (an argv, or a callable's "module:function"). */
  argv?: string[];
  /** Protocol 1.1: RFC 3339 UTC, null until started / until ended. */
  started_at?: string | null;
  exited_at?: string | null;
  /** Protocol 1.1: the cluster node (its id) it runs or ran on; absent for the daemon's own machine. */
  node?: string;
}

/**
 * Protocol 1.1: where a daemon with a cluster backend (`serve --backend ray`) runs a process.
 * `node` is a node id or address; `resources` are named as the cluster names them ("CPU", "GPU",
 * custom ones). A daemon that runs processes locally refuses any placement (BadPlacement, 1020).
 */
export interface Placement {
  node?: string | null;
  resources?: Record<string, number>;
}

export interface DaemonInfo {
  version: string;
  protocol_version: string;
  pid: number;
}

/** What every target may add: environment changes (null removes a variable) and a working directory. */
export interface TargetOptions {
  env?: Record<string, string | null>;
  cwd?: string;
}

/** A program, looked up in PATH; the process's `args` are appended; `kwargs` must be empty. */
export interface ArgvTarget extends TargetOptions {
  argv: string[];
}

/** A Python function `"package.module:function"`, imported in the child, called with args/kwargs. */
export interface CallableTarget extends TargetOptions {
  callable: string;
  /** Directories prepended to the child's `sys.path`. */
  sys_path?: string[];
}

/** `null`: the process runs nothing and ends with exit code 0. */
export type Target = ArgvTarget | CallableTarget | null;

/** Where a started child's stdout and stderr go (`"passed"` needs fd passing, not offered here). */
export type Output = "daemon" | "null" | "log";

/** A target that runs a program: `argv("sh", "-c", "exit 3")`, with `env`/`cwd` if given. */
export function argv(...command: string[]): ArgvTarget {
  return { argv: command };
}

/** A target that calls a Python function: `callable("pkg.mod:func")`. */
export function callable(reference: string, options: Omit<CallableTarget, "callable"> = {}): CallableTarget {
  return { callable: reference, ...options };
}
