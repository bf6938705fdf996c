package supervisordlite_test

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	sl "github.com/supervisord-lite/supervisord-lite/clients/go"
)

func TestHMACMatchesTheKnownAnswers(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join(repoRoot, "protocol", "vectors", "auth", "hmac-sha256.json"))
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Cases []struct{ Authkey, Challenge, Response string }
	}
	if err := json.Unmarshal(raw, &doc); err != nil || len(doc.Cases) == 0 {
		t.Fatalf("vectors: %v (%d cases)", err, len(doc.Cases))
	}
	for _, c := range doc.Cases {
		challenge, _ := hex.DecodeString(c.Challenge)
		if got := sl.HMACResponse(c.Authkey, challenge); got != c.Response {
			t.Errorf("HMACResponse(%q, %s) = %s, want %s", c.Authkey, c.Challenge, got, c.Response)
		}
	}
}

func TestAuthenticateProvesTheRightKeyOnly(t *testing.T) {
	ctx := testContext(t, 20*time.Second)
	c := dial(t, ctx)
	var p struct {
		ID int `json:"id"`
	}
	if err := c.Call(ctx, "process.create", map[string]any{}, &p); err != nil {
		t.Fatal(err)
	}
	var key string
	if err := c.Call(ctx, "process.getAuthKey", map[string]any{"id": p.ID}, &key); err != nil {
		t.Fatal(err)
	}
	if err := c.Authenticate(ctx, p.ID, key); err != nil {
		t.Fatalf("Authenticate with the right key: %v", err)
	}
	err := c.Authenticate(ctx, p.ID, key+"x")
	var rpcErr *sl.RPCError
	if !errors.As(err, &rpcErr) || sl.ErrorCode(rpcErr.Code) != sl.ErrAuthFailed {
		t.Fatalf("Authenticate with a wrong key: got %v, want code %d", err, sl.ErrAuthFailed)
	}
}
