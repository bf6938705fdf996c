#!/usr/bin/env bash
# supervisord-lite from a shell: create a process, start it, join it; only bash, sed and socat.
#
#   clients/shell/example.sh [PROGRAM [ARG...]]
#
# Runs PROGRAM ARG... (default: a little sh script that says hello and exits with 3) as a process
# of the daemon, waits for it to end and prints its exit code. Each call is one JSON-RPC request
# on one line, on its own connection: socat sends it, half-closes, and prints the one response
# line the daemon sends before it closes. Every request and response is echoed (-> / <-).
#
# The socket: $SUPERVISORD_LITE_SOCKET, else $XDG_RUNTIME_DIR/supervisord-lite/sock, else
# /run/supervisord-lite/sock for root, else /tmp/supervisord-lite-$UID/sock (as the daemon picks).
# The child's stdout and stderr go to the daemon's stderr (output "daemon", the default).
# On a cluster (serve --backend ray), $SUPERVISORD_LITE_PLACEMENT, a JSON object, places it:
#   SUPERVISORD_LITE_PLACEMENT='{"resources":{"gpu_box":1}}' example.sh ./train.sh
# Exit status: 0 when the process was joined (whatever its exit code), 1 on an error response,
# 2 when socat is missing or the daemon cannot be reached.
set -euo pipefail

if [[ -n "${SUPERVISORD_LITE_SOCKET:-}" ]]; then
    SOCK=$SUPERVISORD_LITE_SOCKET
elif [[ -n "${XDG_RUNTIME_DIR:-}" ]]; then
    SOCK=$XDG_RUNTIME_DIR/supervisord-lite/sock
elif [[ $(id -u) == 0 ]]; then
    SOCK=/run/supervisord-lite/sock
else
    SOCK=/tmp/supervisord-lite-$(id -u)/sock
fi

command -v socat >/dev/null || { echo "example.sh: socat is needed (apt-get install socat)" >&2; exit 2; }
[[ -S $SOCK ]] || { echo "example.sh: no daemon socket at $SOCK (is supervisord-lite serve running?)" >&2; exit 2; }

# No squatting (socat cannot read the peer's uid): the socket and its directory must be ours, root's
# or $SUPERVISORD_LITE_DAEMON_UID's, and the directory writable by nobody else, or another user may
# have put a socket of theirs there (docs/security.md).
trusted() { [[ $1 == "$(id -u)" || $1 == 0 || $1 == "${SUPERVISORD_LITE_DAEMON_UID:-}" ]]; }
dir=$(dirname "$SOCK")
if ! trusted "$(stat -L -c %u "$dir")" || ! trusted "$(stat -c %u "$SOCK")" \
    || (( 8#$(stat -L -c %a "$dir") & 8#022 )); then
    echo "example.sh: refusing to talk to $SOCK: it (or its directory) is another user's, or others can write its directory; nothing was sent" >&2
    exit 2
fi

# A JSON string for any text without control characters other than tab, CR and LF.
json_string() {
    local s=$1
    s=${s//\\/\\\\}
    s=${s//\"/\\\"}
    s=${s//$'\t'/\\t}
    s=${s//$'\r'/\\r}
    s=${s//$'\n'/\\n}
    printf '"%s"' "$s"
}

# rpc METHOD PARAMS: send one request (its id is the method name), print the response line.
# -t: how long socat waits for the response after sending (a join may wait for the process).
rpc() {
    local request response
    request=$(printf '{"jsonrpc":"2.0","id":"%s","method":"%s","params":%s}' "$1" "$1" "$2")
    echo "-> $request"
    response=$(printf '%s\n' "$request" | socat -t "${RPC_TIMEOUT:-3600}" - "UNIX-CONNECT:$SOCK") || {
        echo "example.sh: cannot talk to the daemon at $SOCK" >&2
        exit 2
    }
    echo "<- $response"
    if [[ $response == *'"error":'* ]]; then
        echo "example.sh: $1 failed: $response" >&2
        exit 1
    fi
    RESPONSE=$response
}

# field NAME: a number (or null) from the ProcessInfo in $RESPONSE. The request ids are strings,
# so the only numeric "id" in a response is the process's own.
field() {
    sed -nE "s/.*\"$1\":(-?[0-9]+|null).*/\\1/p" <<<"$RESPONSE"
}

if (($# == 0)); then
    set -- sh -c 'echo "hello from a supervised process (pid $$)"; exit 3'
fi
argv=""
for arg in "$@"; do
    argv+=${argv:+,}$(json_string "$arg")
done

placement=${SUPERVISORD_LITE_PLACEMENT:+,\"placement\":$SUPERVISORD_LITE_PLACEMENT}
rpc process.create "{\"target\":{\"argv\":[$argv]}$placement}"
id=$(field id)
name=$(sed -nE 's/.*"name":"(([^"\\]|\\.)*)".*/\1/p' <<<"$RESPONSE")
echo "created process $id ($name)"

rpc process.start "{\"id\":$id}"
echo "started process $id: pid $(field pid)"

rpc process.join "{\"id\":$id}"
echo "process $id exited: exitcode $(field exitcode)"
