"""`mg evaluate`: a model's likelihood on a split, and musical statistics of what it generates."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from mg.cli.common import one_line_errors, quiet_mlflow
from mg.generation import DEFAULT_TOP_P


def evaluate(
    model_uri: Annotated[
        str,
        typer.Option(
            "--model-uri",
            help="models:/NAME/VERSION, models:/NAME@ALIAS, runs:/RUN_ID/PATH or a model folder.",
        ),
    ],
    data: Annotated[Path, typer.Option("--data", help="An ingested dataset folder.")],
    split: Annotated[str, typer.Option(help="train, valid or test.")] = "test",
    num: Annotated[
        int, typer.Option(min=1, help="Pieces to generate for the statistics and the copy check.")
    ] = 16,
    seed: Annotated[int, typer.Option(help="Seed of the generated pieces.")] = 0,
    batch_size: Annotated[int, typer.Option(min=1, help="Segments per batch.")] = 16,
    temperature: Annotated[
        float,
        typer.Option(
            min=1e-6, help="Sampling temperature of the generated pieces (as mg generate)."
        ),
    ] = 1.0,
    top_p: Annotated[
        float,
        typer.Option(min=1e-6, max=1.0, help="Top-p of the generated pieces (as mg generate)."),
    ] = DEFAULT_TOP_P,
    tracking_uri: Annotated[
        str | None,
        typer.Option(help="MLflow tracking URI (else MLFLOW_TRACKING_URI, else ./mlflow.db)."),
    ] = None,
) -> None:
    """Print NLLs and musical statistics; log them to the model's MLflow run when it has one."""
    from mg.evaluation.evaluate import EvaluateOptions, format_table, log_evaluation
    from mg.evaluation.evaluate import evaluate as evaluate_model

    options = EvaluateOptions(
        split,
        num,
        seed,
        batch_size,
        tracking_uri=tracking_uri,
        temperature=temperature,
        top_p=top_p,
    )
    quiet_mlflow()
    with one_line_errors():
        result = evaluate_model(model_uri, str(data), options)
        table = format_table(result)
        typer.echo(table)
        run_id = log_evaluation(result, table)
    if run_id:
        typer.echo(f"logged to MLflow run {run_id}")
