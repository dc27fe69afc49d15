"""Where the project keeps what it makes: caches, provisioned corpora, generated data.

Everything lives under one project-local folder so that set-up needs no environment
variables; ``ORCH_HOME`` moves it (e.g. to a shared disk on a cluster).
"""

from __future__ import annotations

import os
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
PROJECT_ROOT = PACKAGE_DIR.parent
MODEL_CONFIG_DIR = PACKAGE_DIR / "model_configs"
ASSET_DIR = PACKAGE_DIR / "assets"


def orch_home() -> Path:
    """The project's own state folder: ``$ORCH_HOME``, else ``<checkout>/.orch`` in a checkout,
    else ``~/.orch`` (a wheel install, or orch sent to a node as Ray py_modules: neither
    site-packages nor Ray's per-job folders are a place to keep a feature cache)."""
    if os.environ.get("ORCH_HOME"):
        return Path(os.environ["ORCH_HOME"]).resolve()
    if (PROJECT_ROOT / "pyproject.toml").is_file():
        return (PROJECT_ROOT / ".orch").resolve()
    return (Path.home() / ".orch").resolve()


def nltk_data_dir() -> Path:
    return orch_home() / "nltk_data"


def default_data_root() -> Path:
    """Datasets folder used when none is given: ``$ORCH_DATA`` or ``<orch_home>/data``."""
    return Path(os.environ.get("ORCH_DATA", orch_home() / "data")).resolve()


def cache_dir() -> Path:
    """The shared feature cache: ``$ORCH_CACHE`` or ``<orch_home>/cache``."""
    return Path(os.environ.get("ORCH_CACHE", orch_home() / "cache")).resolve()
