package supervisordlite

import (
	"encoding/json"
	"errors"
	"fmt"
)

// ErrorCode is a JSON-RPC error code from the PROTOCOL.md tables. Each constant is also an error
// value, so that errors.Is(err, ErrAlreadyStarted) holds for any *RPCError carrying that code.
type ErrorCode int

// Application codes (PROTOCOL.md, "Errors").
const (
	ErrNoSuchProcess    ErrorCode = 1001 // no process has this id; data: {"id"}
	ErrAlreadyStarted   ErrorCode = 1002 // start on a started process
	ErrNotStarted       ErrorCode = 1003 // join before start
	ErrGroupNotNull     ErrorCode = 1004 // group is not null
	ErrBadTarget        ErrorCode = 1005 // malformed target
	ErrSpawnFailed      ErrorCode = 1006 // the program could not be executed; the process stays created
	ErrTargetFailed     ErrorCode = 1007 // a Python target could not be loaded in the child
	ErrJoinSelf         ErrorCode = 1008 // a process (or a descendant) tried to join itself
	ErrShuttingDown     ErrorCode = 1009 // the daemon is stopping and starts nothing new
	ErrPermissionDenied ErrorCode = 1010 // the peer is not the daemon's user or root
	ErrFdsMissing       ErrorCode = 1011 // output "passed" without two file descriptors
	ErrStillRunning     ErrorCode = 1012 // release of a running (or starting) process; join it first
	ErrAccessDenied     ErrorCode = 1016 // another user's process; prove its key (Authenticate)
	ErrAuthFailed       ErrorCode = 1017 // daemon.authenticate: wrong key, or no challenge asked
	ErrTooLarge         ErrorCode = 1021 // a batch with too many members, or too large a reply
	ErrProgramExists    ErrorCode = 1013 // program.add with a name taken; data: {"name"}
	ErrNoSuchProgram    ErrorCode = 1014 // no program has this name; data: {"name"}
	ErrEventsExpired    ErrorCode = 1015 // events after since left the ring; data: {"oldest"}
	// Protocol 1.1.
	ErrBadConfig          ErrorCode = 1018 // daemon.reload: the config file cannot be used; data: {"path"}
	ErrBackendUnavailable ErrorCode = 1019 // the daemon's cluster cannot be reached now
	ErrBadPlacement       ErrorCode = 1020 // no live node can take the placement, or the daemon takes none
	ErrStateUnwritable    ErrorCode = 1022 // the state cannot be written (a full disk): no new id; try later
)

// Standard JSON-RPC 2.0 codes.
const (
	ErrParse          ErrorCode = -32700
	ErrInvalidRequest ErrorCode = -32600 // also: message too large (data: {"limit"})
	ErrMethodNotFound ErrorCode = -32601 // data: {"method"}
	ErrInvalidParams  ErrorCode = -32602 // data: {"errors": [{"loc", "msg", "type"}]}
	ErrInternal       ErrorCode = -32603
)

var codeNames = map[ErrorCode]string{
	ErrNoSuchProcess:      "NoSuchProcess",
	ErrAlreadyStarted:     "AlreadyStarted",
	ErrNotStarted:         "NotStarted",
	ErrGroupNotNull:       "GroupNotNull",
	ErrBadTarget:          "BadTarget",
	ErrSpawnFailed:        "SpawnFailed",
	ErrTargetFailed:       "TargetFailed",
	ErrJoinSelf:           "JoinSelf",
	ErrShuttingDown:       "ShuttingDown",
	ErrPermissionDenied:   "PermissionDenied",
	ErrFdsMissing:         "FdsMissing",
	ErrStillRunning:       "StillRunning",
	ErrAccessDenied:       "AccessDenied",
	ErrAuthFailed:         "AuthenticationFailed",
	ErrTooLarge:           "TooLarge",
	ErrProgramExists:      "ProgramExists",
	ErrNoSuchProgram:      "NoSuchProgram",
	ErrEventsExpired:      "EventsExpired",
	ErrParse:              "ParseError",
	ErrInvalidRequest:     "InvalidRequest",
	ErrMethodNotFound:     "MethodNotFound",
	ErrInvalidParams:      "InvalidParams",
	ErrInternal:           "InternalError",
	ErrBadConfig:          "BadConfig",
	ErrBackendUnavailable: "BackendUnavailable",
	ErrBadPlacement:       "BadPlacement",
	ErrStateUnwritable:    "StateUnwritable",
}

// String is the code's name in PROTOCOL.md ("AlreadyStarted"), or "code N" for other codes.
func (c ErrorCode) String() string {
	if n, ok := codeNames[c]; ok {
		return n
	}
	return fmt.Sprintf("code %d", int(c))
}

func (c ErrorCode) Error() string {
	return fmt.Sprintf("supervisord-lite: %s (%d)", c.String(), int(c))
}

// RPCError is an error response from the daemon.
type RPCError struct {
	Code    int             `json:"code"`
	Message string          `json:"message"`
	Data    json.RawMessage `json:"data,omitempty"` // an object when present
}

func (e *RPCError) Error() string {
	s := fmt.Sprintf("supervisord-lite: %s (%d): %s", ErrorCode(e.Code).String(), e.Code, e.Message)
	if len(e.Data) > 0 && string(e.Data) != "null" {
		s += " " + string(e.Data)
	}
	return s
}

// Unwrap makes errors.Is(err, ErrAlreadyStarted) (any ErrorCode) work.
func (e *RPCError) Unwrap() error { return ErrorCode(e.Code) }

// ErrIncompatibleVersion is wrapped by the error Dial and CheckVersion return when the daemon
// speaks another major protocol version.
var ErrIncompatibleVersion = errors.New("supervisord-lite: incompatible protocol version")

// ErrClosed is wrapped by the errors of calls made on (or waiting on) a closed Client.
var ErrClosed = errors.New("supervisord-lite: connection closed")

// DialError is returned when the daemon's socket cannot be reached; it names the path tried.
type DialError struct {
	Path string
	Err  error
}

func (e *DialError) Error() string {
	return fmt.Sprintf("supervisord-lite: no daemon at %s: %v (start one with `supervisord-lite serve`, "+
		"or set %s)", e.Path, e.Err, EnvSocket)
}

func (e *DialError) Unwrap() error { return e.Err }
