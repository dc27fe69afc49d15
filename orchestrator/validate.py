"""``orch validate``: everything a sweep needs, checked without running a trial."""

from __future__ import annotations

from pathlib import Path

from orchestrator.spec import Spec
from orchestrator.tracking import check_reachable, resolve_uri
from workers.errors import DataError, ModelError, SetupError
from workers.paths import ASSET_DIR, default_data_root


def _check_datasets(spec: Spec) -> list[str]:
    """Every dataset a cell will read (the protocol's, else the trial's own)."""
    from workers.datasets import read_split

    root = spec.trial.data.root or default_data_root()
    checked = []
    for dataset in dict.fromkeys(c.dataset for c in spec.protocol.cells(spec.trial)):
        try:
            splits = read_split(root, dataset)  # generates the toy world if needed
        except DataError as exc:
            where = "protocol.datasets" if spec.protocol.datasets else "data.dataset"
            raise DataError(f"{spec.path}: {where}: {exc}") from None
        counts = ", ".join(f"{k} {len(v)}" for k, v in splits.items())
        checked.append(f"dataset {dataset} at {Path(root).resolve()} ({counts} images)")
    return checked


def _check_weights(spec: Spec) -> str:
    """Weights obtainable without loading torch: a local file, project weights or a tag."""
    m = spec.trial.model
    if m.checkpoint:
        if not Path(m.checkpoint).expanduser().is_file():
            raise ModelError(f"model.checkpoint: file not found: {m.checkpoint}")
        return f"model {m.name} weights {m.checkpoint}"
    if m.name == "toyclip" and m.pretrained == "toyworld":
        asset = ASSET_DIR / "toyclip_toyworld.pt"
        if not asset.is_file():
            raise ModelError(
                f"project weights missing at {asset}: python -m workers.toyworld.pretrain"
            )
        return f"model {m.name}/{m.pretrained} ({asset})"
    return f"model {m.name}/{m.pretrained} (open_clip tag; weights are fetched or read from cache)"


def _check_wordnet(spec: Spec) -> str | None:
    vocabularies = {spec.trial.method.outlier_vocab}
    dim = spec.sweep.space.get("method.outlier_vocab")
    if dim is not None:
        vocabularies |= set(dim.choices or [dim.value])
    if not any(str(v).startswith(("wordnet", "random_words")) for v in vocabularies):
        return None
    from workers.paths import nltk_data_dir
    from workers.wordnet import WORDNET_FILES, wordnet_dir

    corpus = wordnet_dir(nltk_data_dir())
    if not all((corpus / f).is_file() for f in WORDNET_FILES):
        raise SetupError(f"WordNet is not provisioned (looked in {corpus}): run `orch setup`")
    return f"WordNet 3.0 at {corpus}"


def validate(spec: Spec, *, tracking_uri: str | None = None) -> list[str]:
    """Raise a UserError on the first problem; return what was checked."""
    cells = spec.protocol.cells(spec.trial)
    checked = [
        f"spec {spec.path}: {len(spec.sweep.space)} search dimensions, "
        f"{spec.sweep.search.num_trials} trials of {len(cells)} cell(s) each"
    ]
    checked.extend(_check_datasets(spec))
    checked.append(_check_weights(spec))
    wordnet = _check_wordnet(spec)
    if wordnet:
        checked.append(wordnet)
    for point in spec.sweep.search.points_to_evaluate:
        spec.trial.with_overrides(point.values)
    uri = resolve_uri(tracking_uri or spec.sweep.tracking.uri)
    check_reachable(uri)
    checked.append(f"tracking {uri}")
    return checked
