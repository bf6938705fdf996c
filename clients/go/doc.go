// Package supervisordlite is the Go client of supervisord-lite: a daemon that owns Process
// objects with the semantics of Python's classic processing package, served as JSON-RPC 2.0 over a
// Unix socket with newline-delimited JSON framing (protocol/PROTOCOL.md, version 1).
//
// One Client is one connection. It carries any number of concurrent calls: requests are written
// one at a time under a mutex, and a single reader goroutine hands each response to its caller by
// id, so a Join that waits never delays a GetName on the same connection. Every call that talks to
// the daemon takes a context.Context; cancelling it returns ctx.Err() and leaves the connection
// usable (the daemon's answer, when it comes, is dropped).
//
//	c, err := supervisordlite.DialDefault(ctx)
//	p, err := c.NewProcess(ctx, supervisordlite.ProcessOptions{Target: supervisordlite.ArgvTarget([]string{"sh", "-c", "exit 7"})})
//	err = p.Start(ctx)
//	err = p.Join(ctx)
//	code, ok := p.ExitCode() // 7, true
//
// The package uses only the standard library.
package supervisordlite
