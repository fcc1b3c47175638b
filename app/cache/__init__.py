"""The results cache: a photo is never classified twice (SQLite keyed by content fingerprint and
model variant, features kept for learning), its JSONL export/import, shards for array jobs,
and how the app opens a SQLite store (sqlstore, the corrections store's too).
Imports `model`, `photos`.
"""
