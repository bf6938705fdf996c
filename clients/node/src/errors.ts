/**
 * Errors: the JSON-RPC error codes of protocol/PROTOCOL.md as constants, `RpcError` (one subclass
 * per application code), and the connection-level errors the daemon itself never sends.
 */

/** Every error code of PROTOCOL.md ("Errors"): standard JSON-RPC codes and application codes. */
export const ErrorCode = {
  ParseError: -32700,
  InvalidRequest: -32600,
  MethodNotFound: -32601,
  InvalidParams: -32602,
  InternalError: -32603,
  NoSuchProcess: 1001,
  AlreadyStarted: 1002,
  NotStarted: 1003,
  GroupNotNull: 1004,
  BadTarget: 1005,
  SpawnFailed: 1006,
  TargetFailed: 1007,
  JoinSelf: 1008,
  ShuttingDown: 1009,
  PermissionDenied: 1010,
  FdsMissing: 1011,
  StillRunning: 1012,
  AccessDenied: 1016,
  AuthenticationFailed: 1017,
  TooLarge: 1021,
  ProgramExists: 1013,
  NoSuchProgram: 1014,
  EventsExpired: 1015,
  BadConfig: 1018,
  BackendUnavailable: 1019,
  BadPlacement: 1020,
  StateUnwritable: 1022,
} as const;

export type ErrorCodeName = keyof typeof ErrorCode;
export type ErrorCodeValue = (typeof ErrorCode)[ErrorCodeName];

const NAMES = new Map<number, ErrorCodeName>(
  (Object.entries(ErrorCode) as [ErrorCodeName, number][]).map(([name, code]) => [code, name]),
);

/** The name of a known code (`1002` → `"AlreadyStarted"`), or undefined. */
export function errorCodeName(code: number): ErrorCodeName | undefined {
  return NAMES.get(code);
}

/** A JSON-RPC error object as it is on the wire. */
export interface RpcErrorObject {
  code: number;
  message: string;
  data?: unknown;
}

/** An error response from the daemon: `code`, `message` and (when sent) `data`, untouched. */
export class RpcError extends Error {
  readonly code: number;
  readonly data: unknown;
  /** The method of the request that failed, when known. */
  readonly method: string | undefined;
  /** The error object exactly as received (`data` absent when the daemon sent none). */
  readonly error: RpcErrorObject;

  constructor(error: RpcErrorObject, method?: string) {
    const name = errorCodeName(error.code);
    const where = method ? `${method}: ` : "";
    super(`${where}${error.message} (${name ?? "code"} ${error.code})`);
    this.name = new.target.name;
    this.code = error.code;
    this.data = error.data;
    this.method = method;
    this.error = error;
  }

  /** The symbolic name of `code` (`"AlreadyStarted"`), or undefined for a code not in the table. */
  get codeName(): ErrorCodeName | undefined {
    return errorCodeName(this.code);
  }

  /** True when this error carries one of the given codes: `err.isCode(ErrorCode.NotStarted)`. */
  isCode(...codes: number[]): boolean {
    return codes.includes(this.code);
  }

  /** The right subclass for the code (a plain RpcError for codes without one). */
  static from(error: RpcErrorObject, method?: string): RpcError {
    const cls = SUBCLASSES.get(error.code) ?? RpcError;
    return new cls(error, method);
  }
}

/** True when `err` is an RpcError with one of the given codes. */
export function isRpcError(err: unknown, ...codes: number[]): err is RpcError {
  return err instanceof RpcError && (codes.length === 0 || codes.includes(err.code));
}

export class ParseError extends RpcError {}
export class InvalidRequestError extends RpcError {}
export class MethodNotFoundError extends RpcError {}
export class InvalidParamsError extends RpcError {}
export class InternalError extends RpcError {}
export class NoSuchProcessError extends RpcError {}
export class AlreadyStartedError extends RpcError {}
export class NotStartedError extends RpcError {}
export class GroupNotNullError extends RpcError {}
export class BadTargetError extends RpcError {}
export class SpawnFailedError extends RpcError {}
export class TargetFailedError extends RpcError {}
export class JoinSelfError extends RpcError {}
export class ShuttingDownError extends RpcError {}
export class PermissionDeniedError extends RpcError {}
export class FdsMissingError extends RpcError {}
/** 1012: `release()` of a process that runs (or is starting); join it first. */
export class StillRunningError extends RpcError {}
export class AccessDeniedError extends RpcError {}
export class AuthenticationFailedError extends RpcError {}
export class TooLargeError extends RpcError {}
export class ProgramExistsError extends RpcError {}
export class NoSuchProgramError extends RpcError {}
/** The events after `since` have left the daemon's ring: list again, then read from `oldest - 1`. */
export class EventsExpiredError extends RpcError {
  get oldest(): number | undefined {
    const data = this.data as { oldest?: unknown } | undefined;
    return typeof data?.oldest === "number" ? data.oldest : undefined;
  }
}
/** 1018: `daemon.reload` could not use the config file; nothing was changed (`data.path`). */
export class BadConfigError extends RpcError {}
export class BackendUnavailableError extends RpcError {}
export class BadPlacementError extends RpcError {}
/** 1022: the daemon cannot write its state (a full disk); nothing was created: try again later. */
export class StateUnwritableError extends RpcError {}

const SUBCLASSES = new Map<number, new (error: RpcErrorObject, method?: string) => RpcError>([
  [ErrorCode.ParseError, ParseError],
  [ErrorCode.InvalidRequest, InvalidRequestError],
  [ErrorCode.MethodNotFound, MethodNotFoundError],
  [ErrorCode.InvalidParams, InvalidParamsError],
  [ErrorCode.InternalError, InternalError],
  [ErrorCode.NoSuchProcess, NoSuchProcessError],
  [ErrorCode.AlreadyStarted, AlreadyStartedError],
  [ErrorCode.NotStarted, NotStartedError],
  [ErrorCode.GroupNotNull, GroupNotNullError],
  [ErrorCode.BadTarget, BadTargetError],
  [ErrorCode.SpawnFailed, SpawnFailedError],
  [ErrorCode.TargetFailed, TargetFailedError],
  [ErrorCode.JoinSelf, JoinSelfError],
  [ErrorCode.ShuttingDown, ShuttingDownError],
  [ErrorCode.PermissionDenied, PermissionDeniedError],
  [ErrorCode.FdsMissing, FdsMissingError],
  [ErrorCode.StillRunning, StillRunningError],
  [ErrorCode.AccessDenied, AccessDeniedError],
  [ErrorCode.AuthenticationFailed, AuthenticationFailedError],
  [ErrorCode.TooLarge, TooLargeError],
  [ErrorCode.ProgramExists, ProgramExistsError],
  [ErrorCode.NoSuchProgram, NoSuchProgramError],
  [ErrorCode.EventsExpired, EventsExpiredError],
  [ErrorCode.BadConfig, BadConfigError],
  [ErrorCode.BackendUnavailable, BackendUnavailableError],
  [ErrorCode.BadPlacement, BadPlacementError],
  [ErrorCode.StateUnwritable, StateUnwritableError],
]);

/**
 * The daemon could not be reached, or the connection to it is gone. `socketPath` is where the
 * client looked; `code` is the system error code when there is one (`ENOENT`, `ECONNREFUSED`).
 */
export class ConnectionError extends Error {
  readonly socketPath: string;
  readonly code: string | undefined;

  constructor(message: string, socketPath: string, options?: { cause?: unknown; code?: string }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.socketPath = socketPath;
    this.code = options?.code;
  }
}

/** The socket is another user's (it could be a squatter's): nothing was sent to it. */
export class UntrustedDaemonError extends ConnectionError {
  constructor(message: string, socketPath: string) {
    super(message, socketPath, { code: "EUNTRUSTED" });
  }
}

/** The connection closed (or was closed) while a call was pending, or before it was made. */
export class ConnectionClosedError extends ConnectionError {}

/** The daemon speaks a protocol major version this client does not. */
export class ProtocolVersionError extends Error {
  readonly protocolVersion: string;

  constructor(protocolVersion: string, supported: number) {
    super(
      `supervisord-lite protocol version ${JSON.stringify(protocolVersion)} is not supported ` +
        `(this client speaks ${supported}.x)`,
    );
    this.name = new.target.name;
    this.protocolVersion = protocolVersion;
  }
}
