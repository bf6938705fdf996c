"""Supervision: programs kept running by a restart policy, events, and log reading.

A layer above core/ (each run of a program is a new `Process` that keeps the seed's rules) and below
rpc/: `policy` is the pure restart/backoff timing, `events` the numbered, resumable event ring,
`programs` the programs and their runs, `logs` the reader of captured output, `journal` the
daemon's own line per start and exit.
"""
