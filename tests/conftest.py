import pytest


def pytest_collection_modifyitems(config, items):
    """`gpu` tests run only where CUDA is visible; everything else runs everywhere, CI included."""
    import torch

    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA GPU")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)
