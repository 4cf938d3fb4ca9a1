"""The `mg` namespace: the CLI (`mg.cli`), the Beam pipelines (`mg.pipelines`) and the model zoo (`mg.zoo`)."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("mg-musicgen")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0+unknown"
