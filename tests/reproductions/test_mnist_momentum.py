"""A shortened form of the optimizer comparison in benchmarks/reproduce_mnist.py.

The full experiment (cost 0.1 on all 60,000 images) is recorded in benchmarks/RESULTS.md; here
the same 784-256-256-10 net, batch 100, lr 0.01, trains on 12,000 real MNIST images to a
training cost of 0.3, which keeps the test to a few seconds while the gap stays large.
"""

import latentforge as lf
from latentforge.bench.reproduce import steps_to_cost


def test_momentum_needs_several_times_fewer_steps(real_data):
    (X, y) = lf.datasets.load_mnist(return_test=False)
    X, y = X[:12000], y[:12000]
    with_momentum, _ = steps_to_cost(X, y, 0.9, target=0.3, max_epochs=10, seed=0)
    plain, _ = steps_to_cost(X, y, 0.0, target=0.3, max_epochs=40, seed=0)
    assert with_momentum is not None and plain is not None, (with_momentum, plain)
    # Momentum 0.9 is a ~10x larger effective step; the full run measured 8.1x fewer steps.
    assert plain > 4 * with_momentum, (plain, with_momentum)
