"""`mg ingest --runner DaskRunner` on a real Dask cluster: a scheduler and two workers, separate
processes on 127.0.0.1, and the dataset equal to the local run's (`clean_run`).

The whole-dataset comparison is an integration test (`make test-integration`); `make test` runs
the cluster with the pipeline shapes Beam's own DaskRunner gets wrong (see dask_runner.py)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import apache_beam as beam
import pytest

from mg.pipelines.dask_runner import RUNNER, DaskRunner
from mg.pipelines.ingest import ingest
from mg.pipelines.options import IngestConfig, pipeline_options
from tests.pipelines.ingest_corpus import corpus_config
from tests.pipelines.test_ingest import assert_same_dataset

DASK = Path(sys.executable).with_name("dask")
WORKERS = 2


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start(args: list[str], log: Path) -> subprocess.Popen:
    with open(log, "wb") as handle:  # the child keeps its own descriptor
        return subprocess.Popen(
            [str(DASK), *args], stdout=handle, stderr=subprocess.STDOUT, start_new_session=True
        )


def stop(process: subprocess.Popen) -> None:
    """The process and what it started (its session: a worker's parse children)."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            return
        try:
            process.wait(timeout=10)
            return
        except subprocess.TimeoutExpired:
            continue


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """`dask scheduler` and two `dask worker` processes; the scheduler's address."""
    from dask.distributed import Client

    logs = tmp_path_factory.mktemp("dask")
    address = f"tcp://127.0.0.1:{free_port()}"
    processes = [
        start(
            ["scheduler", "--host", "127.0.0.1", "--port", address.rsplit(":", 1)[1]]
            + ["--no-dashboard"],
            logs / "scheduler.log",
        )
    ]
    try:
        for i in range(WORKERS):
            args = ["worker", address, "--host", "127.0.0.1", "--nthreads", "1"]
            args += ["--no-dashboard", "--no-nanny", "--name", f"w{i}"]
            processes.append(start(args, logs / f"worker{i}.log"))
        deadline = time.monotonic() + 120
        while True:  # the scheduler may not listen yet
            try:
                with Client(address, timeout=10) as client:
                    client.wait_for_workers(WORKERS, timeout=max(1, deadline - time.monotonic()))
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.5)
        yield address
    finally:
        for process in reversed(processes):
            stop(process)
    assert all(p.poll() is not None for p in processes)


@pytest.mark.integration  # about 40 s of Dask run on top of the local one (80 s on a busy machine)
def test_a_dask_cluster_writes_the_local_runs_dataset(corpus, clean_run, cluster, tmp_path):
    out = tmp_path / "dask"
    config = corpus_config(
        corpus,
        out,
        runner="DaskRunner",
        beam_args=(f"--dask_client_address={cluster}", "--dask_connection_timeout=30"),
    )
    report = ingest(config)
    assert_same_dataset(out, clean_run.out)  # rows per split, counts, shard bytes, rejects
    assert report.manifest["options"]["runner"] == "DaskRunner"
    assert report.manifest["splits"] == clean_run.report.manifest["splits"]


def test_dask_options_are_known_and_the_name_means_our_runner():
    options = pipeline_options(
        IngestConfig(
            inputs=("x",),
            out="y",
            runner="DaskRunner",
            beam_args=("--dask_client_address=tcp://127.0.0.1:1",),
        )
    )
    assert options.get_all_options()["runner"] == RUNNER
    assert options.get_all_options()["address"] == "tcp://127.0.0.1:1"


def test_tagged_outputs_and_every_sink_and_counters_on_the_cluster(cluster, tmp_path):
    """What Beam's own DaskRunner gets wrong: each consumer of a tagged output gets that output
    only, every sink runs (not only the last one visited), and counters come back."""

    class Split(beam.DoFn):
        def process(self, x):
            beam.metrics.Metrics.counter("probe", "odd" if x % 2 else "even").inc()
            yield beam.pvalue.TaggedOutput("odd", x) if x % 2 else x

    def writer(name: str):
        def write(items):
            (tmp_path / name).write_text(" ".join(map(str, sorted(items))))

        return write

    options = beam.options.pipeline_options.PipelineOptions([f"--dask_client_address={cluster}"])
    pipeline = beam.Pipeline(runner=DaskRunner(), options=options)
    split = pipeline | beam.Create(range(7)) | beam.ParDo(Split()).with_outputs("odd", main="even")
    _ = split.even | "AllEven" >> beam.combiners.ToList() | "Even" >> beam.Map(writer("even"))
    _ = split.odd | "AllOdd" >> beam.combiners.ToList() | "Odd" >> beam.Map(writer("odd"))
    result = pipeline.run()
    result.wait_until_finish()
    assert (tmp_path / "even").read_text() == "0 2 4 6"
    assert (tmp_path / "odd").read_text() == "1 3 5"
    counted = {
        c.key.metric.name: c.committed
        for c in result.metrics().query()["counters"]
        if c.key.metric.namespace == "probe"
    }
    assert counted == {"even": 4, "odd": 3}
