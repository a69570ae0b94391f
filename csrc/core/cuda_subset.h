// The few macros of the kernel dialect that are not CUDA itself. Every kernel source (`.cuh`)
// includes this header and is compiled twice: by nvcc, where the macros below expand to plain
// CUDA, and by the host compiler after emu/cuda_emu.h, which defines them first (the definitions
// here are then skipped) for its CPU emulation.
//
//   LF_KERNEL_NS         the namespace of the kernel code, lf::LF_KERNEL_NS: `gpu` under nvcc,
//                        `emu` under the emulator, so both builds can live in one binary.
//   LF_SHARED(T, n, d)   a static shared-memory variable, written instead of `__shared__ T n d;`
//                        (e.g. LF_SHARED(float, tile, [BK][BM]); d is empty for a scalar). The
//                        emulator needs the name and the type to give every block freshly
//                        poisoned shared memory, which a plain `__shared__` declaration cannot
//                        give it; cuda_emu.h rejects a plain `__shared__` at compile time.
//   LF_UNROLL            `#pragma unroll` under nvcc, nothing on the host.
#pragma once

#ifndef LF_KERNEL_NS
#define LF_KERNEL_NS gpu
#endif

#ifndef LF_SHARED
#define LF_SHARED(type, name, dims) __shared__ type name dims
#endif

#ifndef LF_UNROLL
#ifdef __CUDACC__
#define LF_UNROLL _Pragma("unroll")
#else
#define LF_UNROLL
#endif
#endif
