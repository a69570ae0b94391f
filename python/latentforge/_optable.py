"""The list of native ops and where each one lives.

An op lives in seven places, found by its name alone (``../shared/DESIGN.md``):

===========================  ======================================================
``csrc/ops/<op>.h``          the contract: shapes, layout, overwrite vs accumulate
``csrc/ops/<op>_cpu.cpp``    the naive reference beside the optimized OpenMP/SIMD version
``csrc/ops/<op>_cuda.cu``    the launcher (same contract, device pointers, a stream), and
``csrc/ops/<op>_cuda.cuh``   the kernel source, shared with the CPU emulation
``csrc/bindings/bind_<op>.cpp``  validation and the GIL-free call into ``_C``
``latentforge.functional``   a ``Function`` (forward + backward) when the op is differentiable
``tests/ops/test_<op>.py``   against a float64 reference (``tests/reference``)
``benchmarks/ops/bench_<op>.py``  the kernel benchmark (pytest-benchmark)
===========================  ======================================================

``tests/test_layout.py`` walks :data:`OPS` and fails when a place is missing, so adding an op
means adding it here and in each place. Ops without a device kernel yet are the ones with
``cuda=False``: :data:`NO_DEVICE_KERNEL` is that single list (the CUDA issue empties it).
Files ``csrc/ops/<op>_*`` other than the above (per-ISA kernel tables such as
``gemm_kernel_avx2.cpp``) are private to the op.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Op:
    """One native op: its name (the file stem everywhere) and what it provides."""

    name: str
    summary: str
    #: The reference the optimized kernel is tested against: C++ functions defined beside it in
    #: ``<op>_cpu.cpp`` (bound with ``naive=True``), or ``"op:<name>"`` when another op's
    #: kernels are the reference, or ``""`` when the kernel is itself the obvious per-element
    #: or per-row formula (then the float64 oracle in ``tests/reference`` is the only one).
    reference: str
    functions: tuple[str, ...] = ()  # Function classes in latentforge.functional
    cuda: bool = False  # has ops/<op>_cuda.cu + ops/<op>_cuda.cuh


OPS: tuple[Op, ...] = (
    Op("gemm", "C = act(alpha op(A) op(B) + beta C + bias), all transposes",
       "gemm_forward_naive", ("MatMul", "Linear"), cuda=True),
    Op("elementwise", "activations and row softmax, forward and backward",
       "activation_forward_naive softmax_rows_naive",
       ("Sigmoid", "Tanh", "ReLU", "Softmax", "LogSoftmax"), cuda=True),
    Op("optim", "fused optimizer updates and the max-norm constraint", "", cuda=True),
    Op("philox", "counter-based Philox 4x32-10 uniform draws", "uniform_naive", cuda=True),
    Op("rbm_gibbs", "fused sigmoid + Bernoulli Gibbs step, Bernoulli draws, RBM free energy",
       "sigmoid_bernoulli_naive", cuda=True),
    Op("topk", "row-wise top-k (k-sparse activations) and its backward", "topk_rows_naive",
       ("TopK",), cuda=True),
    Op("batch_norm", "batch normalisation per channel of (N, C) and (N, C, H, W): training "
       "forward with the running update, backward, evaluation",
       "batch_norm_forward_train_naive batch_norm_backward_naive", ("BatchNorm", "BatchNorm2d"),
       cuda=True),
    Op("knn", "exact k nearest neighbours through the GEMM", "knn_naive", cuda=True),
    Op("tsne_affinity", "per-point perplexity calibration of t-SNE affinities", "",
       cuda=True),
    Op("tsne_symmetrize", "sparse symmetrisation P = (P_cond + P_cond^T) / 2n",
       "tsne_symmetrize_naive", cuda=True),
    Op("tsne_bh", "t-SNE gradient: exact and per-point Barnes-Hut (the reference)",
       "tsne_gradient_exact_cpu", cuda=True),
    Op("tsne_grouped", "t-SNE gradient and optimiser step: grouped Barnes-Hut with SIMD",
       "op:tsne_bh", cuda=True),
    Op("pool2d", "2-D max / average / L2 pooling over NCHW, forward and backward",
       "pool2d_forward_naive pool2d_backward_naive", ("MaxPool2d", "AvgPool2d", "L2Pool2d"),
       cuda=True),
    Op("local_contrast_norm2d", "local contrast normalisation over NCHW (Gaussian window across "
       "the maps, renormalised border): forward with its statistics, backward",
       "local_contrast_norm2d_forward_naive local_contrast_norm2d_backward_naive",
       ("LocalContrastNorm2d",), cuda=True),
    Op("conv2d", "2-D convolution (NCHW, stride, zero padding): forward, data and weight grads",
       "conv2d_forward_naive conv2d_backward_data_naive conv2d_backward_weights_naive",
       ("Conv2d",), cuda=True),
    Op("locally_connected2d", "2-D locally connected layer (untied weights per output position, "
       "no padding, any stride): forward, data and weight grads",
       "locally_connected2d_forward_naive locally_connected2d_backward_data_naive "
       "locally_connected2d_backward_weights_naive", ("LocallyConnected2d",), cuda=True),
    Op("word2vec", "word2vec: streamed vocabulary counting / encoding, alias and log-uniform "
       "noise samplers, skip-gram / CBOW training with negative sampling or NCE (Hogwild)",
       "alias_sample_naive word2vec_train_naive", cuda=True),
)

OPS_BY_NAME: dict[str, Op] = {op.name: op for op in OPS}

NO_DEVICE_KERNEL: tuple[str, ...] = tuple(op.name for op in OPS if not op.cuda)
