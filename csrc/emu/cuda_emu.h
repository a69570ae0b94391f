// A small CUDA emulator: compiles a kernel written in a small CUDA subset as plain C++ and runs it
// on the CPU with real block/thread semantics, so index and synchronisation bugs show up in tests
// on machines without a GPU. Every CUDA kernel in latentforge is written to this subset and has a
// `csrc/emu/<op>_cuda_emu.cpp` twin that includes this header and then the kernel's `.cuh`.
//
// Supported subset (anything else does not compile, which is the point):
//   __global__, __device__, __host__, __forceinline__, __restrict__; __shared__ arrays of static
//   size declared inside a kernel; __syncthreads(); threadIdx, blockIdx, blockDim, gridDim;
//   expf, tanhf, fmaxf (from <math.h>). No warp intrinsics, atomics, dynamic shared memory, streams
//   or device memory: emulated kernels get host pointers.
//
// Namespaces: a kernel `.cuh` puts its code in `lf::LF_KERNEL_NS`. This header sets LF_KERNEL_NS to
// `emu` (nvcc builds default it to `gpu`), so the emulated kernels are distinct symbols from the
// real ones in the same extension (no ODR clash) and see the builtins below by ordinary lookup.
//
// Execution: launch(grid, block, kernel, args...) starts one std::thread per CUDA thread of a
// block. Those threads run the blocks of the grid one after another (blockIdx.x fastest) and meet
// at a rendezvous at the end of every block, so a block's threads run truly concurrently (the OS
// interleaves them arbitrarily, like warps) while blocks never overlap.
//
// __shared__ is `static`. That is one buffer per kernel (per template instantiation) and correct
// only because nothing runs two blocks at once: blocks of a launch are sequential (above) and a
// process-wide mutex serialises launches (e.g. two Python threads with the GIL released). Not
// emulated: shared memory keeps its contents from the previous block, whereas on a GPU it starts
// undefined, so a read-before-write of shared memory may go unnoticed here.
//
// __syncthreads() is a real barrier (atomic counter + futex wait) over the threads of the block.
// Misuse is reported as std::runtime_error instead of hanging or passing silently: a block of more
// than 1024 threads or other invalid grid/block sizes (checked before running), and a barrier not
// reached by the whole block (some threads returned while others wait in __syncthreads(), undefined
// behaviour on a GPU). An exception thrown by kernel code stops the launch and is rethrown.
#pragma once

#ifdef __CUDACC__
#error "cuda_emu.h is for the host compiler; nvcc compiles the kernels natively"
#endif

#include <math.h>  // expf, tanhf, fmaxf in the global namespace, as in CUDA

#include <atomic>
#include <cstdint>
#include <exception>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <tuple>
#include <type_traits>
#include <vector>

#define LF_CUDA_EMULATION 1
#define LF_KERNEL_NS emu
#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __shared__ static
#define __syncthreads() ::lf::emu::detail::sync_threads()
#if !defined(__GNUC__)  // g++ and clang++ understand __restrict__ natively
#define __restrict__ __restrict
#endif

namespace lf::emu {

struct dim3 {
  unsigned x, y, z;
  constexpr dim3(unsigned x_ = 1, unsigned y_ = 1, unsigned z_ = 1) : x(x_), y(y_), z(z_) {}
};

// The builtins; each emulated CUDA thread is an OS thread, so thread_local gives each its own.
inline thread_local dim3 threadIdx, blockIdx, blockDim, gridDim;

namespace detail {

// State shared by the threads of the running block. Lock-free apart from recording an error:
// waiting threads sleep on a futex (std::atomic::wait), so a barrier costs one wake-up per thread.
struct Block {
  struct Aborted {};  // unwinds the other threads once one has failed

  unsigned nthreads = 0;
  // (threads that returned from the kernel for this block) << 32 | (threads in __syncthreads()).
  std::atomic<uint64_t> arrived{0};
  std::atomic<uint32_t> phase{0};  // bumped each time the whole block is released (or fails)
  std::atomic<bool> failed{false};
  std::mutex error_mutex;
  std::exception_ptr error;

  void fail(std::exception_ptr e) {
    {
      std::lock_guard<std::mutex> lk(error_mutex);
      if (!error) error = e;
    }
    failed.store(true);
    phase.fetch_add(1);
    phase.notify_all();
  }

  // Waits until every thread of the block is in __syncthreads() (at_end=false) or has returned
  // (at_end=true). A mix of the two is a divergent __syncthreads().
  void arrive(bool at_end) {
    // Read the phase before arriving (a release cannot happen until this thread has arrived) and
    // before `failed` (fail() sets failed before bumping the phase, so a failure is either seen
    // here or wakes the wait below).
    const uint32_t my_phase = phase.load();
    if (failed.load()) throw Aborted{};
    const uint64_t inc = at_end ? uint64_t{1} << 32 : 1;
    const uint64_t now = arrived.fetch_add(inc) + inc;
    const uint64_t waiting = now & 0xffffffffu, finished = now >> 32;
    if (waiting + finished == nthreads) {
      if (waiting != 0 && finished != 0) {
        fail(std::make_exception_ptr(std::runtime_error(
            "emulated CUDA: __syncthreads() not reached by all threads of a block (" +
            std::to_string(finished) + " of " + std::to_string(nthreads) +
            " threads returned while the others waited)")));
        throw Aborted{};
      }
      arrived.store(0);  // before the release: nobody arrives again until then
      phase.fetch_add(1);
      phase.notify_all();
      return;
    }
    phase.wait(my_phase);  // returns once phase != my_phase
    if (failed.load()) throw Aborted{};
  }
};

inline thread_local Block* current_block = nullptr;

inline void sync_threads() {
  if (!current_block) throw std::logic_error("__syncthreads() called outside an emulated kernel");
  current_block->arrive(false);
}

inline std::mutex& launch_mutex() {
  static std::mutex m;
  return m;
}

[[noreturn]] inline void invalid_configuration(const std::string& why) {
  throw std::runtime_error("emulated CUDA launch: invalid configuration argument (" + why + ")");
}

}  // namespace detail

// kernel<<<grid, block>>>(args...): runs every block of the grid; returns when all are done.
template <typename... Params, typename... Args>
void launch(dim3 grid, dim3 block, void (*kernel)(Params...), Args&&... args) {
  static_assert(sizeof...(Params) == sizeof...(Args), "wrong number of kernel arguments");
  // The limits of every GPU since compute capability 3.0.
  const uint64_t nthreads = uint64_t{block.x} * block.y * block.z;
  if (block.x == 0 || block.y == 0 || block.z == 0 || block.x > 1024 || block.y > 1024 ||
      block.z > 64 || nthreads > 1024)
    detail::invalid_configuration("block " + std::to_string(block.x) + "x" +
                                  std::to_string(block.y) + "x" + std::to_string(block.z) +
                                  ": at most 1024 threads, 1024x1024x64");
  if (grid.x == 0 || grid.y == 0 || grid.z == 0 || grid.x > 2147483647u || grid.y > 65535 ||
      grid.z > 65535)
    detail::invalid_configuration("grid " + std::to_string(grid.x) + "x" +
                                  std::to_string(grid.y) + "x" + std::to_string(grid.z));
  // Kernel parameters are passed by value, converted once as the CUDA runtime would.
  const std::tuple<std::decay_t<Params>...> params(std::forward<Args>(args)...);
  const uint64_t nblocks = uint64_t{grid.x} * grid.y * grid.z;

  std::lock_guard<std::mutex> serial(detail::launch_mutex());  // see __shared__ above
  detail::Block state;
  state.nthreads = static_cast<unsigned>(nthreads);
  auto run_thread = [&](dim3 tid) {
    threadIdx = tid;
    blockDim = block;
    gridDim = grid;
    detail::current_block = &state;
    for (uint64_t b = 0; b < nblocks; ++b) {
      blockIdx = dim3(static_cast<unsigned>(b % grid.x), static_cast<unsigned>(b / grid.x % grid.y),
                      static_cast<unsigned>(b / (uint64_t{grid.x} * grid.y)));
      try {
        std::apply(kernel, params);
        state.arrive(true);  // no thread starts block b+1 while another still runs block b
      } catch (const detail::Block::Aborted&) {
        break;
      } catch (...) {
        state.fail(std::current_exception());
        break;
      }
    }
    detail::current_block = nullptr;
  };
  std::vector<std::thread> threads;
  threads.reserve(nthreads);
  try {
    for (unsigned z = 0; z < block.z; ++z)
      for (unsigned y = 0; y < block.y; ++y)
        for (unsigned x = 0; x < block.x; ++x) threads.emplace_back(run_thread, dim3(x, y, z));
  } catch (...) {  // could not start a thread: release the started ones, which would wait forever
    state.fail(std::current_exception());
  }
  for (auto& t : threads) t.join();
  if (state.error) std::rethrow_exception(state.error);
}

}  // namespace lf::emu
