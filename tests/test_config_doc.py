"""docs/config.md is what the config models render: it cannot drift from what is accepted."""

from __future__ import annotations

from pathlib import Path

from supervisord_lite.config.doc import render

PAGE = Path(__file__).resolve().parent.parent / "docs" / "config.md"


def test_the_committed_page_is_up_to_date() -> None:
    assert PAGE.read_text() == render(), "docs/config.md is out of date: run `make config-doc`"


def test_every_key_is_explained() -> None:
    rows = [line for line in render().splitlines() if line.startswith("| `")]
    assert len(rows) > 20
    for row in rows:
        assert row.rstrip(" |").split("|")[-1].strip(), f"no description: {row}"


def test_the_pages_example_is_a_valid_config(tmp_path: Path) -> None:
    from supervisord_lite.config.load import load

    example = render().split("```toml\n", 1)[1].split("```", 1)[0]
    path = tmp_path / "config.toml"
    path.write_text(example)
    assert list(load(path).programs) == ["web", "worker:0", "worker:1"]
