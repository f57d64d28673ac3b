"""User errors and the CLI wrapper that turns them into one line and exit status 2."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence


class UserError(Exception):
    """A problem with the user's input (file, row, option); printed as one line, never a traceback."""


EXIT_USER_ERROR = 2


class ArgumentParser(argparse.ArgumentParser):
    """argparse whose usage errors are one line `error: ...` and exit status 2, like every UserError
    (its sub-command parsers are of this class too)."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise UserError(f"{self.prog}: {message} (see --help)")


def run_cli(main: Callable[[Sequence[str] | None], int | None], argv: Sequence[str] | None = None) -> int:
    """Run a CLI entry point; a UserError becomes `error: ...` on stderr and exit status 2."""
    try:
        code = main(argv)
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USER_ERROR
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
    return int(code or 0)
