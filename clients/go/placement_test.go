package supervisordlite_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	sl "github.com/supervisord-lite/supervisord-lite/clients/go"
)

// Protocol 1.1 against the live daemon (local backend): the placement reaches it and is refused
// there with ErrBadPlacement; a local process has no node.
func TestPlacementIsRefusedByALocalDaemon(t *testing.T) {
	ctx := testContext(t, 20*time.Second)
	c := dial(t, ctx)
	_, err := c.NewProcess(ctx, sl.ProcessOptions{
		Target:    sl.ArgvTarget([]string{"true"}),
		Placement: &sl.Placement{Resources: map[string]float64{"CPU": 1}},
	})
	var rpcErr *sl.RPCError
	if !errors.Is(err, sl.ErrBadPlacement) || !errors.As(err, &rpcErr) ||
		!strings.Contains(rpcErr.Message, "--backend ray") {
		t.Fatalf("NewProcess with a placement: %v, want ErrBadPlacement naming --backend ray", err)
	}
	if sl.ErrBadPlacement.String() != "BadPlacement" || sl.ErrBackendUnavailable.String() != "BackendUnavailable" {
		t.Fatalf("names: %v %v", sl.ErrBadPlacement, sl.ErrBackendUnavailable)
	}
}

func TestALocalProcessHasNoNode(t *testing.T) {
	ctx := testContext(t, 20*time.Second)
	c := dial(t, ctx)
	p := newProcess(t, ctx, c, sl.ProcessOptions{Target: sl.ArgvTarget([]string{"true"})})
	if err := p.Start(ctx); err != nil {
		t.Fatalf("Start: %v", err)
	}
	if err := p.Join(ctx); err != nil {
		t.Fatalf("Join: %v", err)
	}
	wantExit(t, p, 0)
	if node, ok := p.Node(); ok {
		t.Fatalf("a local process has node %q", node)
	}
}
