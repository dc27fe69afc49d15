"""A corpus of hostile specs and CLI calls: each gets exit code 2, a few lines naming the
problem, no traceback, and nothing written to MLflow or the storage folder.

The CLI runs in this process (its ``main``), from an empty working folder; the calls that
start Ray run in a subprocess.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from orchestrator.cli import main
from tests.helpers import ROOT, run_orch

COCOA = ROOT / "search_spaces" / "cocoa.yaml"
TRIAL = ROOT / "search_spaces" / "trial.yaml"


def spec_file(folder: Path, mutate=None, text: str | bytes | None = None) -> str:
    path = folder / "spec.yaml"
    if text is not None:
        (path.write_bytes if isinstance(text, bytes) else path.write_text)(text)
        return str(path)
    raw = yaml.safe_load(COCOA.read_text())
    if mutate:
        mutate(raw)
    path.write_text(yaml.safe_dump(raw))
    return str(path)


def setting(section: str, key: str, value):
    def mutate(raw):
        raw.setdefault(section, {})[key] = value

    return mutate


def two_classes(folder: Path) -> Path:
    """An image-folder dataset of two classes: one base class, nothing to split."""
    from PIL import Image

    for split in ("train", "val", "test"):
        for name in ("cat", "dog"):
            (folder / "two" / split / name).mkdir(parents=True, exist_ok=True)
            for i in range(4):
                Image.new("RGB", (8, 8)).save(folder / "two" / split / name / f"{i}.png")
    return folder / "two"


def words(folder: Path, n: int) -> str:
    path = folder / "words.txt"
    path.write_text("".join(f"word{i}\n" for i in range(n)))
    return f"file:{path}"


# (name, argv built from the working folder, needles the message must hold)
CASES = [
    ("spec missing", lambda d: ["validate", str(d / "none.yaml")], ["not found", "none.yaml"]),
    ("spec binary", lambda d: ["validate", spec_file(d, text=b"\x00\xff\xfe")], ["UTF-8"]),
    ("spec empty", lambda d: ["validate", spec_file(d, text="")], ["empty"]),
    ("spec a list", lambda d: ["validate", spec_file(d, text="- a\n- b\n")], ["mapping"]),
    ("spec malformed", lambda d: ["validate", spec_file(d, text="model: [\n")], ["malformed"]),
    (
        "unknown section",
        lambda d: ["validate", spec_file(d, setting("serch", "x", 1))],
        ["serch", "did you mean"],
    ),
    (
        "unknown key",
        lambda d: ["validate", spec_file(d, setting("method", "lamda", 1))],
        ["method.lamda", "did you mean"],
    ),
    ("negative w", lambda d: ["validate", str(COCOA), "--set", "method.w=-1"], ["method.w"]),
    (
        "unknown vocabulary",
        lambda d: ["validate", str(COCOA), "--set", "method.outlier_vocab=klingon"],
        ["method.outlier_vocab", "klingon"],
    ),
    (
        "unknown model",
        lambda d: ["validate", str(COCOA), "--set", "model.name=ViT-Q-99"],
        ["unknown model", "ViT-Q-99"],
    ),
    (
        "unknown tag",
        lambda d: [
            "validate",
            str(COCOA),
            "--set",
            "model.name=ViT-B-16",
            "--set",
            "model.pretrained=nope",
        ],
        ["nope", "ViT-B-16"],
    ),
    (
        "checkpoint missing",
        lambda d: ["validate", str(COCOA), "--set", f"model.checkpoint={d / 'w.pt'}"],
        ["checkpoint", "w.pt"],
    ),
    (
        "checkpoint not weights",
        lambda d: ["validate", str(COCOA), "--set", f"model.checkpoint={COCOA}"],
        ["state dict", "cocoa.yaml"],
    ),
    (
        "tracking ftp",
        lambda d: ["validate", str(COCOA), "--set", "tracking.uri=ftp://host/x"],
        ["ftp", "tracking.uri"],
    ),
    (
        "tracking file store",
        lambda d: ["validate", str(COCOA), "--tracking-uri", f"file:{d}/mlruns"],
        ["file stores"],
    ),
    (
        "tracking folder missing",
        lambda d: ["validate", str(COCOA), "--tracking-uri", f"sqlite:///{d}/no/mlflow.db"],
        ["does not exist"],
    ),
    (
        "shots too many",
        lambda d: ["validate", str(COCOA), "--set", "data.shots=500"],
        ["data.shots"],
    ),
    (
        "searched shots too many",
        lambda d: ["validate", str(COCOA), "--set", "space.data.shots.choices=[1, 400]"],
        ["data.shots", "400"],
    ),
    (
        "vocabulary file missing",
        lambda d: ["validate", str(COCOA), "--set", f"method.outlier_vocab=file:{d}/no.txt"],
        ["no.txt"],
    ),
    (
        "vocabulary file too short",
        lambda d: ["validate", str(COCOA), "--set", f"method.outlier_vocab={words(d, 2)}"],
        ["2 word(s)"],
    ),
    (
        "unknown dataset",
        lambda d: ["validate", str(COCOA), "--set", "protocol.datasets=[imagenette]"],
        ["imagenette", "unknown dataset"],
    ),
    (
        "empty seeds",
        lambda d: ["validate", str(COCOA), "--set", "protocol.seeds=[]"],
        ["protocol.seeds"],
    ),
    (
        "empty datasets",
        lambda d: ["validate", str(COCOA), "--set", "protocol.datasets=[]"],
        ["protocol.datasets"],
    ),
    (
        "seed searched",
        lambda d: [
            "validate",
            str(COCOA),
            "--set",
            "protocol.seeds=[1, 2]",
            "--set",
            "space.train.seed.choices=[1, 2]",
        ],
        ["train.seed", "lucky"],
    ),
    (
        "range inverted",
        lambda d: ["validate", str(COCOA), "--set", "space.method.w.low=20"],
        ["low <= high"],
    ),
    (
        "space key not a setting",
        lambda d: ["validate", str(COCOA), "--set", "space.method.wq.choices=[1]"],
        ["method.wq"],
    ),
    (
        "unknown objective",
        lambda d: [
            "validate",
            spec_file(d, lambda r: r.update(objectives=[{"metric": "f1", "mode": "max"}])),
        ],
        ["f1"],
    ),
    (
        "unknown sampler",
        lambda d: ["validate", str(COCOA), "--set", "search.sampler=bayes"],
        ["sampler"],
    ),
    ("set without =", lambda d: ["validate", str(COCOA), "--set", "method.w"], ["--set"]),
    (
        "set unknown section",
        lambda d: ["validate", str(COCOA), "--set", "mthod.w=1"],
        ["did you mean"],
    ),
    ("zero cpu", lambda d: ["validate", str(COCOA), "--set", "resources.cpu=0"], ["resources.cpu"]),
    (
        "bad class position",
        lambda d: ["validate", str(COCOA), "--set", "prompt.class_position=left"],
        ["prompt.class_position"],
    ),
    ("sweep resume nothing", lambda d: ["sweep", str(COCOA), "--resume"], ["--resume"]),
    (
        "sweep server down",
        lambda d: ["sweep", str(COCOA), "--tracking-uri", "http://127.0.0.1:9"],
        ["unreachable"],
    ),
    (
        "sweep bad model",
        lambda d: ["sweep", str(COCOA), "--set", "model.name=ViT-Q-99"],
        ["ViT-Q-99"],
    ),
    ("trial bad dataset", lambda d: ["trial", str(TRIAL), "--set", "data.dataset=nope"], ["nope"]),
    ("trial no gpu", lambda d: ["trial", str(TRIAL), "--set", "model.device=cuda"], ["CUDA"]),
    ("trial unknown baseline", lambda d: ["trial", str(TRIAL), "--baseline", "clip"], ["clip"]),
    (
        "report store missing",
        lambda d: ["report", "--tracking-uri", f"sqlite:///{d}/no/mlflow.db"],
        ["does not exist"],
    ),
    ("export scheme", lambda d: ["export", "--tracking-uri", "ftp://x"], ["ftp"]),
    ("zero-shot dataset", lambda d: ["zero-shot", "--dataset", "nope"], ["nope"]),
    ("zero-shot template", lambda d: ["zero-shot", "--template", "a photo"], ["{}"]),
    ("zero-shot model", lambda d: ["zero-shot", "--model", "ViT-Q-99"], ["ViT-Q-99"]),
    (
        "zero-shot checkpoint",
        lambda d: ["zero-shot", "--checkpoint", str(d / "none.pt")],
        ["none.pt"],
    ),
    (
        "submit sqlite store",
        lambda d: ["submit", str(COCOA), "--address", "http://127.0.0.1:9"],
        ["http", "--tracking-uri"],
    ),
    (
        "submit address",
        lambda d: [
            "submit",
            str(COCOA),
            "--address",
            "127.0.0.1:9",
            "--tracking-uri",
            "http://127.0.0.1:9",
            "--storage",
            "s3://bucket/orch_runs",
        ],
        ["address"],
    ),
    # protocol kinds, leak-free selection, budgets, DOR variants (a sweep refuses them too)
    (
        "cross-dataset without targets",
        lambda d: [
            "sweep",
            str(TRIAL),
            "--set",
            "protocol.kind=cross_dataset",
            "--set",
            "protocol.source=toy_source",
        ],  # fmt: skip
        ["protocol.targets"],
    ),
    (
        "cross-dataset target is the source",
        lambda d: [
            "validate",
            str(TRIAL),
            "--set",
            "protocol.kind=cross_dataset",
            "--set",
            "protocol.source=toyworld",
            "--set",
            "protocol.targets=[toyworld]",
        ],  # fmt: skip
        ["protocol.targets", "also a target"],
    ),
    (
        "pseudo-new with too few base classes",
        lambda d: [
            "validate",
            str(TRIAL),
            "--set",
            "selection.split=pseudo_new",
            "--set",
            f"data.dataset=folder:{two_classes(d)}",
        ],  # fmt: skip
        ["pseudo_new", "at least 2 base classes"],
    ),
    (
        "zero time budget",
        lambda d: ["sweep", str(COCOA), "--set", "search.time_budget_s=0"],
        ["search.time_budget_s"],
    ),
    (
        "incremental sessions beyond the classes",
        lambda d: [
            "validate",
            str(TRIAL),
            "--set",
            "protocol.kind=incremental",
            "--set",
            "protocol.base_classes=60",
            "--set",
            "protocol.sessions=8",
            "--set",
            "protocol.ways=5",
            "--set",
            "protocol.shots=5",
        ],  # fmt: skip
        ["100 classes", "the dataset has 64", "protocol.base_classes"],
    ),
    (
        "image outliers overlap the base classes",
        lambda d: [
            "validate",
            str(TRIAL),
            "--set",
            "method.adapter=true",
            "--set",
            "method.lam_visual=8",
            "--set",
            "method.image_outliers=toy_source",
        ],  # fmt: skip
        ["method.image_outliers", "base classes"],
    ),
    (
        "adapter ratio out of range",
        lambda d: [
            "trial",
            str(TRIAL),
            "--set",
            "method.adapter=true",
            "--set",
            "method.adapter_ratio=2",
        ],  # fmt: skip
        ["method.adapter_ratio"],
    ),
]


@pytest.mark.parametrize("name, argv, needles", CASES, ids=[c[0] for c in CASES])
def test_hostile_input_is_one_clear_error(name, argv, needles, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    args = argv(tmp_path)
    try:
        code = main(args)
    except SystemExit as exc:  # argparse's own usage errors
        code = exc.code
    err = capsys.readouterr().err
    assert code == 2, (name, code, err)
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if line.strip()]
    assert 1 <= len(lines) <= 3, err
    for needle in needles:
        assert needle in err, (needle, err)
    assert not (tmp_path / "mlflow.db").exists() and not (tmp_path / "orch_runs").exists()


def test_a_gpu_no_node_has_is_refused_before_any_trial(tmp_path):
    result = run_orch("sweep", str(COCOA), "--set", "resources.gpu=1", cwd=tmp_path)
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr[-2000:]
    assert "no node" in result.stderr and "GPU" in result.stderr
    assert not (tmp_path / "mlflow.db").exists()
