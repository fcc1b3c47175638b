"""Learning from corrections: the corrections store (manual labels + features), the personal
head fitted on them (numpy, no torch), its versions, and the classifier that applies it.
Imports `cache`, `model`, `photos`.
"""
