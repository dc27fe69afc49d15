"""A failed allocation becomes one line that says so and names the settings that size memory."""

import pytest
import torch

from workers.cells import memory_error
from workers.errors import OutOfMemory


class WrappedByRay(Exception):  # how ray.get hands over a cell-group actor's exception
    def __init__(self, cause: BaseException) -> None:
        super().__init__(f"ray.exceptions.RayTaskError: {cause}")
        self.cause = cause


def test_a_refused_allocation_is_out_of_memory_here_and_from_an_actor():
    with pytest.raises(RuntimeError) as refused:  # 8 EB: no machine grants it
        torch.empty(2**60, dtype=torch.uint8)
    for exc in (refused.value, WrappedByRay(refused.value)):
        oom = memory_error(exc)
        assert isinstance(oom, OutOfMemory)
        assert str(oom).startswith("out of memory on ") and "can't allocate memory" in str(oom)
        assert "train.batch_size" in str(oom)
    assert isinstance(memory_error(MemoryError()), OutOfMemory)
    assert memory_error(torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2 GiB"))


def test_other_errors_pass_through():
    assert memory_error(RuntimeError("shape mismatch")) is None
    assert memory_error(ValueError("out of memory")) is None  # only the allocators' errors
    assert memory_error(WrappedByRay(KeyError("x"))) is None
