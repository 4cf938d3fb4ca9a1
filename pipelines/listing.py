"""From the INPUT arguments (files, folders, globs; local or object storage) to the files to read.

Every file gets a `source`: its path relative to the input root (the common folder of all the
inputs), which is what the dataset records. Folders are walked recursively for the suffixes
`mg.representation` reads; a file named explicitly is read whatever its suffix (the
reader sniffs the content). Dangling symlinks, unreadable and special files (FIFOs, devices)
are listed, so that reading rejects them with a reason instead of their vanishing silently.
A name whose bytes are not UTF-8 keeps them in `path` (os.fsdecode's surrogates, escaped in
the listing file) and shows them as \\xNN in `source`, which the dataset records as text.
"""

from __future__ import annotations

import glob
import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import PurePosixPath

from apache_beam.io.filesystems import FileSystems

from mg.pipelines.options import IngestError
from mg.representation import SUFFIXES
from mg.representation.files import printable

_GLOB_CHARS = set("*?[")


@dataclass(frozen=True, order=True)
class FileRef:
    """One file to read: where it is and the name the dataset gives it."""

    source: str
    path: str

    def to_json(self) -> str:
        # ASCII escapes carry a name's undecodable bytes (surrogates) through the listing file
        return json.dumps([self.source, self.path], ensure_ascii=True)

    @classmethod
    def from_json(cls, line: str) -> FileRef:
        source, path = json.loads(line)
        return cls(source, path)


@dataclass
class Listing:
    files: list[FileRef]
    ignored: int = 0  # files in walked folders with a suffix no reader knows
    roots: list[str] = field(default_factory=list)

    def listing_hash(self) -> str:
        """Hash of the sorted sources: the same set of files, wherever it lies, hashes the same."""
        digest = hashlib.blake2b(digest_size=16)
        for ref in self.files:
            digest.update(ref.source.encode() + b"\0")
        return digest.hexdigest()


def list_inputs(inputs: tuple[str, ...] | list[str]) -> Listing:
    """Expand the inputs; an input that names nothing is an error (a typo should not pass)."""
    found: dict[str, None] = {}
    ignored = 0
    roots = []
    for spec in inputs:
        paths, skipped, root = _expand(spec)
        if not paths and not skipped:
            raise IngestError(f"{spec}: no such file or folder, or nothing matches")
        ignored += skipped
        roots.append(root)
        found.update(dict.fromkeys(paths))
    root = _common_root(roots)
    files = sorted(FileRef(printable(_relative(path, root)), path) for path in found)
    return Listing(files, ignored, roots)


def _expand(spec: str) -> tuple[list[str], int, str]:
    """(paths, ignored count, root folder) of one input argument."""
    if _is_remote(spec):
        return _expand_remote(spec)
    if _GLOB_CHARS & set(spec):
        paths = sorted(p for p in glob.glob(spec, recursive=True) if not os.path.isdir(p))
        return [os.path.abspath(p) for p in paths], 0, os.path.abspath(_glob_prefix(spec))
    path = os.path.abspath(spec)
    if os.path.isdir(path):
        paths, ignored = _walk(path)
        return paths, ignored, path
    if os.path.lexists(path):  # a file, or a dangling symlink to be rejected when read
        return [path], 0, os.path.dirname(path)
    return [], 0, os.path.dirname(path)


def _walk(folder: str) -> tuple[list[str], int]:
    paths, ignored = [], 0
    for top, dirs, names in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(names):
            if name.startswith("."):
                continue
            if name.lower().endswith(SUFFIXES):
                paths.append(os.path.join(top, name))
            else:
                ignored += 1
    return paths, ignored


def _expand_remote(spec: str) -> tuple[list[str], int, str]:
    """Object storage (gs://, s3://, …) through Beam's FileSystems: a glob, a file or a prefix."""
    if _GLOB_CHARS & set(spec):
        pattern, root = spec, _glob_prefix(spec)
    elif spec.lower().endswith(SUFFIXES) and FileSystems.exists(spec):
        return [spec], 0, spec.rsplit("/", 1)[0]
    else:
        root = spec.rstrip("/")
        pattern = root + "/**"
    matches = FileSystems.match([pattern])[0].metadata_list
    names = sorted(m.path for m in matches)
    kept = [n for n in names if n.lower().endswith(SUFFIXES) or _GLOB_CHARS & set(spec)]
    return kept, len(names) - len(kept), root


def _glob_prefix(spec: str) -> str:
    """The folder part of a glob before its first wildcard."""
    cut = min(spec.index(c) for c in _GLOB_CHARS if c in spec)
    head = spec[:cut]
    return head if head.endswith("/") else head.rsplit("/", 1)[0] if "/" in head else "."


def _common_root(roots: list[str]) -> str:
    if len(roots) == 1:
        return roots[0]
    if any(_is_remote(r) for r in roots):
        schemes = {r.split("://", 1)[0] for r in roots if _is_remote(r)}
        if len(schemes) == 1 and all(_is_remote(r) for r in roots):
            return _common_prefix_folder(roots)
        return ""
    return os.path.commonpath(roots)


def _common_prefix_folder(roots: list[str]) -> str:
    prefix = os.path.commonprefix([r.rstrip("/") + "/" for r in roots])
    return prefix.rsplit("/", 1)[0]


def _relative(path: str, root: str) -> str:
    if not root:
        return path
    if _is_remote(path):
        return path[len(root.rstrip("/")) + 1 :] if path.startswith(root) else path
    return PurePosixPath(os.path.relpath(path, root)).as_posix()


def _is_remote(path: str) -> bool:
    return "://" in path
