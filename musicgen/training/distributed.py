"""Where this process trains: device, rank and world size, and the few collectives the loop needs.

Under `torchrun` every process gets RANK, WORLD_SIZE and LOCAL_RANK in its environment; the CLI
reads them (`Placement.from_env`) and the trainer receives a plain `Placement`. Gradients are
averaged by DistributedDataParallel (gloo on CPU, NCCL on CUDA); rank 0 alone talks to MLflow.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel

from mg.training.config import TrainError

DEVICES = ("cpu", "cuda", "auto")


@dataclass(frozen=True)
class Placement:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: torch.device = torch.device("cpu")

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def amp_dtype(self) -> torch.dtype | None:
        """Mixed precision on CUDA (bfloat16 where supported, else float16); none on CPU."""
        if self.device.type != "cuda":
            return None
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16

    @classmethod
    def from_env(cls, device: str, env: Mapping[str, str] | None = None) -> Placement:
        env = os.environ if env is None else env
        rank = int(env.get("RANK", 0))
        world = int(env.get("WORLD_SIZE", 1))
        local = int(env.get("LOCAL_RANK", 0))
        return cls(rank, world, local, pick_device(device, local))


def pick_device(option: str, local_rank: int = 0) -> torch.device:
    if option not in DEVICES:
        raise TrainError(f"--device must be one of {', '.join(DEVICES)}, got {option!r}")
    cuda = torch.cuda.is_available()
    if option == "cuda" and not cuda:
        raise TrainError("--device cuda: no CUDA device is available here (use --device cpu)")
    if option == "cpu" or not cuda:
        return torch.device("cpu")
    return torch.device("cuda", local_rank)


def start(placement: Placement) -> None:
    """Join the process group when launched by torchrun (a no-op for one process)."""
    if placement.world_size > 1 and not dist.is_initialized():
        backend = "nccl" if placement.device.type == "cuda" else "gloo"
        if placement.device.type == "cuda":
            torch.cuda.set_device(placement.device)
        dist.init_process_group(backend, rank=placement.rank, world_size=placement.world_size)


def stop() -> None:
    if dist.is_initialized():
        dist.destroy_process_group()


def wrap(model: torch.nn.Module, placement: Placement) -> torch.nn.Module:
    """The module the training forward goes through (DDP when several processes train)."""
    if placement.world_size == 1:
        return model
    ids = [placement.device.index] if placement.device.type == "cuda" else None
    return DistributedDataParallel(model, device_ids=ids)


def _reduce(values: list[float], op, placement: Placement) -> list[float]:
    if placement.world_size == 1:
        return values
    tensor = torch.tensor(values, dtype=torch.float64, device=_comm_device(placement))
    dist.all_reduce(tensor, op=op)
    return tensor.tolist()


def all_sum(values: list[float], placement: Placement) -> list[float]:
    return _reduce(values, dist.ReduceOp.SUM, placement)


def all_min(value: int, placement: Placement) -> int:
    return int(_reduce([float(value)], dist.ReduceOp.MIN, placement)[0])


def from_main(values: list[float], placement: Placement) -> list[float]:
    """Rank 0's values on every rank (the validation metric that decides early stopping)."""
    if placement.world_size == 1:
        return values
    tensor = torch.tensor(values, dtype=torch.float64, device=_comm_device(placement))
    dist.broadcast(tensor, src=0)
    return tensor.tolist()


def _comm_device(placement: Placement) -> torch.device:
    return placement.device if placement.device.type == "cuda" else torch.device("cpu")
