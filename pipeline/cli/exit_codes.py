"""The command line's exit codes, printed at the end of ``--help`` and ``run --help``.

The codes themselves live on the errors (``exit_code`` of each class in :mod:`pipeline.errors`);
:func:`pipeline.cli.main.main` returns them.
"""

from __future__ import annotations

from pipeline.errors import ConfigError, DataVerificationError, LockError, StageError

INTERRUPTED = 130
EXIT_CODES = (
    (0, "done"),
    (ConfigError.exit_code, "bad arguments, config or input data; fix what the message names"),
    (DataVerificationError.exit_code, "an input file failed its data manifest's checks"),
    (StageError.exit_code, "a stage failed, or a disk is full; rerun to resume"),
    (LockError.exit_code, "another live run holds the run directory's lock"),
    (INTERRUPTED, "interrupted; rerun the same command to resume"),
)
"""(exit code, what it means) of every outcome, in the order ``--help`` lists them."""

EPILOG = "exit codes:\n" + "\n".join(f"  {code:<4} {what}" for code, what in EXIT_CODES)
