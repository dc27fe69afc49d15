"""Where MLflow lives: the tracking URI a sweep uses, checked before anything is written."""

from __future__ import annotations

import os
import re
import urllib.error
import urllib.request
from pathlib import Path

from workers.errors import TrackingError

# SQLAlchemy back ends MLflow's tracking store accepts (``postgresql+psycopg2://`` too)
DATABASE_SCHEMES = ("postgresql", "mysql", "mssql")
# what installs each back end's Python driver: `postgresql://` is psycopg (3) from SQLAlchemy
# 2.1 on, psycopg2 before; the `postgres` extra brings both
DRIVER_FIX = {"postgresql": "pip install -e '.[postgres]' (or pip install 'psycopg[binary]')"}


def resolve_uri(uri: str | None) -> str:
    """The given URI, or MLflow's embedded default: a SQLite file in the working directory."""
    return uri or f"sqlite:///{Path.cwd().resolve() / 'mlflow.db'}"


def shown_uri(uri: str) -> str:
    """``uri`` with any password in it masked, for messages and logs."""
    return re.sub(r"^([a-z0-9+.-]+://[^:/@?#]*:)[^@/?#]*@", r"\1***@", uri, flags=re.I)


def check_reachable(uri: str) -> None:
    shown = shown_uri(uri)
    if uri.startswith(("http://", "https://")):
        try:
            with urllib.request.urlopen(uri.rstrip("/") + "/health", timeout=5) as answer:
                if answer.status != 200:
                    raise TrackingError(
                        f"MLflow server {shown} answered {answer.status} on /health"
                    )
        except (urllib.error.URLError, OSError) as exc:
            raise TrackingError(
                f"MLflow tracking server {shown} is unreachable "
                f"({getattr(exc, 'reason', exc)}): "
                "start it (`mlflow server --host 127.0.0.1 --port 5000`) or fix tracking.uri"
            ) from None
    elif uri.startswith("sqlite:///"):
        folder = Path(uri[len("sqlite:///") :]).parent
        if not folder.is_dir() or not os.access(folder, os.W_OK):
            raise TrackingError(
                f"tracking.uri {shown}: folder {folder} does not exist or is not writable"
            )
    elif uri.startswith("file:") or "://" not in uri:
        raise TrackingError(
            f"tracking.uri {shown}: MLflow 3 refuses plain file stores; use "
            "sqlite:///PATH/mlflow.db or an http:// tracking server"
        )
    elif uri.split("://")[0].split("+")[0] not in DATABASE_SCHEMES:
        raise TrackingError(
            f"tracking.uri {shown}: MLflow cannot use scheme '{uri.split('://')[0]}'; "
            "use sqlite:///PATH/mlflow.db, http(s)://HOST:PORT or a database URI "
            f"({', '.join(s + '://' for s in DATABASE_SCHEMES)})"
        )
    else:
        check_database(uri)


def check_database(uri: str) -> None:
    """A database tracking URI the driver process itself writes: its Python driver must be
    installed, and a PostgreSQL server must accept the connection, within seconds (MLflow's
    own engine retries for minutes)."""
    import sqlalchemy
    from sqlalchemy.engine import make_url

    shown, backend = shown_uri(uri), uri.split("://")[0].split("+")[0]
    try:
        dialect = make_url(uri).get_dialect()
        dialect.import_dbapi()
    except ImportError as exc:
        module = getattr(exc, "name", None) or str(exc)
        fix = DRIVER_FIX.get(backend, f"pip install the package that provides '{module}'")
        raise TrackingError(
            f"tracking.uri {shown}: the {backend} driver '{module}' is not installed; {fix}"
        ) from None
    except sqlalchemy.exc.ArgumentError as exc:
        raise TrackingError(f"tracking.uri {shown}: not a database URI ({exc})") from None
    if backend != "postgresql":
        return
    engine = sqlalchemy.create_engine(uri, connect_args={"connect_timeout": 5})
    try:
        with engine.connect():
            pass
    except sqlalchemy.exc.DBAPIError as exc:
        reason = str(exc.orig).strip().splitlines()[0] if exc.orig else type(exc).__name__
        raise TrackingError(
            f"tracking.uri {shown}: cannot connect to PostgreSQL ({reason}); start the server, "
            "create the database, or fix the URI (user, host, port, database; the password may "
            "come from PGPASSWORD or ~/.pgpass)"
        ) from None
    finally:
        engine.dispose()


def tracking_errors() -> tuple[type[BaseException], ...]:
    """What a lost tracking server raises: MLflow's own error once its retries are spent,
    or the transport's."""
    import requests
    from mlflow.exceptions import MlflowException

    return (MlflowException, requests.exceptions.RequestException, OSError)
