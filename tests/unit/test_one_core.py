"""One core, many doors: the settings schema, the one assembly, the deadline policy."""

from __future__ import annotations

import ast
import inspect
import math
from dataclasses import fields
from pathlib import Path
from typing import Any

import pytest
import yaml

from gcdedup import api
from gcdedup.aws_lambda.container import lease_seconds
from gcdedup.deadline import MARGIN_SHARE, Deadline, fit_margin
from gcdedup.errors import ConfigError
from gcdedup.heartbeat import Heartbeat
from gcdedup.settings import SCHEMA, SETTINGS, Settings
from gcdedup.sources.window import Window

REPO = Path(__file__).resolve().parents[2]
PACKAGE = REPO / "gcdedup"


def _modules() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def test_gcdedup_variables_are_spelled_in_two_modules_at_most() -> None:
    spelled = [p.relative_to(REPO).as_posix() for p in _modules() if "GCDEDUP_" in p.read_text()]
    assert spelled == ["gcdedup/cli/command_table.py", "gcdedup/settings.py"]


def _calls(path: Path, names: set[str]) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Call):
            func = node.func
            name = func.id if isinstance(func, ast.Name) else getattr(func, "attr", None)
            if name in names:
                found.add(name)
    return found


def test_one_module_builds_pipelines_and_caches() -> None:
    """Besides pipeline.py and store/cache.py (which define them), only the assembly
    constructs a Pipeline or a CachedStore: every door goes through it."""
    builders = {
        p.relative_to(REPO).as_posix(): calls
        for p in _modules()
        if (calls := _calls(p, {"Pipeline", "CachedStore"}))
    }
    builders.pop("gcdedup/pipeline.py", None)
    builders.pop("gcdedup/store/cache.py", None)
    assert builders == {"gcdedup/assembly.py": {"Pipeline", "CachedStore"}}


def test_every_settings_field_is_declared_once_in_the_schema() -> None:
    declared = [s.name for s in SCHEMA if s.field]
    assert declared == [f.name for f in fields(Settings)]
    assert len({s.env for s in SCHEMA}) == len(SCHEMA)
    assert all(s.env.startswith("GCDEDUP_") for s in SCHEMA)


def test_the_decorators_arguments_are_settings_of_the_schema() -> None:
    parameters = inspect.signature(api.dedup).parameters
    names = [api.ARGUMENT_SETTINGS.get(n, n) for n in parameters]
    own = {"duplicate_result", "env"}
    assert {n for n in names if n not in own} <= set(SETTINGS)


def test_the_templates_variables_are_settings_the_lambda_reads() -> None:
    class Loader(yaml.SafeLoader):
        pass

    Loader.add_multi_constructor("!", lambda loader, suffix, node: None)
    template = yaml.load((REPO / "template.yaml").read_text(), Loader=Loader)
    function = next(
        r for r in template["Resources"].values() if r["Type"] == "AWS::Serverless::Function"
    )
    variables = set(function["Properties"]["Environment"]["Variables"])
    ours = {v for v in variables if v.startswith("GCDEDUP_")}
    reads = {s.env for s in SCHEMA if s.lambda_reads}
    assert ours <= reads, ours - reads
    assert {"GCDEDUP_STORE", "GCDEDUP_DEADLINE_MARGIN", "GCDEDUP_CACHE_SIZE"} <= ours


def test_an_invalid_variable_names_itself_and_a_flag_value_does_not() -> None:
    with pytest.raises(ConfigError, match=r"^GCDEDUP_TTL='soon': invalid TTL"):
        Settings.resolve(env={"GCDEDUP_TTL": "soon"}, store_url="memory://")
    with pytest.raises(ConfigError, match=r"^invalid TTL 'soon'"):
        Settings.resolve(env={}, store_url="memory://", ttl_seconds="soon")
    with pytest.raises(ConfigError, match=r"^GCDEDUP_DEADLINE_MARGIN='x'"):
        Settings.resolve(env={"GCDEDUP_DEADLINE_MARGIN": "x"}, store_url="memory://")
    both = {"GCDEDUP_HANDLER": "m:f", "GCDEDUP_GENESYS": "yes"}
    with pytest.raises(ConfigError, match=r"^GCDEDUP_HANDLER='m:f' and GCDEDUP_GENESYS=true"):
        Settings.resolve(env=both, store_url="memory://")


@pytest.mark.parametrize(
    ("available", "expected"),
    [(900.0, 5.0), (60.0, 5.0), (25.0, 5.0), (2.9, 2.9 * MARGIN_SHARE), (0.5, 0.1), (0.0, 0.0)],
)
def test_the_margin_fits_the_time_an_invocation_starts_with(
    available: float, expected: float
) -> None:
    assert fit_margin(5.0, available) == pytest.approx(expected)


class Context:
    def __init__(self, ms: int) -> None:
        self.ms = ms

    def get_remaining_time_in_millis(self) -> int:
        return self.ms


def test_a_deadline_keeps_the_fitted_margin_for_its_invocation_only() -> None:
    now = [100.0]
    deadline = Deadline(5.0, clock=lambda: now[0])
    assert deadline.remaining() == math.inf and deadline.margin == 5.0
    deadline.start(Context(3000))
    assert deadline.margin == pytest.approx(0.6)
    now[0] += 1.0
    assert deadline.remaining() == pytest.approx(2.0)
    # a claim's lease (the entry point's lease_seconds) and a renewal's cap agree:
    # remaining + the lease margin
    assert lease_seconds(Context(2000), 300.0) == pytest.approx(4.0)
    assert deadline.lease_cap() == pytest.approx(4.0)
    deadline.clear()
    assert (deadline.margin, lease_seconds(None, 300.0)) == (5.0, 300.0)


class RenewingStore:
    def __init__(self) -> None:
        self.leases: list[float] = []

    def renew(self, pairs: list[tuple[str, str]], lease: float) -> list[bool]:
        self.leases.append(lease)
        return [True] * len(pairs)


def test_a_heartbeat_never_renews_past_the_cap() -> None:
    import time

    store: Any = RenewingStore()
    caps = iter([0.05, 0.01, -1.0, -1.0, -1.0, -1.0])
    beat = Heartbeat(store, cap=lambda: next(caps, -1.0))
    beat.hold({"k": "t"}, 0.06)
    time.sleep(0.15)
    beat.close()
    assert store.leases and all(lease <= 0.05 for lease in store.leases)
    assert store.leases[:2] == [0.05, 0.01]


def test_a_window_holds_events_by_their_envelope_time() -> None:
    from gcdedup.events import Event, Location

    window = Window.parse("2024-05-01T10:00", "2024-05-01T11:00")
    assert window is not None

    def event(time: object) -> Event:
        return Event({"time": time, "detail": {}}, Location("t"))

    assert window.holds(event("2024-05-01T10:00:00Z"))
    assert window.holds(event("2024-05-01T10:59:59.999Z"))
    assert not window.holds(event("2024-05-01T11:00:00Z"))
    assert not window.holds(event("2024-05-01T09:59:59Z"))
    assert window.holds(event("2024-05-01T12:30:00+02:00"))  # 10:30 UTC
    assert not window.holds(event(None)) and not window.holds(event("yesterday"))
    assert Window.parse(None, None) is None
    with pytest.raises(Exception, match="must be later than --since"):
        Window.parse("2024-05-02", "2024-05-01")
