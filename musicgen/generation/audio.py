"""MIDI to WAV with the FluidSynth program and a General MIDI soundfont.

FluidSynth is a Debian package (`fluidsynth`), not a Python dependency: `make system-deps`
installs it. The soundfont is the small General MIDI one that pretty_midi ships (TimGM6mb.sf2),
so audio needs nothing downloaded at run time.

FluidSynth's default gain leaves a piece near -40 dBFS, too quiet to hear next to other audio.
It renders to 32-bit float here (nothing clips), and the piece is scaled to TARGET_RMS_DBFS,
less where its peaks would pass PEAK_CEILING_DBFS, then written as 16-bit PCM: loud enough,
never clipped, and the same bytes for the same MIDI.
"""

from __future__ import annotations

import math
import shutil
import subprocess
import tempfile
import wave
from pathlib import Path

import numpy as np

from mg.errors import MgError

SAMPLE_RATE = 44_100
CHANNELS = 2  # FluidSynth renders stereo
TARGET_RMS_DBFS = -20.0
PEAK_CEILING_DBFS = -1.0


class AudioError(MgError):
    """FluidSynth or the soundfont is missing, or the rendering failed."""


def fluidsynth_path() -> str:
    """The `fluidsynth` program on PATH, or one clear error saying how to install it."""
    found = shutil.which("fluidsynth")
    if not found:
        raise AudioError(
            "--wav needs the FluidSynth program, which is not installed: run `make system-deps` "
            "(Debian package fluidsynth)"
        )
    return found


def default_soundfont() -> Path:
    """pretty_midi's bundled General MIDI soundfont."""
    import pretty_midi

    path = Path(pretty_midi.__file__).parent / "TimGM6mb.sf2"
    if not path.is_file():
        raise AudioError(f"{path}: pretty_midi's General MIDI soundfont is missing")
    return path


def render_wav(
    midi_path: str | Path,
    wav_path: str | Path,
    soundfont: str | Path | None = None,
    sample_rate: int = SAMPLE_RATE,
) -> Path:
    """Render `midi_path` to a 16-bit stereo WAV at `wav_path`, loudness-normalised (see the
    module docstring); returns the WAV's path."""
    midi_path, wav_path = Path(midi_path), Path(wav_path)
    font = Path(soundfont) if soundfont else default_soundfont()
    if not font.is_file():
        raise AudioError(f"{font}: no such soundfont")
    with tempfile.TemporaryDirectory(prefix="mg-audio-") as scratch:
        raw = Path(scratch) / "render.f32"
        _fluidsynth(midi_path, font, raw, sample_rate)
        samples = np.fromfile(raw, dtype="<f4").reshape(-1, CHANNELS)
    write_pcm16(normalised(samples), wav_path, sample_rate)
    return wav_path


def _fluidsynth(midi_path: Path, font: Path, raw: Path, sample_rate: int) -> None:
    """Render to headerless little-endian 32-bit float frames (no clipping at any level)."""
    command = [
        fluidsynth_path(),
        "-ni",  # no MIDI input, no shell
        "-q",
        "-F",
        str(raw),
        "-T",
        "raw",
        "-O",
        "float",
        "-E",
        "little",
        "-r",
        str(sample_rate),
        str(font),
        str(midi_path),
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=600, check=False)
    frame = 4 * CHANNELS
    if done.returncode != 0 or not raw.is_file() or raw.stat().st_size < frame:
        detail = (done.stderr or done.stdout).strip().splitlines()
        reason = detail[-1] if detail else f"exit code {done.returncode}"
        raise AudioError(f"{midi_path}: FluidSynth could not render it: {reason}")


def normalised(samples: np.ndarray) -> np.ndarray:
    """`samples` (float, full scale 1.0) scaled to TARGET_RMS_DBFS, or less where the peak
    would pass PEAK_CEILING_DBFS; silence stays silence."""
    rms = float(np.sqrt(np.mean(np.square(samples, dtype=np.float64)))) if samples.size else 0.0
    peak = float(np.abs(samples).max()) if samples.size else 0.0
    if rms == 0.0 or peak == 0.0:
        return np.zeros_like(samples)
    gain = min(_amplitude(TARGET_RMS_DBFS) / rms, _amplitude(PEAK_CEILING_DBFS) / peak)
    return samples * gain


def write_pcm16(samples: np.ndarray, path: Path, sample_rate: int) -> None:
    """Float frames [n, channels] in -1..1 as a 16-bit PCM WAV (rounded, no dither: same bytes)."""
    pcm = np.clip(np.rint(samples * 32767.0), -32768, 32767).astype("<i2")
    with wave.open(str(path), "wb") as out:
        out.setnchannels(samples.shape[1])
        out.setsampwidth(2)
        out.setframerate(sample_rate)
        out.writeframes(pcm.tobytes())


def loudness(path: str | Path) -> tuple[float, float]:
    """A 16-bit WAV's RMS and peak level in dBFS (-inf for silence)."""
    with wave.open(str(path)) as audio:
        frames = np.frombuffer(audio.readframes(audio.getnframes()), dtype="<i2")
    levels = frames.astype(np.float64) / 32768.0
    rms = math.sqrt(float(np.mean(np.square(levels)))) if levels.size else 0.0
    peak = float(np.abs(levels).max()) if levels.size else 0.0
    return _dbfs(rms), _dbfs(peak)


def _amplitude(dbfs: float) -> float:
    return 10.0 ** (dbfs / 20.0)


def _dbfs(level: float) -> float:
    return 20.0 * math.log10(level) if level > 0 else -math.inf
