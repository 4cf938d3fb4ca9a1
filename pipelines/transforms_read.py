"""Ingest, first half: list files → read bytes → parse (crash-guarded) → split into tunes.

Each transform returns its main output and a `rejected` output of dead letters
(`records.Rejected`); nothing that fails here fails the pipeline.
"""

from __future__ import annotations

import hashlib
import os
from collections import deque

import apache_beam as beam
from apache_beam.io.filesystem import BeamIOError
from apache_beam.io.filesystems import FileSystems
from apache_beam.transforms.window import GlobalWindows
from apache_beam.utils.windowed_value import WindowedValue

from mg.errors import CorpusError, Reason
from mg.pipelines import counters
from mg.pipelines.guard import GuardedCall, GuardError, GuardStartError
from mg.pipelines.listing import FileRef
from mg.pipelines.progress import ProgressFile
from mg.pipelines.records import FileBytes, Rejected
from mg.pipelines.tensors import too_short
from mg.representation import FileResult
from mg.representation.files import (
    MAX_FILE_BYTES,
    printable,
    read_at_most,
    read_regular_file,
    too_large,
)
from mg.representation.grid import Grid

REJECTED = "rejected"
DIGESTS = "digests"


LISTING_CHUNK = 1000  # listed files an element of `ListFiles`' shuffle stands for


class ListFiles(beam.PTransform):
    """The files listed in `listing` (JSON lines of FileRef), spread over the workers.

    The driver lists the inputs once and writes the list beside the run, instead of embedding
    it in the pipeline graph: a 200k-file corpus would make a graph too large to submit. What
    is spread is the byte ranges of `chunk` lines each, read back into FileRefs after the
    shuffle: a local runner holds what it shuffles in its own process, decoded (a shuffle of
    one element a file held ~2 KB a file there, 220 MB at 100,000 files).
    """

    def __init__(self, listing: str, chunk: int = LISTING_CHUNK) -> None:
        super().__init__()
        self.listing, self.chunk = listing, chunk

    def expand(self, pbegin):
        return (
            pbegin
            | "Listing" >> beam.Create([self.listing])
            | "Chunks" >> beam.FlatMap(listing_chunks, self.chunk)
            | "Spread" >> beam.Reshuffle()
            | "Read" >> beam.FlatMap(read_chunk, self.listing)
        )


def listing_chunks(path: str, chunk: int):
    """(start, end) byte ranges of `path`, each `chunk` lines (the last one fewer)."""
    start = end = lines = 0
    with FileSystems.open(path, compression_type="uncompressed") as handle:
        for line in handle:
            end += len(line)
            lines += 1
            if lines == chunk:
                yield start, end
                start, lines = end, 0
    if lines:
        yield start, end


def read_chunk(item: tuple[int, int], path: str):
    """The FileRefs of one byte range of the listing."""
    start, end = item
    with FileSystems.open(path, compression_type="uncompressed") as handle:
        handle.seek(start)
        data = handle.read(end - start)
    for line in data.decode("ascii").splitlines():
        if line.strip():
            yield FileRef.from_json(line)


class _ReadFn(beam.DoFn):
    def __init__(self, progress: str | None, max_bytes: int) -> None:
        self.progress_folder = progress
        self.max_bytes = max_bytes

    def setup(self) -> None:
        self.progress = ProgressFile(self.progress_folder)

    def process(self, ref: FileRef):
        try:
            data = read_capped(ref, self.max_bytes)
        except CorpusError as exc:
            self.progress.add("files")
            yield beam.pvalue.TaggedOutput(DIGESTS, (ref.source, exc.reason.value))
            yield beam.pvalue.TaggedOutput(REJECTED, Rejected.from_error(exc, ref.source))
            return
        digest = hashlib.blake2b(data, digest_size=16).hexdigest()
        yield beam.pvalue.TaggedOutput(DIGESTS, (ref.source, digest))
        yield FileBytes(ref, data, digest)

    def finish_bundle(self) -> None:
        self.progress.flush()

    def teardown(self) -> None:
        self.progress.flush()


def read_capped(ref: FileRef, max_bytes: int) -> bytes:
    """A local file through `read_regular_file` (no FIFO, device or oversized file is read);
    object storage by its listed size, then at most `max_bytes` + 1 bytes."""
    if "://" not in ref.path:
        if os.path.islink(ref.path) and not os.path.exists(ref.path):
            target = printable(os.readlink(ref.path))
            raise CorpusError(ref.source, Reason.UNREADABLE, f"dangling symlink to {target}")
        return read_regular_file(ref.path, max_bytes, ref.source)
    try:
        size = FileSystems.match([ref.path])[0].metadata_list[0].size_in_bytes
        if size > max_bytes:
            raise CorpusError(ref.source, Reason.TOO_LARGE, too_large(size, max_bytes))
        with FileSystems.open(ref.path, compression_type="uncompressed") as handle:
            data = read_at_most(handle, max_bytes + 1, size + 1)
    except (OSError, IndexError, BeamIOError) as exc:
        detail = f"cannot read file: {getattr(exc, 'strerror', None) or exc}"
        raise CorpusError(ref.source, Reason.UNREADABLE, detail) from None
    if len(data) > max_bytes:
        raise CorpusError(ref.source, Reason.TOO_LARGE, too_large(len(data), max_bytes))
    return data


class ReadFiles(beam.PTransform):
    """FileRef → FileBytes; outputs `rejected` (unreadable, dangling, not a regular file,
    over `max_bytes`) and `digests`."""

    def __init__(self, progress: str | None = None, max_bytes: int = MAX_FILE_BYTES) -> None:
        super().__init__()
        self.progress = progress
        self.max_bytes = max_bytes

    def expand(self, files):
        return files | "Read" >> beam.ParDo(_ReadFn(self.progress, self.max_bytes)).with_outputs(
            REJECTED, DIGESTS, main="files"
        )


class _ParseFn(beam.DoFn):
    """Runs the parser in a guarded child process, one per DoFn instance, a file ahead: a file
    is sent before the last one's answer is read (`GuardedCall.submit`), so the child parses
    while this process writes the last one's pieces away. Answers come out one element late;
    the bundle's last at `finish_bundle`."""

    def __init__(self, grid: Grid, parser: str, timeout_s: float, progress: str | None) -> None:
        self.grid, self.parser, self.timeout_s = grid, parser, timeout_s
        self.progress_folder = progress

    def setup(self) -> None:
        self.guard = GuardedCall(self.parser, self.timeout_s)
        self.progress = ProgressFile(self.progress_folder)
        self.sent: deque[str] = deque()  # the sources of the files in flight, in order

    def start_bundle(self) -> None:
        if self.sent:  # left by a bundle that failed: its calls' answers are nobody's now
            self.guard.close()
            self.sent.clear()

    def process(self, item: FileBytes):
        source = item.ref.source
        self.progress.add("files")
        if not self.guard.submit(item.data, source, self.grid):  # too large beside another
            while self.sent:
                yield from self._answer()
            self.guard.submit(item.data, source, self.grid)  # nothing in flight: sent
        self.sent.append(source)
        while len(self.sent) > 1:
            yield from self._answer()

    def _answer(self):
        """The outputs of the oldest file in flight: its FileResult, or its dead letter."""
        source = self.sent.popleft()
        try:
            result = self.guard.collect()
        except CorpusError as exc:
            yield beam.pvalue.TaggedOutput(REJECTED, Rejected.from_error(exc, source))
            return
        except GuardError as exc:
            yield beam.pvalue.TaggedOutput(REJECTED, _crash(source, exc.detail))
            return
        except GuardStartError:
            raise  # a broken setup, not a broken file
        except Exception as exc:  # the parser's own bug on this input: a dead letter too
            detail = f"parser failed: {type(exc).__name__}: {exc}"
            yield beam.pvalue.TaggedOutput(REJECTED, _crash(source, detail))
            return
        counters.inc(counters.FILES_READ)
        yield result

    def finish_bundle(self):
        while self.sent:  # outputs of finish_bundle carry their window (files: the global one)
            for output in self._answer():
                if isinstance(output, beam.pvalue.TaggedOutput):
                    yield beam.pvalue.TaggedOutput(output.tag, _global(output.value))
                else:
                    yield _global(output)
        self.progress.flush()

    def teardown(self) -> None:
        self.guard.close()
        self.progress.flush()


def _global(value) -> WindowedValue:
    return GlobalWindows.windowed_value(value)


def _crash(source: str, detail: str) -> Rejected:
    return Rejected(source, str(Reason.PARSER_CRASH), detail)


class ParseFiles(beam.PTransform):
    """FileBytes → FileResult through `config.parser` in a child process; failures → `rejected`."""

    def __init__(
        self,
        grid: Grid,
        parser: str,
        timeout_s: float = 300.0,
        progress: str | None = None,
    ) -> None:
        super().__init__()
        self.fn = _ParseFn(grid, parser, timeout_s, progress)

    def expand(self, files):
        return files | "Parse" >> beam.ParDo(self.fn).with_outputs(REJECTED, main="results")


class _SplitTunesFn(beam.DoFn):
    def __init__(self, grid: Grid) -> None:
        self.grid = grid

    def process(self, result: FileResult):
        for failure in result.failures:
            yield beam.pvalue.TaggedOutput(REJECTED, Rejected.from_error(failure, result.path))
        for piece in result.pieces:
            counters.inc(counters.TUNES_READ)
            counters.inc(counters.PITCHES_OUT_OF_RANGE, piece.stats.get("pitches_out_of_range", 0))
            for name in counters.ENCODE_DROPS:
                counters.inc(name, piece.stats.get(name, 0))
            if too_short(piece.notes, self.grid):
                counters.inc(counters.PIECES_TOO_SHORT)
                continue
            complaints = piece.stats.get(counters.ABC2MIDI_ERRORS, 0)
            counters.inc(counters.TUNES_WITH_ABC2MIDI_ERRORS, int(complaints > 0))
            counters.inc(counters.ABC2MIDI_ERROR_LINES, complaints)
            counters.inc(counters.meter_name(piece.meter.first))
            counters.inc(counters.PICKUPS, int(piece.lead > 0))
            # a written short bar restarts the same signature: not a change of meter
            counters.inc(counters.METER_CHANGES, int(len(set(piece.meter.signatures())) > 1))
            yield piece


class SplitTunes(beam.PTransform):
    """FileResult → one Piece per usable tune; the file's failed tunes → `rejected`."""

    def __init__(self, grid: Grid) -> None:
        super().__init__()
        self.grid = grid

    def expand(self, results):
        return results | "Tunes" >> beam.ParDo(_SplitTunesFn(self.grid)).with_outputs(
            REJECTED, main="pieces"
        )
