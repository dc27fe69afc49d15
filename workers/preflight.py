"""What a trial will need from the data plane, checked before a sweep starts.

The control plane never imports torch, so ``orch validate`` and ``orch sweep`` run this module
in a short subprocess: ``python -m workers.preflight`` reads ``{"model": {...}, "vocabularies":
[...]}`` as JSON on stdin and prints one ``ok ...`` line per check, or one error line and exits
with code 2. It checks that the model name is in open_clip's registry (or is the project's), that
the pretrained tag exists for it or the checkpoint file loads as a state dict, and that every
``file:`` vocabulary exists and holds words.
"""

from __future__ import annotations

import json
import sys
from typing import Any

from workers.errors import ModelError, UserError


def check_model(model: dict[str, Any]) -> str:
    import torch

    from workers.model import check_name, weights_file

    name, tag, checkpoint = model.get("name"), model.get("pretrained"), model.get("checkpoint")
    try:
        check_name(name)
        path = weights_file(name, tag, checkpoint)  # a missing file or an unknown tag fails here
    except ModelError as exc:
        raise ModelError(f"model: {exc}") from None
    if checkpoint:
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as exc:
            raise ModelError(
                f"model.checkpoint: {path} does not load as a state dict "
                f"({type(exc).__name__}: {str(exc).splitlines()[0][:120]}); give a torch "
                "state-dict file"
            ) from None
        state = state.get("state_dict", state) if isinstance(state, dict) else state
        if not isinstance(state, dict) or not all(torch.is_tensor(v) for v in state.values()):
            raise ModelError(f"model.checkpoint: {path} holds no state dict of tensors")
        return f"model {name} weights {path} ({len(state)} tensors)"
    if path is not None:
        return f"model {name}/{tag} ({path})"
    if tag:
        return f"model {name}/{tag} (open_clip tag; weights are fetched or read from cache)"
    return f"model {name} (random weights: no pretrained tag or checkpoint)"


def check_vocabulary(vocab: str) -> str | None:
    from workers.vocab import MIN_POOL, read_word_file

    if not vocab.startswith("file:"):
        return None
    words = read_word_file(vocab[len("file:") :])
    if len(words) < MIN_POOL:
        raise UserError(
            f"method.outlier_vocab {vocab}: {len(words)} word(s); a vocabulary needs at least "
            f"{MIN_POOL}, one per line"
        )
    return f"vocabulary {vocab}: {len(words)} words"


def main() -> int:
    payload = json.loads(sys.stdin.read())
    try:
        lines = [check_model(payload["model"])]
        lines += [check_vocabulary(v) for v in payload.get("vocabularies", [])]
    except UserError as exc:
        print(f"error: {exc}", flush=True)
        return exc.exit_code
    for line in lines:
        if line:
            print(f"ok {line}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
