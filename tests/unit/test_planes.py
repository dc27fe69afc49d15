"""The two planes stay apart and every module stands on its own.

The control plane (orchestrator/) never loads torch; the data plane (workers/) never loads
optuna or mlflow; only the adapter imports open_clip; no module imports itself back.
"""

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CHECK = """
import sys, importlib
importlib.import_module({module!r})
print(",".join(sorted(m for m in {forbidden!r} if m in sys.modules)))
"""


def modules(package: str) -> list[str]:
    return sorted(
        ".".join(p.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
        for p in (ROOT / package).rglob("*.py")
    )


def loaded_forbidden(module: str, forbidden: list[str]) -> str:
    code = CHECK.format(module=module, forbidden=forbidden)
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT
    )
    return out.stdout.strip()


def test_every_module_is_covered():
    assert {
        "orchestrator.sweep",
        "orchestrator.tuner",
        "orchestrator.runs",
        "orchestrator.report",
    } <= set(modules("orchestrator"))
    assert {"workers.trial", "workers.trainable", "workers.episode"} <= set(modules("workers"))


@pytest.mark.parametrize("module", modules("orchestrator"))
def test_orchestrator_module_does_not_import_torch(module):
    assert loaded_forbidden(module, ["torch", "open_clip", "torchvision"]) == ""


@pytest.mark.parametrize("module", modules("workers"))
def test_workers_module_does_not_import_optuna_or_mlflow(module):
    assert loaded_forbidden(module, ["optuna", "mlflow"]) == ""


def test_only_the_adapter_imports_open_clip():
    importers = sorted(
        str(p.relative_to(ROOT))
        for p in list((ROOT / "workers").rglob("*.py"))
        + list((ROOT / "orchestrator").rglob("*.py"))
        if "import open_clip" in p.read_text() or "from open_clip" in p.read_text()
    )
    assert importers == ["workers/model.py"]


def import_graph() -> dict[str, set[str]]:
    """Module -> the project modules it imports (at any depth of the file, lazily or not)."""
    known = set(modules("orchestrator")) | set(modules("workers"))
    graph: dict[str, set[str]] = {}
    for name in known:
        path = ROOT / (name.replace(".", "/") + ".py")
        if not path.is_file():
            path = ROOT / name.replace(".", "/") / "__init__.py"
        edges = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module:
                targets = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
            elif isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            else:
                continue
            edges |= {t for t in targets if t in known and t != name}
        graph[name] = edges
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return path[path.index(nxt) :] + [nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        state[node] = 2
        path.pop()
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return None


def test_find_cycle_finds_one():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_no_import_cycle():
    assert find_cycle(import_graph()) is None
