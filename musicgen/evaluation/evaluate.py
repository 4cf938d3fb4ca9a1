"""`mg evaluate` as a library function: how good a model is on a split, in numbers.

1. Likelihood on the split, computed by the trainer's own metric code (`train_data`'s sums of
   numerator and denominator per batch, so a split's figure is the mean over all its frames,
   whatever the batching): for note families `nll_frame` (the pressed column, nats per frame,
   the quantity of the polyphonic-benchmark tables), `nll_articulation`, `velocity_mae` (MIDI
   velocity units); for text families the loss in nats per character. `mg evaluate --split
   valid` therefore reproduces the trainer's `valid/...` metrics of the same weights.
2. Musical statistics (`music_stats`) of K generated pieces of one segment each, next to those
   of the split's segments, and the model's NLL of its own pieces next to its NLL of the split
   (`sample_nll`: a sampler that does not draw from the model's distribution shows there).
3. A copy check: the longest run of frames each generated piece shares with a training
   segment, next to the same figure for the split's own segments (real music shares phrases).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np
import torch

from mg.data.notes import Dataset, row_groups, shard_rows
from mg.data.schema import table_arrays
from mg.errors import DatasetError
from mg.evaluation.music_stats import STATS, longest_common_runs, mean_stats, pack_pressed
from mg.evaluation.sample_nll import sample_metrics
from mg.generation import DEFAULT_TOP_P
from mg.kinds import kind_of
from mg.models.saving import LoadedModel
from mg.representation.grid import Grid
from mg.tracking.model_uri import ModelSource, open_model


@dataclass(frozen=True)
class EvaluateOptions:
    split: str = "test"
    num: int = 16  # generated pieces for the statistics and the copy check
    seed: int = 0
    batch_size: int = 16
    max_reference: int = 512  # segments of the split whose statistics are computed
    max_corpus: int = 20_000  # training segments the copy check searches
    tracking_uri: str | None = None
    temperature: float = 1.0  # sampling of the generated pieces, as `mg generate` takes it
    top_p: float = DEFAULT_TOP_P


@dataclass(frozen=True)
class CopyCheck:
    """Longest runs (in steps) shared with the training split."""

    generated: list[int]  # per generated piece
    reference: list[int]  # per segment of the evaluated split (a baseline)
    corpus_segments: int  # training segments searched
    corpus_total: int  # training segments in the split


@dataclass(frozen=True)
class Evaluation:
    source: ModelSource
    family: str
    split: str
    metrics: dict[str, float]  # nll_frame, nll_articulation, velocity_mae (note families)
    targets: int  # frames (characters for text) the metrics average over
    generated: dict[str, float]
    reference: dict[str, float]
    generated_pieces: int  # pieces with music (text: tunes that parse)
    reference_segments: int
    copy: CopyCheck
    notes: list[str] = field(default_factory=list)  # what was capped or skipped, said once
    generated_metrics: dict[str, float] = field(default_factory=dict)  # its NLL of its pieces
    piece_steps: int = 0  # steps of each generated piece (the longest copy possible)


def evaluate(uri: str, data: str, options: EvaluateOptions) -> Evaluation:
    """Load the model, measure it on `options.split` of the dataset at `data`."""
    dataset = Dataset.open(data)
    dataset.shards(options.split)  # an unknown split fails here, before the model loads
    loaded, source = open_model(uri, options.tracking_uri)
    grid = loaded.grid
    dataset.check_grid(grid)
    if not dataset.shards(options.split):
        raise DatasetError(f"{dataset.root}: the {options.split} split has no shards")
    metrics, targets = split_metrics(loaded, dataset, options.split, options.batch_size)
    pieces = generated_pieces(loaded, grid, options)
    reference = split_segments(dataset, options.split, options.max_reference)
    corpus, corpus_total = training_frames(dataset, options.max_corpus)
    copy = CopyCheck(
        longest_common_runs(pack_pressed(pieces), corpus).tolist(),
        longest_common_runs(pack_pressed(reference), corpus).tolist(),
        len(corpus),
        corpus_total,
    )
    return Evaluation(
        source,
        loaded.family.name,
        options.split,
        metrics,
        targets,
        mean_stats(pieces, grid),
        mean_stats(reference, grid),
        len(pieces),
        len(reference),
        copy,
        _caps(options, len(pieces), len(reference), dataset, corpus_total) + sampling_note(options),
        sample_metrics(loaded.model, kind_of(loaded.family), pieces, grid, options.batch_size),
        piece_steps=grid.segment_steps,
    )


@torch.no_grad()
def split_metrics(
    loaded: LoadedModel, dataset: Dataset, split: str, batch_size: int
) -> tuple[dict[str, float], int]:
    """The trainer's validation metrics of the model on `split` (eval mode), and their count."""
    from mg.training.config import TrainConfig
    from mg.training.distributed import Placement
    from mg.training.loop import split_sums

    kind = kind_of(loaded.family)
    config = TrainConfig(batch_size=batch_size, workers=0, shuffle_buffer=0)
    loader = kind.loader(dataset, split, config, 0, 1, False)
    device = next(loaded.model.parameters()).device
    totals = split_sums(loaded.model, loader, kind, Placement(device=device))
    count = int(totals.get("loss", [0.0, 0.0])[1])
    if count == 0:
        raise DatasetError(f"{dataset.root}: the {split} split has nothing to evaluate on")
    return {k: n / d for k, (n, d) in totals.items() if k != "loss" and d}, count


def generated_pieces(loaded: LoadedModel, grid: Grid, options: EvaluateOptions) -> np.ndarray:
    """K pieces of one segment each [K, T, α, 3] (text families: the tunes that parse)."""
    kind = kind_of(loaded.family)
    sampling = replace(
        kind.piece_options(grid, options.num, options.seed),
        temperature=options.temperature,
        top_p=options.top_p,
    )
    pieces = [kind.to_notes(piece, grid) for piece in kind.sample(loaded.model, grid, sampling)]
    segments = [one_segment(notes, grid) for notes in pieces if notes is not None]
    empty = np.zeros((0, grid.segment_steps, grid.alpha, 3), np.uint8)
    return np.stack(segments) if segments else empty


def sampling_note(options: EvaluateOptions) -> list[str]:
    """The note that says how the pieces were sampled, when not at the model's own distribution."""
    if options.temperature == 1.0 and options.top_p == 1.0:
        return []
    return [f"pieces sampled at temperature {options.temperature:g}, top-p {options.top_p:g}"]


def one_segment(notes: np.ndarray, grid: Grid) -> np.ndarray:
    """The piece cut or padded with silence to one segment."""
    segment = np.zeros((grid.segment_steps,) + notes.shape[1:], dtype=np.uint8)
    segment[: min(len(notes), len(segment))] = notes[: len(segment)]
    return segment


def split_segments(dataset: Dataset, split: str, limit: int) -> np.ndarray:
    """The first `limit` segments of a split, in shard order [n, T, α, 3]."""
    chunks, count = [], 0
    for notes in _note_groups(dataset, split):
        chunks.append(notes[: limit - count])
        count += len(chunks[-1])
        if count >= limit:
            break
    grid = dataset.grid
    empty = np.zeros((0, grid.segment_steps, grid.alpha, 3), np.uint8)
    return np.concatenate(chunks) if chunks else empty


def training_frames(dataset: Dataset, limit: int) -> tuple[np.ndarray, int]:
    """The pressed bits of up to `limit` training segments, and how many the split holds."""
    chunks, count = [], 0
    for notes in _note_groups(dataset, "train"):
        if count < limit:
            chunks.append(pack_pressed(notes[: limit - count]))
            count += len(chunks[-1])
    total = sum(shard_rows(p) for p in dataset.shards("train"))
    width = -(-dataset.grid.alpha // 8)
    empty = np.zeros((0, dataset.grid.segment_steps, width), np.uint8)
    return (np.concatenate(chunks) if chunks else empty), total


def _note_groups(dataset: Dataset, split: str):
    for path in dataset.shards(split):
        for table in row_groups(path, ["notes"]):
            yield table_arrays(table, ("notes",))["notes"]


def _caps(
    options: EvaluateOptions, generated: int, reference: int, dataset: Dataset, corpus_total: int
) -> list[str]:
    notes = []
    if generated < options.num:  # text families: only the tunes that parse are music
        notes.append(
            f"{options.num - generated} of {options.num} generated tunes did not parse as ABC: "
            f"the statistics and the copy check are of the {generated} that did"
        )
    available = sum(shard_rows(p) for p in dataset.shards(options.split))
    if reference < available:
        notes.append(f"statistics of the first {reference} of {available} {options.split} segments")
    if corpus_total > options.max_corpus:
        notes.append(
            f"copy check against the first {options.max_corpus} of {corpus_total} training segments"
        )
    return notes


UNITS = {
    "nll_frame": "nats per frame (pressed column)",
    "nll_articulation": "nats per frame",
    "velocity_mae": "MIDI velocity units",
    "nll_char": "nats per character",
    # latent segment families (mg.kinds.segments): nll_frame and nll_articulation are given z
    "elbo": "nats per frame, -ELBO: a bound, NLL <= this",
    "kl": "nats per segment",
    "active_units": "latent units (Var of the mean > 0.01)",
    "recon_exact": "share of frames decoded exactly (greedy)",
    "note_f1": "note-level F1 of the greedy decode",
}


def format_table(result: Evaluation) -> str:
    """The evaluation as aligned plain-text tables (what `mg evaluate` prints)."""
    unit = "characters" if "nll_char" in result.metrics else "frames"
    lines = [
        f"model  {result.source.uri} ({result.family})",
        f"split  {result.split}: {result.targets:,} {unit} scored",
        "",
        f"{'metric':<20}{'value':>10}  unit",
    ]
    lines += [f"{k:<20}{v:>10.4f}  {UNITS.get(k, '')}" for k, v in result.metrics.items()]
    if result.generated_metrics:
        own = f"of its samples ({result.generated_pieces})"
        lines += ["", f"{'metric':<20}{result.split:>10}{own:>24}"]
        lines += [
            f"{k:<20}{result.metrics[k]:>10.4f}{v:>24.4f}"
            for k, v in result.generated_metrics.items()
            if k in result.metrics
        ]
    generated = f"generated ({result.generated_pieces})"
    reference = f"{result.split} ({result.reference_segments})"
    lines += ["", f"{'statistic':<20}{generated:>16}{reference:>16}"]
    for name in STATS:
        lines.append(f"{name:<20}{result.generated[name]:>16.3f}{result.reference[name]:>16.3f}")
    copy = result.copy
    for label, pick in (("copied steps, max", max), ("copied steps, mean", np.mean)):
        mine, theirs = _runs_text(copy.generated, pick), _runs_text(copy.reference, pick)
        lines.append(f"{label:<20}{mine:>16}{theirs:>16}")
    lines.append(
        "(copy check: the longest run of steps whose pressed pitches equal a run in one of "
        f"{copy.corpus_segments} training segments, per piece; a whole piece is "
        f"{result.piece_steps} steps)"
    )
    lines += [f"note: {note}" for note in result.notes]
    return "\n".join(lines)


def _runs_text(runs: list[int], pick) -> str:
    return f"{float(pick(runs)):.1f}" if runs else "-"


def evaluation_metrics(result: Evaluation) -> dict[str, float]:
    """MLflow metric names: `eval/<split>/...` and `eval/generated/...`; for the test split
    also `test/<metric>`, the names `mg compare` shows. The trainer's `valid/...` curves are
    never written to, so evaluating on valid adds no point to them."""
    split = result.split
    values = {f"eval/{split}/{k}": v for k, v in result.metrics.items()}
    if split == "test":
        values.update({f"test/{k}": v for k, v in result.metrics.items()})
    values.update({f"eval/{split}/music/{k}": v for k, v in result.reference.items()})
    values.update({f"eval/generated/{k}": v for k, v in result.generated.items()})
    values.update({f"eval/generated/{k}": v for k, v in result.generated_metrics.items()})
    for who, runs in (("generated", result.copy.generated), (split, result.copy.reference)):
        if runs:
            values[f"eval/{who}/copy_run_max"] = float(max(runs))
            values[f"eval/{who}/copy_run_mean"] = float(np.mean(runs))
    return {k: float(v) for k, v in values.items() if np.isfinite(v)}


def log_evaluation(result: Evaluation, table: str) -> str | None:
    """Log the metrics and the table to the model's MLflow run; None when it has none."""
    run_id = result.source.run_id
    if run_id is None:
        return None
    import time

    from mlflow import MlflowClient
    from mlflow.entities import Metric

    client = MlflowClient(tracking_uri=result.source.tracking_uri)
    stamp = int(time.time() * 1000)
    metrics = [Metric(k, v, stamp, 0) for k, v in sorted(evaluation_metrics(result).items())]
    client.log_batch(run_id, metrics=metrics)
    client.log_text(run_id, table + "\n", f"evaluation/{result.split}.txt")
    return run_id
