"""mg.errors.first_line: the one way a one-line report quotes a longer error."""

from __future__ import annotations

import pytest

from mg.errors import first_line


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (ValueError("bad meter\nTraceback (most recent call last):\n  ..."), "bad meter"),
        (OSError("\n\n  Couldn't deserialize thrift  \nmore"), "Couldn't deserialize thrift"),
        (KeyError(), "KeyError"),  # no message: the type names it
        (RuntimeError("   \n "), "RuntimeError"),
        (
            "RESOURCE_DOES_NOT_EXIST: Registered Model 'x' not found\n{json}",
            "RESOURCE_DOES_NOT_EXIST: Registered Model 'x' not found",
        ),
    ],
)
def test_the_first_non_blank_line_or_the_type(error, expected):
    assert first_line(error) == expected


def test_an_empty_message_can_name_its_source():
    assert first_line("", "MLflow error") == "MLflow error"
    assert first_line("  \n", "MLflow error") == "MLflow error"
