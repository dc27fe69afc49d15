"""One sweep from start to end: validation before anything starts, the feature-cache fill,
the Tune run, the refit of the selected configuration, the final tags.

Owns: ``validate``, ``fill``, ``run`` (the sweep as a short script), ``refit``.
May import: selection, spec, search, tracking, report.
"""
