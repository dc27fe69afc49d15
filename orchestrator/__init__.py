"""The control plane: what to run, where, and what it found. It never imports torch.

Its packages, each importing only those before it (``tests/unit/test_planes.py`` keeps it):

- ``selection``: objectives, the selection rule, Pareto fronts, a sweep's records
- ``spec``: the spec file as typed config, the searched space, the sweep's folders
- ``search``: the Optuna searcher, schedulers, the time budget, Ray Tune
- ``tracking``: MLflow's location, the runs a sweep leaves, UI links, plots
- ``report``: progress lines, the printed report, ``orch table``
- ``sweep``: one sweep from validation to the refit of the selected configuration
- ``submission``: a sweep sent to a Ray cluster

``provision`` (what ``orch setup`` installs) stands alone; ``commands`` (one module per CLI
command) and ``cli`` sit on top and may import any of them.
"""
