"""`mg.zoo`: the built-in model families, each one file with its config beside it.

Importing this package registers them with `musicgen.registry`; look them up with
`musicgen.registry.get(name)` (or `mg.zoo.get`).
"""

from mg.zoo import three_branch
from musicgen.registry import Family, families, get, register

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

__all__ = ["Family", "families", "get", "register"]
