"""`python -m app [FOLDER]` opens the window; `python -m app classify|tag …` runs headless."""

from __future__ import annotations

import sys

from app.cli.main import main

if __name__ == "__main__":
    sys.exit(main())
