"""`mg.tracking.model_cache`: a registered model on the local store resolves in one read-only
query and loads without MLflow; a downloaded version is kept and served again."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from mg.tracking import model_cache
from mg.tracking.model_uri import _registry_version, open_model


@pytest.fixture(scope="module")
def store(model_store):
    return model_store


@pytest.mark.parametrize("alias, number", [("champion", None), (None, "1"), (None, "latest")])
def test_the_sqlite_query_names_the_version_mlflows_client_names(store, alias, number):
    fast = model_cache.sqlite_version(store.uri, store.name, alias, number)
    slow = _registry_version("models:/x", store.uri, store.name, alias, number)
    assert fast == slow and fast.run_id == store.run_id


def test_an_unknown_alias_or_a_server_is_left_to_mlflow(store):
    assert model_cache.sqlite_version(store.uri, store.name, "nope", None) is None
    assert model_cache.sqlite_version(store.uri, "no-such-model", None, "1") is None
    assert model_cache.sqlite_version("http://127.0.0.1:1", store.name, "champion", None) is None


def test_a_registered_model_on_the_local_store_loads_without_importing_mlflow(store):
    """What makes `mg generate --model-uri models:/NAME@champion` start fast: one SQL query,
    the files read in place from the local artifact store."""
    code = (
        "import sys; from mg.tracking.model_uri import open_model\n"
        f"loaded, source = open_model('models:/{store.name}@champion', {store.uri!r})\n"
        "print(source.run_id, loaded.family.name, 'mlflow' in sys.modules)"
    )
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True
    )
    assert done.stdout.split() == [store.run_id, "three-branch", "False"]


def test_an_unknown_alias_is_still_one_clear_error(store):
    from mg.errors import ModelLoadError

    with pytest.raises(ModelLoadError, match="alias nope not found"):
        open_model(f"models:/{store.name}@nope", store.uri)


def test_a_kept_version_is_served_from_the_cache_until_evicted(tiny_model, tmp_path, monkeypatch):
    folder = tiny_model[1]
    version = model_cache.Version("tune", "3", "mlflow-artifacts:/1/models/m-1", "r", 1)
    assert model_cache.cached(tmp_path, "store", version) is None
    kept = model_cache.keep(tmp_path, "store", version, folder)
    assert sorted(p.name for p in kept.iterdir()) == sorted(p.name for p in folder.iterdir())
    assert model_cache.cached(tmp_path, "store", version) == kept
    registered_again = model_cache.Version("tune", "3", version.source, "r", 2)
    assert model_cache.cached(tmp_path, "store", registered_again) is None
    assert model_cache.cached(tmp_path, "another store", version) is None
    monkeypatch.setattr(model_cache, "KEEP", 2)
    for number in ("4", "5"):
        model_cache.keep(
            tmp_path, "store", model_cache.Version("tune", number, "s", "r", 1), folder
        )
    assert model_cache.cached(tmp_path, "store", version) is None  # the oldest went first
    assert len([p for p in tmp_path.iterdir() if not p.name.startswith(".")]) == 2


def test_the_suite_never_writes_the_users_cache(tmp_path_factory):
    """tests/conftest.py points $MG_CACHE_DIR into the session's tmp folder, for every test
    and every command a test starts (the team-server test wrote to ~/.cache before)."""
    folder = model_cache.cache_dir().resolve()
    assert folder.is_relative_to(tmp_path_factory.getbasetemp().resolve())
    assert not folder.is_relative_to((Path.home() / ".cache").resolve())
