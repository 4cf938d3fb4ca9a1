"""Beam's DaskRunner, completed so that `mg ingest` runs on a Dask cluster (`--runner DaskRunner`).

Beam 2.77's `apache_beam.runners.dask.dask_runner.DaskRunner` cannot run this pipeline, for
four reasons (each shown on a real cluster; infra/beam.md has the errors):

1. it translates `beam.io.Read` (the `ReadFromText` that read ingest's listing, before the
   listing was spread in byte ranges) to nothing: the next step fails with
   `AttributeError: 'NoneType' object has no attribute 'map'`;
2. a DoFn's tagged outputs are not told apart: whoever reads `rejected` also gets every main
   output (and the reverse), since all outputs of a bundle go into one bag;
3. it computes only the bag of the last transform visited, so of our four sinks (shards,
   rejected files, corpus checksum, group counts) three never run;
4. `result.metrics()` raises NotImplementedError, and the manifest's counts are Beam counters.

This runner keeps Beam's translation of Create, GroupByKey and Flatten (`TRANSLATIONS`) and
replaces the rest: Read reads the source's splits, Reshuffle repartitions over the cluster, a
ParDo runs each partition as a bundle in a metrics container of its own (its counters travel
back as one marker per partition) with side inputs as whole lists, a consumer of a ParDo keeps
only the output it names, and every bag that nothing consumes is computed, in one graph.

Needs `dask` and `distributed` (installed with mg). The import of this module registers the
`--dask_*` pipeline options; `mg.pipelines.options` imports it for `--runner DaskRunner`.
"""

from __future__ import annotations

import dataclasses
from collections import defaultdict

from apache_beam import DoFn, TaggedOutput, pvalue
from apache_beam.metrics.execution import MetricKey, MetricResult, MetricsContainer
from apache_beam.metrics.metric import MetricResults
from apache_beam.pipeline import AppliedPTransform, PipelineVisitor
from apache_beam.runners.common import DoFnContext, DoFnInvoker, DoFnSignature, _OutputHandler
from apache_beam.runners.dask import dask_runner as beam_dask
from apache_beam.runners.dask.dask_runner import DaskOptions, DaskRunnerResult
from apache_beam.runners.dask.overrides import _Flatten, _Read, _Reshuffle, dask_overrides
from apache_beam.runners.dask.transform_evaluator import (
    TRANSLATIONS,
    NoOp,
    OneReceiver,
    get_windowed_value,
)
from apache_beam.runners.worker import statesampler
from apache_beam.transforms import core
from apache_beam.transforms.sideinputs import SideInputMap
from apache_beam.utils.counters import CounterFactory

RUNNER = "mg.pipelines.dask_runner.DaskRunner"
READ_BUNDLE_BYTES = 1 << 20  # a split of a text source: the listing is a few MB at most
PARTITIONS_PER_THREAD = 2  # Reshuffle: enough partitions to keep every worker thread busy

__all__ = ["RUNNER", "DaskOptions", "DaskRunner"]


@dataclasses.dataclass(frozen=True)
class _Counters:
    """The counters of one ParDo partition: ((namespace, name), value) pairs."""

    values: tuple[tuple[tuple[str, str], int], ...]


class DaskRunner(beam_dask.DaskRunner):
    """Runs a batch pipeline on the Dask cluster named by `--dask_client_address`."""

    def run_pipeline(self, pipeline, options):
        import dask.bag as db
        import dask.distributed as ddist

        dask_options = options.view_as(DaskOptions).get_all_options(
            drop_default=True, current_only=True
        )
        bag_kwargs = DaskOptions._extract_bag_kwargs(dask_options)
        client = ddist.Client(**dask_options)
        threads = sum(w.get("nthreads", 1) for w in client.scheduler_info()["workers"].values())
        spread = bag_kwargs.get("npartitions") or max(1, threads) * PARTITIONS_PER_THREAD
        pipeline.replace_all(dask_overrides())
        visitor = _BagVisitor(bag_kwargs, spread)
        pipeline.visit(visitor)
        counters = [visitor.counter_bag(node) for node in visitor.pardos]
        outputs = visitor.sinks() + ([db.concat(counters)] if counters else [])
        # one graph: a bag read by several consumers is computed once
        futures = client.compute(outputs, optimize_graph=False)
        return _Result(client, futures, has_counters=bool(counters))


class _Result(DaskRunnerResult):
    def __init__(self, client, futures, has_counters: bool) -> None:
        super().__init__(client, futures)
        self._counter_future = futures[-1] if has_counters else None
        self._metrics: _Metrics | None = None

    def wait_until_finish(self, duration=None) -> str:
        try:
            return super().wait_until_finish(duration)
        finally:
            if self._counter_future is not None and self._counter_future.status == "finished":
                self._metrics = _Metrics(self._counter_future.result())
            self.client.close()

    def metrics(self) -> MetricResults:
        if self._metrics is None:
            raise NotImplementedError("the pipeline has not finished: no counters yet")
        return self._metrics


class _Metrics(MetricResults):
    """The counters summed over every partition (committed = attempted: no retries here)."""

    def __init__(self, markers: list[_Counters]) -> None:
        totals: dict[tuple[str, str], int] = defaultdict(int)
        for marker in markers:
            for key, value in marker.values:
                totals[key] += value
        self._totals = dict(totals)

    def query(self, filter=None):
        from apache_beam.metrics.metricbase import MetricName

        counters = []
        for (namespace, name), value in sorted(self._totals.items()):
            key = MetricKey("dask", MetricName(namespace, name))
            if filter is None or self.matches(filter, key):
                counters.append(MetricResult(key, value, value))
        return {
            self.COUNTERS: counters,
            self.DISTRIBUTIONS: [],
            self.GAUGES: [],
            self.STRINGSETS: [],
            self.BOUNDED_TRIES: [],
        }


class _BagVisitor(PipelineVisitor):
    """Each primitive transform → a dask bag of plain values (ParDos add counter markers)."""

    def __init__(self, bag_kwargs: dict, spread: int) -> None:
        self.bag_kwargs = bag_kwargs
        self.spread = spread  # partitions after a Reshuffle
        self.bags: dict[AppliedPTransform, object] = {}
        self.consumed: set[AppliedPTransform] = set()
        self.pardos: list[AppliedPTransform] = []
        self._outputs: dict[tuple[AppliedPTransform, str | None], object] = {}

    def visit_transform(self, node: AppliedPTransform) -> None:
        transform = node.transform
        inputs = [self.output_bag(value) for value in node.inputs]
        if isinstance(transform, _Read):
            bag = _read(transform.source)
        elif isinstance(transform, _Reshuffle):
            bag = inputs[0].repartition(npartitions=self.spread)
        elif type(transform) is core.ParDo:
            bag = self._pardo(node, inputs[0])
            self.pardos.append(node)
        else:
            op = TRANSLATIONS.get(transform.__class__, NoOp)(node, bag_kwargs=self.bag_kwargs)
            if isinstance(transform, _Flatten):
                bag = op.apply(input_bag=inputs)
            elif inputs:
                bag = op.apply(input_bag=inputs[0])
            else:
                bag = op.apply(input_bag=None)
        self.bags[node] = bag

    def output_bag(self, value):
        """The bag of one PCollection: a ParDo's output named by its tag, markers dropped."""
        if isinstance(value, pvalue.PBegin):
            return None
        producer = value.producer
        self.consumed.add(producer)
        if producer not in self.pardos:
            return self.bags[producer]
        tag = value.tag if value.tag in producer.transform.output_tags else None
        key = (producer, tag)
        if key not in self._outputs:
            self._outputs[key] = self.bags[producer].map_partitions(_only, tag)
        return self._outputs[key]

    def counter_bag(self, node: AppliedPTransform):
        return self.bags[node].filter(lambda item: isinstance(item, _Counters))

    def sinks(self) -> list:
        return [bag for node, bag in self.bags.items() if node not in self.consumed]

    def _pardo(self, node: AppliedPTransform, bag):
        import dask

        transform = node.transform
        args, kwargs = transform.raw_side_inputs
        main = next(iter(node.main_inputs.values()))
        window_fn = main.windowing.windowfn if hasattr(main, "windowing") else None
        views, lists = [], []
        for side in node.side_inputs:
            views.append((type(side), side._view_options(), side._window_mapping_fn))
            values = self.output_bag(side.pvalue)
            lists.append(dask.delayed(_concat)(values.to_delayed(optimize_graph=False)))
        spec = (node.full_label, transform.fn, window_fn, list(args), kwargs, views)
        return bag.map_partitions(_run_bundle, spec, *lists)


def _read(source):
    import dask.bag as db

    bundles = list(source.split(desired_bundle_size=READ_BUNDLE_BYTES))
    return db.from_sequence(bundles, npartitions=max(1, len(bundles))).map_partitions(_read_bundles)


def _read_bundles(bundles) -> list:
    out = []
    for bundle in bundles:
        tracker = bundle.source.get_range_tracker(bundle.start_position, bundle.stop_position)
        out.extend(bundle.source.read(tracker))
    return out


def _concat(parts) -> list:
    return [item for part in parts for item in part]


def _only(items, tag: str | None) -> list:
    """One output of a ParDo partition, as plain values."""
    if tag is None:
        return [i for i in items if not isinstance(i, TaggedOutput | _Counters)]
    return [i.value.value for i in items if isinstance(i, TaggedOutput) and i.tag == tag]


def _run_bundle(items, spec, *side_lists) -> list:
    """One partition as one Beam bundle: setup, start, process, finish, teardown.

    Main outputs come back as values, tagged ones as TaggedOutput(tag, WindowedValue), and the
    partition's counters as one `_Counters` at the end.
    """
    label, fn, window_fn, args, kwargs, views = spec
    receivers = OneReceiver()
    handler = _OutputHandler(
        window_fn=window_fn,
        main_receivers=receivers[None],
        tagged_receivers=receivers,
        per_element_output_counter=None,
        output_batch_converter=None,
        process_yields_batches=False,
        process_batch_yields_elements=False,
    )
    side_inputs = [
        SideInputMap(view, options, [get_windowed_value(v, window_fn) for v in values])
        for (view, options, _), values in zip(views, side_lists, strict=True)
    ]
    container = MetricsContainer(label)
    sampler = statesampler.StateSampler(label, CounterFactory())
    previous = statesampler.get_current_tracker()
    statesampler.set_current_tracker(sampler)
    try:
        with sampler.scoped_state(label, "process", metrics_container=container):
            invoker = DoFnInvoker.create_invoker(
                DoFnSignature(fn),
                handler,
                context=DoFnContext(label, state=None),
                side_inputs=side_inputs,
                input_args=args,
                input_kwargs=kwargs,
                user_state_context=None,
                bundle_finalizer_param=DoFn.BundleFinalizerParam(),
            )
            invoker.invoke_setup()
            invoker.invoke_start_bundle()
            for item in items:
                invoker.invoke_process(get_windowed_value(item, window_fn))
            invoker.invoke_finish_bundle()
            invoker.invoke_teardown()
    finally:
        statesampler.set_current_tracker(previous)
    outputs = [v.value if not isinstance(v, TaggedOutput) else v for v in receivers.values]
    counted = container.get_cumulative().counters
    marker = _Counters(
        tuple(((k.metric.namespace, k.metric.name), int(v)) for k, v in counted.items())
    )
    return [*outputs, marker]
