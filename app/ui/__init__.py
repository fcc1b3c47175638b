"""The desktop window (Qt only; nothing outside this package imports PySide6).

main.py      run_gui(): the application object, icon, binding check, then the window
window.py    MainWindow: folders, scanning, corrections, saving, settings, closing
layout.py    the window's widgets, actions, menus, toolbar and status bar
models.py    the photo list model (UserRole = PhotoRecord) and its group/review/error proxies
views.py     icon-grid views, the badge delegate, group panes, the progress strip
scanning.py  ScanController: one scan at a time, predictions applied in time-budgeted slices
workers.py   the scan worker thread and the single-thread task runner (model, folder, save)
thumbnails.py  background thumbnails, memory LRU + disk cache
preview.py, dialogs.py, welcome.py, commands.py (undo), settings.py, guard.py, compat.py
"""
