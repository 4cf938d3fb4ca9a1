"""mg: from a symbolic-music corpus to a trained, registered generator and back to new music.

One import root. The library's folders are its stages (`mg.representation`, `mg.data`,
`mg.models`, `mg.training`, `mg.generation`, `mg.evaluation`, `mg.tracking`); the design's other
top-level folders are mapped under the same root: `cli/` is `mg.cli`, `pipelines/` is
`mg.pipelines`, `zoo/` is `mg.zoo`. Importing `mg` loads nothing heavy.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("mg-musicgen")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0+unknown"
