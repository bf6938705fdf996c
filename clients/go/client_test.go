package supervisordlite_test

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"sync"
	"testing"
	"time"

	sl "github.com/supervisord-lite/supervisord-lite/clients/go"
)

func dial(t *testing.T, ctx context.Context) *sl.Client {
	t.Helper()
	c, err := sl.Dial(ctx, socketPath)
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func newProcess(t *testing.T, ctx context.Context, c *sl.Client, opts sl.ProcessOptions) *sl.Process {
	t.Helper()
	p, err := c.NewProcess(ctx, opts)
	if err != nil {
		t.Fatalf("NewProcess: %v", err)
	}
	return p
}

// reap kills a process a test may leave running (harmless when it already ended).
func reap(t *testing.T, p *sl.Process) {
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if info, err := p.Info(ctx); err == nil && info.State == sl.StateRunning {
			p.Kill(ctx)
		}
	})
}

func wantExit(t *testing.T, p *sl.Process, want int) {
	t.Helper()
	code, ok := p.ExitCode()
	if !ok || code != want {
		t.Fatalf("exit code = %d (ended: %v), want %d; last info %+v", code, ok, want, p.LastInfo())
	}
}

// endWith ends p with stop (p.Kill or p.Terminate), joins it, and checks its exit code.
func endWith(t *testing.T, ctx context.Context, p *sl.Process, stop func(context.Context) error, want int) {
	t.Helper()
	if err := stop(ctx); err != nil {
		t.Fatalf("ending process %d: %v", p.ID(), err)
	}
	if err := p.Join(ctx); err != nil {
		t.Fatalf("Join: %v", err)
	}
	wantExit(t, p, want)
}

// joinWritten reports once a process.join request of c is wholly written to the daemon. Call it
// while no call is under way on c.
func joinWritten(c *sl.Client) <-chan struct{} {
	sent := make(chan struct{}, 1)
	sl.OnWritten(c, func(method string) {
		if method == "process.join" {
			select {
			case sent <- struct{}{}:
			default:
			}
		}
	})
	return sent
}

// waitWritten waits until the join running in another goroutine is written, failing the test if
// that join ends first (it never reached the daemon).
func waitWritten(t *testing.T, sent <-chan struct{}, joined <-chan error) {
	t.Helper()
	select {
	case <-sent:
	case err := <-joined:
		t.Fatalf("Join ended before its request was written: %v", err)
	}
}

func sleeper(t *testing.T, ctx context.Context, c *sl.Client) *sl.Process {
	t.Helper()
	p := newProcess(t, ctx, c, sl.ProcessOptions{Target: sl.ArgvTarget([]string{"sleep", "30"})})
	reap(t, p)
	if err := p.Start(ctx); err != nil {
		t.Fatalf("Start: %v", err)
	}
	return p
}

// The seed flow: create an argv target, start it, join it, read its exit code.
func TestSeedFlow(t *testing.T) {
	ctx := testContext(t, 20*time.Second)
	c := dial(t, ctx)
	p := newProcess(t, ctx, c, sl.ProcessOptions{Target: sl.ArgvTarget([]string{"sh", "-c", "exit 7"})})
	if info := p.LastInfo(); info.State != sl.StateCreated || info.Pid != nil || info.ExitCode != nil ||
		info.Parent != nil {
		t.Fatalf("after create: %+v", info)
	}
	if _, ok := p.Pid(); ok {
		t.Fatal("a pid before start")
	}
	if err := p.Start(ctx); err != nil {
		t.Fatalf("Start: %v", err)
	}
	if pid, ok := p.Pid(); !ok || pid <= 0 {
		t.Fatalf("pid after start = %d, %v", pid, ok)
	}
	if err := p.Join(ctx); err != nil {
		t.Fatalf("Join: %v", err)
	}
	wantExit(t, p, 7)
	if info := p.LastInfo(); info.State != sl.StateExited {
		t.Fatalf("after join: %+v", info)
	}
	// Any number of joins.
	if err := p.Join(ctx); err != nil {
		t.Fatalf("second Join: %v", err)
	}
	wantExit(t, p, 7)
}

func TestDialDefaultUsesEnvironment(t *testing.T) {
	ctx := testContext(t, 10*time.Second)
	if got := sl.DefaultSocketPath(); got != socketPath {
		t.Fatalf("DefaultSocketPath() = %q, want %q", got, socketPath)
	}
	c, err := sl.DialDefault(ctx)
	if err != nil {
		t.Fatalf("DialDefault: %v", err)
	}
	defer c.Close()
	info, err := c.CheckVersion(ctx)
	if err != nil {
		t.Fatalf("CheckVersion: %v", err)
	}
	if info.ProtocolVersion != "1.1" || info.Pid <= 0 || info.Version == "" {
		t.Fatalf("daemon.info = %+v", info)
	}
}

func TestDefaultSocketPathRules(t *testing.T) {
	t.Setenv("SUPERVISORD_LITE_SOCKET", "")
	t.Setenv("XDG_RUNTIME_DIR", "/run/user/4242")
	if got := sl.DefaultSocketPath(); got != "/run/user/4242/supervisord-lite/sock" {
		t.Fatalf("with XDG_RUNTIME_DIR: %q", got)
	}
	t.Setenv("XDG_RUNTIME_DIR", "")
	want := fmt.Sprintf("/tmp/supervisord-lite-%d/sock", os.Getuid())
	if os.Getuid() == 0 {
		want = "/run/supervisord-lite/sock"
	}
	if got := sl.DefaultSocketPath(); got != want {
		t.Fatalf("without XDG_RUNTIME_DIR: %q, want %q", got, want)
	}
}

func TestMissingDaemonNamesThePath(t *testing.T) {
	ctx := testContext(t, 10*time.Second)
	path := filepath.Join(t.TempDir(), "nobody-here.sock")
	_, err := sl.Dial(ctx, path)
	var de *sl.DialError
	if !errors.As(err, &de) || de.Path != path {
		t.Fatalf("Dial on a missing socket: %v (%T), want a *DialError for %s", err, err, path)
	}
	if !regexp.MustCompile(regexp.QuoteMeta(path)).MatchString(err.Error()) {
		t.Fatalf("the error does not name the path: %v", err)
	}
}

func TestJoinTimeoutThenKill(t *testing.T) {
	ctx := testContext(t, 20*time.Second)
	c := dial(t, ctx)
	p := sleeper(t, ctx, c)
	ended, err := p.JoinTimeout(ctx, 200*time.Millisecond)
	if err != nil || ended {
		t.Fatalf("JoinTimeout on sleep 30 = %v, %v; want false, nil", ended, err)
	}
	if _, ok := p.ExitCode(); ok {
		t.Fatal("an exit code after a join that timed out")
	}
	if alive, err := p.IsAlive(ctx); err != nil || !alive {
		t.Fatalf("IsAlive = %v, %v", alive, err)
	}
	endWith(t, ctx, p, p.Kill, -9)
	// Killing a process that ended leaves it alone.
	if err := p.Kill(ctx); err != nil {
		t.Fatalf("Kill after the end: %v", err)
	}
	wantExit(t, p, -9)
}

func TestTerminate(t *testing.T) {
	ctx := testContext(t, 20*time.Second)
	c := dial(t, ctx)
	p := sleeper(t, ctx, c)
	endWith(t, ctx, p, p.Terminate, -15)
}

// A Join that waits on one connection does not hold up other calls on it, and answers come back
// to the right callers.
func TestConcurrentCallsOnOneConnection(t *testing.T) {
	ctx := testContext(t, 30*time.Second)
	c := dial(t, ctx)
	p := sleeper(t, ctx, c)

	sent := joinWritten(c)
	joined := make(chan error, 1)
	go func() { joined <- p.Join(ctx) }()
	waitWritten(t, sent, joined) // the daemon takes the join before the calls below

	quick, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	name, err := p.GetName(quick)
	if err != nil {
		t.Fatalf("GetName while a Join waits: %v", err)
	}
	if name != p.LastInfo().Name {
		t.Fatalf("GetName = %q, want %q", name, p.LastInfo().Name)
	}

	// Many callers at once, each with its own process: every answer goes to its caller.
	const n = 24
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			want := fmt.Sprintf("worker-%d", i)
			q, err := c.NewProcess(quick, sl.ProcessOptions{Name: want})
			if err != nil {
				errs <- err
				return
			}
			got, err := q.GetName(quick)
			if err != nil {
				errs <- err
			} else if got != want {
				errs <- fmt.Errorf("caller %d got the name %q", i, got)
			}
		}(i)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}

	select {
	case err := <-joined:
		t.Fatalf("Join returned before the kill: %v", err)
	default:
	}
	if err := p.Kill(ctx); err != nil {
		t.Fatalf("Kill: %v", err)
	}
	if err := <-joined; err != nil {
		t.Fatalf("Join: %v", err)
	}
	wantExit(t, p, -9)
}

// Cancelling a Join returns ctx.Err() and leaves the connection usable.
func TestCancelledJoinLeavesConnectionUsable(t *testing.T) {
	ctx := testContext(t, 20*time.Second)
	c := dial(t, ctx)
	p := sleeper(t, ctx, c)

	short, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	defer cancel()
	if err := p.Join(short); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Join with a 200ms context = %v, want context.DeadlineExceeded", err)
	}
	cancelled, cancel2 := context.WithCancel(ctx)
	sent := joinWritten(c)
	go func() {
		select { // cancelled once the join waits in the daemon
		case <-sent:
		case <-ctx.Done():
		}
		cancel2()
	}()
	if err := p.Join(cancelled); !errors.Is(err, context.Canceled) {
		t.Fatalf("Join with a cancelled context = %v, want context.Canceled", err)
	}
	if _, err := p.GetName(ctx); err != nil {
		t.Fatalf("GetName after cancelled joins: %v", err)
	}
	endWith(t, ctx, p, p.Kill, -9)
	// The daemon's late answers to the abandoned joins were dropped; calls still match up.
	if _, err := c.DaemonInfo(ctx); err != nil {
		t.Fatalf("DaemonInfo: %v", err)
	}
}

func TestTypedErrors(t *testing.T) {
	ctx := testContext(t, 20*time.Second)
	c := dial(t, ctx)

	p := newProcess(t, ctx, c, sl.ProcessOptions{Target: sl.ArgvTarget([]string{"true"})})
	err := p.Join(ctx)
	if !errors.Is(err, sl.ErrNotStarted) {
		t.Fatalf("join before start = %v, want ErrNotStarted", err)
	}
	var rpcErr *sl.RPCError
	if !errors.As(err, &rpcErr) || rpcErr.Code != 1003 || rpcErr.Message == "" {
		t.Fatalf("join before start: %#v", err)
	}

	if err := p.Start(ctx); err != nil {
		t.Fatalf("Start: %v", err)
	}
	err = p.Start(ctx)
	if !errors.Is(err, sl.ErrAlreadyStarted) || errors.Is(err, sl.ErrNotStarted) {
		t.Fatalf("start twice = %v, want ErrAlreadyStarted", err)
	}
	if err := p.Join(ctx); err != nil {
		t.Fatalf("Join: %v", err)
	}
	wantExit(t, p, 0)

	const unknown = 987654321
	_, err = c.Attach(unknown).Info(ctx)
	if !errors.Is(err, sl.ErrNoSuchProcess) || !errors.As(err, &rpcErr) {
		t.Fatalf("info on an unknown id = %v, want ErrNoSuchProcess", err)
	}
	var data struct{ ID int64 }
	if json.Unmarshal(rpcErr.Data, &data) != nil || data.ID != unknown {
		t.Fatalf("NoSuchProcess data = %s, want {\"id\": %d}", rpcErr.Data, unknown)
	}

	if err := c.Call(ctx, "process.nope", nil, nil); !errors.Is(err, sl.ErrMethodNotFound) {
		t.Fatalf("unknown method = %v, want ErrMethodNotFound", err)
	}
	if err := c.Call(ctx, "process.create", map[string]any{"group": "g"}, nil); !errors.Is(err, sl.ErrGroupNotNull) {
		t.Fatalf("group not null = %v, want ErrGroupNotNull", err)
	}
	if err := c.Call(ctx, "process.info", map[string]any{"id": "one"}, nil); !errors.Is(err, sl.ErrInvalidParams) {
		t.Fatalf("a string id = %v, want ErrInvalidParams", err)
	}

	missing := newProcess(t, ctx, c, sl.ProcessOptions{
		Target: sl.ArgvTarget([]string{"/nonexistent/supervisord-lite-go-test"})})
	if err := missing.Start(ctx); !errors.Is(err, sl.ErrSpawnFailed) {
		t.Fatalf("start of a missing program = %v, want ErrSpawnFailed", err)
	}
	if info, err := missing.Info(ctx); err != nil || info.State != sl.StateCreated {
		t.Fatalf("after SpawnFailed: %+v, %v; want state created", info, err)
	}

	// A callable that cannot be imported: TargetFailed, and the process ends with exit code 1.
	broken := newProcess(t, ctx, c, sl.ProcessOptions{
		Target: sl.CallableTarget("supervisord_lite_go_test_no_such_module:f")})
	if err := broken.StartOutput(ctx, sl.OutputNull); !errors.Is(err, sl.ErrTargetFailed) {
		t.Fatalf("start of an unimportable callable = %v, want ErrTargetFailed", err)
	}
	if err := broken.Join(ctx); err != nil {
		t.Fatalf("Join after TargetFailed: %v", err)
	}
	wantExit(t, broken, 1)

	// Signals before start are refused (the daemon answers NotStarted).
	idle := newProcess(t, ctx, c, sl.ProcessOptions{})
	if err := idle.Kill(ctx); !errors.Is(err, sl.ErrNotStarted) {
		t.Fatalf("kill before start = %v, want ErrNotStarted", err)
	}
}

var defaultName = regexp.MustCompile(`^Process-([0-9]+)$`)

func TestNames(t *testing.T) {
	ctx := testContext(t, 20*time.Second)
	c := dial(t, ctx)

	a := newProcess(t, ctx, c, sl.ProcessOptions{})
	b := newProcess(t, ctx, c, sl.ProcessOptions{})
	ma, mb := defaultName.FindStringSubmatch(a.LastInfo().Name), defaultName.FindStringSubmatch(b.LastInfo().Name)
	if ma == nil || mb == nil {
		t.Fatalf("default names %q, %q; want Process-N", a.LastInfo().Name, b.LastInfo().Name)
	}
	na, _ := strconv.Atoi(ma[1])
	nb, _ := strconv.Atoi(mb[1])
	if nb <= na {
		t.Fatalf("default names %q then %q: numbering does not follow creation", ma[0], mb[0])
	}
	if got, err := a.GetName(ctx); err != nil || got != ma[0] {
		t.Fatalf("GetName = %q, %v; want %q", got, err, ma[0])
	}

	if err := a.SetName(ctx, "renamed"); err != nil {
		t.Fatalf("SetName: %v", err)
	}
	if got, err := a.GetName(ctx); err != nil || got != "renamed" {
		t.Fatalf("GetName after SetName = %q, %v", got, err)
	}
	if info, err := a.Info(ctx); err != nil || info.Name != "renamed" {
		t.Fatalf("Info after SetName = %+v, %v", info, err)
	}
	// Names are free and not unique.
	if err := b.SetName(ctx, "renamed"); err != nil {
		t.Fatalf("SetName to a taken name: %v", err)
	}

	named := newProcess(t, ctx, c, sl.ProcessOptions{Name: "worker"})
	if named.LastInfo().Name != "worker" {
		t.Fatalf("name given at create: %q", named.LastInfo().Name)
	}

	all, err := c.List(ctx)
	if err != nil {
		t.Fatalf("List: %v", err)
	}
	found := 0
	for i, info := range all {
		if i > 0 && all[i-1].ID >= info.ID {
			t.Fatalf("List is not by id: %d then %d", all[i-1].ID, info.ID)
		}
		switch info.ID {
		case a.ID(), b.ID():
			found++
			if info.Name != "renamed" {
				t.Errorf("List: %+v", info)
			}
		case named.ID():
			found++
		}
	}
	if found != 3 {
		t.Fatalf("List lacks processes this test made: %+v", all)
	}
}

var hexKey = regexp.MustCompile(`^[0-9a-f]+$`)

func TestAuthKeys(t *testing.T) {
	ctx := testContext(t, 20*time.Second)
	c := dial(t, ctx)
	a := newProcess(t, ctx, c, sl.ProcessOptions{})
	b := newProcess(t, ctx, c, sl.ProcessOptions{})
	ka, err := a.GetAuthKey(ctx)
	if err != nil || !hexKey.MatchString(ka) {
		t.Fatalf("GetAuthKey = %q, %v; want hex", ka, err)
	}
	// Both inherit the daemon's key.
	if kb, err := b.GetAuthKey(ctx); err != nil || kb != ka {
		t.Fatalf("siblings' keys differ: %q and %q (%v)", ka, kb, err)
	}

	if err := a.SetAuthKey(ctx, nil); err != nil {
		t.Fatalf("SetAuthKey(nil): %v", err)
	}
	fresh, err := a.GetAuthKey(ctx)
	if err != nil || !hexKey.MatchString(fresh) || fresh == ka {
		t.Fatalf("after SetAuthKey(nil): %q, %v; want a new hex key (old %q)", fresh, err, ka)
	}
	if kb, _ := b.GetAuthKey(ctx); kb != ka {
		t.Fatalf("SetAuthKey on one process changed another's key")
	}

	chosen := "00ff00ff"
	if err := a.SetAuthKey(ctx, &chosen); err != nil {
		t.Fatalf("SetAuthKey: %v", err)
	}
	if got, err := a.GetAuthKey(ctx); err != nil || got != chosen {
		t.Fatalf("GetAuthKey after SetAuthKey(%q) = %q, %v", chosen, got, err)
	}
	// ProcessInfo never carries the key.
	var raw map[string]any
	if err := c.Call(ctx, "process.info", map[string]any{"id": a.ID()}, &raw); err != nil {
		t.Fatalf("process.info: %v", err)
	}
	documented := map[string]bool{"id": true, "name": true, "parent": true, "state": true, "pid": true,
		"exitcode": true, "program": true, "argv": true, "started_at": true, "exited_at": true}
	for k := range raw {
		if !documented[k] {
			t.Fatalf("ProcessInfo has the member %q: %v", k, raw)
		}
	}
}

// NewProcess with AuthKey: the process gets those bytes (text or not), the Python child too.
func TestCreateWithAuthKey(t *testing.T) {
	ctx := testContext(t, 20*time.Second)
	c := dial(t, ctx)
	key := []byte{0, 0xff, 0x80, 'g', 'o'} // not UTF-8 text
	out := filepath.Join(t.TempDir(), "key")
	code := "import multiprocessing; open(" + strconv.Quote(out) +
		", 'w').write(bytes(multiprocessing.current_process().authkey).hex())"
	p := newProcess(t, ctx, c, sl.ProcessOptions{
		Target: sl.CallableTarget("builtins:exec"), Args: []any{code}, AuthKey: key,
	})
	if got, err := p.GetAuthKeyBytes(ctx); err != nil || !bytes.Equal(got, key) {
		t.Fatalf("GetAuthKeyBytes = %v, %v; want %v", got, err, key)
	}
	if _, err := p.GetAuthKey(ctx); !errors.Is(err, sl.ErrInvalidParams) {
		t.Fatalf("GetAuthKey of a key that is not text: %v; want ErrInvalidParams", err)
	}
	if err := p.StartOutput(ctx, sl.OutputNull); err != nil {
		t.Fatalf("Start: %v", err)
	}
	if err := p.Join(ctx); err != nil {
		t.Fatalf("Join: %v", err)
	}
	if code, ended := p.ExitCode(); !ended || code != 0 {
		t.Fatalf("exit code %d (ended %v); want 0", code, ended)
	}
	if seen, err := os.ReadFile(out); err != nil || string(seen) != hex.EncodeToString(key) {
		t.Fatalf("the child's authkey: %q, %v; want %x", seen, err, key)
	}
	text := newProcess(t, ctx, c, sl.ProcessOptions{AuthKey: []byte("go-key")})
	if got, err := text.GetAuthKey(ctx); err != nil || got != "go-key" {
		t.Fatalf("GetAuthKey = %q, %v; want go-key", got, err)
	}
	if err := text.SetAuthKeyBytes(ctx, []byte{1, 2, 0xfe}); err != nil {
		t.Fatalf("SetAuthKeyBytes: %v", err)
	}
	if got, err := text.GetAuthKeyBytes(ctx); err != nil || !bytes.Equal(got, []byte{1, 2, 0xfe}) {
		t.Fatalf("GetAuthKeyBytes after SetAuthKeyBytes = %v, %v", got, err)
	}
}

// A supervised child that creates a process: the new one is the child's child, named
// Process-k:1, and inherits the child's authkey (set before the start).
const nestedScript = `
import json, os, socket, sys
s = socket.socket(socket.AF_UNIX)
s.connect(os.environ["SUPERVISORD_LITE_SOCKET"])
f = s.makefile("rwb")
f.write(json.dumps({"jsonrpc": "2.0", "id": 1, "method": "process.create", "params": {}}).encode() + b"\n")
f.flush()
r = json.loads(f.readline())
sys.exit(0 if "result" in r else 3)
`

func TestNestedNamesAndAuthKeyInheritance(t *testing.T) {
	ctx := testContext(t, 30*time.Second)
	c := dial(t, ctx)
	parent := newProcess(t, ctx, c, sl.ProcessOptions{
		Target: sl.ArgvTarget([]string{pythonPath, "-c", nestedScript})})
	key := "abcdef0123456789"
	if err := parent.SetAuthKey(ctx, &key); err != nil {
		t.Fatalf("SetAuthKey: %v", err)
	}
	if err := parent.Start(ctx); err != nil {
		t.Fatalf("Start: %v", err)
	}
	if err := parent.Join(ctx); err != nil {
		t.Fatalf("Join: %v", err)
	}
	wantExit(t, parent, 0)

	all, err := c.List(ctx)
	if err != nil {
		t.Fatalf("List: %v", err)
	}
	var kids []sl.ProcessInfo
	for _, info := range all {
		if info.Parent != nil && *info.Parent == parent.ID() {
			kids = append(kids, info)
		}
	}
	if len(kids) != 1 {
		t.Fatalf("children of %d: %+v", parent.ID(), kids)
	}
	if want := parent.LastInfo().Name + ":1"; kids[0].Name != want {
		t.Fatalf("the child's child is named %q, want %q", kids[0].Name, want)
	}
	if got, err := c.Attach(kids[0].ID).GetAuthKey(ctx); err != nil || got != key {
		t.Fatalf("the child's child has the authkey %q (%v), want its parent's %q", got, err, key)
	}
}

func TestTargetsEnvCwdArgs(t *testing.T) {
	ctx := testContext(t, 30*time.Second)
	c := dial(t, ctx)
	dir := t.TempDir()
	script := `test "$FOO" = bar && test -z "${` + markerVar + `+x}" && test "$(pwd -P)" = "$(cd "$1" && pwd -P)" && exit $2`
	p := newProcess(t, ctx, c, sl.ProcessOptions{
		Target: sl.ArgvTarget([]string{"sh", "-c", script, "sh"}).
			SetEnv("FOO", "bar").UnsetEnv(markerVar).WithCwd(dir),
		Args: []any{dir, "5"},
	})
	if err := p.Start(ctx); err != nil {
		t.Fatalf("Start: %v", err)
	}
	if err := p.Join(ctx); err != nil {
		t.Fatalf("Join: %v", err)
	}
	wantExit(t, p, 5)

	// A Python callable with args: sys.exit(4) raises SystemExit(4).
	q := newProcess(t, ctx, c, sl.ProcessOptions{Target: sl.CallableTarget("sys:exit"), Args: []any{4}})
	if err := q.Start(ctx); err != nil {
		t.Fatalf("Start: %v", err)
	}
	if err := q.Join(ctx); err != nil {
		t.Fatalf("Join: %v", err)
	}
	wantExit(t, q, 4)

	// A null target runs nothing and ends with 0.
	r := newProcess(t, ctx, c, sl.ProcessOptions{})
	if err := r.StartOutput(ctx, sl.OutputNull); err != nil {
		t.Fatalf("Start: %v", err)
	}
	if err := r.Join(ctx); err != nil {
		t.Fatalf("Join: %v", err)
	}
	wantExit(t, r, 0)

	// Malformed targets are refused at create.
	_, err := c.NewProcess(ctx, sl.ProcessOptions{Target: sl.ArgvTarget([]string{"true"}),
		Kwargs: map[string]any{"x": 1}})
	if !errors.Is(err, sl.ErrBadTarget) {
		t.Fatalf("kwargs with argv = %v, want ErrBadTarget", err)
	}
}

func TestClosedClient(t *testing.T) {
	ctx := testContext(t, 10*time.Second)
	c, err := sl.Dial(ctx, socketPath)
	if err != nil {
		t.Fatal(err)
	}
	p := sleeper(t, ctx, c)
	sent := joinWritten(c)
	joined := make(chan error, 1)
	go func() { joined <- p.Join(ctx) }()
	waitWritten(t, sent, joined) // so that Close meets a join that waits in the daemon
	c.Close()
	if err := <-joined; !errors.Is(err, sl.ErrClosed) {
		t.Fatalf("a Join waiting at Close = %v, want ErrClosed", err)
	}
	if _, err := c.DaemonInfo(ctx); !errors.Is(err, sl.ErrClosed) {
		t.Fatalf("a call after Close = %v, want ErrClosed", err)
	}
	// The process is still there for other connections.
	other := dial(t, ctx)
	q := other.Attach(p.ID())
	endWith(t, ctx, q, q.Kill, -9)
}
