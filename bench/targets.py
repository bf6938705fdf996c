"""Targets the benchmark runs in children: tiny, so a child imports next to nothing."""


def noop() -> None:
    pass
