package supervisordlite_test

import (
	"context"
	"errors"
	"strconv"
	"testing"
	"time"

	sl "github.com/supervisord-lite/supervisord-lite/clients/go"
)

func ptr[T any](v T) *T { return &v }

func fastSpec(name string, argv ...string) sl.ProgramSpec {
	return sl.ProgramSpec{Name: name, Target: sl.ArgvTarget(argv), RestartDelay: ptr(0.01),
		RestartMaxDelay: ptr(0.05), HealthyAfter: ptr(30.0), StopTimeout: ptr(5.0)}
}

func TestProgramRestartsThenFailsAndEventsSaySo(t *testing.T) {
	ctx := testContext(t, 30*time.Second)
	c := dial(t, ctx)
	var first struct {
		Next int64 `json:"next"`
	}
	if err := c.Call(ctx, "events.read", map[string]any{"since": 0, "timeout": 0, "limit": 10000}, &first); err != nil {
		t.Fatalf("events.read: %v", err)
	}
	spec := fastSpec("go-crash", "sh", "-c", "exit 6")
	spec.MaxRestarts = ptr(1)
	st, err := c.AddProgram(ctx, spec)
	if err != nil || st.Name != "go-crash" || st.Process == nil || *st.Process.Program != "go-crash" {
		t.Fatalf("AddProgram: %+v, %v", st, err)
	}
	evctx, cancel := context.WithCancel(ctx)
	defer cancel()
	events, errc := c.Events(evctx, first.Next)
	var last int64
	restarting := false
	for e := range events {
		if e.Seq <= last {
			t.Fatalf("seq %d after %d", e.Seq, last)
		}
		last = e.Seq
		restarting = restarting || e.Type == "program.restarting"
		if e.Type == "program.failed" {
			cancel()
		}
	}
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Fatalf("events ended with %v", err)
	}
	if !restarting {
		t.Fatal("no program.restarting event")
	}
	st, err = c.Program(ctx, "status", "go-crash")
	if err != nil || st.State != "failed" || st.Runs != 2 || st.LastExitCode == nil || *st.LastExitCode != 6 {
		t.Fatalf("status: %+v, %v", st, err)
	}
	if _, err := c.AddProgram(ctx, fastSpec("go-crash", "true")); !errors.Is(err, sl.ErrProgramExists) {
		t.Fatalf("duplicate add: %v", err)
	}
	if err := c.RemoveProgram(ctx, "go-crash"); err != nil {
		t.Fatalf("remove: %v", err)
	}
	if _, err := c.Program(ctx, "status", "go-crash"); !errors.Is(err, sl.ErrNoSuchProgram) {
		t.Fatalf("status after remove: %v", err)
	}
}

func TestFollowLogsUntilTheOutputEnds(t *testing.T) {
	ctx := testContext(t, 30*time.Second)
	c := dial(t, ctx)
	spec := fastSpec("go-logs", "sh", "-c", "echo one; echo two; printf '\\377\\n' >&2")
	spec.Restart = "no"
	if _, err := c.AddProgram(ctx, spec); err != nil {
		t.Fatalf("AddProgram: %v", err)
	}
	defer c.RemoveProgram(ctx, "go-logs")
	var out []string
	var errBytes []byte
	q := sl.LogQuery{Program: "go-logs", Timeout: 20}
	err := c.FollowLogs(ctx, &q, func(l sl.LogLine) error {
		if l.Stream == "stdout" {
			out = append(out, l.Text)
		} else {
			b, err := l.Bytes()
			errBytes = append(errBytes, b...)
			return err
		}
		return nil
	})
	if err != nil || len(out) != 2 || out[0] != "one" || out[1] != "two" || string(errBytes) != "\xff" {
		t.Fatalf("FollowLogs: %q %q %v", out, errBytes, err)
	}
	again := q
	err = c.FollowLogs(ctx, &again, func(l sl.LogLine) error { t.Errorf("a line again: %+v", l); return nil })
	if err != nil || again.Cursor != q.Cursor || again.ID == 0 {
		t.Fatalf("resume: %+v (from %+v), %v", again, q, err)
	}
}

func TestFollowLogsGoesOnAcrossAProgramsRuns(t *testing.T) {
	ctx := testContext(t, 30*time.Second)
	c := dial(t, ctx)
	spec := fastSpec("go-runs", "sh", "-c", "echo run-$SUPERVISORD_LITE_PROCESS_ID; exit 1")
	spec.MaxRestarts = ptr(1)
	st, err := c.AddProgram(ctx, spec)
	if err != nil {
		t.Fatalf("AddProgram: %v", err)
	}
	defer c.RemoveProgram(ctx, "go-runs")
	var texts []string
	// From the first run by its id (the current run may already be the next one).
	q := sl.LogQuery{Program: "go-runs", ID: st.Process.ID, Timeout: 20}
	err = c.FollowLogs(ctx, &q, func(l sl.LogLine) error { texts = append(texts, l.Text); return nil })
	if err != nil || len(texts) != 2 || texts[0] != "run-"+strconv.FormatInt(st.Process.ID, 10) || q.ID <= st.Process.ID {
		t.Fatalf("FollowLogs: %q, %+v, %v", texts, q, err)
	}
}
