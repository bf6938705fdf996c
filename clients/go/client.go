package supervisordlite

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"
)

// ProtocolMajor is the major protocol version this client speaks (PROTOCOL.md, version 1.0).
const ProtocolMajor = 1

// Client is one connection to the daemon. It is safe for concurrent use: calls made from many
// goroutines share the connection, and each gets its own response, matched by id.
type Client struct {
	path string
	conn net.Conn

	wmu sync.Mutex // serializes writes: one request line at a time

	mu      sync.Mutex
	nextID  uint64
	pending map[uint64]chan reply
	err     error         // why the connection is finished; nil while it is open
	done    chan struct{} // closed when the reader goroutine has ended

	// written, if set (tests only, before any call), hears each method whose request line is
	// wholly on the wire: tests wait for it instead of sleeping.
	written func(method string)
}

type reply struct {
	result json.RawMessage
	err    error
}

// DaemonInfo is the result of daemon.info.
type DaemonInfo struct {
	Version         string `json:"version"`
	ProtocolVersion string `json:"protocol_version"`
	Pid             int    `json:"pid"`
}

// Dial connects to the daemon listening on the Unix socket at path and checks that it speaks
// protocol version 1.x (see CheckVersion). A missing daemon is a *DialError naming path.
//
// Before anything is sent it checks, from the kernel (SO_PEERCRED), that the daemon runs as this
// user, root or $SUPERVISORD_LITE_DAEMON_UID (an *UntrustedDaemonError otherwise); a busy backlog
// (EAGAIN) is retried until ctx ends, a refused connect (a daemon restarting) for a second.
func Dial(ctx context.Context, path string) (*Client, error) {
	return DialWithOptions(ctx, path, DialOptions{})
}

// DialWithOptions is Dial with options (a shared daemon's uid to trust).
func DialWithOptions(ctx context.Context, path string, opts DialOptions) (*Client, error) {
	conn, err := dialUnix(ctx, path)
	if err != nil {
		return nil, err
	}
	if err := checkPeer(conn, path, trustedUIDs(opts)); err != nil {
		conn.Close()
		return nil, err
	}
	c := newClient(path, conn)
	if _, err := c.CheckVersion(ctx); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

// DialDefault is Dial on DefaultSocketPath(): $SUPERVISORD_LITE_SOCKET, else the path PROTOCOL.md
// documents.
func DialDefault(ctx context.Context) (*Client, error) {
	return Dial(ctx, DefaultSocketPath())
}

func newClient(path string, conn net.Conn) *Client {
	c := &Client{
		path:    path,
		conn:    conn,
		pending: make(map[uint64]chan reply),
		done:    make(chan struct{}),
	}
	go c.readLoop()
	return c
}

// Path is the socket path this client is connected to.
func (c *Client) Path() string { return c.path }

// Close closes the connection. Calls still waiting return an error wrapping ErrClosed.
func (c *Client) Close() error {
	c.mu.Lock()
	already := c.err != nil
	if !already {
		c.err = fmt.Errorf("%w (by Close)", ErrClosed)
	}
	c.mu.Unlock()
	err := c.conn.Close()
	<-c.done
	if already {
		return nil
	}
	return err
}

// Call sends one request and waits for its response. params is marshalled as the JSON-RPC params
// (an object or an array; nil sends no params). The result is unmarshalled into result unless it
// is nil. A JSON-RPC error comes back as *RPCError. If ctx ends first, Call returns ctx.Err() and
// the connection stays usable.
func (c *Client) Call(ctx context.Context, method string, params, result any) error {
	raw, err := c.call(ctx, method, params)
	if err != nil {
		return err
	}
	if result == nil {
		return nil
	}
	if err := json.Unmarshal(raw, result); err != nil {
		return fmt.Errorf("supervisord-lite: %s: decoding the result %s: %w", method, raw, err)
	}
	return nil
}

type request struct {
	JSONRPC string          `json:"jsonrpc"`
	ID      uint64          `json:"id"`
	Method  string          `json:"method"`
	Params  json.RawMessage `json:"params,omitempty"`
}

func (c *Client) call(ctx context.Context, method string, params any) (json.RawMessage, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	req := request{JSONRPC: "2.0", Method: method}
	if params != nil {
		p, err := json.Marshal(params)
		if err != nil {
			return nil, fmt.Errorf("supervisord-lite: %s: encoding params: %w", method, err)
		}
		if string(p) != "null" {
			req.Params = p
		}
	}

	ch := make(chan reply, 1)
	c.mu.Lock()
	if c.err != nil {
		err := c.err
		c.mu.Unlock()
		return nil, err
	}
	c.nextID++
	req.ID = c.nextID
	c.pending[req.ID] = ch
	c.mu.Unlock()

	line, err := json.Marshal(req)
	if err == nil {
		err = c.write(ctx, append(line, '\n'))
	}
	if err != nil {
		c.forget(req.ID)
		return nil, err
	}
	if c.written != nil {
		c.written(method)
	}

	select {
	case r := <-ch:
		return r.result, r.err
	case <-ctx.Done():
		c.forget(req.ID) // the response, when it comes, is dropped by the reader
		return nil, ctx.Err()
	}
}

func (c *Client) forget(id uint64) {
	c.mu.Lock()
	delete(c.pending, id)
	c.mu.Unlock()
}

// write sends one whole line. A write cut short by ctx leaves half a line on the stream, so the
// connection is then closed; a write that had not begun leaves it usable.
func (c *Client) write(ctx context.Context, line []byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if err := ctx.Err(); err != nil {
		return err
	}
	interrupted := make(chan struct{})
	stop := context.AfterFunc(ctx, func() {
		c.conn.SetWriteDeadline(time.Unix(1, 0)) // wakes the blocked Write
		close(interrupted)
	})
	n, err := c.conn.Write(line)
	if !stop() {
		<-interrupted
	}
	c.conn.SetWriteDeadline(time.Time{})
	if err == nil {
		return nil
	}
	if n > 0 {
		c.fail(fmt.Errorf("%w: %s: a request was cut short: %v", ErrClosed, c.path, err))
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err != nil {
		return c.err
	}
	return fmt.Errorf("supervisord-lite: writing to %s: %w", c.path, err)
}

// fail finishes the connection with err (the first reason wins).
func (c *Client) fail(err error) {
	c.mu.Lock()
	if c.err == nil {
		c.err = err
	}
	c.mu.Unlock()
	c.conn.Close()
}

type response struct {
	ID     json.RawMessage `json:"id"`
	Result json.RawMessage `json:"result"`
	Error  *RPCError       `json:"error"`
}

func (c *Client) readLoop() {
	defer close(c.done)
	r := bufio.NewReaderSize(c.conn, 64<<10)
	var lastNullErr *RPCError // an error with id null, e.g. 1010 just before the daemon hangs up
	for {
		line, err := r.ReadBytes('\n')
		if trimmed := bytes.TrimSpace(line); len(trimmed) > 0 {
			if e := c.dispatch(trimmed); e != nil {
				lastNullErr = e
			}
		}
		if err != nil {
			var why error
			if lastNullErr != nil {
				why = lastNullErr
			} else if errors.Is(err, io.EOF) {
				why = fmt.Errorf("%w: the daemon at %s hung up", ErrClosed, c.path)
			} else {
				why = fmt.Errorf("%w: %s: %v", ErrClosed, c.path, err)
			}
			c.finish(why)
			return
		}
	}
}

// dispatch hands one response line to its caller; it returns the error of a response with a
// null id (which no caller can claim).
func (c *Client) dispatch(line []byte) *RPCError {
	var resp response
	if err := json.Unmarshal(line, &resp); err != nil {
		c.fail(fmt.Errorf("%w: %s: the daemon sent a line that is not a JSON-RPC response: %q",
			ErrClosed, c.path, truncate(line)))
		return nil
	}
	if len(resp.ID) == 0 || string(resp.ID) == "null" {
		return resp.Error
	}
	id, err := strconv.ParseUint(string(resp.ID), 10, 64)
	if err != nil {
		return nil // not an id this client sent
	}
	c.mu.Lock()
	ch, ok := c.pending[id]
	delete(c.pending, id)
	c.mu.Unlock()
	if !ok {
		return nil // its caller gave up (ctx ended)
	}
	if resp.Error != nil {
		ch <- reply{err: resp.Error}
	} else {
		ch <- reply{result: resp.Result}
	}
	return nil
}

func (c *Client) finish(why error) {
	c.mu.Lock()
	if c.err == nil {
		c.err = why
	}
	err := c.err
	pending := c.pending
	c.pending = make(map[uint64]chan reply)
	c.mu.Unlock()
	c.conn.Close()
	for _, ch := range pending {
		ch <- reply{err: err}
	}
}

func truncate(b []byte) string {
	if len(b) > 200 {
		return string(b[:200]) + "..."
	}
	return string(b)
}

// DaemonInfo calls daemon.info: the daemon's version, protocol version and pid.
func (c *Client) DaemonInfo(ctx context.Context) (DaemonInfo, error) {
	var info DaemonInfo
	err := c.Call(ctx, "daemon.info", nil, &info)
	return info, err
}

// CheckVersion asks daemon.info and fails with an error wrapping ErrIncompatibleVersion unless
// the daemon's protocol_version has major version ProtocolMajor. Dial calls it once.
func (c *Client) CheckVersion(ctx context.Context) (DaemonInfo, error) {
	info, err := c.DaemonInfo(ctx)
	if err != nil {
		return info, err
	}
	major, _, _ := strings.Cut(info.ProtocolVersion, ".")
	if n, err := strconv.Atoi(major); err != nil || n != ProtocolMajor {
		return info, fmt.Errorf("%w: the daemon at %s speaks protocol %q, this client speaks %d.x",
			ErrIncompatibleVersion, c.path, info.ProtocolVersion, ProtocolMajor)
	}
	return info, nil
}

// ListOptions are process.list's optional params (protocol 1.1); the zero value asks for
// every process, as in 1.0. Results are always by id.
type ListOptions struct {
	State  State  // only processes in this state ("" for any)
	Parent *int64 // only the children of this process id; ParentID(0): those the daemon created
	After  int64  // only ids greater than this (the last id of the previous page)
	Limit  int    // at most this many, 1 to 10000 (0: no limit)
}

// ParentID is a ListOptions.Parent value: ParentID(0) selects the processes the daemon created
// itself (whose Parent is nil).
func ParentID(id int64) *int64 { return &id }

type listParams struct {
	State  State  `json:"state,omitempty"`
	Parent *int64 `json:"parent,omitempty"`
	After  int64  `json:"after,omitempty"`
	Limit  int    `json:"limit,omitempty"`
}

// List calls process.list, by id: every process the daemon knows, or, given ListOptions
// (protocol 1.1), one page of them, filtered. ForEach pages for you.
func (c *Client) List(ctx context.Context, opts ...ListOptions) ([]ProcessInfo, error) {
	var params any
	if len(opts) > 0 && opts[0] != (ListOptions{}) {
		o := opts[0]
		params = listParams{State: o.State, Parent: o.Parent, After: o.After, Limit: o.Limit}
	}
	var infos []ProcessInfo
	err := c.Call(ctx, "process.list", params, &infos)
	return infos, err
}

// ForEach calls fn on every process that opts selects, by id, asking for a page of opts.Limit
// (default 1000) at a time from opts.After on, so no answer holds every record. It stops at the
// first error, fn's included. Processes created or released meanwhile may or may not be seen;
// none is seen twice.
func (c *Client) ForEach(ctx context.Context, opts ListOptions, fn func(ProcessInfo) error) error {
	if opts.Limit <= 0 {
		opts.Limit = 1000
	}
	for {
		page, err := c.List(ctx, opts)
		if err != nil {
			return err
		}
		for _, info := range page {
			if err := fn(info); err != nil {
				return err
			}
		}
		if len(page) < opts.Limit {
			return nil
		}
		opts.After = page[len(page)-1].ID
	}
}

// Release calls process.release (protocol 1.1): the daemon forgets an ended (or never started)
// process; its id is then unknown (ErrNoSuchProcess). A running one fails with ErrStillRunning.
func (c *Client) Release(ctx context.Context, id int64) error {
	return c.Call(ctx, "process.release", idParams{id}, nil)
}
