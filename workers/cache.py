"""The shared feature cache: frozen-tower outputs computed once, reused by every trial.

An entry is keyed by a content hash of everything that determines it (model and weights,
dataset items, transform, augmented view, ...). A changed key part is a new entry, never a
stale hit. Writes go to a temporary file in the same folder and are published with an atomic
rename, so concurrent trials never read half-written tensors. Each entry stores a digest of its
tensors' bytes beside them: an entry damaged on disk (truncated, corrupted) is detected on
load, recomputed with a warning, and never served as wrong numbers.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any

import torch

log = logging.getLogger(__name__)
DIGEST = "__digest__"  # the entry's own key for the digest of its tensors


def tensors_digest(tensors: dict[str, torch.Tensor]) -> str:
    """A hash of names, dtypes, shapes and bytes: any change to a stored value changes it."""
    digest = hashlib.sha256()
    for name in sorted(tensors):
        t = tensors[name].contiguous()
        digest.update(f"{name}:{t.dtype}:{tuple(t.shape)}".encode())
        digest.update(t.view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return digest.hexdigest()


def _load_checked(path: Path) -> dict[str, torch.Tensor] | None:
    """The entry at ``path``, or None (with a warning) when it is damaged."""
    try:
        stored = torch.load(path, map_location="cpu", weights_only=True)
        if DIGEST not in stored:
            log.info("feature cache entry %s predates digests; computing it again", path)
            return None
        digest = stored.pop(DIGEST)
        if digest == tensors_digest(stored):
            return stored
        problem = "its tensors do not match their digest"
    except Exception as exc:  # truncated or garbled: torch's unpickler says so in many ways
        problem = f"{type(exc).__name__}: {str(exc).splitlines()[0][:120] if str(exc) else ''}"
    log.warning("feature cache entry %s is damaged (%s); computing it again", path, problem)
    return None


def content_key(parts: dict[str, Any]) -> str:
    """A stable hash of JSON-serialisable key parts."""
    blob = json.dumps(parts, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:32]


@cache
def _file_digest(path: str, size: int, mtime_ns: int) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 22), b""):
            digest.update(chunk)
    return digest.hexdigest()[:32]


def file_digest(path: str | Path) -> str:
    """Content hash of a (weights) file, memoised per path, size and modification time."""
    stat = Path(path).stat()
    return _file_digest(str(Path(path).resolve()), stat.st_size, stat.st_mtime_ns)


# entries this process has read, by (path, size, mtime): a worker Ray reuses for the next
# trial reads each entry once. Callers treat the tensors as read-only.
_IN_MEMORY: dict[tuple, dict[str, torch.Tensor]] = {}
IN_MEMORY_BYTES = 2 << 30


def _remember(memo: tuple, tensors: dict[str, torch.Tensor]) -> None:
    size = sum(t.numel() * t.element_size() for t in tensors.values())
    held = sum(
        t.numel() * t.element_size() for entry in _IN_MEMORY.values() for t in entry.values()
    )
    while _IN_MEMORY and held + size > IN_MEMORY_BYTES:  # oldest first
        dropped = _IN_MEMORY.pop(next(iter(_IN_MEMORY)))
        held -= sum(t.numel() * t.element_size() for t in dropped.values())
    if size <= IN_MEMORY_BYTES:
        _IN_MEMORY[memo] = tensors


def cached_tensors(
    cache_dir: str | Path,
    kind: str,
    parts: dict[str, Any],
    compute: Callable[[], dict[str, torch.Tensor]],
) -> dict[str, torch.Tensor]:
    """Return the tensors stored under ``parts``' hash, computing and publishing them once."""
    folder = Path(cache_dir) / kind
    path = folder / f"{content_key(parts)}.pt"
    if path.is_file():
        stat = path.stat()
        memo = (str(path), stat.st_size, stat.st_mtime_ns)
        if memo in _IN_MEMORY:  # a reused worker: read once per process
            return _IN_MEMORY[memo]
        if (stored := _load_checked(path)) is not None:
            _remember(memo, stored)
            return stored
    tensors = {name: t.detach().cpu() for name, t in compute().items()}
    folder.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}-", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(fd, "wb") as handle:
            torch.save({**tensors, DIGEST: tensors_digest(tensors)}, handle)
        os.replace(tmp, path)
        (folder / f"{path.stem}.json").write_text(json.dumps(parts, sort_keys=True, default=str))
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return tensors
