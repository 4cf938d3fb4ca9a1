"""Our figures next to the published ones: a Markdown table per dataset and a validation plot.

Results accumulate in a JSON file beside the Markdown (dataset → model → figures), so running
one dataset or one model again replaces only its rows; the Markdown is re-rendered whole.
"""

from __future__ import annotations

import json
import math
import platform
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path

PUBLISHED = {  # test NLL, nats per frame; ../shared/data/README.md
    "random (88·ln 2)": {"jsb": 61.00, "nottingham": 61.00, "source": "—"},
    "RNN": {"jsb": 8.91, "nottingham": 4.05, "source": "Bai et al. 2018, Table 1"},
    "LSTM": {"jsb": 8.45, "nottingham": 3.29, "source": "Bai et al. 2018"},
    "GRU": {"jsb": 8.43, "nottingham": 3.46, "source": "Bai et al. 2018"},
    "TCN": {"jsb": 8.10, "nottingham": 3.07, "source": "Bai et al. 2018"},
    "RNN-RBM": {"jsb": 6.27, "nottingham": None, "source": "Boulanger-Lewandowski et al. 2012"},
    "RNN-NADE": {"jsb": 5.19, "nottingham": 2.31, "source": "Boulanger-Lewandowski et al. 2012"},
}
TITLES = {
    "jsb": "JSB Chorales",
    "nottingham": "Nottingham",
    "musedata": "MuseData",
    "piano": "Piano-midi.de",
}


def merge_results(store: Path, dataset: str, results: list, settings: dict, command: str) -> dict:
    """Add this run's results to the JSON store (replacing same-named rows); returns all of it."""
    data = json.loads(store.read_text()) if store.is_file() else {}
    entry = data.setdefault(dataset, {"models": {}})
    stamp = f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {platform.machine()}, Python {platform.python_version()}"
    for result in results:
        row = {k: v for k, v in asdict(result).items() if k not in ("config", "chunk")}
        trained = settings | {"chunk": result.chunk} if "chunk" in settings else settings
        row |= {"settings": trained, "command": command, "when": stamp, "config": result.config}
        entry["models"][result.label] = row
    store.parent.mkdir(parents=True, exist_ok=True)
    store.write_text(json.dumps(data, indent=1, sort_keys=True, default=str))
    return data


def render(data: dict) -> str:
    """The whole Markdown file: one section per dataset in the store."""
    parts = [
        "# Polyphonic-music benchmark\n",
        "Written by `mg benchmark polyphonic`. Test NLL in nats per frame (sum of 88 Bernoulli "
        'NLLs of "pitch sounds", averaged over every frame of every test piece; lower is '
        "better). Epochs chosen on the validation split only; the test split evaluated once, "
        "with the best-validation weights.\n",
    ]
    for dataset, entry in data.items():
        parts.append(dataset_section(dataset, entry["models"], entry.get("notes", [])))
    return "\n".join(parts)


def dataset_section(dataset: str, models: dict, notes: list[str] = ()) -> str:
    """The table, then what each row ran with, then any notes kept in the store."""
    title = TITLES.get(dataset, dataset)
    lines = [
        f"## {title}\n",
        "| model | valid NLL | test NLL | parameters | training time | epochs (best) |",
    ]
    lines.append("| --- | ---: | ---: | ---: | ---: | ---: |")
    for label, row in sorted(models.items(), key=lambda item: _key(item[1]["test_nll"])):
        lines.append(
            f"| ours: {label} | {_num(row['valid_nll'])} | **{_num(row['test_nll'])}** | "
            f"{row['parameters']:,} | {_duration(row['train_seconds'])} | {row['epochs']} ({row['best_epoch']}) |"
        )
    for name, values in PUBLISHED.items():
        if values.get(dataset) is not None:
            source = "" if values["source"] == "—" else f" — {values['source']}"
            lines.append(f"| {name}{source} | | {values[dataset]:.2f} | | | |")
    lines.append("")
    lines += _settings_notes(models)
    lines += [f"- {note}" for note in notes]
    return "\n".join(lines) + "\n"


SETTINGS_SHOWN = (
    "learning_rate",
    "frames_per_batch",
    "chunk",
    "transpose",
    "patience",
    "budget_seconds",
)


def _settings_notes(models: dict) -> list[str]:
    notes = []
    for label, row in sorted(models.items()):
        config = ", ".join(f"{k}={v}" for k, v in sorted(row.get("config", {}).items()))
        shown = row.get("settings", {}) if config else {}
        settings = ", ".join(f"{k}={shown[k]}" for k in SETTINGS_SHOWN if k in shown)
        notes.append(
            f"- {label}: {config or 'no options'}{'; ' + settings if settings else ''}; {row['when']}"
        )
    commands = sorted({row["command"] for row in models.values()})
    notes += [f"- command: `{c}`" for c in commands]
    return notes + [""]


def plot(dataset: str, models: dict, out: Path) -> Path:
    """Validation NLL per epoch, one line per model (the Markov floor as a flat line)."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    figure, axes = plt.subplots(figsize=(7, 4.2))
    for label, row in sorted(models.items()):
        curve = row["curve"]
        if len(curve) <= 1:
            axes.axhline(row["valid_nll"], linestyle="--", color="grey", label=label)
        else:
            axes.plot(range(1, len(curve) + 1), curve, label=label)
    finite = [
        v for row in models.values() for v in row["curve"] if v is not None and math.isfinite(v)
    ]
    if finite:
        axes.set_ylim(min(finite) - 0.3, min(max(finite), min(finite) + 6))
    axes.set(xlabel="epoch", ylabel="valid NLL (nats/frame)", title=TITLES.get(dataset, dataset))
    axes.legend(fontsize=8)
    axes.grid(alpha=0.3)
    figure.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(out, dpi=110)
    plt.close(figure)
    return out


def _num(value) -> str:
    return "—" if value is None or not math.isfinite(value) else f"{value:.2f}"


def _key(value) -> float:
    return value if value is not None and math.isfinite(value) else float("inf")


def _duration(seconds: float) -> str:
    return f"{seconds:.1f} s" if seconds < 120 else f"{seconds / 60:.1f} min"
