"""Learning from corrections: the corrections store (manual labels + features), the personal
head fitted on them (numpy, no torch), the learn use case, its versions, the classifier that
applies it, and the builder of the whole classifier stack. Imports `cache`, `model`, `photos`.
"""
