"""Sending a sweep to a Ray cluster: the job's command, the upload of the working tree,
the checks a shared cluster needs.

Owns: ``submit``, ``upload``.
May import: selection, spec, search, tracking, report, sweep.
"""
