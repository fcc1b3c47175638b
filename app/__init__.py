"""Scene Tagger: tag photo folders by scene and write the tags into XMP sidecars.

The rooms, each a package that owns one noun and imports only the rooms below it:

    ui        the window (Qt only; nothing else imports PySide6)
    cli       the command line: one command table, each command a thin layer over the rest
    personal  learning from corrections: the corrections store, the personal head, versions
    tagging   one folder's session, the review rule, XMP sidecars
    cache     the results cache (SQLite), its export/import, shards
    model     the contract (classes, input size, normalization, card), networks, runtimes,
              the Classifier and its calibration
    photos    opening photos (formats, orientation, RAW previews), fingerprints, OS errors

The top level keeps only what every room shares and may import: `defaults` (the product's
defaults), `priority` (the GUI thread first), `userdirs` (the app's name on disk and its user
folders), and `__main__`. tests/test_architecture_rules.py states which room imports which.
"""
