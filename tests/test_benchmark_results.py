"""`benchmarks.run`: a re-run benchmark's section goes first and keeps what was there."""

from __future__ import annotations

from benchmarks import run


def test_a_rerun_keeps_the_earlier_run_and_the_notes_and_results_md_is_the_files(
    tmp_path, monkeypatch
):
    monkeypatch.setattr(run, "HERE", tmp_path)
    monkeypatch.setattr(run, "RESULTS", tmp_path / "results")
    run.save_section("speed", "## Speed\n\n| run | files/s |\n| --- | ---: |\n| a | 100 |\n")
    saved = tmp_path / "results" / "speed.md"
    saved.write_text(saved.read_text() + "A note on the figures, by hand.\n")
    run.save_section("other", "## Other\n\nfigures\n")
    printed = run.save_section(
        "speed", "## Speed\n\n| run | files/s |\n| --- | ---: |\n| a | 120 |\n"
    )
    text = saved.read_text()
    assert text.startswith(printed) and "| a | 120 |" in printed and "| a | 100 |" not in printed
    assert text.index("| a | 120 |") < text.index("### Earlier: Speed") < text.index("| a | 100 |")
    assert text.index("| a | 100 |") < text.index("A note on the figures, by hand.")
    gathered = run.gather().read_text()
    assert gathered.index("## Other") < gathered.index("## Speed")  # by file name
    assert gathered.endswith(text) and "figures\n" in gathered
