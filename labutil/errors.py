"""User errors and the CLI wrapper that turns them into one line and exit status 2."""

from __future__ import annotations

import argparse
import errno
import os
import sys
from collections.abc import Callable, Sequence


class UserError(Exception):
    """A problem with the user's input (file, row, option); printed as one line, never a traceback."""


class DiskFull(UserError, OSError):
    """A write failed because the disk (or quota) is full; the message names the file. Also an
    OSError (errno ENOSPC), so code that handles failed writes as OSError still sees one."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.errno = errno.ENOSPC


EXIT_USER_ERROR = 2

# errno values that mean the disk (or the user's quota, or the file size limit) is full.
DISK_FULL = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)


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
    except OSError as exc:
        if exc.errno not in DISK_FULL:
            raise
        where = f"{exc.filename}: " if exc.filename else ""
        print(f"error: {where}could not be written: {os.strerror(exc.errno).lower()} (free some space and "
              "run the command again)", file=sys.stderr)
        return EXIT_USER_ERROR
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
    return int(code or 0)
