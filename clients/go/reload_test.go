package supervisordlite_test

import (
	"errors"
	"testing"
	"time"

	sl "github.com/supervisord-lite/supervisord-lite/clients/go"
)

// The shared test daemon runs without a config file: a reload reads none and changes nothing.
func TestReloadWithoutAConfigFileChangesNothing(t *testing.T) {
	ctx := testContext(t, 20*time.Second)
	c := dial(t, ctx)
	r, err := c.Reload(ctx)
	if err != nil {
		t.Fatalf("Reload: %v", err)
	}
	if r.Config != nil || len(r.Added)+len(r.Changed)+len(r.Removed)+len(r.Unchanged) != 0 {
		t.Fatalf("a daemon without a config file reloaded %+v", r)
	}
}

func TestBadConfigIsAnErrorOfItsOwn(t *testing.T) {
	err := error(&sl.RPCError{Code: int(sl.ErrBadConfig), Message: "x: bad"})
	if !errors.Is(err, sl.ErrBadConfig) || sl.ErrBadConfig.String() != "BadConfig" {
		t.Fatalf("1018 is not ErrBadConfig: %v (%s)", err, sl.ErrBadConfig)
	}
}
