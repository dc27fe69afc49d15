"""The CLI's commands, one module each: its argparse parser and a short ``run`` that calls
into the packages below. A command imports what it needs inside ``run`` so that ``orch
--help`` stays fast.

May import: any orchestrator package.
"""
