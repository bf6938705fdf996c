"""The config file (TOML): the daemon's settings and its declared programs, validated with
pydantic; a reload applies a new one as `supervisorctl update` does."""
