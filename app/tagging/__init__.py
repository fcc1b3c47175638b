"""Tagging: one folder's session (records, the review rule, predictions, corrections, the save
plan), listing a folder into records in batches, and the XMP sidecars its tags go into (both
names, merge, atomic writes). Imports `model`, `photos`.
"""
