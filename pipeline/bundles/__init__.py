"""Model bundles: what prediction needs from a finished run, packed, checksummed and verified.

- :mod:`~pipeline.bundles.format`: the folder's layout, the checksum manifest, opening a bundle
  (every file verified, an incompatible format refused with both versions named).
- :mod:`~pipeline.bundles.pack`: writing a bundle from plain paths.
- :mod:`~pipeline.bundles.card`: the model card (``MODEL_CARD.md`` + ``model_card.json``).
- :mod:`~pipeline.bundles.tiles`: checking new tiles against the bundle's tile preprocessing.
"""
