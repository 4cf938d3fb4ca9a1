"""`mg.cli`: the Typer app. Thin: parse options, call one library function, print."""
