"""Runs the Argo CD health checks with a real Lua interpreter (lupa) over their cases, as
Argo CD's own health-check tests do: deploy/argocd/health.lua (JobReset, one job or many)
and deploy/argocd/schedule/health.lua (JobResetSchedule), each beside its health_test.yaml.
No I/O beyond reading those files."""

import pathlib

import lupa
import pytest
import yaml

HERE = pathlib.Path(__file__).resolve().parent
ARGO = HERE.parent.parent / "deploy" / "argocd"
CHECKS = [ARGO, ARGO / "schedule"]
CASES = [
    (check, case)
    for check in CHECKS
    for case in yaml.safe_load((check / "health_test.yaml").read_text())["tests"]
]


def to_lua(lua, value):
    if isinstance(value, dict):
        return lua.table_from({k: to_lua(lua, v) for k, v in value.items()})
    if isinstance(value, list):
        return lua.table_from([to_lua(lua, v) for v in value])
    return value


@pytest.mark.parametrize(
    "check,case",
    CASES,
    ids=[f"{c.relative_to(ARGO)}/{case['inputPath']}" for c, case in CASES],
)
def test_health(check, case):
    lua = lupa.LuaRuntime(unpack_returned_tuples=True)
    obj = yaml.safe_load((check / case["inputPath"]).read_text())
    lua.globals().obj = to_lua(lua, obj)
    script = (check / "health.lua").read_text()
    result = lua.execute(script)
    assert result["status"] == case["healthStatus"]["status"]
    assert result["message"] == case["healthStatus"]["message"]
