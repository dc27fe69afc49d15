"""The two planes stay apart and every module stands on its own.

The control plane (orchestrator/) never loads torch; the data plane (workers/) never loads
optuna or mlflow; only the adapter imports open_clip; no module imports itself back; the
control plane's packages import one way, as their docstrings say.
"""

import ast
import importlib
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# every module of a plane imported in one interpreter (one import of torch, not one per
# module); a finder on sys.meta_path sees each forbidden package's first import and names the
# project modules on the stack that asked for it
CHECK = """
import importlib, sys, traceback
from pathlib import Path
forbidden, project, blamed = {forbidden!r}, {project!r}, {{}}

class Watch:
    def find_spec(self, name, path=None, target=None):
        top = name.partition(".")[0]
        if top in forbidden and top not in blamed:
            chain = []
            for frame in traceback.extract_stack():
                parts = Path(frame.filename).parts
                for i, part in enumerate(parts):
                    if part in project and frame.filename.endswith(".py"):
                        module = ".".join(parts[i:]).removesuffix(".py")
                        module = module.removesuffix(".__init__")
                        if module not in chain:
                            chain.append(module)
                        break
            blamed[top] = " -> ".join(chain) or "?"
        return None

sys.meta_path.insert(0, Watch())
for module in {modules!r}:
    importlib.import_module(module)
for top, chain in sorted(blamed.items()):
    print(f"{{chain}} imports {{top}}")
"""


def modules(package: str) -> list[str]:
    return sorted(
        ".".join(p.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
        for p in (ROOT / package).rglob("*.py")
    )


def loaded_forbidden(package: str, forbidden: list[str]) -> str:
    """Which project modules, importing every module of ``package``, load a forbidden one."""
    code = CHECK.format(forbidden=forbidden, project=[package], modules=modules(package))
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT
    )
    return out.stdout.strip()


def test_every_module_is_covered():
    assert {
        "orchestrator.sweep.run",
        "orchestrator.search.tuner",
        "orchestrator.tracking.runs",
        "orchestrator.report.sweep_report",
    } <= set(modules("orchestrator"))
    assert {"workers.trial", "workers.trainable", "workers.episode"} <= set(modules("workers"))


def test_no_orchestrator_module_imports_torch():
    assert loaded_forbidden("orchestrator", ["torch", "open_clip", "torchvision"]) == ""


def test_no_workers_module_imports_optuna_or_mlflow():
    assert loaded_forbidden("workers", ["optuna", "mlflow"]) == ""


def test_the_check_names_the_module_that_imports_a_forbidden_package():
    # the data plane imports torch at its modules' tops: the check sees it and names who
    found = loaded_forbidden("workers", ["torch"])
    assert found.endswith("imports torch") and found.startswith("workers."), found


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


# the control plane's packages, lowest first: a package imports only packages before it
# (``provision`` and ``selection`` stand alone, side by side)
PACKAGES = [
    {"provision", "selection"},
    {"spec"},
    {"search"},
    {"tracking"},
    {"report"},
    {"sweep"},
    {"submission"},
    {"commands"},
    {"cli"},
]
RANK = {package: rank for rank, level in enumerate(PACKAGES) for package in level}


def package_of(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if parts[0] == "orchestrator" and len(parts) > 1 else None


def package_imports() -> dict[str, set[str]]:
    """Control-plane package -> the other control-plane packages its modules import."""
    imports: dict[str, set[str]] = {}
    for module, targets in import_graph().items():
        if (source := package_of(module)) is not None:
            imports.setdefault(source, set()).update(
                target for t in targets if (target := package_of(t)) not in (None, source)
            )
    return imports


def declared_imports(package: str) -> set[str]:
    """The packages an ``__init__`` docstring's ``May import:`` line names."""
    doc = importlib.import_module(f"orchestrator.{package}").__doc__ or ""
    (line,) = re.findall(r"May import: (.*)", doc) or [""]
    if line.startswith("any "):
        return {p for p in RANK if RANK[p] < RANK[package]}
    return set(re.findall(r"[a-z_]+", line)) & set(RANK)


def test_every_package_has_a_place_in_the_order():
    on_disk = {p.name for p in (ROOT / "orchestrator").iterdir() if (p / "__init__.py").is_file()}
    assert on_disk | {"cli"} == set(RANK)


def upward(imports: dict[str, set[str]]) -> list[str]:
    """The imports that go against the order, as "source imports target"."""
    return sorted(
        f"{source} imports {target}"
        for source, targets in imports.items()
        for target in targets
        if RANK[target] >= RANK[source]
    )


def test_the_control_plane_packages_import_one_way():
    assert upward(package_imports()) == []


def test_each_package_imports_what_its_docstring_says_it_may():
    imports = package_imports()
    for package in set(RANK) - {"cli"}:
        allowed = declared_imports(package)
        assert all(RANK[p] < RANK[package] for p in allowed), (package, allowed)
        assert imports.get(package, set()) <= allowed, (package, imports[package] - allowed)


def test_the_direction_check_sees_an_upward_import():
    # spec importing search, or two packages side by side importing each other, breaks it
    assert upward({"spec": {"selection", "search"}, "search": {"spec"}}) == ["spec imports search"]
    assert upward({"provision": {"selection"}}) == ["provision imports selection"]


def test_each_package_docstring_names_its_modules():
    for package in set(RANK) - {"cli", "commands"}:
        doc = importlib.import_module(f"orchestrator.{package}").__doc__
        (owns,) = re.findall(r"Owns: (.*?)May import:", doc, flags=re.S)
        named = set(re.findall(r"``([a-z_]+)``", owns))
        on_disk = {p.stem for p in (ROOT / "orchestrator" / package).glob("*.py")} - {"__init__"}
        assert named == on_disk, package
