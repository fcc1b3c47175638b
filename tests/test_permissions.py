"""A folder the user may not read is said so, never shown as an empty folder (issue 23.4):
app.photos.listing returns a ListingError per folder; classify and tag print "permission
denied" for it on stderr and exit 1, or 2 when the folder named on the command line cannot be
listed at all; with -r an unreadable subfolder is reported, and the rest is done.

The tests run as root in CI: each command runs without CAP_DAC_OVERRIDE/CAP_DAC_READ_SEARCH
(tests/unprivileged.py), so the permissions bind it as they bind a user."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import make_photo

from tests.unprivileged import run_app, run_python


@pytest.fixture
def tree(tmp_path: Path):
    """photos/ with 2 photos and locked/ (mode 000, 1 photo inside), restored afterwards."""
    root = tmp_path / "photos"
    for i in range(2):
        make_photo(root / f"IMG_{i}.jpg", seed=i)
    make_photo(root / "locked" / "IMG_9.jpg")
    (root / "locked").chmod(0)
    yield root
    (root / "locked").chmod(0o755)


LIST = """
import json, sys
from app.photos.listing import list_photos
errors = []
photos = list_photos(sys.argv[1], recursive=True, errors=errors)
print(json.dumps({"photos": [p.name for p in photos],
                  "errors": [[str(e.folder), e.reason, str(e)] for e in errors]}))
"""


def test_the_listing_returns_a_typed_error_for_the_folder_it_could_not_read(tree: Path) -> None:
    done = run_python(LIST, tree, denied=tree / "locked")
    assert done.returncode == 0, done.stderr
    found = json.loads(done.stdout)
    assert found["photos"] == ["IMG_0.jpg", "IMG_1.jpg"]
    assert found["errors"] == [
        [
            str(tree / "locked"),
            "permission denied",
            f"cannot list {tree / 'locked'}: permission denied",
        ]
    ]


def test_classify_a_folder_it_may_not_read_is_bad_usage_not_no_photos(
    tree: Path, tiny_card: Path
) -> None:
    locked = tree / "locked"
    done = run_app("classify", "--model", tiny_card, locked, denied=locked)
    assert done.returncode == 2 and done.stdout == ""
    assert f"error: cannot list {locked}: permission denied" in done.stderr
    assert "no photos found" not in done.stderr


def test_classify_recursive_reports_the_unreadable_subfolder_and_does_the_rest(
    tree: Path, tiny_card: Path
) -> None:
    locked = tree / "locked"
    done = run_app("classify", "-r", "--model", tiny_card, tree, denied=locked)
    assert done.returncode == 1
    assert [line.split("\t")[0] for line in done.stdout.splitlines()] == [
        str(tree / "IMG_0.jpg"),
        str(tree / "IMG_1.jpg"),
    ]
    assert f"error: cannot list {locked}: permission denied" in done.stderr
    assert "2 photos, 0 errors, 1 folder not read;" in done.stderr
    assert "1 folder failed" in done.stderr
    plain = run_app("classify", "--model", tiny_card, tree, denied=locked)  # not looked into
    assert plain.returncode == 0 and "permission denied" not in plain.stderr


def test_tag_a_folder_it_may_not_read(tree: Path, tiny_card: Path) -> None:
    locked = tree / "locked"
    done = run_app("tag", "--model", tiny_card, locked, denied=locked)
    assert done.returncode == 2 and done.stdout == ""
    assert f"error: cannot list {locked}: permission denied" in done.stderr
    assert "no photos found" not in done.stderr


def test_tag_recursive_tags_what_it_can_and_reports_the_subfolder(
    tree: Path, tiny_card: Path
) -> None:
    locked = tree / "locked"
    done = run_app("tag", "-r", "--min-confidence", "0", "--model", tiny_card, tree, denied=locked)
    assert done.returncode == 1
    assert f"error: cannot list {locked}: permission denied" in done.stderr
    assert (
        "2 written, 0 unchanged, 0 skipped manual, 0 below threshold, 0 none, 0 errors, 1 folder not read;"
        in done.stderr
    )
    assert sorted(p.name for p in tree.glob("*.xmp")) == ["IMG_0.jpg.xmp", "IMG_1.jpg.xmp"]


def test_label_a_photo_in_a_folder_it_may_not_search_says_so_and_labels_the_rest(
    tree: Path, tiny_card: Path
) -> None:
    hidden, open_one = tree / "locked" / "IMG_9.jpg", tree / "IMG_0.jpg"
    done = run_app(
        "label", "--model", tiny_card, "--scene", "sea", hidden, open_one, denied=tree / "locked"
    )
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert f"{hidden}\tERROR: permission denied; not labelled" in done.stderr
    assert done.stdout.splitlines() == [f"{open_one}\tsea\tIMG_0.jpg.xmp"]


def test_a_path_behind_a_folder_it_may_not_search_is_permission_denied_everywhere(
    tree: Path, tiny_card: Path
) -> None:
    """Not 'no such file', not a traceback: classify names the path's problem per path, tag
    and learn --from refuse a folder they cannot reach or list (bad usage, nothing learned)."""
    locked = tree / "locked"
    hidden = locked / "IMG_9.jpg"
    done = run_app("classify", "--model", tiny_card, hidden, tree / "IMG_0.jpg", denied=locked)
    assert done.returncode == 1 and "Traceback" not in done.stderr
    lines = done.stdout.splitlines()  # a line a path, the readable photo classified
    assert len(lines) == 2 and f"{hidden}\tERROR: permission denied" in lines
    done = run_app("tag", "--model", tiny_card, hidden, denied=locked)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert f"error: permission denied: {hidden}" in done.stderr
    done = run_app("learn", "--from", locked, "--model", tiny_card, denied=locked)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert f"error: cannot list {locked}: permission denied" in done.stderr
    assert "kept:" not in done.stdout and "active" not in done.stdout
