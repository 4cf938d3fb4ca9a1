"""How fast can one CPU core train music-vae, and does a wider batch buy more segments a second?

    python -m benchmarks.vae_throughput --data DIR [--hidden 128 256] [--batch 64 256 1024]

Issue 15's reconstruction targets need hundreds of passes over ~46,000 two-bar segments (see
RESULTS-vae.md: the recipe underfits at 18 passes and memorises 256 segments in ~875). This
times a training step (forward, backward, AdamW) of the 2-bar `base` preset on real training
segments, one torch thread, for each hidden size and batch width: segments per CPU-second (best
of `--rounds` windows), with oneDNN's RNN kernels and with PyTorch's own, and the share of a
step spent in the recurrent layers (torch.profiler, batch 64). Printed as JSON, and written to
OUT/vae-throughput.json.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch
from torch.profiler import profile

from benchmarks.vae_memorise import LR, first_segments
from mg import zoo
from mg.data.notes import Dataset
from mg.models.protocol import NoteBatch

POOL = 1024  # training segments the batches are drawn from
RECURRENT = ("rnn", "lstm", "gru")  # profiler op names that are the recurrent layers


def build(dataset: Dataset, hidden: int):
    family = zoo.get("music-vae")
    model = family.build(
        family.make_config("base", dataset.grid, hidden=hidden, head="independent")
    )
    return model.train(), torch.optim.AdamW(model.parameters(), LR)


def trainer(model, optimiser, segments, width: int):
    notes, position, mask = segments

    def step() -> None:
        rows = torch.randint(0, len(notes), (width,))
        batch = NoteBatch(notes[rows], notes[rows], position[rows], mask[rows])
        loss, _ = model.loss(batch, model(batch))
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()

    return step


def rate(step, width: int, rounds: int, seconds: float) -> float:
    """Segments per CPU-second of `step`, the best of `rounds` windows of about `seconds`."""
    step()  # warm-up: allocations, oneDNN primitives
    best = 0.0
    for _ in range(rounds):
        done, started = 0, time.process_time()
        while time.process_time() - started < seconds:
            step()
            done += width
        best = max(best, done / (time.process_time() - started))
    return best


def recurrent_share(step) -> float:
    with profile() as trace:
        for _ in range(5):
            step()
    events = trace.key_averages()
    total = sum(e.self_cpu_time_total for e in events)
    rnn = sum(e.self_cpu_time_total for e in events if any(k in e.key.lower() for k in RECURRENT))
    return rnn / total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", required=True)
    parser.add_argument("--hidden", type=int, nargs="+", default=[128, 256])
    parser.add_argument("--batch", type=int, nargs="+", default=[64, 256, 1024])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=6.0)
    parser.add_argument("--out", default="out/vae-throughput")
    args = parser.parse_args()
    torch.manual_seed(0)
    torch.set_num_threads(1)
    dataset = Dataset.open(args.data)
    results = []
    for hidden in args.hidden:
        model, optimiser = build(dataset, hidden)
        segments = first_segments(model, dataset, "train", POOL)
        share = recurrent_share(trainer(model, optimiser, segments, 64))
        for kernels in ("onednn", "pytorch"):
            torch.backends.mkldnn.enabled = kernels == "onednn"
            for width in args.batch:
                step = trainer(model, optimiser, segments, width)
                row = {
                    "hidden": hidden,
                    "kernels": kernels,
                    "batch": width,
                    "segments_per_cpu_s": round(rate(step, width, args.rounds, args.seconds), 1),
                }
                results.append(row)
                print(json.dumps(row), flush=True)
        torch.backends.mkldnn.enabled = True
        results.append({"hidden": hidden, "recurrent_share_batch_64": round(share, 3)})
        print(json.dumps(results[-1]), flush=True)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "vae-throughput.json").write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
