"""What a model folder claims, checked before anything of that size is allocated.

A `config.json` can claim any size (`hidden: 12000`, `layers: 1000000`); building the model
from it would allocate gigabytes or take minutes before the weights are looked at. So loading
reads the safetensors header first (names, dtypes, shapes: a few KB, no tensor data), checks
the config's fields for type and range against it, builds the model on the meta device (no
memory) and compares every parameter's shape with the file; only then is the model built.

The meta build skips the random initialisers (`shapes_only`): their meta kernels are torch's
Python decompositions, whose first use imports its compiler stack (dynamo, sympy), seconds of
every `mg generate`'s start-up for values nobody reads.
"""

from __future__ import annotations

import dataclasses
import json
import math
import struct
import typing
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch
from torch.overrides import TorchFunctionMode

from mg.errors import ModelLoadError

MAX_HEADER_BYTES = 100 << 20  # safetensors' own limit on the JSON header
MAX_SIZE_FIELD = 1 << 16  # no width, vocabulary or window of a model we write comes near this
_DTYPES = {
    "F64": torch.float64,
    "F32": torch.float32,
    "F16": torch.float16,
    "BF16": torch.bfloat16,
    "I64": torch.int64,
    "I32": torch.int32,
    "I16": torch.int16,
    "I8": torch.int8,
    "U8": torch.uint8,
    "BOOL": torch.bool,
}


def weights_header(path: Path) -> dict[str, tuple[str, tuple[int, ...]]]:
    """name -> (dtype, shape) of every tensor in a safetensors file, from its header only."""
    size = path.stat().st_size
    with path.open("rb") as handle:
        head = handle.read(8)
        if len(head) < 8:
            raise ModelLoadError(
                f"{path}: cannot load the model: not a safetensors file (shorter than its header)"
            )
        (length,) = struct.unpack("<Q", head)
        if length > min(MAX_HEADER_BYTES, size - 8):
            raise ModelLoadError(
                f"{path}: cannot load the model: not a safetensors file (header of {length} bytes)"
            )
        try:
            header = json.loads(handle.read(length))
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise ModelLoadError(
                f"{path}: cannot load the model: safetensors header is not JSON ({exc})"
            ) from None
    if not isinstance(header, dict):
        raise ModelLoadError(
            f"{path}: cannot load the model: safetensors header is not a table of tensors"
        )
    header.pop("__metadata__", None)
    try:
        return {k: (v["dtype"], tuple(int(d) for d in v["shape"])) for k, v in header.items()}
    except (TypeError, KeyError, ValueError):
        raise ModelLoadError(
            f"{path}: cannot load the model: safetensors header names a tensor without dtype or shape"
        ) from None


def check_config_fields(config_cls: type, values: dict[str, Any], where: str, tensors: int) -> None:
    """Each field has its declared type; sizes stay under MAX_SIZE_FIELD and a layer count
    under the number of tensors in the weights (every layer has at least one)."""
    hints = typing.get_type_hints(config_cls)
    for field in dataclasses.fields(config_cls):
        if field.name not in values:
            continue
        value, kind = values[field.name], hints.get(field.name)
        if kind in (int, float, bool, str) and not _is(value, kind):
            raise ModelLoadError(
                f"{where}: config field {field.name} must be {kind.__name__}, got {value!r}"
            )
        if kind is int:
            limit = tensors if field.name == "layers" else MAX_SIZE_FIELD
            if not 0 <= value <= limit:
                raise ModelLoadError(
                    f"{where}: config field {field.name} = {value} is out of range "
                    f"(0..{limit}{' for its weights' if field.name == 'layers' else ''})"
                )


def _is(value: Any, kind: type) -> bool:
    if kind is bool:
        return isinstance(value, bool)
    if kind is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if kind is float:
        return (
            isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
        )
    return isinstance(value, str)


_INITIALISERS = frozenset(
    getattr(torch.nn.init, name)
    for name in (
        "uniform_", "normal_", "trunc_normal_", "constant_", "ones_", "zeros_", "eye_",
        "dirac_", "xavier_uniform_", "xavier_normal_", "kaiming_uniform_", "kaiming_normal_",
        "orthogonal_", "sparse_",
    )
)  # fmt: skip


class _NoInitialisers(TorchFunctionMode):
    """`torch.nn.init`'s functions leave the tensor as it is (they fill it in place)."""

    def __torch_function__(self, func, types, args=(), kwargs=None):
        if func in _INITIALISERS:
            return args[0] if args else (kwargs or {})["tensor"]
        return func(*args, **(kwargs or {}))


@contextmanager
def shapes_only() -> Iterator[None]:
    """Modules built inside have their parameters' shapes and nothing else: on the meta device,
    their initialisers skipped (a family initialises through `torch.nn.init`)."""
    with torch.device("meta"), _NoInitialisers():
        yield


def check_shapes(
    model: torch.nn.Module, header: dict[str, tuple[str, tuple[int, ...]]], where: str
) -> None:
    """The model's state dict (built in `shapes_only`) and the file's tensors: same names,
    same shapes."""
    state = model.state_dict()
    missing = sorted(set(state) - set(header))
    extra = sorted(set(header) - set(state))
    if missing or extra:
        what = f"missing {missing[0]}" if missing else f"unexpected {extra[0]}"
        count = len(missing) + len(extra)
        raise ModelLoadError(
            f"{where}: the weights do not fit the config ({what}"
            + (f" and {count - 1} more" if count > 1 else "")
            + ")"
        )
    for name, tensor in state.items():
        dtype, shape = header[name]
        if tuple(tensor.shape) != shape:
            raise ModelLoadError(
                f"{where}: the weights do not fit the config ({name} is {list(shape)} in the "
                f"file, {list(tensor.shape)} for the config)"
            )
        if dtype not in _DTYPES:
            raise ModelLoadError(f"{where}: tensor {name} has an unknown dtype {dtype}")
