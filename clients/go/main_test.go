package supervisordlite_test

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"syscall"
	"testing"
	"time"
)

// The tests run against a live daemon that TestMain starts on a socket in a temporary directory:
// `$SUPERVISORD_LITE_PYTHON -m supervisord_lite serve --socket <tmp>/sl.sock`, with the
// interpreter defaulting to ../../.venv/bin/python (the repository's venv).

var (
	socketPath string // the test daemon's socket
	pythonPath string // the interpreter that runs it (also used by tests for nested clients)
	repoRoot   string
)

// markerVar is set in the daemon's environment so that a test can remove it from a child's.
const markerVar = "SL_GO_TEST_MARKER"

func TestMain(m *testing.M) {
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	// Pdeathsig follows the thread that started the daemon: keep that thread alive throughout.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	var err error
	repoRoot, err = filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	pythonPath = os.Getenv("SUPERVISORD_LITE_PYTHON")
	if pythonPath == "" {
		pythonPath = filepath.Join(repoRoot, ".venv", "bin", "python")
	}
	dir, err := os.MkdirTemp(shortTempDir(), "slgo")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	defer os.RemoveAll(dir)
	socketPath = filepath.Join(dir, "sl.sock")
	logPath := filepath.Join(dir, "daemon.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	defer logFile.Close()

	cmd := exec.Command(pythonPath, "-m", "supervisord_lite", "serve", "--socket", socketPath,
		"--state-dir", filepath.Join(dir, "state"), "--grace", "2")
	cmd.Dir = repoRoot
	cmd.Env = append(os.Environ(), markerVar+"=1")
	cmd.Stdout = logFile
	cmd.Stderr = logFile
	cmd.SysProcAttr = daemonSysProcAttr()
	if err := cmd.Start(); err != nil {
		fmt.Fprintf(os.Stderr, "cannot start the daemon with %s (set SUPERVISORD_LITE_PYTHON, or run "+
			"`make install`): %v\n", pythonPath, err)
		return 2
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	dumpLog := func() {
		if b, err := os.ReadFile(logPath); err == nil && len(b) > 0 {
			fmt.Fprintf(os.Stderr, "--- daemon log (%s) ---\n%s--- end of daemon log ---\n", logPath, b)
		}
	}

	if err := waitForSocket(socketPath, exited, 20*time.Second); err != nil {
		fmt.Fprintln(os.Stderr, err)
		cmd.Process.Kill()
		dumpLog()
		return 2
	}
	os.Setenv("SUPERVISORD_LITE_SOCKET", socketPath) // for DialDefault

	code := m.Run()

	cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-exited:
		if err != nil {
			fmt.Fprintf(os.Stderr, "the daemon ended badly after SIGTERM: %v\n", err)
			if code == 0 {
				code = 1
			}
		}
	case <-time.After(15 * time.Second):
		fmt.Fprintln(os.Stderr, "the daemon did not stop within 15s of SIGTERM; killing it")
		cmd.Process.Kill()
		<-exited
		if code == 0 {
			code = 1
		}
	}
	if code != 0 || testing.Verbose() {
		dumpLog()
	}
	return code
}

// waitForSocket polls until the socket accepts a connection, the daemon exits, or the deadline.
func waitForSocket(path string, exited <-chan error, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for {
		conn, err := net.DialTimeout("unix", path, time.Second)
		if err == nil {
			conn.Close()
			return nil
		}
		select {
		case werr := <-exited:
			return fmt.Errorf("the daemon exited before listening on %s: %v", path, werr)
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the daemon did not accept connections on %s within %s: %v", path, limit, err)
		}
	}
}

// shortTempDir keeps the socket path under the 108-byte limit of sun_path.
func shortTempDir() string {
	if d := os.TempDir(); len(d) < 60 {
		return d
	}
	return "/tmp"
}

// testContext is the per-test deadline every test uses.
func testContext(t *testing.T, d time.Duration) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}
