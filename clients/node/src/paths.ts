import * as path from "node:path";

export const ENV_SOCKET = "SUPERVISORD_LITE_SOCKET";
/** The uid a shared daemon runs as, when it is not ours (one started with `--allow-group`). */
export const ENV_DAEMON_UID = "SUPERVISORD_LITE_DAEMON_UID";

/**
 * Where the daemon listens when nobody says (PROTOCOL.md, "Transport"): `$SUPERVISORD_LITE_SOCKET`,
 * else `$XDG_RUNTIME_DIR/supervisord-lite/sock`, else `/run/supervisord-lite/sock` for root, else
 * `/tmp/supervisord-lite-$UID/sock`. Every supervised child has `SUPERVISORD_LITE_SOCKET` set.
 */
export function defaultSocketPath(
  env: NodeJS.ProcessEnv = process.env,
  uid: number | undefined = process.getuid?.(),
): string {
  const explicit = env[ENV_SOCKET];
  if (explicit) return explicit;
  const runtime = env.XDG_RUNTIME_DIR;
  if (runtime) return path.join(runtime, "supervisord-lite", "sock");
  if (uid === 0) return "/run/supervisord-lite/sock";
  return `/tmp/supervisord-lite-${uid ?? "unknown"}/sock`;
}
