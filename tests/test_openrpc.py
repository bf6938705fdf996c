"""protocol/openrpc.json: generated from the models and METHODS, committed up to date, served as
rpc.discover, valid against the official OpenRPC meta-schema."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft7Validator, Draft202012Validator
from referencing import Registry
from referencing.jsonschema import DRAFT7

from supervisord_lite import PROTOCOL_VERSION
from supervisord_lite.rpc import models as m
from supervisord_lite.rpc import openrpc
from supervisord_lite.rpc.errors import ErrorCode
from supervisord_lite.rpc.table import METHODS
from tests.conftest import Daemon

PROTOCOL = Path(__file__).resolve().parent.parent / "protocol"
COMMITTED = PROTOCOL / "openrpc.json"
META_SCHEMA = PROTOCOL / "openrpc-meta-schema.json"
# The meta-schema @open-rpc/generator's clients pin (@open-rpc/meta-schema 1.14.2, OpenRPC 1.2).
META_SCHEMA_1_2 = PROTOCOL / "openrpc-1.2-meta-schema.json"
# The meta-schema's JSONSchema definition refers to this one by URL; a copy is committed so that
# validating needs no network.
JSON_SCHEMA_META = PROTOCOL / "json-schema-tools-meta-schema.json"


def _load(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def committed() -> dict[str, Any]:
    doc: dict[str, Any] = _load(COMMITTED)
    return doc


def _meta_validator(path: Path) -> Draft7Validator:
    meta, tools = _load(path), _load(JSON_SCHEMA_META)
    Draft7Validator.check_schema(meta)
    Draft7Validator.check_schema(tools)
    tools_resource = DRAFT7.create_resource(tools)
    registry: Registry[Any] = Registry().with_resources(
        [("https://meta.json-schema.tools", tools_resource), (tools["$id"], tools_resource)]
    )
    return Draft7Validator(meta, registry=registry)


@pytest.fixture(scope="module", params=[META_SCHEMA, META_SCHEMA_1_2], ids=["1.3", "1.2"])
def meta_validator(request: pytest.FixtureRequest) -> Draft7Validator:
    return _meta_validator(request.param)


def _errors(validator: Draft7Validator, doc: Any) -> list[str]:
    return [
        f"{'/'.join(map(str, e.absolute_path))}: {e.message[:200]}"
        for e in validator.iter_errors(doc)
    ]


# ---------------------------------------------------------------- generated, committed, served


def test_committed_file_is_up_to_date() -> None:
    assert COMMITTED.read_text(encoding="utf-8") == openrpc.render(), (
        "protocol/openrpc.json differs from what the models and METHODS generate; regenerate it "
        f"with `{openrpc.REGENERATE}` and commit it (and protocol/CHANGELOG.md if the protocol "
        "changed)"
    )


def test_rendering_is_deterministic_and_copies() -> None:
    text = openrpc.render()
    assert text == openrpc.render()
    assert text.endswith("}\n") and not text.endswith("\n\n")
    assert json.loads(text) == openrpc.document()
    doc = openrpc.document()
    doc["methods"].clear()
    assert openrpc.document()["methods"], "document() must hand out a copy"


def test_rpc_discover_over_the_wire_equals_the_committed_file(
    daemon: Daemon, committed: dict[str, Any]
) -> None:
    with daemon.client() as c:
        assert c.call("rpc.discover") == committed
        assert c.call("rpc.discover", {}) == committed


def test_generator_writes_and_checks(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "openrpc.json"
    assert openrpc.main([str(out)]) == 0
    assert out.read_text(encoding="utf-8") == openrpc.render()
    assert openrpc.main(["--check", str(out)]) == 0
    out.write_text(
        out.read_text(encoding="utf-8").replace(f'"{PROTOCOL_VERSION}"', '"0.9"'), encoding="utf-8"
    )
    capsys.readouterr()
    assert openrpc.main(["--check", str(out)]) == 1
    assert "python -m supervisord_lite.rpc.openrpc" in capsys.readouterr().err
    assert openrpc.main(["--check", str(tmp_path / "missing.json")]) == 1
    assert openrpc.main(["a", "b"]) == 2


# ---------------------------------------------------------------- valid OpenRPC


def test_valid_against_the_openrpc_meta_schema(
    meta_validator: Draft7Validator, committed: dict[str, Any]
) -> None:
    assert _errors(meta_validator, committed) == []


@pytest.mark.parametrize(
    "spoil",
    [
        lambda d: d.update(openrpc="9.9.9"),
        lambda d: d["info"].pop("version"),
        lambda d: d["methods"][0].update(paramStructure="by-magic"),
        lambda d: d["methods"][0]["params"][0].pop("schema"),
        lambda d: d["methods"][0]["result"]["schema"].update(type="no-such-type"),
        lambda d: d["components"]["schemas"]["ProcessInfoObject"].update(required="id"),
        lambda d: d["components"]["errors"]["NoSuchProcess"].update(code="1001"),
    ],
    ids=["version", "info", "paramStructure", "descriptor", "result-schema", "component", "error"],
)
def test_the_meta_schema_check_catches_a_broken_document(
    meta_validator: Draft7Validator, committed: dict[str, Any], spoil: Any
) -> None:
    doc = json.loads(json.dumps(committed))
    spoil(doc)
    assert _errors(meta_validator, doc), "a broken document passed the meta-schema"


# ---------------------------------------------------------------- what it says


def _walk(value: Any) -> Iterator[tuple[str, Any]]:
    if isinstance(value, dict):
        for k, v in value.items():
            yield k, v
            yield from _walk(v)
    elif isinstance(value, list):
        for v in value:
            yield from _walk(v)


def test_info_and_version(committed: dict[str, Any]) -> None:
    assert committed["openrpc"] == "1.2.6"
    assert committed["info"]["title"] == "supervisord-lite"
    assert committed["info"]["version"] == PROTOCOL_VERSION


def test_every_method_with_its_params_in_positional_order(committed: dict[str, Any]) -> None:
    methods = committed["methods"]
    assert [x["name"] for x in methods] == [spec.name for spec in METHODS]
    for spec, method in zip(METHODS, methods, strict=True):
        assert method["paramStructure"] == "by-name"
        assert method["summary"] == spec.summary
        fields = spec.params.model_fields
        # Params by position follow this order (PROTOCOL.md), so it is the models' field order.
        assert [p["name"] for p in method["params"]] == list(fields)
        for param in method["params"]:
            field = fields[param["name"]]
            assert param["required"] == field.is_required(), (spec.name, param["name"])
            assert param.get("description") == field.description
            assert isinstance(param["schema"], dict)
        assert set(method["result"]) == {"name", "schema"}


def test_every_method_lists_its_errors(committed: dict[str, Any]) -> None:
    components = committed["components"]["errors"]
    assert {e["code"] for e in components.values()} == {int(c) for c in ErrorCode}
    for spec, method in zip(METHODS, committed["methods"], strict=True):
        names = [r["$ref"].removeprefix("#/components/errors/") for r in method["errors"]]
        codes = [components[name]["code"] for name in names]
        assert codes == [int(c) for c in (*spec.errors, *openrpc.METHOD_STANDARD_ERRORS)]


def test_every_ref_resolves_and_no_defs_remain(committed: dict[str, Any]) -> None:
    schemas = committed["components"]["schemas"]
    errors = committed["components"]["errors"]
    refs = [v for k, v in _walk(committed) if k == "$ref"]
    assert refs
    for ref in refs:
        kind, _, name = ref.removeprefix("#/components/").partition("/")
        assert {"schemas": schemas, "errors": errors}[kind].get(name) is not None, ref
    assert not [k for k, _ in _walk(committed) if k in ("$defs", "definitions")]
    names = {
        "ProcessInfoObject",
        "DaemonInfoObject",
        "ArgvTarget",
        "CallableTarget",
        "PickleTarget",
    }
    assert names <= set(schemas)


def _schema(committed: dict[str, Any], schema: dict[str, Any]) -> Draft202012Validator:
    return Draft202012Validator({**schema, "components": committed["components"]})


def test_the_schemas_say_what_the_models_accept(committed: dict[str, Any]) -> None:
    by_name = {x["name"]: x for x in committed["methods"]}
    info = {
        "id": 3,
        "name": "Process-3",
        "parent": None,
        "state": "exited",
        "pid": 41,
        "exitcode": 0,
    }
    m.ProcessInfo.model_validate(info)
    result = _schema(committed, by_name["process.info"]["result"]["schema"])
    assert result.is_valid(info)
    assert not result.is_valid({**info, "state": "zombie"})
    assert not result.is_valid({k: v for k, v in info.items() if k != "pid"})
    target = _schema(committed, by_name["process.create"]["params"][0]["schema"])
    for good in (None, {"argv": ["true"]}, {"callable": "a.b:c", "sys_path": []}, {"pickle": "x"}):
        assert target.is_valid(good), good
    bad: dict[str, Any]
    for bad in ({"argv": []}, {"callable": "nocolon"}, {"argv": ["x"], "callable": "a:b"}, {}):
        assert not target.is_valid(bad), bad
    listing = _schema(committed, by_name["process.list"]["result"]["schema"])
    assert listing.is_valid([info]) and not listing.is_valid(info)
    assert _schema(committed, by_name["process.setName"]["result"]["schema"]).is_valid(None)


# ---------------------------------------------------------------- for code generators


def test_a_generator_pinned_to_openrpc_1_2_takes_the_version_it_declares(
    committed: dict[str, Any],
) -> None:
    """@open-rpc/generator's clients refused "1.3.2"; the document declares 1.2.6, and both
    meta-schemas (the 1.3 one and the generators' 1.2 one) accept it (the fixture above)."""
    validator = _meta_validator(META_SCHEMA_1_2)
    assert _errors(validator, {**committed, "openrpc": "1.3.2"}), "the 1.2 copy takes 1.3.2?"
    assert _errors(validator, committed) == []


def _titled(value: Any, where: str) -> Iterator[tuple[str, str, Any]]:
    """(title, where, schema) for every titled schema under `value`."""
    if isinstance(value, dict):
        if isinstance(value.get("title"), str):
            yield value["title"], where, value
        for k, v in value.items():
            yield from _titled(v, f"{where}/{k}")
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _titled(v, f"{where}[{i}]")


def test_generated_type_names_do_not_clash(committed: dict[str, Any]) -> None:
    """A generator names a type after each method (process.info -> ProcessInfo: @open-rpc/
    generator's TypeScript client did not compile when a schema had that title too) and one
    after each schema title; those names must all be distinct, and a title must name one
    schema only (else one of two types is lost, or declared twice)."""
    assert openrpc.type_name("process.getAuthKey") == "ProcessGetAuthKey"
    assert openrpc.type_name("main_path") == "MainPath"
    methods = {openrpc.type_name(x["name"]) for x in committed["methods"]}
    assert len(methods) == len(committed["methods"]), "two methods make one type name"
    places = [(x["name"], p["schema"]) for x in committed["methods"] for p in x["params"]]
    places += [(x["name"], x["result"]["schema"]) for x in committed["methods"]]
    places += [(f"components/{k}", v) for k, v in committed["components"]["schemas"].items()]
    seen: dict[str, tuple[str, str]] = {}
    for where, schema in places:
        for title, at, sub in _titled(schema, where):
            key, text = openrpc.type_name(title), json.dumps(sub, sort_keys=True)
            first = seen.setdefault(key, (at, text))
            assert first[1] == text, f"{key} names two different schemas: {first[0]} and {at}"
    clashes = sorted(methods & set(seen))
    assert not clashes, f"type names both of a method and of a schema: {clashes}"
    assert {"ProcessInfoObject", "DaemonInfoObject"} <= set(seen)
