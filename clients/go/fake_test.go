package supervisordlite_test

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"path/filepath"
	"testing"
	"time"

	sl "github.com/supervisord-lite/supervisord-lite/clients/go"
)

// fakeDaemon answers every request on one connection with handle's reply (nil: no answer).
func fakeDaemon(t *testing.T, handle func(req map[string]any) any) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "fake.sock")
	ln, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer conn.Close()
				sc := bufio.NewScanner(conn)
				for sc.Scan() {
					var req map[string]any
					if json.Unmarshal(sc.Bytes(), &req) != nil {
						return
					}
					if out := handle(req); out != nil {
						b, _ := json.Marshal(out)
						conn.Write(append(b, '\n'))
					}
				}
			}()
		}
	}()
	return path
}

// Dial checks the daemon's protocol version: another major is refused, a later minor accepted.
func TestProtocolVersionIsChecked(t *testing.T) {
	for _, tc := range []struct {
		version string
		want    error
	}{
		{"2.0", sl.ErrIncompatibleVersion},
		{"1.7", nil},
	} {
		t.Run(tc.version, func(t *testing.T) {
			ctx := testContext(t, 10*time.Second)
			path := fakeDaemon(t, func(req map[string]any) any {
				return map[string]any{"jsonrpc": "2.0", "id": req["id"],
					"result": map[string]any{"version": "9.9", "protocol_version": tc.version, "pid": 1}}
			})
			c, err := sl.Dial(ctx, path)
			if !errors.Is(err, tc.want) {
				t.Fatalf("Dial to a protocol %s daemon = %v, want %v", tc.version, err, tc.want)
			}
			if c != nil {
				c.Close()
			}
		})
	}
}

// An error with a null id followed by a hang-up (how the daemon refuses a peer, 1010) is what
// pending calls report.
func TestNullIDErrorThenHangUp(t *testing.T) {
	ctx := testContext(t, 10*time.Second)
	path := filepath.Join(t.TempDir(), "refuse.sock")
	ln, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		conn, err := ln.Accept()
		if err != nil {
			return
		}
		// Like the daemon: say why, half-close, drain what the peer sent, then close (closing
		// with unread input would reset the connection before the client reads the error).
		conn.Write([]byte(`{"jsonrpc":"2.0","id":null,"error":{"code":1010,"message":"Permission denied"}}` + "\n"))
		conn.(*net.UnixConn).CloseWrite()
		io.Copy(io.Discard, conn)
		conn.Close()
	}()
	_, err = sl.Dial(ctx, path)
	if !errors.Is(err, sl.ErrPermissionDenied) {
		t.Fatalf("Dial refused by the daemon = %v, want ErrPermissionDenied", err)
	}
}

// A lost process (protocol 1.1; only a daemon that lost a child reports one, so a fake serves
// it) is ended: not alive without asking again, no exit code, and List sends the filters asked.
func TestLostProcessIsEnded(t *testing.T) {
	ctx := testContext(t, 10*time.Second)
	lost := map[string]any{"id": 4, "name": "Process-4", "parent": nil, "state": "lost", "pid": 77,
		"exitcode": nil}
	var methods []string
	var listParams any
	path := fakeDaemon(t, func(req map[string]any) any {
		methods = append(methods, req["method"].(string))
		var result any = lost
		switch req["method"] {
		case "daemon.info":
			result = map[string]any{"version": "9.9", "protocol_version": "1.1", "pid": 1}
		case "process.list":
			listParams = req["params"]
			result = []any{lost}
		}
		return map[string]any{"jsonrpc": "2.0", "id": req["id"], "result": result}
	})
	c, err := sl.Dial(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	p := c.Attach(4)
	if err := p.Join(ctx); err != nil {
		t.Fatal(err)
	}
	if info := p.LastInfo(); info.State != sl.StateLost || !info.State.Ended() || info.ExitCode != nil {
		t.Fatalf("joined a lost process: %+v", info)
	}
	if _, ok := p.ExitCode(); ok {
		t.Fatal("a lost process has no exit code")
	}
	if alive, err := p.IsAlive(ctx); alive || err != nil {
		t.Fatalf("IsAlive of a lost process = %v, %v", alive, err)
	}
	infos, err := c.List(ctx, sl.ListOptions{State: sl.StateLost, Parent: sl.ParentID(0)})
	if err != nil || len(infos) != 1 || infos[0].State != sl.StateLost {
		t.Fatalf("List = %+v, %v", infos, err)
	}
	if got := fmt.Sprint(methods); got != "[daemon.info process.join process.list]" {
		t.Fatalf("calls made: %s (an ended process is not asked again)", got)
	}
	if b, _ := json.Marshal(listParams); string(b) != `{"parent":0,"state":"lost"}` {
		t.Fatalf("list params sent: %s", b)
	}
}
