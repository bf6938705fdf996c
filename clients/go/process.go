package supervisordlite

import (
	"context"
	"sync"
	"time"
)

// State is a process's state as the daemon reports it.
type State string

const (
	StateCreated State = "created" // not started
	StateRunning State = "running"
	StateExited  State = "exited"
	// StateLost (protocol 1.1): it was running when the daemon lost its hold on it; its exit
	// status is unknown (ExitCode stays nil) and it never runs again.
	StateLost State = "lost"
)

// Ended says whether the state is final: exited or lost.
func (s State) Ended() bool { return s == StateExited || s == StateLost }

// ProcessInfo is the daemon's view of a process. It never contains an authkey.
type ProcessInfo struct {
	ID       int64  `json:"id"`
	Name     string `json:"name"`
	Parent   *int64 `json:"parent"` // the creating process's id; nil when the daemon created it
	State    State  `json:"state"`
	Pid      *int   `json:"pid"`      // nil until started
	ExitCode *int   `json:"exitcode"` // nil until ended (for ever if lost); minus the signal number if a signal ended it
	// Protocol 1.1: the program this process is a run of (nil for none), what it runs (an argv, or
	// a callable's "module:function"), and when it started and ended (RFC 3339 UTC; nil until then).
	Program   *string  `json:"program,omitempty"`
	Argv      []string `json:"argv,omitempty"`
	StartedAt *string  `json:"started_at,omitempty"`
	ExitedAt  *string  `json:"exited_at,omitempty"`
	// Node is the cluster node (its id) the process runs or ran on (protocol 1.1, a daemon with a
	// cluster backend only); nil for the daemon's own machine.
	Node *string `json:"node,omitempty"`
}

// Placement says where a daemon with a cluster backend (serve --backend ray) runs a process
// (protocol 1.1): a node id or address, and resources by the cluster's names ("CPU", "GPU",
// custom ones). A daemon that runs processes locally refuses any placement (ErrBadPlacement).
type Placement struct {
	Node      string             `json:"node,omitempty"`
	Resources map[string]float64 `json:"resources,omitempty"`
}

// ProcessOptions are the arguments of NewProcess, as in processing.Process(target, args, kwargs, name).
type ProcessOptions struct {
	Target *Target        // nil: runs nothing and ends with exit code 0
	Args   []any          // positional arguments (appended to an argv target)
	Kwargs map[string]any // keyword arguments (callable targets only)
	Name   string         // "" gives the default name, Process-N
	// AuthKey is the process's authkey instead of the one it would inherit (its parent's, or the
	// daemon's); nil or empty inherits. In a Python child it is current_process().authkey.
	AuthKey []byte
	// Placement (protocol 1.1): where a daemon with a cluster backend runs it; nil: anywhere.
	Placement *Placement
}

// Process is a handle on one process of the daemon, with the methods of processing.Process.
// Methods that talk to the daemon take a context; Pid and ExitCode return what the last answer
// about this process said (every call that returns a ProcessInfo refreshes it; Info asks afresh).
type Process struct {
	c  *Client
	id int64

	mu   sync.Mutex
	info ProcessInfo
}

type createParams struct {
	Target *Target        `json:"target"`
	Args   []any          `json:"args,omitempty"`
	Kwargs map[string]any `json:"kwargs,omitempty"`
	Name   *string        `json:"name,omitempty"`
	// encoding/json writes []byte as standard base64, the form process.create takes.
	AuthKey []byte `json:"authkey,omitempty"`
	// Sent only when set, so a 1.0 daemon sees the request it always saw.
	Placement *Placement `json:"placement,omitempty"`
}

// NewProcess creates a process (process.create); it is not started.
func (c *Client) NewProcess(ctx context.Context, opts ProcessOptions) (*Process, error) {
	params := createParams{
		Target: opts.Target, Args: opts.Args, Kwargs: opts.Kwargs, AuthKey: opts.AuthKey,
		Placement: opts.Placement,
	}
	if opts.Name != "" {
		params.Name = &opts.Name
	}
	var info ProcessInfo
	if err := c.Call(ctx, "process.create", params, &info); err != nil {
		return nil, err
	}
	return &Process{c: c, id: info.ID, info: info}, nil
}

// Attach is a handle on an existing process by id (no call is made; an unknown id makes the
// handle's calls fail with ErrNoSuchProcess).
func (c *Client) Attach(id int64) *Process {
	return &Process{c: c, id: id, info: ProcessInfo{ID: id}}
}

type idParams struct {
	ID int64 `json:"id"`
}

// ID is the daemon's id of the process (never reused in the life of a daemon).
func (p *Process) ID() int64 { return p.id }

// Client is the connection this handle calls through.
func (p *Process) Client() *Client { return p.c }

// infoCall makes a call whose result is a ProcessInfo and remembers it.
func (p *Process) infoCall(ctx context.Context, method string, params any) (ProcessInfo, error) {
	var info ProcessInfo
	if err := p.c.Call(ctx, method, params, &info); err != nil {
		return info, err
	}
	p.mu.Lock()
	p.info = info
	p.mu.Unlock()
	return info, nil
}

// Start starts the process (process.start), at most once: a second start fails with
// ErrAlreadyStarted. The child's stdout and stderr go to the daemon's stderr.
func (p *Process) Start(ctx context.Context) error {
	_, err := p.infoCall(ctx, "process.start", idParams{p.id})
	return err
}

// Output says where a started child's stdout and stderr go.
type Output string

const (
	OutputDaemon Output = "daemon" // the daemon's stderr (the journal under systemd); the default
	OutputNull   Output = "null"   // /dev/null
)

// StartOutput is Start with the child's stdout and stderr sent to output.
func (p *Process) StartOutput(ctx context.Context, output Output) error {
	_, err := p.infoCall(ctx, "process.start", struct {
		ID     int64  `json:"id"`
		Output Output `json:"output"`
	}{p.id, output})
	return err
}

type joinParams struct {
	ID      int64    `json:"id"`
	Timeout *float64 `json:"timeout"`
}

// Join waits until the process ends (process.join). Joining before Start fails with
// ErrNotStarted. If ctx ends first, Join returns ctx.Err() and the connection stays usable.
func (p *Process) Join(ctx context.Context) error {
	_, err := p.infoCall(ctx, "process.join", joinParams{ID: p.id})
	return err
}

// JoinTimeout waits at most d for the process to end; ended says whether it did (ExitCode then
// has its exit code). A negative d is taken as 0.
func (p *Process) JoinTimeout(ctx context.Context, d time.Duration) (ended bool, err error) {
	secs := d.Seconds()
	if secs < 0 {
		secs = 0
	}
	info, err := p.infoCall(ctx, "process.join", joinParams{ID: p.id, Timeout: &secs})
	return err == nil && info.ExitCode != nil, err
}

// GetName is the process's name (process.getName).
func (p *Process) GetName(ctx context.Context) (string, error) {
	var name string
	err := p.c.Call(ctx, "process.getName", idParams{p.id}, &name)
	return name, err
}

// SetName changes the name the daemon reports (process.setName); names are free and not unique.
func (p *Process) SetName(ctx context.Context, name string) error {
	return p.c.Call(ctx, "process.setName", struct {
		ID   int64  `json:"id"`
		Name string `json:"name"`
	}{p.id, name}, nil)
}

// GetAuthKey is the process's authentication key, in hex (process.getAuthKey).
func (p *Process) GetAuthKey(ctx context.Context) (string, error) {
	var key string
	err := p.c.Call(ctx, "process.getAuthKey", idParams{p.id}, &key)
	return key, err
}

// GetAuthKeyBytes is the key's bytes (process.getAuthKey with encoding "base64"): a key given as
// bytes need not be text, and GetAuthKey then fails with ErrInvalidParams.
func (p *Process) GetAuthKeyBytes(ctx context.Context) ([]byte, error) {
	var key []byte // encoding/json reads a base64 string into a []byte
	err := p.c.Call(ctx, "process.getAuthKey", struct {
		ID       int64  `json:"id"`
		Encoding string `json:"encoding"`
	}{p.id, "base64"}, &key)
	return key, err
}

// SetAuthKeyBytes sets the key to these bytes, which need not be text (process.setAuthKey with
// encoding "base64").
func (p *Process) SetAuthKeyBytes(ctx context.Context, value []byte) error {
	return p.c.Call(ctx, "process.setAuthKey", struct {
		ID       int64  `json:"id"`
		Value    []byte `json:"value"`
		Encoding string `json:"encoding"`
	}{p.id, value, "base64"}, nil)
}

// SetAuthKey sets the authentication key (process.setAuthKey); nil draws a new random one.
func (p *Process) SetAuthKey(ctx context.Context, value *string) error {
	return p.c.Call(ctx, "process.setAuthKey", struct {
		ID    int64   `json:"id"`
		Value *string `json:"value"`
	}{p.id, value}, nil)
}

// Info asks the daemon for the process's current state (process.info).
func (p *Process) Info(ctx context.Context) (ProcessInfo, error) {
	return p.infoCall(ctx, "process.info", idParams{p.id})
}

// IsAlive says whether the process is running now (process.info); one last seen ended (exited
// or lost) is not asked about again.
func (p *Process) IsAlive(ctx context.Context) (bool, error) {
	if p.LastInfo().State.Ended() {
		return false, nil
	}
	info, err := p.Info(ctx)
	return info.State == StateRunning, err
}

// Release makes the daemon forget the process (process.release, protocol 1.1): its record, name
// and key; its id then fails every call with ErrNoSuchProcess and is never given again. Allowed
// once it has ended, or before Start; a running one fails with ErrStillRunning: join it first.
// LastInfo, Pid and ExitCode keep what this handle learnt last.
func (p *Process) Release(ctx context.Context) error {
	return p.c.Release(ctx, p.id)
}

// Terminate sends SIGTERM (process.terminate); a process that already ended is left alone, one
// not started yet is refused with ErrNotStarted.
func (p *Process) Terminate(ctx context.Context) error {
	_, err := p.infoCall(ctx, "process.terminate", idParams{p.id})
	return err
}

// Kill sends SIGKILL (process.kill); a process that already ended is left alone, one not started
// yet is refused with ErrNotStarted.
func (p *Process) Kill(ctx context.Context) error {
	_, err := p.infoCall(ctx, "process.kill", idParams{p.id})
	return err
}

// Node is the cluster node the last answer said the process runs on, and whether there is one
// (false on the daemon's own machine, and before a cluster process has started).
func (p *Process) Node() (string, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.info.Node == nil {
		return "", false
	}
	return *p.info.Node, true
}

// Pid is the process's pid as last reported (0, false before it started).
func (p *Process) Pid() (int, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.info.Pid == nil {
		return 0, false
	}
	return *p.info.Pid, true
}

// ExitCode is the exit code as last reported: (code, true) once the process ended, minus the
// signal number when a signal ended it (-9 after Kill); (0, false) while it has not, and for a
// lost process, whose exit code nobody knows (LastInfo().State is then StateLost).
func (p *Process) ExitCode() (int, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.info.ExitCode == nil {
		return 0, false
	}
	return *p.info.ExitCode, true
}

// LastInfo is the ProcessInfo of the last answer about this process (no call is made).
func (p *Process) LastInfo() ProcessInfo {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.info
}
