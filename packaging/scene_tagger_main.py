"""Entry point of the frozen app: exactly `python -m app` (window, classify, tag, --self-test)."""

from __future__ import annotations

import multiprocessing
import sys

from app.cli.main import main

if __name__ == "__main__":
    multiprocessing.freeze_support()  # a frozen child process must not re-run the app
    sys.exit(main())
