"""A registered model version resolved in one registry query and read from a local copy.

A registered version never changes: its source is fixed when it is created. Once its files
have been downloaded they are kept in the model cache (`$MG_CACHE_DIR`, else
`$XDG_CACHE_HOME/mg/models`, else `~/.cache/mg/models`) under a key of the store, the name,
the version, its source and its creation time, so the next `mg generate` asks the registry one
question (which version do this alias or number name?) and reads the copy: no artifact download.

On a local SQLite store (the default, `sqlite:///mlflow.db`) that question is one read-only SQL
query through the standard library, so a cached model loads without importing MLflow at all;
on any other store, or when the query meets a schema it does not expect, the MLflow client
answers it instead (`mg.tracking.model_uri`).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import sqlite3
import tempfile
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

KEEP = 16  # cached versions kept; the least recently used go first
DEFAULT_STORE = "sqlite:///mlflow.db"


@dataclass(frozen=True)
class Version:
    """What the registry says about one version: enough to name its files and its run."""

    name: str
    number: str
    source: str
    run_id: str | None
    created: int  # creation time (ms): a version deleted and registered again is another copy


def cache_dir() -> Path:
    """Where downloaded model versions are kept."""
    if os.environ.get("MG_CACHE_DIR"):
        return Path(os.environ["MG_CACHE_DIR"]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "mg" / "models"


def store_uri(tracking_uri: str | None) -> str:
    """The store a command talks to: the given URI, else $MLFLOW_TRACKING_URI, else MLflow's
    default, `sqlite:///mlflow.db` in the working folder."""
    return tracking_uri or os.environ.get("MLFLOW_TRACKING_URI") or DEFAULT_STORE


def sqlite_version(
    tracking_uri: str | None, name: str, alias: str | None, number: str | None
) -> Version | None:
    """The version an alias or number (or "latest") names, read from a local SQLite store in
    one query; None when the store is not local SQLite or the query cannot answer it (the
    MLflow client then answers, with its own error messages)."""
    if alias is not None and alias.lower() == "latest":  # MLflow's newest version, not an alias
        alias, number = None, "latest"
    path = _sqlite_path(store_uri(tracking_uri))
    if path is None or not path.is_file() or os.environ.get("MLFLOW_WORKSPACE"):
        return None
    try:
        with sqlite3.connect(f"file:{quote(str(path))}?mode=ro", uri=True, timeout=5) as db:
            row = db.execute(*_query(name, alias, number)).fetchone()
    except sqlite3.Error:
        return None
    if row is None:
        return None
    version, source, run_id, created = row
    return Version(name, str(version), str(source), run_id or None, int(created or 0))


def _sqlite_path(uri: str) -> Path | None:
    prefix = "sqlite:///"
    if not uri.startswith(prefix) or ":memory:" in uri or "?" in uri:
        return None
    return Path(uri[len(prefix) :])  # sqlite:////abs -> /abs, sqlite:///rel -> rel


# MLflow's own registry tables (mlflow.store.model_registry.dbmodels).
_COLUMNS = "v.version, v.source, v.run_id, v.creation_time FROM model_versions v"
_READY = "v.workspace = 'default' AND v.status = 'READY' AND v.current_stage != 'Deleted_Internal'"


def _query(name: str, alias: str | None, number: str | None) -> tuple[str, tuple]:
    if alias:
        return (
            f"SELECT {_COLUMNS} JOIN registered_model_aliases a ON a.name = v.name"
            f" AND a.version = v.version AND a.workspace = v.workspace"
            f" WHERE a.name = ? AND a.alias = ? AND {_READY}",
            (name, alias),
        )
    if number == "latest":
        return (
            f"SELECT {_COLUMNS} WHERE v.name = ? AND {_READY} ORDER BY v.version DESC LIMIT 1",
            (name,),
        )
    return f"SELECT {_COLUMNS} WHERE v.name = ? AND v.version = ? AND {_READY}", (name, number)


def local_folder(source: str) -> Path | None:
    """The version's files when they already are on this machine (a local artifact store, as
    the default store's ./mlruns is): read in place, nothing to download or cache."""
    if source.startswith("file:"):
        from urllib.parse import urlparse
        from urllib.request import url2pathname

        path = Path(url2pathname(urlparse(source).path))
    elif source.startswith("/"):
        path = Path(source)
    else:
        return None
    return path if path.is_dir() else None


def cached(root: Path, store: str, version: Version) -> Path | None:
    """The cached copy of `version`'s model folder, or None."""
    folder = _entry(root, store, version)
    if not (folder / "model").is_dir():
        return None
    os.utime(folder)  # recently used
    return folder / "model"


def keep(root: Path, store: str, version: Version, downloaded: Path) -> Path:
    """Copy a downloaded model folder into the cache (atomically) and return the copy; the
    oldest entries beyond KEEP are removed."""
    folder = _entry(root, store, version)
    root.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".staging-", dir=root))
    try:
        shutil.copytree(downloaded, staging / "model")
        with contextlib.suppress(OSError):  # another process cached it meanwhile
            staging.rename(folder)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    _evict(root)
    return folder / "model"


def _entry(root: Path, store: str, version: Version) -> Path:
    key = "\n".join([store, version.name, version.number, version.source, str(version.created)])
    digest = hashlib.sha256(key.encode()).hexdigest()[:16]
    safe = "".join(c if c.isalnum() or c in "._-" else "-" for c in version.name)
    return root / f"{safe}-v{version.number}-{digest}"


def _evict(root: Path) -> None:
    entries = [p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")]
    entries.sort(key=lambda p: p.stat().st_mtime, reverse=True)
    for stale in entries[KEEP:]:
        shutil.rmtree(stale, ignore_errors=True)
