"""`mg.zoo`: the built-in model families, each one file with its config beside it.

Importing this package registers them with `mg.models.registry`; look them up with
`mg.models.registry.get(name)` (or `mg.zoo.get`).
"""

from mg.models.registry import Family, families, get, preset_sizes, register
from mg.zoo import char_rnn, music_vae, pianoroll_rnn, three_branch, transformer

register(
    Family(
        name="three-branch",
        config_cls=three_branch.ThreeBranchConfig,
        build=three_branch.build,
        presets=three_branch.PRESETS,
        inputs="notes",
        summary="notes, context and position through three recurrent branches (the patent's model)",
    )
)
register(
    Family(
        name="pianoroll-rnn",
        config_cls=pianoroll_rnn.PianorollConfig,
        build=pianoroll_rnn.build,
        presets=pianoroll_rnn.PRESETS,
        inputs="notes",
        summary="one recurrent stream over the 88-pitch pressed roll (the polyphonic-benchmark baseline)",
    )
)
register(
    Family(
        name="transformer",
        config_cls=transformer.TransformerConfig,
        build=transformer.build,
        presets=transformer.PRESETS,
        inputs="notes",
        summary="causal self-attention over frames (rotary positions, KV cache for generation)",
        backbones=("attention",),
    )
)
register(
    Family(
        name="music-vae",
        config_cls=music_vae.MusicVaeConfig,
        build=music_vae.build,
        presets=music_vae.PRESETS,
        inputs="segments",
        summary="a VAE over segments (MusicVAE): prior samples, variations, interpolation",
    )
)
register(
    Family(
        name="char-rnn",
        config_cls=char_rnn.CharRnnConfig,
        build=char_rnn.build,
        presets=char_rnn.PRESETS,
        inputs="text",
        summary="character-level model of the ABC text; its samples are parsed back to MIDI",
    )
)

__all__ = ["Family", "families", "get", "preset_sizes", "register"]
