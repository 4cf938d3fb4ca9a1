"""`mg.generation.audio`: FluidSynth renders a real tune, and the WAV is loud enough to hear
(about -20 dBFS RMS) without ever clipping."""

from __future__ import annotations

import shutil
import wave

import numpy as np
import pytest

from mg.data.corpus import demo_corpus
from mg.generation import audio
from mg.representation import read_file
from mg.representation.decode import write_midi

needs_fluidsynth = pytest.mark.skipif(
    shutil.which("fluidsynth") is None, reason="FluidSynth is not installed (make system-deps)"
)


@pytest.fixture(scope="module")
def tune_midi(tmp_path_factory, grid):
    """The first tune of music21's Aird's Airs, book 1, as MIDI (a real, quiet-by-default piece)."""
    notes = read_file(demo_corpus() / "book1.abc", grid).pieces[0].notes
    path = tmp_path_factory.mktemp("audio") / "tune.mid"
    return write_midi(notes, path, grid), len(notes) * 0.5 / grid.steps_per_beat


@needs_fluidsynth
def test_rendered_tune_is_normalised_and_never_clips(tune_midi, tmp_path):
    midi, seconds = tune_midi
    wav = audio.render_wav(midi, tmp_path / "tune.wav")
    rms, peak = audio.loudness(wav)
    assert rms == pytest.approx(audio.TARGET_RMS_DBFS, abs=0.5) or peak == pytest.approx(
        audio.PEAK_CEILING_DBFS, abs=0.1
    )
    assert peak <= audio.PEAK_CEILING_DBFS + 0.01
    with wave.open(str(wav)) as file:
        assert (file.getnchannels(), file.getsampwidth()) == (2, 2)
        assert file.getnframes() / file.getframerate() >= seconds


@needs_fluidsynth
def test_same_midi_same_wav_bytes(tune_midi, tmp_path):
    midi, _ = tune_midi
    first = audio.render_wav(midi, tmp_path / "a.wav").read_bytes()
    assert audio.render_wav(midi, tmp_path / "b.wav").read_bytes() == first


def test_a_spiky_signal_is_held_under_the_peak_ceiling():
    """A click over near-silence would need +60 dB to reach the target RMS: the ceiling wins."""
    samples = np.full((44_100, 2), 1e-4, dtype=np.float32)
    samples[100] = 0.5
    out = audio.normalised(samples)
    assert np.abs(out).max() == pytest.approx(10 ** (audio.PEAK_CEILING_DBFS / 20), rel=1e-6)


def test_a_quiet_signal_is_raised_to_the_target_rms():
    tone = 0.01 * np.sin(np.linspace(0, 2000 * np.pi, 44_100, dtype=np.float32))
    out = audio.normalised(np.stack([tone, tone], axis=1))
    rms_dbfs = 20 * np.log10(np.sqrt(np.mean(np.square(out.astype(np.float64)))))
    assert rms_dbfs == pytest.approx(audio.TARGET_RMS_DBFS, abs=0.01)


def test_silence_stays_silence(tmp_path):
    silent = audio.normalised(np.zeros((1000, 2), dtype=np.float32))
    audio.write_pcm16(silent, tmp_path / "silent.wav", audio.SAMPLE_RATE)
    assert audio.loudness(tmp_path / "silent.wav") == (-np.inf, -np.inf)
