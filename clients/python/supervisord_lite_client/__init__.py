"""supervisord-lite client (stdlib only)."""
