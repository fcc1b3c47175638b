"""Training on several processes: `torchrun --nproc_per_node N -m training train …`.

torchrun starts N copies of the command and tells each its RANK, LOCAL_RANK and WORLD_SIZE.
`Dist.from_env()` joins them into one process group (nccl when each process has a GPU, gloo on
the CPU); without torchrun it is a group of one and nothing changes.

How the work is split (the sampler): every process computes the same epoch order from
(seed, epoch) exactly as a single process does (training.data.epoch_batches), and each global
batch is dealt out, photo i of the batch to process i mod N. The augmentation of the global
batch is drawn once from the same generator and each process takes its photos' rows. So the N
processes together see exactly the batches and augmentation of one process with the same batch
size, DistributedDataParallel averages the gradients over the whole batch, and a run on one
process is unchanged (the seed-42 order stays reproducible).

Only rank 0 logs, writes checkpoints, best.pt, results and reports; the feature caches on disk
are written by rank 0 while the others wait, then read by all.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn


@dataclass(frozen=True)
class Dist:
    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def main(self) -> bool:
        return self.rank == 0

    @property
    def active(self) -> bool:
        return self.world > 1

    @classmethod
    def from_env(cls, device: torch.device | None = None) -> Dist:
        """Join torchrun's process group (if started by torchrun); one process otherwise."""
        world = int(os.environ.get("WORLD_SIZE", "1"))
        if world <= 1:
            return cls()
        rank, local = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
        if not dist.is_initialized():
            gpu = device is not None and device.type == "cuda"
            dist.init_process_group("nccl" if gpu else "gloo")
        return cls(rank, world, local)

    def device(self, device: torch.device) -> torch.device:
        """One GPU per process: cuda:LOCAL_RANK."""
        if self.active and device.type == "cuda":
            torch.cuda.set_device(self.local_rank)
            return torch.device("cuda", self.local_rank)
        return device

    def rows(self, n: int) -> slice:
        """This process's share of a global batch of n photos."""
        return slice(self.rank, n, self.world)

    def wrap(self, modules: list[nn.Module], device: torch.device) -> list[nn.Module]:
        """The trainable stages as one DistributedDataParallel module (they share the model's
        parameters, so the model's state_dict is unchanged); the stages themselves alone."""
        if not self.active:
            return modules
        ids = [device.index] if device.type == "cuda" else None
        return [nn.parallel.DistributedDataParallel(nn.Sequential(*modules), device_ids=ids)]

    def mean(self, *values: float) -> list[float]:
        """The average of each value over the processes (for the logged loss and accuracy)."""
        if not self.active:
            return list(values)
        t = torch.tensor(values, dtype=torch.float64)
        dist.all_reduce(t)
        return (t / self.world).tolist()

    def barrier(self) -> None:
        if self.active:
            dist.barrier()

    def rank0_first(self, work: Callable[[], object]) -> object:
        """Run `work` on rank 0, then on the others (which find its files on disk)."""
        if not self.main:
            self.barrier()
        out = work()
        if self.main:
            self.barrier()
        return out

    def close(self) -> None:
        if self.active and dist.is_initialized():
            dist.destroy_process_group()


SINGLE = Dist()
