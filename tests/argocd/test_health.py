"""Runs deploy/argocd/health.lua with a real Lua interpreter (lupa) over the cases in
deploy/argocd/health_test.yaml, as Argo CD's own health-check tests do. No I/O beyond
reading those files."""

import pathlib

import lupa
import pytest
import yaml

HERE = pathlib.Path(__file__).resolve().parent
ARGO = HERE.parent.parent / "deploy" / "argocd"
CASES = yaml.safe_load((ARGO / "health_test.yaml").read_text())["tests"]


def to_lua(lua, value):
    if isinstance(value, dict):
        return lua.table_from({k: to_lua(lua, v) for k, v in value.items()})
    if isinstance(value, list):
        return lua.table_from([to_lua(lua, v) for v in value])
    return value


@pytest.mark.parametrize("case", CASES, ids=[c["inputPath"] for c in CASES])
def test_health(case):
    lua = lupa.LuaRuntime(unpack_returned_tuples=True)
    obj = yaml.safe_load((ARGO / case["inputPath"]).read_text())
    lua.globals().obj = to_lua(lua, obj)
    script = (ARGO / "health.lua").read_text()
    result = lua.execute(script)
    assert result["status"] == case["healthStatus"]["status"]
    assert result["message"] == case["healthStatus"]["message"]
