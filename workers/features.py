"""Image features through the frozen image tower."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from PIL import Image, UnidentifiedImageError

from workers.data import Datum
from workers.errors import DataError
from workers.model import Clip


def load_image(path, transform: Callable) -> torch.Tensor:
    try:
        with Image.open(path) as image:
            return transform(image.convert("RGB"))
    except FileNotFoundError as exc:
        raise DataError(f"image not found: {path} (is the dataset complete?)") from exc
    except (UnidentifiedImageError, OSError) as exc:
        raise DataError(
            f"unreadable image {path}: {exc}; replace or remove it from the split"
        ) from exc


@torch.no_grad()
def encode_items(
    clip: Clip, items: Sequence[Datum], *, transform: Callable | None = None, batch_size: int = 128
) -> tuple[torch.Tensor, torch.Tensor]:
    """L2-normalised image features and labels. -> (N, embed_dim), (N,)"""
    transform = transform or clip.preprocess
    feats = []
    for start in range(0, len(items), batch_size):
        batch = torch.stack(
            [load_image(i.path, transform) for i in items[start : start + batch_size]]
        )
        feats.append(clip.encode_images(batch).cpu())
    labels = torch.tensor([i.label for i in items], dtype=torch.long)
    return torch.cat(feats), labels
