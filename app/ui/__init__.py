"""The desktop window, Qt only (nothing outside this package imports PySide6): the main window,
its item models, views and delegates, dialogs, and the controllers that do its work off the GUI
thread and talk back by signals. Imports every room of the core; docs/architecture.md lists the
modules.
"""
