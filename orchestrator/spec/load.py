"""Loading a spec file: YAML and ``--set`` overrides turned into a :class:`Spec`, every error
naming the file and the key path, and the checks that need more than one section at once.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from orchestrator.spec.schema import (
    SECTIONS,
    SWEEP_SECTIONS,
    TRIAL_SECTIONS,
    Dimension,
    SweepSections,
    trial_paths,
)
from orchestrator.spec.space import SearchSpace
from workers.config import TrialConfig
from workers.errors import ConfigError, did_you_mean
from workers.protocol import Protocol


@dataclass(frozen=True)
class Spec:
    path: Path
    trial: TrialConfig  # the fixed part of every trial
    protocol: Protocol  # the cells each configuration is scored over
    sweep: SweepSections
    space: SearchSpace  # sweep.space as one object: dimensions, short names, conditions
    raw: dict  # the resolved YAML (overrides applied), logged as an artifact


def split_pair(pair: str, flag: str, form: str) -> tuple[str, str]:
    """``"KEY=VALUE"`` -> ``("KEY", "VALUE")``; anything else names ``flag`` and its ``form``."""
    key, sep, value = pair.partition("=")
    if not sep or not key.strip():
        raise ConfigError(f"{flag} expects {form}, got {pair!r}")
    return key.strip(), value


def parse_overrides(pairs: list[str]) -> dict[str, Any]:
    """``["method.w=2", "search.num_trials=4"]`` -> ``{"method.w": 2, "search.num_trials": 4}``."""
    overrides = {}
    for pair in pairs:
        key, value = split_pair(pair, "--set", "key.path=value")
        overrides[key] = yaml.safe_load(value) if value else None
    return overrides


def _apply(raw: dict, path: Path, overrides: dict[str, Any]) -> None:
    for dotted, value in overrides.items():
        parts = dotted.split(".")
        if parts[0] not in SECTIONS:
            hint = did_you_mean(parts[0], SECTIONS)
            raise ConfigError(f"--set {dotted}: unknown section '{parts[0]}'{hint}")
        if parts[0] == "space":  # space keys are dotted trial paths themselves
            rest = ".".join(parts[1:])
            space = raw.setdefault("space", {})
            if rest in space or "." not in rest or rest.count(".") == 1:
                space[rest] = value
            else:
                key, field = rest.rsplit(".", 1)
                space.setdefault(key, {})[field] = value
            continue
        node = raw
        for part in parts[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ConfigError(f"--set {dotted}: '{part}' in {path} is not a mapping")
        node[parts[-1]] = value


def _pydantic_message(path: Path, exc: ValidationError) -> str:
    err = exc.errors()[0]
    loc = ".".join(str(p) for p in err["loc"] if not str(p).startswith("function-after"))
    if err["type"] == "extra_forbidden":
        parent, _, key = loc.rpartition(".")
        model = SweepSections
        for part in parent.split(".") if parent else []:
            annotation = model.model_fields.get(part)
            inner = getattr(annotation, "annotation", None) if annotation else None
            model = inner if isinstance(inner, type) and issubclass(inner, BaseModel) else Dimension
        known = [f.alias or n for n, f in model.model_fields.items()]
        hint = did_you_mean(key, known, parent + "." if parent else "")
        return f"{path}: unknown key '{loc}'{hint}"
    found = err.get("input")
    return f"{path}: {loc}: {err['msg']} (found {found!r})"


def load_spec(path: str | Path, overrides: dict[str, Any] | None = None) -> Spec:
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"spec file not found: {path}")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not a UTF-8 text file; a spec is YAML text") from None
    if not text.strip():
        raise ConfigError(
            f"{path}: the spec is empty; start from search_spaces/cocoa.yaml or trial.yaml"
        )
    try:
        raw = yaml.safe_load(text)
        raw = {} if raw is None else raw  # comments only: every section at its defaults
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise ConfigError(f"{path}: malformed YAML{where}: {getattr(exc, 'problem', exc)}") from exc
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: a spec is a mapping of sections, got {type(raw).__name__}")
    _apply(raw, path, overrides or {})
    for section in raw:
        if section not in SECTIONS:
            hint = did_you_mean(section, SECTIONS)
            raise ConfigError(f"{path}: unknown section '{section}'{hint}")
        if not isinstance(raw[section], dict | list) or raw[section] is None:
            raise ConfigError(f"{path}: '{section}' must be a mapping, got {raw[section]!r}")
    try:
        trial = TrialConfig.from_dict({s: dict(raw.get(s) or {}) for s in TRIAL_SECTIONS})
    except (TypeError, ConfigError) as exc:
        raise ConfigError(f"{path}: {exc}") from exc
    try:
        sweep = SweepSections(
            **_kind_defaults(raw, {s: raw[s] for s in SWEEP_SECTIONS if s in raw})
        )
    except ValidationError as exc:
        raise ConfigError(_pydantic_message(path, exc)) from None
    protocol_raw = dict(raw.get("protocol") or {})
    if "split" in protocol_raw:
        raise ConfigError(
            f"{path}: protocol.split: what selection validates on is selection.split "
            "(val or pseudo_new); move the key there"
        )
    try:
        protocol = Protocol.from_dict({**protocol_raw, "split": sweep.selection.split})
    except (TypeError, ConfigError) as exc:
        raise ConfigError(f"{path}: {exc}") from exc
    _check_sweep(path, trial, sweep, protocol)
    _check_protocol(path, protocol, sweep)
    _check_overridden_by_protocol(path, raw, overrides or {}, protocol)
    space = SearchSpace(sweep.space)
    return Spec(path=path, trial=trial, protocol=protocol, sweep=sweep, space=space, raw=raw)


# what a protocol kind optimises and selects on when the spec does not say
KIND_OBJECTIVES = {"incremental": (("acc_avg", "max"), ("ece_last", "min"))}


def _kind_defaults(raw: dict, sweep: dict) -> dict:
    """The sweep sections with the protocol kind's default objectives, selection metrics and
    ASHA metric where the spec gives none (base-to-new's hm and ece mean nothing there)."""
    protocol = raw.get("protocol")
    kind = protocol.get("kind") if isinstance(protocol, dict) else None
    if kind not in KIND_OBJECTIVES:
        return sweep
    (metric, mode), (bound_metric, _) = KIND_OBJECTIVES[kind]
    out = {key: dict(value) if isinstance(value, dict) else value for key, value in sweep.items()}
    out.setdefault("objectives", [{"metric": m, "mode": d} for m, d in KIND_OBJECTIVES[kind]])
    if isinstance(out.setdefault("selection", {}), dict):
        out["selection"].setdefault("metric", metric)
        out["selection"].setdefault("mode", mode)
        out["selection"].setdefault("bound_metric", bound_metric)
    search = out.setdefault("search", {})
    if isinstance(search, dict) and isinstance(search.setdefault("asha", {}), dict):
        search["asha"] = {"metric": metric, "mode": mode, **search["asha"]}
    return out


# a setting the protocol repeats cells over (or fixes) cannot also be searched
PROTOCOL_AXES = {"seeds": "train.seed", "datasets": "data.dataset", "source": "data.dataset"}


def _check_protocol(path: Path, protocol: Protocol, sweep: SweepSections) -> None:
    searched = set(sweep.space) | {k for p in sweep.search.points_to_evaluate for k in p.values}
    for key, setting in PROTOCOL_AXES.items():
        values = getattr(protocol, key)
        if values is not None and setting in searched:
            if isinstance(values, str):
                raise ConfigError(
                    f"{path}: space/points: '{setting}' is searched while protocol.{key} fixes "
                    f"it to '{values}': remove '{setting}' from space and points"
                )
            raise ConfigError(
                f"{path}: space/points: '{setting}' is searched while protocol.{key} scores "
                f"every configuration over {list(values)}; selecting on one of them would pick "
                f"a lucky {setting.split('.')[-1]}: remove '{setting}' from space and points"
            )


def _check_overridden_by_protocol(
    path: Path, raw: dict, overrides: dict[str, Any], protocol: Protocol
) -> None:
    """A trial setting the protocol's cells replace would do nothing: refused, never ignored
    (``--set data.dataset=X`` beside ``protocol.datasets`` used to train on the protocol's).
    A ``--set protocol.seeds=...`` replacing the spec file's own ``train.seed`` is the
    documented way to add seeds, and stays allowed."""
    for key, setting in PROTOCOL_AXES.items():
        values = getattr(protocol, key)
        section, name = setting.split(".")
        given = raw.get(section)
        if values is None or not isinstance(given, dict) or name not in given:
            continue
        if f"protocol.{key}" in overrides and setting not in overrides:
            continue
        found = given[name]
        fixed = f"'{values}'" if isinstance(values, str) else str(list(values))
        if setting in overrides:
            wanted = found if key == "source" else f"[{found}]"
            fix = f'use --set "protocol.{key}={wanted}" instead'
        else:
            fix = f"remove '{name}' from '{section}' in {path} (protocol.{key} decides it)"
        raise ConfigError(
            f"{path}: {setting}: {found!r} would do nothing, because protocol.{key} sets "
            f"every cell's {name} ({fixed}); {fix}"
        )


def _check_sweep(path: Path, trial: TrialConfig, sweep: SweepSections, protocol: Protocol) -> None:
    known = trial_paths()
    for key in list(sweep.space) + [k for p in sweep.search.points_to_evaluate for k in p.values]:
        if key not in known:
            hint = did_you_mean(key, known)
            raise ConfigError(f"{path}: space/points key '{key}' is not a trial setting{hint}")
    for dim_key, dim in sweep.space.items():
        for cond in dim.when or {}:
            if cond not in known:
                raise ConfigError(f"{path}: space.{dim_key}.when: '{cond}' is not a trial setting")
    metrics = [o.metric for o in sweep.objectives] + [
        sweep.selection.metric,
        sweep.selection.bound_metric,
    ]
    if sweep.search.scheduler == "asha":
        metrics.append(sweep.search.asha.metric)
    if sweep.search.scheduler == "moasha" and len(sweep.objectives) < 2:
        raise ConfigError(
            f"{path}: search.scheduler: moasha ranks rungs on several objectives, but the "
            "spec has one; use asha, or add an objective"
        )
    for metric in metrics:
        if metric not in protocol.metrics:
            raise ConfigError(
                f"{path}: objective/selection metric '{metric}' is not reported by a "
                f"{protocol.kind} protocol (it reports {', '.join(protocol.metrics)})"
            )
    if not sweep.objectives:
        raise ConfigError(f"{path}: objectives: at least one objective is needed")
    for point in sweep.search.points_to_evaluate:
        for key, value in point.values.items():
            _check_point_value(path, point.name, key, value, sweep.space.get(key))
    # every fixed value and every corner of the space must make a valid trial
    try:
        for key, dim in sweep.space.items():
            for value in _corners(dim):
                trial.with_overrides({key: value})
        for point in sweep.search.points_to_evaluate:
            trial.with_overrides(point.values)
    except ConfigError as exc:
        raise ConfigError(f"{path}: space: {exc}") from exc


def _check_point_value(path: Path, name: str, key: str, value: Any, dim: Dimension | None) -> None:
    """A named point's value for a searched dimension must be one the dimension can take:
    Optuna refuses the point mid-sweep otherwise."""
    if dim is None or dim.kind == "fixed":
        return
    if dim.kind == "choices":
        inside, allowed = value in dim.choices, f"one of {dim.choices}"
    else:
        inside = isinstance(value, int | float) and dim.low <= value <= dim.high
        allowed = f"in {dim.low:g}..{dim.high:g}"
    if not inside:
        raise ConfigError(
            f"{path}: search.points_to_evaluate '{name}': {key}={value!r} is not {allowed} "
            f"(space.{key}); change the point's value or widen space.{key}"
        )


def _corners(dim: Dimension) -> list[Any]:
    if dim.kind == "range":
        return [int(dim.low), int(dim.high)] if dim.int_ else [dim.low, dim.high]
    return list(dim.choices) if dim.kind == "choices" else [dim.value]
