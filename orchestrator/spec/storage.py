"""Where Ray Tune keeps a sweep's experiment: a local folder, or a bucket every node shares.

Paths go through pyarrow's filesystems (which Ray Tune itself uses), so ``s3://`` and
``gs://`` storage behave like a local folder: list the sweeps, read and write the state file.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

from workers.errors import ConfigError

STATE_FILE = "orch_sweep.json"
JOURNAL_FILE = "optuna.journal"  # the sweep's Optuna study (`optuna-dashboard <file>`)
SHARED_SCHEMES = ("s3://", "gs://", "gcs://", "abfs://", "hdfs://")


def is_uri(location: str) -> bool:
    return "://" in location


def resolve_storage(location: str | None) -> str:
    """An absolute folder or a URI; the default is ``./orch_runs``."""
    if location and is_uri(location):
        if location.startswith("file://"):
            return str(Path(location[len("file://") :]).resolve())
        return location.rstrip("/")
    return str(Path(location or "orch_runs").expanduser().resolve())


def _filesystem(location: str):
    import pyarrow.fs

    try:
        return pyarrow.fs.FileSystem.from_uri(location)
    except Exception as exc:  # pyarrow raises ArrowInvalid/OSError with its own wording
        raise ConfigError(f"storage {location}: cannot open it ({exc})") from None


@dataclass(frozen=True)
class SweepPaths:
    storage: str  # Ray's storage_path: an absolute folder or a URI
    name: str  # experiment folder under it

    @property
    def experiment(self) -> str:
        return f"{self.storage}/{self.name}"

    @property
    def journal(self) -> Path:
        """The Optuna study's journal file: in the experiment folder, or with bucket storage
        (a journal is a local file) in ``./orch_runs/<name>``."""
        base = resolve_storage(None) if is_uri(self.storage) else self.storage
        return Path(base) / self.name / JOURNAL_FILE

    def _state(self):
        fs, root = _filesystem(self.storage)
        return fs, f"{root}/{self.name}/{STATE_FILE}"

    def has_state(self) -> bool:
        import pyarrow.fs

        fs, path = self._state()
        return fs.get_file_info(path).type == pyarrow.fs.FileType.File

    def read_state(self) -> dict:
        if not self.has_state():
            return {}
        fs, path = self._state()
        with fs.open_input_stream(path) as stream:
            return json.loads(stream.read().decode())

    def write_state(self, **values) -> None:
        merged = {**self.read_state(), **values}
        fs, path = self._state()
        fs.create_dir(path.rsplit("/", 1)[0], recursive=True)
        with fs.open_output_stream(path) as stream:
            stream.write(json.dumps(merged, indent=2).encode())


def sweep_names(storage: str, experiment: str) -> list[str]:
    """The sweeps of ``experiment`` under ``storage``, oldest first (names are timestamped)."""
    import pyarrow.fs

    fs, root = _filesystem(storage)
    found = fs.get_file_info(pyarrow.fs.FileSelector(root, allow_not_found=True))
    name = re.compile(re.escape(experiment) + r"-\d{8}-\d{6}")  # not a sweep's refit
    return sorted(
        info.base_name
        for info in found
        if info.type == pyarrow.fs.FileType.Directory and name.fullmatch(info.base_name)
    )
