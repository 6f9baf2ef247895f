"""``python -m pipeline``: the command line (see :mod:`pipeline.cli`)."""

from pipeline.cli.main import main

raise SystemExit(main())
