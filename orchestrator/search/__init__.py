"""How configurations are proposed and stopped: the Optuna searcher, the replayed table's
space, the schedulers (ASHA, multi-objective ASHA), the time budget, and Ray Tune itself.

Owns: ``searcher`` (Optuna samplers behind Ray Tune), ``sampling`` (the space as Optuna
samples it: define-by-run, the grid, named points), ``replay`` (a table's configurations as
the space), ``rungs`` and ``moasha`` (rung decisions and their scheduler), ``budget`` (the
wall-clock stopper), ``tuner`` (Ray's start, the placed trainables, the Tuner).
May import: selection, spec.
"""
