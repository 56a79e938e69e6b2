"""Fixtures shared by the tests."""
import pytest
import torch


@pytest.fixture
def one_torch_thread():
    """One thread, as an actor runs: on a shared 2-core machine more threads only thrash."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)
