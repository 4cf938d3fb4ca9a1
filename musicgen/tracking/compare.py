"""`mg compare`: training runs side by side, as a terminal table and a chart of their curves.

Runs are named by id (the short ids the table prints too) or by experiment (every active run
in it). The table answers "which backbone is better on my corpus?": rows sorted by best
`valid/nll_frame`, with the params that differ between the runs as extra columns; runs trained
on different datasets get a `dataset` column and a warning, since their NLLs do not compare.
"""

from __future__ import annotations

import math
import re
import time
from dataclasses import dataclass
from pathlib import Path

from mlflow.entities import Run
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from mg.errors import MgError
from mg.tracking.ui import server_answers

CURVE_METRIC = "valid/nll_frame"
TEST_METRIC = "test/nll_frame"
SPEED_METRIC = "train/frames_per_s"
BACKBONE_TAG = "mg.backbone"
FAMILY_TAG = "mg.family"
DATASET_TAG = "mg.dataset_manifest_sha256"
DATASET_PATH_TAG = "mg.dataset_path"
_RUN_ID = re.compile(r"^[0-9a-f]{32}$")
_SHORT_ID = re.compile(r"^[0-9a-f]{6,31}$")


class CompareError(MgError):
    """A run or experiment that cannot be found or read, or nothing to compare."""


@dataclass(frozen=True)
class RunSummary:
    """One run, reduced to what the comparison shows."""

    run_id: str
    name: str
    status: str
    backbone: str
    params: dict[str, str]
    curve: list[tuple[int, float]]  # (epoch, valid/nll_frame)
    test_nll: float | None
    duration_s: float | None
    frames_per_s: float | None

    @property
    def best(self) -> tuple[int, float] | None:
        """The epoch and value of the lowest `valid/nll_frame`, if any was logged."""
        finite = [point for point in self.curve if math.isfinite(point[1])]
        return min(finite, key=lambda point: point[1]) if finite else None

    @property
    def label(self) -> str:
        return f"{self.name} ({self.backbone})"


@dataclass(frozen=True)
class Comparison:
    runs: list[RunSummary]
    differing: list[str]  # param keys whose values are not the same in every run


def load_comparison(refs: list[str], tracking_uri: str) -> Comparison:
    """Read the runs `refs` name (run ids or experiment names/ids) from the tracking store."""
    check_store(tracking_uri)
    client = MlflowClient(tracking_uri=tracking_uri)
    try:
        runs = _dedupe(run for ref in refs for run in _resolve(client, ref, tracking_uri))
        summaries = [summarize(client, run) for run in runs]
    except MlflowException as exc:
        raise CompareError(f"{tracking_uri}: {exc.message.splitlines()[0]}") from exc
    summaries.sort(key=_rank)
    return Comparison(summaries, differing_params(summaries))


def check_store(tracking_uri: str) -> None:
    """Fail in seconds, not after MLflow's minutes of retries, and never create an empty store."""
    if tracking_uri.startswith(("http://", "https://")):
        if not server_answers(tracking_uri, timeout_s=10):
            raise CompareError(f"cannot reach the MLflow tracking server at {tracking_uri}")
    elif tracking_uri.startswith("sqlite:///") and ":memory:" not in tracking_uri:
        path = Path(tracking_uri.removeprefix("sqlite:///"))
        if not path.is_file():
            raise CompareError(f"no MLflow store at {path}: train first, or pass --tracking-uri")


def _resolve(client: MlflowClient, ref: str, tracking_uri: str) -> list[Run]:
    if _RUN_ID.match(ref):
        try:
            return [client.get_run(ref)]
        except MlflowException as exc:
            if exc.error_code != "RESOURCE_DOES_NOT_EXIST":
                raise
    experiment = client.get_experiment_by_name(ref)
    if experiment is None and ref.isdigit() and str(int(ref)) == ref:
        experiment = _experiment_by_id(client, ref)
    if experiment is None and _SHORT_ID.match(ref):
        return [_run_by_short_id(client, ref, tracking_uri)]
    if experiment is None:
        raise CompareError(f"{tracking_uri}: no run or experiment named {ref!r}")
    runs = client.search_runs([experiment.experiment_id], order_by=["attributes.start_time ASC"])
    if not runs:
        raise CompareError(f"{tracking_uri}: experiment {ref!r} has no runs")
    return list(runs)


def _run_by_short_id(client: MlflowClient, prefix: str, tracking_uri: str) -> Run:
    """The one run whose id starts with `prefix` (the table's `id` column), in any experiment."""
    experiments = [e.experiment_id for e in client.search_experiments()]
    pattern = f"attributes.run_id LIKE '{prefix}%'"
    found = client.search_runs(experiments, pattern, max_results=2) if experiments else []
    if not found:
        raise CompareError(f"{tracking_uri}: no run or experiment named {prefix!r}")
    if len(found) > 1:
        raise CompareError(f"{tracking_uri}: more than one run id starts with {prefix!r}")
    return found[0]


def _experiment_by_id(client: MlflowClient, experiment_id: str):
    try:
        return client.get_experiment(experiment_id)
    except MlflowException:
        return None


def _dedupe(runs) -> list[Run]:
    seen: dict[str, Run] = {}
    for run in runs:
        seen.setdefault(run.info.run_id, run)
    return list(seen.values())


def summarize(client: MlflowClient, run: Run) -> RunSummary:
    """Reduce a run to its row: the curve comes from the metric history (one request)."""
    history = client.get_metric_history(run.info.run_id, CURVE_METRIC)
    metrics, params, tags = run.data.metrics, run.data.params, run.data.tags
    return RunSummary(
        run_id=run.info.run_id,
        name=run.info.run_name or run.info.run_id[:8],
        status=run.info.status,
        backbone=tags.get(BACKBONE_TAG) or params.get("model.backbone") or "?",
        params={**params, **_tag_params(tags)},
        curve=sorted((m.step, m.value) for m in history),
        test_nll=metrics.get(TEST_METRIC),
        duration_s=_duration_s(run.info.start_time, run.info.end_time),
        frames_per_s=metrics.get(SPEED_METRIC),
    )


def _tag_params(tags: dict[str, str]) -> dict[str, str]:
    """Tags compared like params: the family, and the dataset (its folder and manifest hash)."""
    shown = {"family": tags[FAMILY_TAG]} if FAMILY_TAG in tags else {}
    if DATASET_TAG in tags:
        folder = Path(tags.get(DATASET_PATH_TAG, "")).name or "?"
        shown["dataset"] = f"{folder} ({tags[DATASET_TAG][:8]})"
    return shown


def dataset_warning(comparison: Comparison) -> str | None:
    """A line to show when the runs trained on different datasets, else None."""
    datasets = sorted({run.params.get("dataset", "?") for run in comparison.runs})
    if len(datasets) < 2:
        return None
    return (
        f"warning: these runs trained on {len(datasets)} different datasets "
        f"({', '.join(datasets)}): their NLLs do not compare"
    )


def _duration_s(start_ms: int | None, end_ms: int | None) -> float | None:
    if not start_ms:
        return None
    end = end_ms or int(time.time() * 1000)  # still running: so far
    return max(0.0, (end - start_ms) / 1000)


def _rank(summary: RunSummary) -> tuple[bool, float]:
    best = summary.best
    return (best is None, best[1] if best else 0.0)


def differing_params(runs: list[RunSummary]) -> list[str]:
    """Param keys whose values differ between runs (a key missing from a run counts as differing)."""
    keys = sorted({key for run in runs for key in run.params})
    shown = [key for key in keys if key != "model.backbone"]  # backbone has its own column
    return [key for key in shown if len({run.params.get(key) for run in runs}) > 1]


def format_table(comparison: Comparison) -> str:
    """A plain-text table, best run first, aligned for a terminal (and readable in a log)."""
    header = ["run", "id", "backbone", f"best {CURVE_METRIC} (epoch)", TEST_METRIC]
    header += ["duration", "frames/s", "status", *comparison.differing]
    rows = [_row(run, comparison.differing) for run in comparison.runs]
    widths = [max(len(line[i]) for line in [header, *rows]) for i in range(len(header))]
    lines = [_line(header, widths), _line(["-" * w for w in widths], widths)]
    return "\n".join(lines + [_line(row, widths) for row in rows])


def _row(run: RunSummary, differing: list[str]) -> list[str]:
    best = run.best
    cells = [run.name, run.run_id[:8], run.backbone]
    cells.append(f"{best[1]:.4f} ({best[0]})" if best else "-")
    cells.append(f"{run.test_nll:.4f}" if run.test_nll is not None else "-")
    cells.append(format_duration(run.duration_s))
    cells.append(f"{run.frames_per_s:,.0f}" if run.frames_per_s is not None else "-")
    cells.append(run.status)
    return cells + [run.params.get(key, "-") for key in differing]


def _line(cells: list[str], widths: list[int]) -> str:
    return "  ".join(cell.ljust(width) for cell, width in zip(cells, widths, strict=True)).rstrip()


def format_duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m{secs:02d}s"


def plot_curves(comparison: Comparison, path: str | Path) -> Path:
    """A PNG of `valid/nll_frame` per epoch, one line per run, its best epoch marked."""
    from matplotlib.figure import Figure  # no pyplot: no global backend, Agg canvas for PNG

    drawn = [run for run in comparison.runs if run.curve]
    if not drawn:
        raise CompareError(f"none of the runs logged {CURVE_METRIC}: nothing to plot")
    figure = Figure(figsize=(8, 4.5))
    axes = figure.subplots()
    for run in drawn:
        epochs, values = zip(*run.curve, strict=True)
        (line,) = axes.plot(epochs, values, marker="o", markersize=3, label=run.label)
        if run.best:
            axes.plot(*run.best, marker="*", markersize=12, color=line.get_color())
    axes.set(xlabel="epoch", ylabel=f"{CURVE_METRIC} (nats per step)", title=CURVE_METRIC)
    axes.grid(alpha=0.3)
    axes.legend(fontsize="small")
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(out, dpi=120, bbox_inches="tight")
    return out
