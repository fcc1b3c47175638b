"""The results cache: a photo is never classified twice (SQLite keyed by content fingerprint and
model variant, features kept for learning), its JSONL export/import, and shards for array jobs.
Imports `model`, `photos`.
"""
