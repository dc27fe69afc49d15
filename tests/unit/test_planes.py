"""The control plane never loads torch; the data plane never loads optuna or mlflow."""

import subprocess
import sys

import pytest

CHECK = """
import sys, importlib
for name in {modules!r}:
    importlib.import_module(name)
bad = sorted(m for m in {forbidden!r} if m in sys.modules)
print(",".join(bad))
"""


def loaded_forbidden(modules, forbidden):
    code = CHECK.format(modules=modules, forbidden=forbidden)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return out.stdout.strip()


@pytest.mark.parametrize("module", ["orchestrator.cli", "orchestrator.provision"])
def test_orchestrator_does_not_import_torch(module):
    assert loaded_forbidden([module], ["torch", "open_clip", "torchvision"]) == ""


def test_workers_do_not_import_optuna_or_mlflow():
    modules = [
        "workers.model",
        "workers.prompts",
        "workers.metrics",
        "workers.zero_shot",
        "workers.runtime",
        "workers.toyworld.pretrain",
        "workers.wordnet",
    ]
    assert loaded_forbidden(modules, ["optuna", "mlflow"]) == ""


def test_only_the_adapter_imports_open_clip():
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    importers = sorted(
        str(p.relative_to(root))
        for p in list((root / "workers").rglob("*.py"))
        + list((root / "orchestrator").rglob("*.py"))
        if "import open_clip" in p.read_text() or "from open_clip" in p.read_text()
    )
    assert importers == ["workers/model.py"]
