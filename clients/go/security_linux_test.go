package supervisordlite_test

import (
	"bufio"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	sl "github.com/supervisord-lite/supervisord-lite/clients/go"
)

// otherUser makes a second user for the test (root only) and removes it afterwards.
func otherUser(t *testing.T) (uid, gid int) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root, to create a second user with useradd")
	}
	name := "slgo" + strconv.Itoa(os.Getpid())
	if out, err := exec.Command("useradd", "--no-create-home", "--shell", "/bin/false", name).CombinedOutput(); err != nil {
		t.Skipf("useradd failed: %v: %s", err, out)
	}
	t.Cleanup(func() { _ = exec.Command("userdel", name).Run() })
	u, err := exec.Command("id", "-u", name).Output()
	if err != nil {
		t.Fatal(err)
	}
	g, err := exec.Command("id", "-g", name).Output()
	if err != nil {
		t.Fatal(err)
	}
	uid, _ = strconv.Atoi(strings.TrimSpace(string(u)))
	gid, _ = strconv.Atoi(strings.TrimSpace(string(g)))
	return uid, gid
}

// squat runs tests/squatter.py as that user: a fake daemon in a 0777 directory of theirs, as
// another user could make /tmp/supervisord-lite-$UID first. It reports what a client sent it.
func squat(t *testing.T, uid, gid int) (string, *bufio.Reader) {
	t.Helper()
	python := "/usr/bin/python3"
	if _, err := os.Stat(python); err != nil {
		t.Skip("needs /usr/bin/python3, which another user may run")
	}
	dir, err := os.MkdirTemp(shortTempDir(), "slgo")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	squatted := filepath.Join(dir, "squatted")
	if err := os.Mkdir(squatted, 0o777); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(squatted, uid, gid); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(squatted, 0o777); err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(squatted, "sock")
	cmd := exec.Command(python, filepath.Join(repoRoot, "tests", "squatter.py"), sock)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	r := bufio.NewReader(out)
	if line, _ := r.ReadString('\n'); strings.TrimSpace(line) != "ready" {
		t.Fatalf("squatter not ready: %q", line)
	}
	return sock, r
}

func TestDialRefusesADaemonOfAnotherUser(t *testing.T) {
	uid, gid := otherUser(t)
	sock, report := squat(t, uid, gid)
	_, err := sl.Dial(testContext(t, 10*time.Second), sock)
	var untrusted *sl.UntrustedDaemonError
	if !errors.As(err, &untrusted) || !errors.Is(err, sl.ErrUntrusted) || untrusted.UID != uid {
		t.Fatalf("Dial: got %v, want an UntrustedDaemonError for uid %d", err, uid)
	}
	if !strings.Contains(err.Error(), "Nothing was sent") {
		t.Errorf("message: %v", err)
	}
	if line, _ := report.ReadString('\n'); strings.TrimSpace(line) != "received 0 bytes, 0 fds" {
		t.Errorf("the squatter got: %q", line)
	}
}

func TestDialTrustsANamedDaemonUID(t *testing.T) {
	uid, gid := otherUser(t)
	sock, report := squat(t, uid, gid)
	c, err := sl.DialWithOptions(testContext(t, 10*time.Second), sock, sl.DialOptions{DaemonUID: &uid})
	if err == nil {
		c.Close()
	}
	// It talked (the fake answers daemon.info with nonsense, so the version check may fail).
	if line, _ := report.ReadString('\n'); strings.HasPrefix(line, "received 0 bytes") {
		t.Errorf("nothing was sent to a trusted daemon: %q (%v)", line, err)
	}
}

func TestABurstOfDialsAllConnect(t *testing.T) {
	ctx := testContext(t, 30*time.Second)
	var wg sync.WaitGroup
	errs := make(chan error, 300)
	for i := 0; i < 300; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := sl.Dial(ctx, socketPath)
			if err != nil {
				errs <- err
				return
			}
			c.Close()
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("Dial: %v", err)
	}
}
