"""Tagging: one folder's session (records, predictions, corrections, the save plan) and the
XMP sidecars its tags go into (both names, merge, atomic writes). Imports `model`, `photos`.
"""
