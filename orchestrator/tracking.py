"""Where MLflow lives: the tracking URI a sweep uses, checked before anything is written."""

from __future__ import annotations

import os
import urllib.error
import urllib.request
from pathlib import Path

from workers.errors import TrackingError

# SQLAlchemy back ends MLflow's tracking store accepts (``postgresql+psycopg2://`` too)
DATABASE_SCHEMES = ("postgresql", "mysql", "mssql")


def resolve_uri(uri: str | None) -> str:
    """The given URI, or MLflow's embedded default: a SQLite file in the working directory."""
    return uri or f"sqlite:///{Path.cwd().resolve() / 'mlflow.db'}"


def check_reachable(uri: str) -> None:
    if uri.startswith(("http://", "https://")):
        try:
            with urllib.request.urlopen(uri.rstrip("/") + "/health", timeout=5) as answer:
                if answer.status != 200:
                    raise TrackingError(f"MLflow server {uri} answered {answer.status} on /health")
        except (urllib.error.URLError, OSError) as exc:
            raise TrackingError(
                f"MLflow tracking server {uri} is unreachable ({getattr(exc, 'reason', exc)}): "
                "start it (`mlflow server --host 127.0.0.1 --port 5000`) or fix tracking.uri"
            ) from None
    elif uri.startswith("sqlite:///"):
        folder = Path(uri[len("sqlite:///") :]).parent
        if not folder.is_dir() or not os.access(folder, os.W_OK):
            raise TrackingError(
                f"tracking.uri {uri}: folder {folder} does not exist or is not writable"
            )
    elif uri.startswith("file:") or "://" not in uri:
        raise TrackingError(
            f"tracking.uri {uri}: MLflow 3 refuses plain file stores; use sqlite:///PATH/mlflow.db "
            "or an http:// tracking server"
        )
    elif uri.split("://")[0].split("+")[0] not in DATABASE_SCHEMES:
        raise TrackingError(
            f"tracking.uri {uri}: MLflow cannot use scheme '{uri.split('://')[0]}'; use "
            "sqlite:///PATH/mlflow.db, http(s)://HOST:PORT or a database URI "
            f"({', '.join(s + '://' for s in DATABASE_SCHEMES)})"
        )


def tracking_errors() -> tuple[type[BaseException], ...]:
    """What a lost tracking server raises: MLflow's own error once its retries are spent,
    or the transport's."""
    import requests
    from mlflow.exceptions import MlflowException

    return (MlflowException, requests.exceptions.RequestException, OSError)
