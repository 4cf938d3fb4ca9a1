"""MIDI to WAV with the FluidSynth program and a General MIDI soundfont.

FluidSynth is a Debian package (`fluidsynth`), not a Python dependency: `make system-deps`
installs it. The soundfont is the small General MIDI one that pretty_midi ships (TimGM6mb.sf2),
so audio needs nothing downloaded at run time.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from mg.errors import MgError

SAMPLE_RATE = 44_100


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
    """Render `midi_path` to a 16-bit WAV at `wav_path`; returns the WAV's path."""
    midi_path, wav_path = Path(midi_path), Path(wav_path)
    font = Path(soundfont) if soundfont else default_soundfont()
    if not font.is_file():
        raise AudioError(f"{font}: no such soundfont")
    command = [
        fluidsynth_path(),
        "-ni",  # no MIDI input, no shell
        "-q",
        "-F",
        str(wav_path),
        "-T",
        "wav",
        "-r",
        str(sample_rate),
        str(font),
        str(midi_path),
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=600, check=False)
    if done.returncode != 0 or not wav_path.is_file() or wav_path.stat().st_size <= 44:
        detail = (done.stderr or done.stdout).strip().splitlines()
        reason = detail[-1] if detail else f"exit code {done.returncode}"
        raise AudioError(f"{midi_path}: FluidSynth could not render it: {reason}")
    return wav_path
