"""User-facing errors: the CLI prints them as one line and exits 2, never with a traceback."""


class UserError(Exception):
    """Bad input from the user: a wrong name, path, format or option. Exit code 2."""

    exit_code = 2


def unknown_name(kind: str, name: str, valid) -> UserError:
    return UserError(f"unknown {kind} {name!r}; valid {kind}s: {', '.join(sorted(valid))}")
