package supervisordlite_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	sl "github.com/supervisord-lite/supervisord-lite/clients/go"
)

// exits runs `sh -c "exit code"` to its end.
func exits(t *testing.T, ctx context.Context, c *sl.Client, code int) *sl.Process {
	t.Helper()
	p := newProcess(t, ctx, c, sl.ProcessOptions{Target: sl.ArgvTarget([]string{"sh", "-c", fmt.Sprintf("exit %d", code)})})
	if err := p.StartOutput(ctx, sl.OutputNull); err != nil {
		t.Fatalf("Start: %v", err)
	}
	if err := p.Join(ctx); err != nil {
		t.Fatalf("Join: %v", err)
	}
	wantExit(t, p, code)
	return p
}

func ids(infos []sl.ProcessInfo) []int64 {
	out := []int64{}
	for _, i := range infos {
		out = append(out, i.ID)
	}
	return out
}

func sameIDs(t *testing.T, what string, got []sl.ProcessInfo, want ...int64) {
	t.Helper()
	if fmt.Sprint(ids(got)) != fmt.Sprint(append([]int64{}, want...)) {
		t.Fatalf("%s: ids %v, want %v", what, ids(got), want)
	}
}

// Release forgets an exited process (its id is then unknown) and a never started one; a
// running one is refused with ErrStillRunning and runs on.
func TestRelease(t *testing.T) {
	ctx := testContext(t, 30*time.Second)
	c := dial(t, ctx)
	p := exits(t, ctx, c, 3)
	if err := p.Release(ctx); err != nil {
		t.Fatalf("Release of an exited process: %v", err)
	}
	wantExit(t, p, 3) // what the handle learnt stays
	if _, err := p.Info(ctx); !errors.Is(err, sl.ErrNoSuchProcess) {
		t.Fatalf("Info after Release = %v, want ErrNoSuchProcess", err)
	}
	if err := c.Release(ctx, p.ID()); !errors.Is(err, sl.ErrNoSuchProcess) {
		t.Fatalf("a second Release = %v, want ErrNoSuchProcess", err)
	}
	fresh := newProcess(t, ctx, c, sl.ProcessOptions{})
	if fresh.ID() <= p.ID() {
		t.Fatalf("id %d after released id %d: ids are never reused", fresh.ID(), p.ID())
	}
	if err := fresh.Release(ctx); err != nil {
		t.Fatalf("Release of a process never started: %v", err)
	}

	s := newProcess(t, ctx, c, sl.ProcessOptions{Target: sl.ArgvTarget([]string{"sleep", "60"})})
	reap(t, s)
	if err := s.StartOutput(ctx, sl.OutputNull); err != nil {
		t.Fatal(err)
	}
	err := s.Release(ctx)
	var rpcErr *sl.RPCError
	if !errors.Is(err, sl.ErrStillRunning) || !errors.As(err, &rpcErr) || rpcErr.Code != 1012 {
		t.Fatalf("Release of a running process = %v, want ErrStillRunning (1012)", err)
	}
	if string(rpcErr.Data) != fmt.Sprintf(`{"id":%d}`, s.ID()) {
		t.Fatalf("StillRunning data = %s", rpcErr.Data)
	}
	if alive, err := s.IsAlive(ctx); err != nil || !alive {
		t.Fatalf("after a refused Release: alive %v, %v", alive, err)
	}
	endWith(t, ctx, s, s.Kill, -9)
	if err := s.Release(ctx); err != nil {
		t.Fatalf("Release once killed and joined: %v", err)
	}
}

// List's filters and pages, and ForEach through every process once.
func TestListFiltersAndPages(t *testing.T) {
	ctx := testContext(t, 30*time.Second)
	c := dial(t, ctx)
	first := newProcess(t, ctx, c, sl.ProcessOptions{})
	var ended []int64
	for k := 0; k < 4; k++ {
		ended = append(ended, exits(t, ctx, c, k).ID())
	}
	list := func(o sl.ListOptions) []sl.ProcessInfo {
		t.Helper()
		got, err := c.List(ctx, o)
		if err != nil {
			t.Fatalf("List(%+v): %v", o, err)
		}
		return got
	}
	sameIDs(t, "after first", list(sl.ListOptions{After: first.ID()}), ended...)
	sameIDs(t, "a page of 2", list(sl.ListOptions{After: first.ID(), Limit: 2}), ended[:2]...)
	sameIDs(t, "the next page", list(sl.ListOptions{After: ended[1], Limit: 2}), ended[2:]...)
	sameIDs(t, "created after first", list(sl.ListOptions{After: first.ID(), State: sl.StateCreated}))
	sameIDs(t, "children of first", list(sl.ListOptions{Parent: sl.ParentID(first.ID())}))
	sameIDs(t, "the daemon's, exited, after first",
		list(sl.ListOptions{After: first.ID(), State: sl.StateExited, Parent: sl.ParentID(0)}), ended...)

	all, err := c.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var seen []sl.ProcessInfo
	if err := c.ForEach(ctx, sl.ListOptions{Limit: 3}, func(i sl.ProcessInfo) error {
		seen = append(seen, i)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	sameIDs(t, "ForEach by pages of 3", seen, ids(all)...)
	stop := errors.New("enough")
	n := 0
	if err := c.ForEach(ctx, sl.ListOptions{Limit: 1}, func(sl.ProcessInfo) error {
		n++
		if n == 2 {
			return stop
		}
		return nil
	}); !errors.Is(err, stop) || n != 2 {
		t.Fatalf("ForEach stopped by fn: %v after %d", err, n)
	}
	if err := c.Release(ctx, ended[1]); err != nil {
		t.Fatal(err)
	}
	sameIDs(t, "after a release", list(sl.ListOptions{After: first.ID()}), ended[0], ended[2], ended[3])
	if _, err := c.List(ctx, sl.ListOptions{Limit: 10001}); !errors.Is(err, sl.ErrInvalidParams) {
		t.Fatalf("List with limit 10001 = %v, want ErrInvalidParams", err)
	}
}
