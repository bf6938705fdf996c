package supervisordlite

import (
	"fmt"
	"os"
	"path/filepath"
)

// EnvSocket names the environment variable that holds the socket path. The daemon sets it in
// every supervised child, so code running under the daemon finds it without configuration.
const EnvSocket = "SUPERVISORD_LITE_SOCKET"

// DefaultSocketPath is the socket path PROTOCOL.md documents when none is given:
// $SUPERVISORD_LITE_SOCKET, else $XDG_RUNTIME_DIR/supervisord-lite/sock, else
// /run/supervisord-lite/sock for root, else /tmp/supervisord-lite-$UID/sock.
func DefaultSocketPath() string {
	if p := os.Getenv(EnvSocket); p != "" {
		return p
	}
	if d := os.Getenv("XDG_RUNTIME_DIR"); d != "" {
		return filepath.Join(d, "supervisord-lite", "sock")
	}
	uid := os.Getuid()
	if uid == 0 {
		return "/run/supervisord-lite/sock"
	}
	return fmt.Sprintf("/tmp/supervisord-lite-%d/sock", uid)
}
