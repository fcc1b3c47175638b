"""The one build step pyproject.toml cannot say: the wheel carries the user's guide.

The guide is written in docs/ (where a reader of the repository finds it, beside its
screenshots); Help ▸ User's Guide of an installed app reads it from the package, so the wheel
gets a copy as app/guide/. A checkout or an editable install reads docs/ itself
(app.ui.help.guide_path). Everything else about the build is in pyproject.toml.
"""

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

DOCS = Path(__file__).resolve().parent / "docs"
# The guide and the pictures it shows (packaging/bundle_contents.py copies the same ones).
GUIDE_FILES = ("user-guide.md", "guide/*.png")


class BuildPyWithGuide(build_py):
    def run(self) -> None:
        super().run()
        target = Path(self.build_lib) / "app" / "guide"
        for pattern in GUIDE_FILES:
            for source in sorted(DOCS.glob(pattern)):
                dest = target / source.relative_to(DOCS)
                dest.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(source, dest)


setup(cmdclass={"build_py": BuildPyWithGuide})
