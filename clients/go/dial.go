package supervisordlite

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"time"
)

// EnvDaemonUID names the environment variable that holds the uid a shared daemon runs as, when
// it is not this user's (a daemon started with --allow-group).
const EnvDaemonUID = "SUPERVISORD_LITE_DAEMON_UID"

// DialOptions tunes DialWithOptions.
type DialOptions struct {
	// DaemonUID, if set, is a uid to trust besides this user's and root's (a shared daemon).
	DaemonUID *int
}

// ErrUntrusted is wrapped by the error of a Dial that found a socket served (or owned) by a user
// this client does not trust: nothing was sent to it.
var ErrUntrusted = errors.New("untrusted daemon")

// UntrustedDaemonError says who serves the socket and why it is not trusted.
type UntrustedDaemonError struct {
	Path string
	UID  int
}

func (e *UntrustedDaemonError) Error() string {
	return fmt.Sprintf("supervisord-lite: refusing to talk to the daemon at %s: it runs as uid %d, "+
		"not as this user (uid %d), root or $%s; another user may have taken the socket's directory "+
		"(%s). Nothing was sent", e.Path, e.UID, os.Geteuid(), EnvDaemonUID, filepath.Dir(e.Path))
}

func (e *UntrustedDaemonError) Unwrap() error { return ErrUntrusted }

// refusedRetry is how long a refused connect (a daemon between two lives) is retried; a full
// backlog (EAGAIN) is retried until ctx ends.
const refusedRetry = time.Second

func trustedUIDs(opts DialOptions) map[int]bool {
	uids := map[int]bool{os.Geteuid(): true, 0: true}
	if s := os.Getenv(EnvDaemonUID); s != "" {
		if n, err := strconv.Atoi(s); err == nil {
			uids[n] = true
		}
	}
	if opts.DaemonUID != nil {
		uids[*opts.DaemonUID] = true
	}
	return uids
}

// dialUnix connects, retrying EAGAIN until ctx ends and ECONNREFUSED for refusedRetry, with backoff.
func dialUnix(ctx context.Context, path string) (*net.UnixConn, error) {
	start := time.Now()
	delay := 2 * time.Millisecond
	var d net.Dialer
	for {
		conn, err := d.DialContext(ctx, "unix", path)
		if err == nil {
			return conn.(*net.UnixConn), nil
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		retry := errors.Is(err, syscall.EAGAIN) ||
			(errors.Is(err, syscall.ECONNREFUSED) && time.Since(start)+delay < refusedRetry)
		if !retry {
			return nil, &DialError{Path: path, Err: err}
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(delay):
		}
		delay = min(delay*2, 100*time.Millisecond)
	}
}

// checkPeer refuses a daemon that runs as a user not in trusted, before anything is sent.
func checkPeer(conn *net.UnixConn, path string, trusted map[int]bool) error {
	uid, err := peerUID(conn)
	if err != nil {
		return &DialError{Path: path, Err: fmt.Errorf("reading the daemon's credentials: %w", err)}
	}
	if !trusted[uid] {
		return &UntrustedDaemonError{Path: path, UID: uid}
	}
	return nil
}

// HMACResponse is daemon.authenticate's answer: hex HMAC-SHA256 of the challenge under the key's
// UTF-8 bytes.
func HMACResponse(authKey string, challenge []byte) string {
	mac := hmac.New(sha256.New, []byte(authKey))
	mac.Write(challenge)
	return hex.EncodeToString(mac.Sum(nil))
}

// Authenticate proves that this connection holds the key of process id (multiprocessing's HMAC
// challenge: the key never crosses the wire). From then on this connection may control that
// process and its descendants, whatever user it runs as. A wrong key is an *RPCError with code
// ErrAuthFailed.
func (c *Client) Authenticate(ctx context.Context, id int, authKey string) error {
	var asked struct {
		Challenge string `json:"challenge"`
		Digest    string `json:"digest"`
	}
	if err := c.Call(ctx, "daemon.authenticate", map[string]any{"id": id}, &asked); err != nil {
		return err
	}
	challenge, err := hex.DecodeString(asked.Challenge)
	if err != nil || asked.Digest != "sha256" {
		return fmt.Errorf("supervisord-lite: daemon.authenticate: unexpected challenge %+v", asked)
	}
	params := map[string]any{"id": id, "response": HMACResponse(authKey, challenge)}
	return c.Call(ctx, "daemon.authenticate", params, nil)
}
