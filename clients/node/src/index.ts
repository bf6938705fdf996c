/**
 * supervisord-lite client: Python `processing`-style Process objects owned by a supervisord-lite
 * daemon, over JSON-RPC 2.0 on a Unix socket (protocol/PROTOCOL.md, version 1). Standard library only.
 */

export { Client, hmacResponse, PROTOCOL_MAJOR, type CallOptions, type ConnectOptions, type Params } from "./client";
export { Process, type ProcessOptions, type StartOptions } from "./process";
export { defaultSocketPath, ENV_DAEMON_UID, ENV_SOCKET } from "./paths";
export { LineSplitter, LineTooLongError } from "./lines";
export {
  argv,
  callable,
  isEnded,
  type ArgvTarget,
  type CallableTarget,
  type DaemonInfo,
  type ListOptions,
  type Output,
  type Placement,
  type ProcessInfo,
  type ProcessState,
  type Target,
  type TargetOptions,
} from "./types";
export * from "./errors";
export * from "./supervision";
