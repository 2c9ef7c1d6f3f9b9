"""The memory bank's nearest-neighbour search against a brute-force float64 search."""

import numpy as np
import pytest

from inspector.engines.standalone_parts import memory
from inspector.engines.standalone_parts.memory import BankSearch, PatchMemory


def _brute(bank: np.ndarray, q: np.ndarray, n_local: int, local_weight: float):
    d_joint = np.sqrt(((q[:, None, :] - bank[None]) ** 2).sum(-1))
    d_local = np.sqrt(((q[:, None, :n_local] - bank[None, :, :n_local]) ** 2).sum(-1))
    arg = d_joint.argmin(1)
    return d_joint.min(1) + local_weight * d_local.min(1), d_local.min(1), (q - bank[arg]) ** 2


@pytest.mark.parametrize("block", [1 << 20, 7 * 300])  # one block; blocks of 7 with a short last one
def test_search_is_the_exact_nearest_neighbour(monkeypatch, block):
    rng = np.random.default_rng(3)
    n_local, dims = 11, 16
    bank = rng.normal(size=(300, dims)).astype(np.float32)
    mem = PatchMemory(rng.normal(size=dims).astype(np.float32), rng.uniform(0.5, 2, dims).astype(np.float32),
                      bank, n_local)
    features = rng.normal(size=(61, dims)).astype(np.float32)
    monkeypatch.setattr(memory, "QUERY_BLOCK", block)
    search = BankSearch(mem, local_weight=0.7)
    q = mem.standardise(features).astype(np.float64)
    want, want_local, want_residual = _brute(bank.astype(np.float64), q, n_local, 0.7)
    anomaly, local, residual = search.nearest(features)
    np.testing.assert_allclose(search.anomaly(features), want, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(anomaly, want, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(local, want_local, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(residual, want_residual, rtol=1e-3, atol=1e-3)
    # a query equal to a bank patch is at distance 0 from it
    exact = bank[:5] / mem.scale + mem.mean
    assert np.all(search.anomaly(exact) < 1e-2)
