"""The typed configuration of one trial, rebuilt from a plain dict at the top of the trainable.

The driver validates the YAML spec; these checks repeat the rules that protect the trial
itself (ranges, combinations), so a trial started by hand fails as clearly as a sweep.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field, fields
from typing import Any

from workers.errors import ConfigError, did_you_mean

VOCABULARIES = (
    "wordnet_nouns",
    "wordnet_near_ood",
    "random_words",
    "random_strings",
    "clip_vocab",
)
RESAMPLE = ("step", "epoch", "never")
# What a trial reports each epoch (validation, in %) and, prefixed test_, at its end: per
# protocol kind (base-to-new, cross-dataset); a cross-dataset cell adds, per target T,
# target_acc/T and ece_target/T.
BASE_TO_NEW_METRICS = ("base_acc", "new_acc", "hm", "ece_base", "ece_new", "ece")
CROSS_DATASET_METRICS = ("source_acc", "target_acc", "hm", "ece_source", "ece_target", "ece")
# class-incremental: accuracy over every class seen so far after each session (acc_s<k>),
# their mean, the last one, the drop first - last, and the ECE after the last session
INCREMENTAL_METRICS = ("acc_avg", "acc_last", "pd", "ece_last")
REPORTED_METRICS = tuple(
    dict.fromkeys(BASE_TO_NEW_METRICS + CROSS_DATASET_METRICS + INCREMENTAL_METRICS)
)


@dataclass(frozen=True)
class ModelConfig:
    name: str = "toyclip"  # an open_clip architecture name (ViT-B-16, ...) or the built-in toyclip
    pretrained: str | None = "toyworld"  # an open_clip pretrained tag, or None for random weights
    checkpoint: str | None = None  # a local checkpoint file, loaded instead of the tag
    device: str = "auto"  # auto (CUDA when present), cuda or cpu


@dataclass(frozen=True)
class DataConfig:
    dataset: str = "toyworld"  # a dataset folder under the data root (CoOp layout) or a toy one
    root: str | None = None  # None: the project's data folder
    shots: int = 16  # training images per class
    n_views: int = 4  # precomputed augmented views per training image
    crop_scale_min: float = 0.08  # RandomResizedCrop lower bound (CoOp's default)
    template: str = "a photo of a {}."  # the zero-shot prompt; {} is the class name


@dataclass(frozen=True)
class PromptConfig:
    n_ctx: int = 4  # learned context tokens
    ctx_init: str | None = "a photo of a"  # words the context starts from; None: random
    class_position: str = "end"  # where the class name sits: end, middle or front
    class_specific: bool = False  # one context per class (CoOp's CSC) instead of a shared one
    shared_prefix: bool = True  # run [SOS] + a shared context once per call (exact, faster)
    frozen: bool = False  # keep the context at its init (visual tuning only: the adapter)


@dataclass(frozen=True)
class MethodConfig:
    w: float = 0.0  # CoA-loss weight
    lam: float = 0.0  # DOR weight (lambda)
    lam_kg: float = 0.0  # KgCoOp weight
    mixture: bool = False  # CoA-weights mixture of t0 and t1
    d: float = 0.0  # entropy margin of the out-group weights (nats)
    # DOR's outlier source: wordnet_nouns, wordnet_near_ood, random_words, random_strings,
    # clip_vocab or file:PATH
    outlier_vocab: str = "random_words"
    outlier_batch: int = 32  # DOR outliers per draw
    near_ood_k: int = 5000  # wordnet_near_ood keeps the k nouns nearest the base class names
    pool_size: int = 5000  # words kept by random_words / random_strings
    resample_every: str = "step"  # when DOR draws new outliers: step, epoch or never
    optimization: str = "two_stage"  # CoCoA-Mix: prompt then weights (two_stage) or both at once
    # class-incremental: a new specialized prompt per session, or one prompt carried across
    session_prompts: str = "new"
    specialized_init: float = 0.5  # the specialized prompt's initial share in the mixture
    adapter: bool = False  # a residual bottleneck adapter on the image features (CLIP-Adapter)
    adapter_ratio: float = 0.2  # the adapter's share of the adapted feature
    lam_visual: float = 0.0  # visual DOR weight: outlier images through the adapter
    image_outliers: str | None = None  # a dataset name under the data root, or a folder


@dataclass(frozen=True)
class TrainConfig:
    epochs: int = 10  # 0: no training at all (zero-shot CLIP with ctx_init as the prompt)
    batch_size: int = 32  # images per step
    optimizer: str = "sgd"  # sgd or adam
    lr: float = 0.002  # the prompt's learning rate (cosine schedule after the warm-up)
    warmup_epochs: int = 1  # epochs at a constant warmup_lr first (CoOp's warm-up)
    warmup_lr: float = 1e-5  # the warm-up's learning rate
    weight_epochs: int = 5  # stage 2 (CoA-weights) epochs in two-stage optimisation
    weight_lr: float = 0.1  # the CoA-weights' learning rate in stage 2
    seed: int = 1  # the cell's seed: few-shot draw, initialisation, order
    n_bins: int = 10  # confidence bins of the ECE and the reliability diagrams


@dataclass(frozen=True)
class TrialConfig:
    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    prompt: PromptConfig = field(default_factory=PromptConfig)
    method: MethodConfig = field(default_factory=MethodConfig)
    train: TrainConfig = field(default_factory=TrainConfig)

    def __post_init__(self) -> None:
        _validate(self)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def flat(self) -> dict[str, Any]:
        """Every setting by its dotted path: ``{"method.w": 2.0, ...}``."""
        return {f"{s}.{k}": v for s, section in self.to_dict().items() for k, v in section.items()}

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> TrialConfig:
        """Build from nested dicts; unknown keys are errors with a 'did you mean'."""
        sections = {f.name: f.type for f in fields(cls)}
        kwargs = {}
        for name, value in raw.items():
            if name not in sections:
                raise ConfigError(_unknown(name, sections, ""))
            section_cls = {f.name: f for f in fields(cls)}[name].default_factory
            types = {f.name: f.type for f in fields(section_cls)}
            for key in value:
                if key not in types:
                    raise ConfigError(_unknown(key, types, f"{name}."))
                _check_type(f"{name}.{key}", types[key], value[key])
            kwargs[name] = section_cls(**value)
        return cls(**kwargs)

    def with_overrides(self, overrides: dict[str, Any]) -> TrialConfig:
        """Apply dotted-path overrides, e.g. ``{"method.w": 2.0}``."""
        raw = self.to_dict()
        for path, value in overrides.items():
            section, _, key = path.partition(".")
            if section not in raw or not key:
                raise ConfigError(_unknown(path, [f"{s}.<key>" for s in raw], ""))
            raw[section][key] = value
        return TrialConfig.from_dict(raw)


# what a setting's annotation admits; an int is a float too, a bool is neither
_ADMITS = {"float": (int, float), "int": (int,), "bool": (bool,), "str": (str,), "None": ()}


def _check_type(path: str, annotation: str, value: Any) -> None:
    options = [part.strip() for part in str(annotation).split("|")]
    if value is None and "None" in options:
        return
    for option in options:
        admitted = _ADMITS.get(option, (object,))
        if isinstance(value, admitted) and (option == "bool" or not isinstance(value, bool)):
            return
    names = {"float": "a number", "int": "an integer", "bool": "true or false", "str": "text"}
    wanted = " or ".join(names.get(o, o) for o in options if o != "None")
    hint = ""
    if isinstance(value, str) and "float" in options:
        hint = " (YAML reads 1e6 as text: write 1.0e+6)"
    raise ConfigError(f"{path}: {wanted} is needed, but got {value!r}{hint}")


def _unknown(key: str, known, prefix: str) -> str:
    return f"unknown key '{prefix}{key}'{did_you_mean(key, known, prefix)}"


def _check(ok: bool, path: str, rule: str, value: Any) -> None:
    if not ok:
        raise ConfigError(f"{path}: {rule} must hold, but got {value!r}")


def _validate(cfg: TrialConfig) -> None:
    m, t, p, d = cfg.method, cfg.train, cfg.prompt, cfg.data
    _check(m.w >= 0, "method.w", "w >= 0", m.w)
    _check(m.lam >= 0, "method.lam", "lambda >= 0", m.lam)
    _check(m.lam_kg >= 0, "method.lam_kg", "lam_kg >= 0", m.lam_kg)
    _check(m.lam_visual >= 0, "method.lam_visual", "lam_visual >= 0", m.lam_visual)
    _check(
        0 < m.adapter_ratio <= 1, "method.adapter_ratio", "0 < adapter_ratio <= 1", m.adapter_ratio
    )
    if m.lam_visual and not m.adapter:
        raise ConfigError(
            f"method.lam_visual: visual DOR (here {m.lam_visual:g}) regularises the image "
            "adapter: set method.adapter: true, or lam_visual: 0"
        )
    if m.lam_visual and not m.image_outliers:
        raise ConfigError(
            "method.image_outliers: visual DOR needs outlier images; give a dataset name under "
            "the data root or a folder of images of classes outside the base set"
        )
    if p.frozen and not m.adapter:
        raise ConfigError(
            "prompt.frozen: with the context frozen and no image adapter the prompt stage has "
            "nothing to train; set method.adapter: true or prompt.frozen: false"
        )
    _check(m.d >= 0, "method.d", "d >= 0", m.d)
    _check(m.outlier_batch >= 1, "method.outlier_batch", "outlier_batch >= 1", m.outlier_batch)
    _check(m.near_ood_k >= 1, "method.near_ood_k", "near_ood_k >= 1", m.near_ood_k)
    _check(m.pool_size >= 1, "method.pool_size", "pool_size >= 1", m.pool_size)
    _check(
        m.outlier_vocab in VOCABULARIES or m.outlier_vocab.startswith("file:"),
        "method.outlier_vocab",
        f"one of {VOCABULARIES} or file:PATH",
        m.outlier_vocab,
    )
    _check(
        m.resample_every in RESAMPLE,
        "method.resample_every",
        f"one of {RESAMPLE}",
        m.resample_every,
    )
    _check(
        m.optimization in ("one_stage", "two_stage"),
        "method.optimization",
        "one of ('one_stage', 'two_stage')",
        m.optimization,
    )
    _check(
        0 < m.specialized_init < 1,
        "method.specialized_init",
        "0 < specialized_init < 1",
        m.specialized_init,
    )
    _check(
        m.session_prompts in ("new", "carried"),
        "method.session_prompts",
        "one of ('new', 'carried')",
        m.session_prompts,
    )
    _check(p.n_ctx >= 1, "prompt.n_ctx", "n_ctx >= 1", p.n_ctx)
    _check(
        p.class_position in ("end", "middle", "front"),
        "prompt.class_position",
        "one of ('end', 'middle', 'front')",
        p.class_position,
    )
    _check(
        not (p.class_specific and (m.lam or m.mixture)),
        "prompt.class_specific",
        "class-specific context cannot encode outlier words (DOR, mixture): use shared context",
        p.class_specific,
    )
    _check(d.shots >= 1, "data.shots", "shots >= 1", d.shots)
    _check(d.n_views >= 1, "data.n_views", "n_views >= 1", d.n_views)
    _check(
        0 < d.crop_scale_min <= 1,
        "data.crop_scale_min",
        "0 < crop_scale_min <= 1",
        d.crop_scale_min,
    )
    _check(d.template.count("{}") == 1, "data.template", "exactly one '{}' in template", d.template)
    _check(t.epochs >= 0, "train.epochs", "epochs >= 0", t.epochs)
    _check(t.batch_size >= 1, "train.batch_size", "batch_size >= 1", t.batch_size)
    _check(t.optimizer in ("sgd", "adam"), "train.optimizer", "one of ('sgd', 'adam')", t.optimizer)
    _check(t.lr > 0, "train.lr", "lr > 0", t.lr)
    _check(t.weight_lr > 0, "train.weight_lr", "weight_lr > 0", t.weight_lr)
    _check(t.weight_epochs >= 0, "train.weight_epochs", "weight_epochs >= 0", t.weight_epochs)
    _check(0 <= t.warmup_epochs, "train.warmup_epochs", "warmup_epochs >= 0", t.warmup_epochs)
    _check(t.n_bins >= 1, "train.n_bins", "n_bins >= 1", t.n_bins)
