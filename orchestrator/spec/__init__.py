"""What a sweep is: a spec file turned into typed, validated config at the edge, its
searched space, and where the sweep's state lives.

Owns: ``schema`` (the pydantic sections), ``load`` (YAML and ``--set`` into a ``Spec``,
every error naming the file and key), ``space`` (``SearchSpace``: the searched dimensions,
their short names and conditions, built once per sweep), ``storage`` (the sweep's
folders), ``baselines`` (the named baseline trials).
May import: selection.
"""
