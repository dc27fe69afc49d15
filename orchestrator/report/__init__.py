"""What a sweep tells its user: the live progress lines, the printed report of a finished
sweep (from MLflow, at any later time), and the sweep turned into a tabulated benchmark.

Owns: ``progress``, ``summary`` (the report's tables and lines), ``sweep_report`` (load,
print, export), ``table`` (``orch table``).
May import: selection, spec, search, tracking.
"""
