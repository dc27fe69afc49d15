"""Image features through the frozen image tower."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager

import torch
from PIL import Image, UnidentifiedImageError

from workers.datasets import Datum
from workers.errors import DataError
from workers.model import Clip


def load_image(path, transform: Callable) -> torch.Tensor:
    try:
        with Image.open(path) as image:
            return transform(image.convert("RGB"))
    except FileNotFoundError as exc:
        raise DataError(f"image not found: {path} (is the dataset complete?)") from exc
    except (UnidentifiedImageError, OSError) as exc:
        # PIL's own message repeats the path: say what is wrong once
        why = "not an image PIL can identify" if isinstance(exc, UnidentifiedImageError) else exc
        raise DataError(
            f"unreadable image {path}: {why}; replace or remove it from the split"
        ) from exc


# told how many images each batch encoded, while a cache fill reports its progress
_on_encoded: Callable[[int], None] | None = None


@contextmanager
def reporting_encoded(callback: Callable[[int], None]) -> Iterator[None]:
    """Call ``callback(n)`` after every batch of ``n`` images encoded inside the block."""
    global _on_encoded
    previous, _on_encoded = _on_encoded, callback
    try:
        yield
    finally:
        _on_encoded = previous


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
        if _on_encoded is not None:
            _on_encoded(len(batch))
    labels = torch.tensor([i.label for i in items], dtype=torch.long)
    return torch.cat(feats), labels


def train_transform(clip: Clip, crop_scale_min: float, *, hflip: bool = True) -> Callable:
    """CoOp's training augmentation (random resized crop, and a horizontal flip where the
    dataset allows it) with the model's normalisation."""
    from torchvision import transforms as T

    steps = getattr(clip.preprocess, "transforms", [])
    normalize = next((t for t in steps if isinstance(t, T.Normalize)), None)
    size = clip.model.visual.image_size
    size = size[0] if isinstance(size, tuple | list) else size
    return T.Compose(
        [
            T.RandomResizedCrop(
                size, scale=(crop_scale_min, 1.0), interpolation=T.InterpolationMode.BICUBIC
            ),
            *([T.RandomHorizontalFlip()] if hflip else []),
            T.ToTensor(),
            *([normalize] if normalize is not None else []),
        ]
    )


def items_fingerprint(items: Sequence[Datum]) -> str:
    """Changes whenever an image file, its label or the list itself changes."""
    import hashlib

    digest = hashlib.sha256()
    for item in items:
        try:
            stat = item.path.stat()
        except FileNotFoundError as exc:
            raise DataError(f"image not found: {item.path} (is the dataset complete?)") from exc
        digest.update(f"{item.path}|{item.label}|{stat.st_size}|{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()[:32]
