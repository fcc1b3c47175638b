"""The command line (`python -m app COMMAND …`): classify, tag, cache, label, learn, the
self-test and the window's launcher. Each command is a thin layer over the rooms below; no Qt
except `main` handing over to `app.ui` to open a window.
"""
