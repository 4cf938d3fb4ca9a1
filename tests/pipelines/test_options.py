"""`mg.pipelines.options`: the run's config and the Beam options for every runner."""

from __future__ import annotations

import pytest
from apache_beam.options.pipeline_options import (
    DirectOptions,
    FlinkRunnerOptions,
    GoogleCloudOptions,
    PortableOptions,
    SparkRunnerOptions,
    StandardOptions,
)

from mg.pipelines.options import (
    IngestConfig,
    local_runner,
    parse_split,
    parse_transpose,
    pipeline_options,
)


def config(**changes) -> IngestConfig:
    return IngestConfig(inputs=("corpus",), out="out", **changes)


def test_the_default_is_the_local_fn_api_runner_with_one_process_per_worker():
    options = pipeline_options(config(workers=3))
    assert options.view_as(StandardOptions).runner == "FnApiRunner"
    assert options.view_as(DirectOptions).direct_num_workers == 3
    runner = local_runner(config(workers=3))
    assert "mg.pipelines.beam_worker" in runner._default_environment.command_string
    assert "MALLOC_ARENA_MAX=2 " in runner._default_environment.command_string  # flat memory


def test_flink_gets_its_own_options_after_the_double_dash():
    args = ("--flink_master=flink.example:8081", "--parallelism=8", "--environment_type=DOCKER")
    options = pipeline_options(config(runner="FlinkRunner", beam_args=args))
    assert options.view_as(StandardOptions).runner == "FlinkRunner"
    assert options.view_as(FlinkRunnerOptions).flink_master == "flink.example:8081"
    assert options.view_as(FlinkRunnerOptions).parallelism == 8
    assert options.view_as(PortableOptions).environment_type == "DOCKER"


def test_spark_and_dataflow_options_reach_their_runners():
    spark = pipeline_options(
        config(runner="SparkRunner", beam_args=("--spark_master_url=spark://m:7077",))
    )
    assert spark.view_as(SparkRunnerOptions).spark_master_url == "spark://m:7077"
    args = ("--project=p", "--region=europe-west1", "--temp_location=gs://b/tmp")
    dataflow = pipeline_options(config(runner="DataflowRunner", beam_args=args))
    cloud = dataflow.view_as(GoogleCloudOptions)
    assert (cloud.project, cloud.region, cloud.temp_location) == ("p", "europe-west1", "gs://b/tmp")


def test_an_unknown_option_is_refused_not_dropped():
    with pytest.raises(ValueError, match="--wokers"):
        pipeline_options(config(beam_args=("--wokers", "2")))
    with pytest.raises(ValueError, match="batch"):
        pipeline_options(config(beam_args=("--streaming",)))


def test_option_texts_parse_or_say_what_is_expected():
    assert parse_transpose("-3:3") == (-3, 3) and parse_transpose("2") == (2, 2)
    assert parse_split("0.8/0.1/0.1") == (0.8, 0.1, 0.1)
    with pytest.raises(ValueError, match="LOW:HIGH"):
        parse_transpose("up")
    with pytest.raises(ValueError, match="TRAIN/VALID/TEST"):
        parse_split("0.8/0.2")
    with pytest.raises(ValueError, match="sum to 1"):
        config(split=(0.5, 0.1, 0.1))
    with pytest.raises(ValueError, match="LOW <= HIGH"):
        config(transpose=(3, -3))
    assert config(transpose=(-1, 1)).shifts == (-1, 0, 1)
