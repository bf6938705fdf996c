package supervisordlite

import (
	"context"
	"encoding/base64"
	"encoding/json"
)

// Programs, events and captured output (protocol 1.1).

// ProgramSpec is program.add's params; zero values take the daemon's defaults.
type ProgramSpec struct {
	Name            string   `json:"name"`
	Target          *Target  `json:"target"`
	Args            []any    `json:"args,omitempty"`
	Restart         string   `json:"restart,omitempty"` // "no", "on-failure" (default), "always"
	RestartDelay    *float64 `json:"restart_delay,omitempty"`
	RestartMaxDelay *float64 `json:"restart_max_delay,omitempty"`
	HealthyAfter    *float64 `json:"healthy_after,omitempty"`
	MaxRestarts     *int     `json:"max_restarts,omitempty"`
	RestartWindow   *float64 `json:"restart_window,omitempty"`
	StopSignal      string   `json:"stop_signal,omitempty"`
	StopTimeout     *float64 `json:"stop_timeout,omitempty"`
	Output          string   `json:"output,omitempty"` // "log" (default), "daemon", "null"
	LogMaxBytes     *int64   `json:"log_max_bytes,omitempty"`
	LogBackups      *int     `json:"log_backups,omitempty"`
	Start           *bool    `json:"start,omitempty"`
}

// ProgramStatus is what the program methods answer.
type ProgramStatus struct {
	Name         string       `json:"name"`
	State        string       `json:"state"` // stopped, starting, running, backoff, exited, failed
	Process      *ProcessInfo `json:"process"`
	Runs         int          `json:"runs"`
	Restarts     int          `json:"restarts"`
	LastExitCode *int         `json:"last_exitcode"`
	Since        string       `json:"since"`
}

// AddProgram calls program.add.
func (c *Client) AddProgram(ctx context.Context, spec ProgramSpec) (ProgramStatus, error) {
	var st ProgramStatus
	err := c.Call(ctx, "program.add", spec, &st)
	return st, err
}

// Program calls program.<action> for action "start", "stop", "restart" or "status".
func (c *Client) Program(ctx context.Context, action, name string) (ProgramStatus, error) {
	var st ProgramStatus
	err := c.Call(ctx, "program."+action, map[string]string{"name": name}, &st)
	return st, err
}

// RemoveProgram calls program.remove.
func (c *Client) RemoveProgram(ctx context.Context, name string) error {
	return c.Call(ctx, "program.remove", map[string]string{"name": name}, nil)
}

// Programs calls program.list.
func (c *Client) Programs(ctx context.Context) ([]ProgramStatus, error) {
	var list []ProgramStatus
	err := c.Call(ctx, "program.list", nil, &list)
	return list, err
}

// LogLine is one line of captured output.
type LogLine struct {
	Stream   string `json:"stream"` // "stdout" or "stderr"
	Text     string `json:"text"`   // without its newline; base64 when Encoding is "base64"
	Encoding string `json:"encoding"`
	TS       string `json:"ts"`
	Partial  bool   `json:"partial,omitempty"` // a piece of a longer line, or no final newline
}

// Bytes is the line's bytes, whatever its encoding on the wire.
func (l LogLine) Bytes() ([]byte, error) {
	if l.Encoding == "base64" {
		return base64.StdEncoding.DecodeString(l.Text)
	}
	return []byte(l.Text), nil
}

// LogQuery says which log FollowLogs reads: a process (ID), or a program's runs one after the
// other (Program; with ID, from that run).
type LogQuery struct {
	ID      int64   `json:"id,omitempty"`
	Program string  `json:"program,omitempty"`
	Cursor  int64   `json:"cursor"`
	Stream  string  `json:"stream,omitempty"`
	Follow  bool    `json:"follow"`
	Timeout float64 `json:"timeout"` // seconds each call waits on the daemon for a line
}

type logsResult struct {
	ID     int64     `json:"id"`
	Lines  []LogLine `json:"lines"`
	Cursor int64     `json:"cursor"`
	Done   bool      `json:"done"`
}

// FollowLogs calls process.logs with follow until the output has ended (every line read; for a
// program, once it is not meant to run again) or ctx is done, calling fn for each line. It keeps
// q up to date (Cursor, and for a program ID, the run the cursor is in): pass it again to go on,
// after a reconnect say. It returns ctx's error, fn's error, or nil once the output ended.
func (c *Client) FollowLogs(ctx context.Context, q *LogQuery, fn func(LogLine) error) error {
	q.Follow = true
	if q.Timeout == 0 {
		q.Timeout = 30
	}
	for {
		var r logsResult
		if err := c.Call(ctx, "process.logs", q, &r); err != nil {
			return err
		}
		q.Cursor = r.Cursor
		if q.Program != "" {
			q.ID = r.ID // a program's cursor is into this run
		}
		for _, line := range r.Lines {
			if err := fn(line); err != nil {
				return err
			}
		}
		if r.Done {
			return nil
		}
	}
}

// Event is one state change; Fields holds the members other than seq, ts and type.
type Event struct {
	Seq    int64
	TS     string
	Type   string
	Fields map[string]json.RawMessage
}

// UnmarshalJSON reads an event object.
func (e *Event) UnmarshalJSON(b []byte) error {
	if err := json.Unmarshal(b, &e.Fields); err != nil {
		return err
	}
	for key, dst := range map[string]any{"seq": &e.Seq, "ts": &e.TS, "type": &e.Type} {
		if raw, ok := e.Fields[key]; ok {
			if err := json.Unmarshal(raw, dst); err != nil {
				return err
			}
			delete(e.Fields, key)
		}
	}
	return nil
}

// Events reads the daemon's events after since (one long-polling events.read per batch) and sends
// them on the returned channel, in order, until ctx is done or a call fails; then it closes the
// channel and sends the error (ctx's, or an *RPCError such as ErrEventsExpired) on errc.
func (c *Client) Events(ctx context.Context, since int64) (<-chan Event, <-chan error) {
	out := make(chan Event)
	errc := make(chan error, 1)
	go func() {
		defer close(out)
		for {
			var r struct {
				Events []Event `json:"events"`
				Next   int64   `json:"next"`
			}
			params := map[string]any{"since": since, "timeout": 30}
			if err := c.Call(ctx, "events.read", params, &r); err != nil {
				errc <- err
				return
			}
			since = r.Next
			for _, e := range r.Events {
				select {
				case out <- e:
				case <-ctx.Done():
					errc <- ctx.Err()
					return
				}
			}
		}
	}()
	return out, errc
}

// ReloadResult is daemon.reload's answer (protocol 1.1): the config file it read (nil when the
// daemon has none) and the declared programs it added, changed, removed and left running.
type ReloadResult struct {
	Config    *string  `json:"config"`
	Added     []string `json:"added"`
	Changed   []string `json:"changed"`
	Removed   []string `json:"removed"`
	Unchanged []string `json:"unchanged"`
}

// Reload makes the daemon apply its config file again, as `supervisorctl update` does (also
// SIGHUP, systemd's ExecReload=). A file it cannot use changes nothing: ErrBadConfig.
func (c *Client) Reload(ctx context.Context) (ReloadResult, error) {
	var r ReloadResult
	err := c.Call(ctx, "daemon.reload", nil, &r)
	return r, err
}
