"""The figures of benchmarks/RESULTS-vae.md: a trained music-vae against the targets of issue 15.

    python -m benchmarks.vae_measure --model-uri URI --data DIR [--split test] [--pairs 40]
        [--tracking-uri URI] [--segments 2000] [--out DIR] [--unseen]

Prints (and writes as JSON to OUT/vae-figures.json):
- per epoch from the model's MLflow run: train/kl, valid/kl and valid/active_units next to the
  free-bits floor (latent × free_bits nats per segment);
- active units over the whole split (Var over its segments of the posterior mean > 0.01);
- held-out reconstruction: greedy decode of each segment's posterior mean, share of frames whose
  pressed and articulated pitches are all right, and note-level F1, on the frames of the music
  (`music_mask`, as training and `mg evaluate` score them); the same share on the frames where a
  note starts and on the others; and the teacher-forced share (each frame's likelier choices
  given the true frames before it, from the same z): what the model knows, before a free-running
  decode's first wrong frame leads the next ones astray; and the no-feedback share (the
  likelier choices when every previous frame is fed as silence, as frame dropout trains the
  decoder: how much a decode gains or loses by reading its own frames);
- interpolation: for `--pairs` random pairs of the split's segments from different tunes, the
  5-point slerp path; how many frames of the music of each decoded end equal its input; and
  whether the midpoint's pitch-class histogram (pressed frames) is closer (L1) to the mean of
  the two inputs' than the inputs are to each other.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import torch

from mg.data.notes import Dataset, music_mask
from mg.data.schema import table_arrays
from mg.generation import latent
from mg.models.protocol import NoteBatch, model_notes
from mg.tracking.model_uri import open_model
from mg.zoo.music_vae import ACTIVE_VARIANCE, kl_floor, reconstruction_counts


def sources(dataset: Dataset, split: str) -> list[str]:
    return [
        name
        for path in dataset.shards(split)
        for name in pq.read_table(path, columns=["source"]).column("source").to_pylist()
    ]


def split_segments(dataset: Dataset, split: str, limit: int, unseen: bool):
    """The split's segments with notes (at most `limit`); with `unseen`, only those of files
    whose name no training file shares (Nottingham's MIDI/, MIDI/melody/ and MIDI/chords/ hold
    three renderings of each tune under one name, which the split does not group)."""
    notes, position, pieces = [], [], []
    for path in dataset.shards(split):
        table = pq.read_table(path, columns=["notes", "position", "piece_id"])
        arrays = table_arrays(table, ("notes", "position"))
        notes.append(arrays["notes"])
        position.append(arrays["position"])
        pieces += table.column("piece_id").to_pylist()
    notes, position = np.concatenate(notes), np.concatenate(position)
    sounding = notes[..., 0].reshape(len(notes), -1).any(-1)
    if unseen:
        seen = {Path(name).name for name in sources(dataset, "train")}
        sounding &= np.array([Path(name).name not in seen for name in sources(dataset, split)])
    keep = np.flatnonzero(sounding)[:limit]
    return notes[keep], position[keep], [pieces[i] for i in keep]


def pitch_classes(notes: np.ndarray, low: int) -> np.ndarray:
    pressed = notes[..., 0] > 0  # [steps, α]
    counts = np.zeros(12)
    for pitch in np.flatnonzero(pressed.any(0)):
        counts[(pitch + low) % 12] += pressed[:, pitch].sum()
    return counts / max(counts.sum(), 1)


def run_history(source) -> list[dict[str, float]]:
    if source.run_id is None:
        return []
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=source.tracking_uri)
    rows: dict[int, dict[str, float]] = {}
    for key in ("train/kl", "train/recon", "train/beta", "valid/kl", "valid/active_units",
                "valid/elbo", "valid/recon_exact", "valid/note_f1"):  # fmt: skip
        for metric in client.get_metric_history(source.run_id, key):
            rows.setdefault(metric.step, {"epoch": metric.step})[key] = metric.value
    return [rows[k] for k in sorted(rows)]


@torch.no_grad()
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model-uri", required=True)
    parser.add_argument("--data", required=True)
    parser.add_argument("--split", default="test")
    parser.add_argument("--segments", type=int, default=2000)
    parser.add_argument("--pairs", type=int, default=40)
    parser.add_argument("--tracking-uri")
    parser.add_argument("--unseen", action="store_true", help="only tunes no training file names")
    parser.add_argument("--out", default="out/vae-measure")
    args = parser.parse_args()
    torch.set_num_threads(1)

    loaded, source = open_model(args.model_uri, args.tracking_uri)
    model, grid = loaded.model, loaded.grid
    config = model.config
    dataset = Dataset.open(args.data)
    notes, position, pieces = split_segments(dataset, args.split, args.segments, args.unseen)
    figures: dict = {"model": source.uri, "split": args.split, "segments": len(notes)}
    figures["unseen_only"] = args.unseen
    figures["kl_floor"] = kl_floor(config)
    figures["latent"] = config.latent
    figures["history"] = run_history(source)

    means, exact, hits, decoded_notes, target_notes, frames = [], 0.0, 0.0, 0.0, 0.0, 0.0
    by_kind = {kind: [0.0, 0.0] for kind in ("onset", "no_onset", "teacher_forced", "no_feedback")}
    for start in range(0, len(notes), 64):
        chunk = torch.from_numpy(model_notes(notes[start : start + 64]))
        where = torch.from_numpy(position[start : start + 64].astype(np.int64))
        mask = music_mask(chunk)
        mu, _ = model.encode(NoteBatch(chunk, chunk, where))
        means.append(mu)
        decoded = torch.from_numpy(latent.decode_greedy(model, mu, where))
        counts = reconstruction_counts(decoded, chunk, mask)
        exact += float(counts["exact_frames"])
        hits += float(counts["note_hits"])
        decoded_notes += float(counts["notes_decoded"])
        target_notes += float(counts["notes_target"])
        frames += float(mask.sum())
        right = ((decoded[..., :2] > 0) == (chunk[..., :2] > 0.5)).all(-1).all(-1)
        onset = chunk[..., 1].amax(-1) > 0.5
        for kind, where_kind in (("onset", mask & onset), ("no_onset", mask & ~onset)):
            by_kind[kind][0] += float((right & where_kind).sum())
            by_kind[kind][1] += float(where_kind.sum())
        # fed the true frames before; fed silence (what frame dropout trains it on), whose
        # choices are a free-running greedy decode that never reads its own frames
        for kind, fed in (("teacher_forced", chunk), ("no_feedback", torch.zeros_like(chunk))):
            forced = model.teacher_forced(mu, fed, where).conditionals(chunk)
            pressed = forced.pressed_logits > 0
            choices = torch.stack([pressed, pressed & (forced.articulated_logits > 0)], -1)
            right = (choices == (chunk[..., :2] > 0.5)).all(-1).all(-1)
            by_kind[kind][0] += float((right & mask).sum())
            by_kind[kind][1] += float(mask.sum())
    mu = torch.cat(means)
    variance = mu.var(0)
    figures["active_units"] = int((variance > ACTIVE_VARIANCE).sum())
    figures["frames_scored"] = frames
    figures["recon_exact"] = exact / max(frames, 1.0)
    figures["note_f1"] = 2 * hits / max(decoded_notes + target_notes, 1.0)
    for kind, (right, scored) in by_kind.items():
        figures[f"recon_exact_{kind}"] = right / max(scored, 1.0)

    rng = np.random.default_rng(0)
    ends_equal, between, distances = [], [], []
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    tried = 0
    while len(between) < args.pairs and tried < 100 * args.pairs:
        tried += 1
        i, j = rng.choice(len(notes), 2, replace=False)
        if pieces[i] == pieces[j]:
            continue
        a = latent.SegmentPrimer(notes[i], position[i].astype(np.int16), f"a{i}")
        b = latent.SegmentPrimer(notes[j], position[j].astype(np.int16), f"b{j}")
        path, _ = latent.interpolate(model, a, b, 5)
        for end, target in ((path[0], a.notes), (path[-1], b.notes)):
            same = ((end[..., :2] > 0) == (target[..., :2] > 0)).all(-1).all(-1)
            scored = music_mask(torch.from_numpy(target[None]))[0].numpy()
            ends_equal.append(float(same[scored].mean()))
        h_a, h_b = pitch_classes(a.notes, grid.low), pitch_classes(b.notes, grid.low)
        h_mid = pitch_classes(path[2], grid.low)
        to_mean = float(np.abs(h_mid - (h_a + h_b) / 2).sum())
        apart = float(np.abs(h_a - h_b).sum())
        between.append(to_mean < apart)
        distances.append((to_mean, apart))
        if len(between) == 1:
            titles = ["0 (a)", "0.25", "0.5", "0.75", "1 (b)"]
            latent.side_by_side_png(path, grid, out / "interpolation.png", titles)
            inputs = np.stack([a.notes, b.notes])
            latent.side_by_side_png(inputs, grid, out / "interpolation-inputs.png", ["a", "b"])
    figures["interpolation"] = {
        "pairs": len(between),
        "endpoint_frames_equal_mean": float(np.mean(ends_equal)),
        "endpoints_at_least_80": float(np.mean(np.array(ends_equal) >= 0.8)),
        "midpoint_between_share": float(np.mean(between)),
        "midpoint_to_mean_l1": float(np.mean([d[0] for d in distances])),
        "ends_apart_l1": float(np.mean([d[1] for d in distances])),
    }
    (out / "vae-figures.json").write_text(json.dumps(figures, indent=2))
    print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
