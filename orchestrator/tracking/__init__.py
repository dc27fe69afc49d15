"""Where results are written for people to compare: MLflow's location, the runs a sweep
leaves (a run per configuration, one per cell or one for all its cells), the callback that
writes them (from a thread of its own), links into the UI, and the plots logged as artifacts.

Owns: ``uri`` (where MLflow is, checked before a sweep starts), ``records`` (a trial's
name, params and metrics as MLflow keeps them), ``runs``, ``callbacks``, ``writer`` (the
thread that makes the callback's MLflow calls), ``missing`` (what a resumed sweep writes that
the callback missed), ``links``, ``plots``.
May import: selection, spec, search.
"""
