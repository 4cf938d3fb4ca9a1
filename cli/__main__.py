"""`python -m mg.cli ...`: the `mg` command without its console script."""

from mg.cli.app import main

main()
