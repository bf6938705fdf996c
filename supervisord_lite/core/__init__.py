"""The pure core: process records, naming, authkeys, states. No sockets, no JSON, no RPC engine."""
