"""Every YAML load is a safe load, every ``torch.load`` (and every loader that takes the flag,
as open_clip's do) passes ``weights_only=True``, and nothing unpickles.

The source tree's AST is scanned, so a new ``yaml.load(...)`` or ``torch.load(path)`` fails
here with its file and line; the checker itself is tested on snippets it must refuse.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.helpers import ROOT

SCANNED = ("orchestrator", "workers", "tests", "bench", "cluster")
UNSAFE_YAML = {"load", "load_all", "full_load", "full_load_all", "unsafe_load", "unsafe_load_all"}
UNSAFE_PICKLE = {"load", "loads"}  # unpickling runs whatever the file says


def unsafe_loads(source: str, filename: str) -> list[str]:
    """``file:line: call`` for each unsafe load in ``source``, import aliases followed."""
    tree = ast.parse(source, filename)
    modules: dict[str, str] = {}  # local name -> module it is bound to
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                modules[alias.asname or alias.name] = alias.name
        elif isinstance(node, ast.ImportFrom) and node.module in ("yaml", "torch", "pickle"):
            for alias in node.names:
                if alias.name in UNSAFE_YAML | UNSAFE_PICKLE:
                    found.append(
                        f"{filename}:{node.lineno}: from {node.module} import {alias.name}"
                    )
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
            continue
        owner = node.func.value
        module = modules.get(owner.id) if isinstance(owner, ast.Name) else None
        name = node.func.attr
        where = f"{filename}:{node.lineno}: {module}.{name}"
        if module == "yaml" and name in UNSAFE_YAML:
            found.append(f"{where} (use yaml.safe_load)")
        elif module in ("pickle", "cloudpickle") and name in UNSAFE_PICKLE:
            found.append(f"{where} (store tensors and load them with torch.load)")
        elif module == "torch" and name == "load" and not weights_only(node):
            found.append(f"{where} without weights_only=True")
        elif any(k.arg == "weights_only" for k in node.keywords) and not weights_only(node):
            found.append(f"{where} with weights_only other than True")  # open_clip's loaders
    return found


def weights_only(call: ast.Call) -> bool:
    return any(
        k.arg == "weights_only" and isinstance(k.value, ast.Constant) and k.value.value is True
        for k in call.keywords
    )


def source_files() -> list[Path]:
    return sorted(p for folder in SCANNED for p in (ROOT / folder).rglob("*.py"))


def test_the_source_tree_loads_yaml_safely_and_weights_only():
    files = source_files()
    assert len(files) > 50  # the scan reaches the tree, not an empty folder
    found = [line for path in files for line in unsafe_loads(path.read_text(), str(path))]
    assert not found, "\n".join(found)


@pytest.mark.parametrize(
    "snippet",
    [
        "import yaml\nyaml.load(open('s.yaml'))",
        "import yaml\nyaml.load(text, Loader=yaml.FullLoader)",
        "import yaml as y\ny.unsafe_load(text)",
        "import yaml\nlist(yaml.load_all(text))",
        "from yaml import load",
        "import torch\ntorch.load('ckpt.pt')",
        "import torch\ntorch.load('ckpt.pt', map_location='cpu', weights_only=False)",
        "import torch as th\nth.load('ckpt.pt', weights_only=flag)",
        "import pickle\npickle.loads(blob)",
        "import open_clip\nopen_clip.load_checkpoint(model, path, weights_only=False)",
    ],
)
def test_the_checker_refuses_unsafe_loads(snippet):
    assert unsafe_loads(snippet, "x.py")


@pytest.mark.parametrize(
    "snippet",
    [
        "import yaml\nyaml.safe_load(text)\nlist(yaml.safe_load_all(text))",
        "import torch\ntorch.load('ckpt.pt', map_location='cpu', weights_only=True)",
        "import json\njson.load(f)",
    ],
)
def test_the_checker_passes_safe_loads(snippet):
    assert unsafe_loads(snippet, "x.py") == []
