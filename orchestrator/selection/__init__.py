"""What "best" means: the objectives and the selection rule, Pareto fronts and hypervolume,
and a sweep's records with the configuration the rule picks.

Owns: ``rule`` (objectives, dominance, the stated rule), ``pareto`` (non-dominated sorting,
crowding distance, hypervolume), ``results`` (a sweep's records, what was selected).
May import: nothing else of the orchestrator (pure; MLflow only through a client passed in).
"""
