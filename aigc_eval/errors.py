"""User-facing errors: the CLI prints them as one line and exits 2, never with a traceback."""


class UserError(Exception):
    """Bad input from the user: a wrong name, path, format or option. Exit code 2."""

    exit_code = 2


class NotApplicable(UserError):
    """A metric that cannot apply to these samples (Self-BLEU on one sentence, SSIM on 8x8 images).
    `evaluate` records it with its reason and runs the other metrics.

    name: the score that cannot apply, when not the whole metric (recon's "ssim"); scores: those of
    the metric that could be computed (recon's PSNR)."""

    def __init__(self, message: str, name: str | None = None, scores=()):
        super().__init__(message)
        self.name, self.scores = name, list(scores)


def unknown_name(kind: str, name: str, valid) -> UserError:
    return UserError(f"unknown {kind} {name!r}; valid {kind}s: {', '.join(sorted(valid))}")
