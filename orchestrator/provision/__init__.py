"""What a fresh machine needs before the first sweep (``orch setup``): WordNet for nltk,
built from Debian's packages when nltk's downloader cannot reach its hub.

Owns: ``wordnet``.
May import: nothing else of the orchestrator.
"""
