"""Help: the user's guide, the keyboard shortcuts, About.

- The guide is docs/user-guide.md, rendered from its Markdown in a window of the app (its
  pictures, its links between sections; a link to the web opens the browser). A wheel carries
  it as app/guide/ (setup.py), the packaged app as guide/ (packaging/bundle_contents.py), a
  checkout or an editable install reads docs/.
- Keyboard Shortcuts is generated, each time it opens, from the menus the action registry
  (actions.py) built, plus the keys the photo lists handle themselves (actions.LIST_KEYS): what
  it says is what the keys do.
- About: the version, the model, its accuracy as measured for the precision that runs (model
  card), the runtime in use, the licence, and every third party's licence and terms
  (resources/THIRD_PARTY_NOTICES.md).
"""

from __future__ import annotations

import contextlib
import html
import importlib.metadata
import platform
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import PySide6
from PySide6.QtCore import QObject, Qt, QUrl, qVersion
from PySide6.QtGui import (
    QDesktopServices,
    QKeySequence,
    QTextCharFormat,
    QTextCursor,
    QTextDocument,
)
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QHBoxLayout,
    QLabel,
    QMenuBar,
    QPushButton,
    QTextBrowser,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from app.model import scenes
from app.ui.actions import LIST_KEYS
from app.userdirs import version

APP_DIR = Path(__file__).resolve().parents[1]  # the app package: installed, or the checkout's
GUIDE_NAME = "user-guide.md"
NOTICES_NAME = "THIRD_PARTY_NOTICES.md"


def guide_path() -> Path | None:
    """The user's guide: in the packaged app, in the installed package, or in the checkout."""
    here = APP_DIR
    frozen = getattr(sys, "_MEIPASS", None)
    candidates = [Path(frozen) / "guide"] if frozen else []
    candidates += [here / "guide", here.parent / "docs"]
    return next((c / GUIDE_NAME for c in candidates if (c / GUIDE_NAME).is_file()), None)


def notices_path() -> Path | None:
    path = scenes.resources_dir() / NOTICES_NAME
    return path if path.is_file() else None


def app_version() -> str:
    return version()


# ------------------------------------------------------------------------------------ facts
def measured_accuracy(card: Any, backend: str | None, precision: str | None) -> str | None:
    """ "93.5 % on the 3,000 seg_test photos" for the precision that runs, from the model card
    (ONNX fp32/int8 have their own measurements; torch runs the card's own)."""
    extra = getattr(card, "extra", None) or {}
    evaluation = extra.get("evaluation") or {}
    if backend in ("onnx", "openvino"):  # OpenVINO runs the card's ONNX file: its own record
        entry = (extra.get("onnx") or {}).get(precision or "") or {}
        if backend == "openvino":
            entry = entry.get("openvino") or entry
        evaluation = entry.get("evaluation") or evaluation
    accuracy = evaluation.get("accuracy")
    if not isinstance(accuracy, int | float):
        return None
    n = evaluation.get("n")
    split = evaluation.get("split", "test")
    where = f" on the {n:,} {split} photos" if isinstance(n, int) else f" on {split}"
    kappa = evaluation.get("kappa")
    tail = f" (Cohen's kappa {kappa:.3f})" if isinstance(kappa, int | float) else ""
    return f"{accuracy * 100:.1f} %{where}{tail}"


def about_facts(classifier: Any, error: str | None = None) -> list[tuple[str, str]]:
    """(what, value) lines of the About box: the model that runs (or the bundled one)."""
    card = getattr(classifier, "card", None)
    if card is None:
        try:
            card = scenes.ModelCard.read(scenes.default_card_path())
        except Exception as exc:  # a damaged card is said, About still opens
            return [("Model", f"cannot be read: {exc}")]
    backend = getattr(classifier, "backend", None)
    precision = getattr(classifier, "precision", None)
    model_id = getattr(classifier, "model_id", None) or card.model_id
    facts = [("Model", f"{model_id} (VGG16 fine-tuned on the Intel scene photos)")]
    accuracy = measured_accuracy(card, backend, precision)
    if accuracy:
        if "+personal" in model_id:
            accuracy += "; the bundled model's: your personal model adjusts it (Tools ▸ Learn)"
        facts.append(("Accuracy", accuracy))
    if classifier is not None:
        facts.append(("Runtime", str(getattr(classifier, "device_name", "unknown"))))
    else:
        facts.append(("Runtime", f"none: {error}" if error else "loading…"))
    facts.append(("Scenes", ", ".join(card.classes)))
    onnx = ""  # the runtimes installed, read from their metadata (importing them costs seconds)
    for name, dist in (("ONNX Runtime", "onnxruntime"), ("OpenVINO", "openvino")):
        with contextlib.suppress(importlib.metadata.PackageNotFoundError):
            onnx += f", {name} {importlib.metadata.version(dist)}"
    facts.append(
        (
            "Software",
            f"Python {platform.python_version()}, Qt {qVersion()}, PySide6 {PySide6.__version__}{onnx}",
        )
    )
    return facts


def shortcut_rows(bar: QMenuBar) -> list[tuple[str, list[tuple[str, str, str]]]]:
    """(menu, [(keys, action, what it does)]) for every action with a shortcut in the menus,
    then the keys the photo lists handle themselves."""
    sections: list[tuple[str, list[tuple[str, str, str]]]] = []
    for top in bar.actions():
        menu = top.menu()
        if menu is None:
            continue
        rows = []
        for action in menu.actions():
            keys = action.shortcut()
            if action.isSeparator() or action.menu() is not None or keys.isEmpty():
                continue
            label = action.property("label") or action.text()  # Undo: not "Undo Mark 1 photo…"
            text = re.sub(r"^\d\s+", "", str(label).replace("&", "")).rstrip("…")
            tip = action.toolTip()
            rows.append(
                (
                    keys.toString(QKeySequence.SequenceFormat.NativeText),
                    text,
                    tip if tip.replace("&", "") != action.text().replace("&", "") else "",
                )
            )
        if rows:
            sections.append((top.text().replace("&", ""), rows))
    sections.append(("In the photo lists", [(k, w, "") for k, w in LIST_KEYS]))
    return sections


# ------------------------------------------------------------------------------------ windows
def github_slug(heading: str) -> str:
    """The anchor GitHub gives a heading ("Where the tags go" -> "where-the-tags-go")."""
    slug = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return slug.replace(" ", "-")


class DocumentWindow(QDialog):
    """A Markdown document (the guide, the notices) in a window of its own."""

    def __init__(self, path: Path, title: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(title)
        self.setObjectName("document")
        self.resize(860, 760)
        self.browser = QTextBrowser()
        self.browser.setOpenLinks(False)
        self.browser.anchorClicked.connect(self._link)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.close)
        layout = QVBoxLayout(self)
        layout.addWidget(self.browser)
        layout.addWidget(buttons)
        self.open_file(path)

    def open_file(self, path: Path) -> None:
        self.path = path
        self.browser.setSearchPaths([str(path.parent)])
        self.browser.setSource(
            QUrl.fromLocalFile(str(path)), QTextDocument.ResourceType.MarkdownResource
        )
        self._name_headings()

    def _name_headings(self) -> None:
        """Give each heading GitHub's anchor name, so the guide's "#section" links work here."""
        doc = self.browser.document()
        block = doc.begin()
        while block.isValid():
            if block.blockFormat().headingLevel() > 0:
                cursor = QTextCursor(block)
                cursor.select(QTextCursor.SelectionType.BlockUnderCursor)
                fmt = QTextCharFormat()
                fmt.setAnchor(True)
                fmt.setAnchorNames([github_slug(block.text())])
                cursor.mergeCharFormat(fmt)
            block = block.next()

    def _link(self, url: QUrl) -> None:
        if url.scheme() in ("http", "https", "mailto"):
            QDesktopServices.openUrl(url)
            return
        target = self.browser.source().resolved(url) if url.isRelative() else url
        local = Path(target.toLocalFile()) if target.isLocalFile() else None
        if local is not None and local == self.path and url.fragment():
            self.browser.scrollToAnchor(url.fragment())
        elif local is not None and local.suffix == ".md" and local.is_file():
            self.open_file(local)
            if url.fragment():
                self.browser.scrollToAnchor(url.fragment())
        elif not url.scheme() and not url.path() and url.fragment():
            self.browser.scrollToAnchor(url.fragment())
        elif local is not None and local.exists():
            QDesktopServices.openUrl(target)


class ShortcutsDialog(QDialog):
    def __init__(self, bar: QMenuBar, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Keyboard Shortcuts")
        self.setObjectName("shortcuts")
        self.resize(980, 700)
        self.tree = QTreeWidget()
        self.tree.setColumnCount(3)
        self.tree.setHeaderLabels(["Keys", "Action", "What it does"])
        self.tree.setRootIsDecorated(False)
        self.tree.setWordWrap(True)
        for section, rows in shortcut_rows(bar):
            head = QTreeWidgetItem(self.tree, [section])
            font = head.font(0)
            font.setBold(True)
            head.setFont(0, font)
            head.setFirstColumnSpanned(True)
            for keys, text, tip in rows:
                item = QTreeWidgetItem(head, [keys, text, tip])
                item.setToolTip(2, tip)
            head.setExpanded(True)
        self.tree.setColumnWidth(0, 210)
        self.tree.setColumnWidth(1, 180)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.close)
        layout = QVBoxLayout(self)
        layout.addWidget(self.tree)
        layout.addWidget(buttons)

    def texts(self) -> list[tuple[str, str]]:
        """(keys, action) of every row shown (tests read it)."""
        out = []
        for i in range(self.tree.topLevelItemCount()):
            head = self.tree.topLevelItem(i)
            for j in range(head.childCount()):
                out.append((head.child(j).text(0), head.child(j).text(1)))
        return out


class AboutDialog(QDialog):
    def __init__(
        self,
        facts: list[tuple[str, str]],
        show_notices: Callable[[], None],
        show_guide: Callable[[], None],
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("About Scene Tagger")
        self.setObjectName("about")
        icon = QLabel()
        window_icon = self.windowIcon()
        if not window_icon.isNull():
            icon.setPixmap(window_icon.pixmap(96, 96))
        icon.setAlignment(Qt.AlignmentFlag.AlignTop)
        rows = "".join(
            f"<tr><td style='padding-right:12px'><b>{html.escape(k)}</b></td>"
            f"<td>{html.escape(v)}</td></tr>"
            for k, v in facts
        )
        self.text = QLabel(
            f"<h2>Scene Tagger {html.escape(app_version())}</h2>"
            "<p>Sorts photos by scene (buildings, forest, glacier, mountain, sea, street) and "
            "writes the scene as a keyword into each photo's XMP sidecar.</p>"
            f"<table>{rows}</table>"
            "<p>Free software under the MIT licence. It runs on Qt and PySide6 (LGPL-3.0), ONNX "
            "Runtime (MIT), Pillow, pi-heif with libheif (LGPL-3.0), rawpy with LibRaw "
            "(LGPL-2.1), NumPy and more; the model starts from torchvision's ImageNet VGG16 "
            "weights and learned from the Intel scene photos, whose terms are in "
            "<i>Licences</i>.</p>"
        )
        self.text.setWordWrap(True)
        self.text.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.text.setMinimumWidth(520)
        top = QHBoxLayout()
        top.addWidget(icon)
        top.addWidget(self.text, 1)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        self.licences_button = QPushButton("Licences…")
        self.licences_button.clicked.connect(show_notices)
        self.guide_button = QPushButton("User's Guide")
        self.guide_button.clicked.connect(show_guide)
        buttons.addButton(self.licences_button, QDialogButtonBox.ButtonRole.ActionRole)
        buttons.addButton(self.guide_button, QDialogButtonBox.ButtonRole.ActionRole)
        buttons.rejected.connect(self.close)
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(buttons)


class HelpDesk(QObject):
    """Opens the help windows (one of each, raised when asked again); they do not block."""

    def __init__(
        self,
        parent: QWidget,
        menubar: QMenuBar,
        classifier: Callable[[], Any],
        model_error: Callable[[], str | None],
        message: Callable[[str], None],
    ) -> None:
        super().__init__(parent)
        self.window, self.menubar = parent, menubar
        self.classifier, self.model_error, self.message = classifier, model_error, message
        self.open: dict[str, QDialog] = {}

    def _show(self, key: str, make: Callable[[], QDialog | None]) -> QDialog | None:
        dialog = self.open.get(key)
        if dialog is None or not dialog.isVisible():
            dialog = make()
            if dialog is None:
                return None
            dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
            dialog.destroyed.connect(lambda *_: self.open.pop(key, None))
            self.open[key] = dialog
        dialog.show()
        dialog.raise_()
        dialog.activateWindow()
        return dialog

    def show_guide(self) -> QDialog | None:
        path = guide_path()
        if path is None:
            self.message("The user's guide is not installed (docs/user-guide.md)")
            return None
        return self._show(
            "guide", lambda: DocumentWindow(path, "Scene Tagger — User's Guide", self.window)
        )

    def show_notices(self) -> QDialog | None:
        path = notices_path()
        if path is None:
            self.message("The licence notices are not installed (resources/THIRD_PARTY_NOTICES.md)")
            return None
        return self._show("notices", lambda: DocumentWindow(path, "Licences", self.window))

    def show_shortcuts(self) -> QDialog | None:
        return self._show("shortcuts", lambda: ShortcutsDialog(self.menubar, self.window))

    def show_about(self) -> QDialog | None:
        facts = about_facts(self.classifier(), self.model_error())
        return self._show(
            "about", lambda: AboutDialog(facts, self.show_notices, self.show_guide, self.window)
        )
