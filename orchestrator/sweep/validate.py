"""``orch validate``: everything a sweep needs, checked without running a trial."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from orchestrator.spec.load import Spec
from orchestrator.tracking.uri import check_reachable, resolve_uri, shown_uri
from workers.errors import DataError, SetupError, UserError
from workers.paths import default_data_root


def _check_datasets(spec: Spec) -> list[str]:
    """Every dataset a cell will read: the protocol's (datasets, or source and targets), else
    the trial's own."""
    from workers.datasets import read_split

    root = spec.trial.data.root or default_data_root()
    cells = spec.protocol.cells(spec.trial)
    kind = spec.protocol.kind
    roles = {c.dataset: "source" if c.targets else kind for c in cells}
    roles.update({t: "target" for c in cells for t in c.targets})
    checked = []
    for dataset, role in roles.items():
        try:
            splits = read_split(root, dataset)  # writes nothing outside the project's own folder
        except DataError as exc:
            raise DataError(f"{spec.path}: {_where(spec, role)}: {exc}") from None
        _check_classes(spec, dataset, splits, role)
        if role != "target":
            _check_image_outliers(spec, dataset, splits, root)
        counts = ", ".join(f"{k} {len(v)}" for k, v in splits.items())
        checked.append(f"dataset {dataset} at {Path(root).resolve()} ({counts} images)")
    return checked


def _where(spec: Spec, role: str) -> str:
    if role == "source":
        return "protocol.source"
    if role == "target":
        return "protocol.targets"
    return "protocol.datasets" if spec.protocol.datasets else "data.dataset"


def setting_values(spec: Spec, path: str) -> set:
    """Every value a setting can take in the sweep: fixed, searched (a range's corners), or
    given by a named point."""
    values = {spec.trial.flat()[path]}
    dim = spec.space.get(path)
    if dim is not None:
        values |= set(dim.choices or []) if dim.kind == "choices" else set()
        values |= {dim.low, dim.high} if dim.kind == "range" else set()
        values |= {dim.value} if dim.kind == "fixed" else set()
    values |= {p.values[path] for p in spec.sweep.search.points_to_evaluate if path in p.values}
    return values


def _check_classes(spec: Spec, dataset: str, splits: dict, role: str) -> None:
    """CoOp's sampler draws shots without replacement: every trained class must hold them
    (every evaluated class its validation shots); pseudo-new needs base classes to split."""
    from workers.splits import base_new_items, dataset_labels, subsample_classes

    shots = int(max(setting_values(spec, "data.shots")))
    if role == "incremental":
        _check_sessions(spec, dataset, splits, shots)
        return
    if role == "base_to_new":
        try:
            trained = base_new_items(splits, "base", pseudo_new=spec.protocol.split == "pseudo_new")
        except DataError as exc:
            raise DataError(f"{spec.path}: {dataset}: {exc}") from None
        trained = {"train": trained["train"], "val": trained["val"]}
        kind = "base"
    else:
        labels = dataset_labels(splits)
        trained = {s: subsample_classes(splits[s], "all", labels) for s in ("train", "val")}
        kind = "source" if role == "source" else "target"
    needs = [("val", min(shots, 4))] + ([("train", shots)] if role != "target" else [])
    for split, need in needs:
        counts: dict[int, int] = {}
        for item in trained[split]:
            counts[item.label] = counts.get(item.label, 0) + 1
        if counts and min(counts.values()) < need:
            raise DataError(
                f"{spec.path}: data.shots: {shots} shots need {need} {split} images in every "
                f"{kind} class, but the smallest class of {dataset} has {min(counts.values())}; "
                f"lower data.shots"
            )


def _check_sessions(spec: Spec, dataset: str, splits: dict, shots: int) -> None:
    """Enough classes for every session, enough images for every session's shots."""
    from workers.errors import ConfigError
    from workers.splits import dataset_labels

    plan = spec.protocol.plan
    try:
        sessions = plan.classes(dataset_labels(splits))
    except ConfigError as exc:
        raise ConfigError(f"{spec.path}: {dataset}: {exc}") from None
    for k, labels in enumerate(sessions):
        need = {"train": shots if k == 0 else plan.shots, "val": min(shots, 4)}
        for split, n in need.items():
            counts: dict[int, int] = {}
            for item in splits[split]:
                counts[item.label] = counts.get(item.label, 0) + 1
            short = [label for label in labels if counts.get(label, 0) < n]
            if short:
                key = "data.shots" if k == 0 or split == "val" else "protocol.shots"
                raise DataError(
                    f"{spec.path}: {key}: session {k} needs {n} {split} images in every class, "
                    f"but {dataset} has {counts.get(short[0], 0)} for label {short[0]}; "
                    f"lower {key}"
                )


def _check_image_outliers(spec: Spec, dataset: str, splits: dict, root) -> None:
    """Visual DOR's outlier images exist and hold no class of the trained set."""
    from workers.image_outliers import image_outlier_items
    from workers.splits import class_names, subsample_classes

    if not any(setting_values(spec, "method.lam_visual")):
        return
    subset = "all" if spec.protocol.kind == "cross_dataset" else "base"
    names = class_names(subsample_classes(splits["train"], subset))
    for source in setting_values(spec, "method.image_outliers") - {None}:
        try:
            image_outlier_items(source, root=root, dataset=dataset, base_names=names)
        except DataError as exc:
            raise DataError(f"{spec.path}: {exc}") from None


def _start_preflight(spec: Spec) -> subprocess.Popen:
    """The model and any file: vocabulary, checked by the data plane in a subprocess."""
    payload = {
        "model": dataclasses.asdict(spec.trial.model),
        "vocabularies": sorted(str(v) for v in setting_values(spec, "method.outlier_vocab")),
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "workers.preflight"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )  # in the caller's folder: relative paths in the spec mean the same to both planes
    process.stdin.write(json.dumps(payload))
    process.stdin.close()
    process.stdin = None  # written and closed: communicate() must not flush it (3.11 would)
    return process


def _preflight_result(spec: Spec, process: subprocess.Popen) -> list[str]:
    out, err = process.communicate()
    lines = out.strip().splitlines()
    if process.returncode == 2 and lines:
        raise UserError(f"{spec.path}: {lines[-1].removeprefix('error: ')}")
    if process.returncode != 0:
        raise RuntimeError(f"workers.preflight failed:\n{err[-2000:]}")
    return [line.removeprefix("ok ") for line in lines]


def _check_wordnet(spec: Spec) -> str | None:
    vocabularies = setting_values(spec, "method.outlier_vocab")
    if not any(str(v).startswith(("wordnet", "random_words")) for v in vocabularies):
        return None
    from workers.paths import nltk_data_dir
    from workers.wordnet import WORDNET_FILES, wordnet_dir

    corpus = wordnet_dir(nltk_data_dir())
    if not all((corpus / f).is_file() for f in WORDNET_FILES):
        raise SetupError(f"WordNet is not provisioned (looked in {corpus}): run `orch setup`")
    return f"WordNet 3.0 at {corpus}"


def validate(
    spec: Spec,
    *,
    tracking_uri: str | None = None,
    meanwhile: Callable[[], None] | None = None,
) -> list[str]:
    """Raise a UserError on the first problem; return what was checked.

    ``meanwhile`` runs while the data plane's subprocess checks the model (seconds of
    importing torch): ``orch sweep`` starts Ray there, which writes nothing of the user's."""
    cells = spec.protocol.cells(spec.trial)
    checked = [
        f"spec {spec.path}: {len(spec.space)} search dimensions, "
        f"{spec.sweep.search.num_trials} trials of {len(cells)} cell(s) each"
    ]
    if spec.sweep.replay.table:  # a replay reads no data and loads no model
        from orchestrator.search.replay import ReplaySpace

        checked.append(ReplaySpace.from_spec(spec).check())
        if meanwhile is not None:
            meanwhile()
        return [*checked, _check_tracking(spec, tracking_uri)]
    checked.extend(_check_datasets(spec))
    preflight = _start_preflight(spec)
    try:
        if meanwhile is not None:
            meanwhile()
    except BaseException:
        preflight.kill()
        preflight.wait()
        raise
    checked.extend(_preflight_result(spec, preflight))
    wordnet = _check_wordnet(spec)
    if wordnet:
        checked.append(wordnet)
    for point in spec.sweep.search.points_to_evaluate:
        spec.trial.with_overrides(point.values)
    checked.append(_check_tracking(spec, tracking_uri))
    return checked


def _check_tracking(spec: Spec, tracking_uri: str | None) -> str:
    uri = resolve_uri(tracking_uri or spec.sweep.tracking.uri)
    check_reachable(uri)
    return f"tracking {shown_uri(uri)}"
