"""The `hdtickets` entry point: a usage error is one line with an example, exit code 2.

Typer drew a boxed panel of usage text around the reason (a dozen lines for a missing
argument); the admin had to find the reason inside it.
"""

from __future__ import annotations

import pytest

from bot.__main__ import first_example, main


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as done:
        main(list(argv), prog_name="hdtickets")
    out, err = capsys.readouterr()
    code = done.value.code
    return (code if isinstance(code, int) else 1), out, err


@pytest.mark.parametrize(
    ("argv", "line"),
    [
        (
            ["alerts", "show"],
            "error: Missing argument 'ID', e.g. hdtickets alerts show 12"
            " (more: hdtickets alerts show --help)",
        ),
        (
            ["tokens", "create", "--scopes", "ingest"],
            "error: Missing option '--name', e.g. hdtickets tokens create"
            ' --name "seatgeek scraper" --scopes ingest (more: hdtickets tokens create --help)',
        ),
        (
            ["users", "add", "Ada", "--bogus"],
            "error: No such option: --bogus, e.g. hdtickets users add"
            ' "Ada Lovelace" --admin --tz Europe/London (more: hdtickets users add --help)',
        ),
    ],
)
def test_a_usage_error_is_one_line_with_an_example(
    capsys: pytest.CaptureFixture[str], argv: list[str], line: str
) -> None:
    code, out, err = _run(capsys, *argv)
    assert (code, out, err) == (2, "", line + "\n")


def test_help_and_a_clean_run_exit_0(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = _run(capsys, "alerts", "show", "--help")
    assert code == 0 and "Examples:" in out and err == ""


def test_the_first_example_is_read_from_the_epilog_unescaped() -> None:
    epilog = "\nExamples:\n  hdtickets watches add \\[1] --max 5\n  hdtickets other"
    assert first_example(epilog) == "hdtickets watches add [1] --max 5"
    assert first_example(None) is None and first_example("no examples") is None


@pytest.mark.parametrize("argv", [[], ["users"], ["alerts"]], ids=["hdtickets", "users", "alerts"])
def test_no_command_prints_the_help_and_no_empty_error_line(
    capsys: pytest.CaptureFixture[str], argv: list[str]
) -> None:
    # click 8.2 raises NoArgsIsHelpError, whose message is the help typer already printed:
    # it came out as a second line "error: , e.g. …".
    code, out, err = _run(capsys, *argv)
    assert code == 2 and "Usage:" in out and "Examples:" in out
    assert err == ""


def test_a_missing_choice_option_is_one_line_naming_the_choices(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # click lists the choices one a line ("Choose from:\n\tseatgeek-mlb,\n\tgeneric").
    code, out, err = _run(capsys, "import", __file__)
    assert (code, out) == (2, "")
    assert err.count("\n") == 1, err
    assert err.startswith(
        "error: Missing option '--format' / '-f'. Choose from: seatgeek-mlb, generic, e.g."
    ), err


_IMPORT = (
    ", e.g. hdtickets import mlb_2024_snapshots_tidy.csv --format seatgeek-mlb"
    " (more: hdtickets import --help)"
)


@pytest.mark.parametrize(
    ("argv", "reason"),
    [
        (
            ["--format", "bogus"],
            "Invalid value for '--format' / '-f': 'bogus' is not one of: seatgeek-mlb, generic",
        ),
        (["--batch-size", "0"], "Invalid value for '--batch-size': must be at least 1"),
        (["--batch-size", "5001"], "Invalid value for '--batch-size': must be at most 5000"),
        (["--batch-size", "many"], "Invalid value for '--batch-size': must be a whole number"),
    ],
)
def test_a_bad_option_value_reads_plainly_not_in_pydantic_words(
    capsys: pytest.CaptureFixture[str], argv: list[str], reason: str
) -> None:
    """Typer checks option values with pydantic, whose words reached the operator:
    "Value error, 'bogus' is not one of 'seatgeek-mlb', 'generic'" and "Input should be
    greater than or equal to 1"."""
    code, out, err = _run(capsys, "import", "snapshots.csv", *argv)
    assert (code, out, err) == (2, "", f"error: {reason}{_IMPORT}\n")
