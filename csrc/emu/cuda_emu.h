// A small CUDA emulator: compiles a kernel written in a small CUDA subset as plain C++ and runs it
// on the CPU with real block/thread semantics, so index and synchronisation bugs show up in tests
// on machines without a GPU. Every CUDA kernel in latentforge is written to this subset and has a
// `csrc/emu/<op>_cuda_emu.cpp` twin that includes this header and then the kernel's `.cuh`. The
// twins, this header and the tests' deliberately broken kernels are built into the test-only
// extension module latentforge._emu, never into the shipped _C.
//
// Supported subset (anything else does not compile, which is the point):
//   __global__, __device__, __host__, __forceinline__, __restrict__; __syncthreads(); threadIdx,
//   blockIdx, blockDim, gridDim, warpSize; expf, tanhf, fmaxf (from <math.h>); static shared memory
//   declared with LF_SHARED(type, name, [dims]) and dynamic shared memory with
//   LF_DYNAMIC_SHARED(type, name) (core/cuda_subset.h; a plain `__shared__` is a compile error
//   here, see "Shared memory"); the warp primitives __syncwarp, __shfl_sync, __shfl_up_sync,
//   __shfl_down_sync, __shfl_xor_sync (any arithmetic type of at most 8 bytes: int, unsigned,
//   float, double, ...), __ballot_sync, __all_sync, __any_sync (see "Warps"), with lane_id(),
//   warp_id() and linear_thread_id() from core/cuda_subset.h; the atomics atomicAdd (int,
//   unsigned, unsigned long long, float), atomicSub (int, unsigned), atomicExch (int, unsigned,
//   float), atomicMax and atomicMin (int, unsigned), atomicCAS (int, unsigned, unsigned long long),
//   and __threadfence(), __threadfence_block() (see "Atomics"). No streams or device memory:
//   emulated kernels get host pointers.
//
// Namespaces: a kernel `.cuh` puts its code in `lf::LF_KERNEL_NS`. This header sets LF_KERNEL_NS to
// `emu` (nvcc builds default it to `gpu`), so emulated kernels are distinct symbols from the real
// ones and see the builtins below by ordinary lookup.
//
// Execution: launch(schedule, grid, block, kernel, args...) runs the blocks of the grid one after
// another (blocks never overlap) and returns when all are done. The schedule (emu/schedule.h)
// decides how the threads of a block interleave:
//   - concurrent: one OS thread per CUDA thread, all running at once; the OS interleaves them
//     arbitrarily (like warps, but finer), so a race shows up only when the interleaving happens
//     to be bad. The only schedule with real parallelism (memory ordering, the futex barrier).
//   - forward, reverse, shuffled: deterministic. The threads of a block are fibers (ucontext) of
//     the launching thread and run ONE AT A TIME, each until it reaches __syncthreads() or returns;
//     then the next one runs (the token passes), in forward or reversed linear thread order (x
//     fastest), or for shuffled in a fresh seeded permutation for every barrier interval. Blocks
//     run in forward, reversed or a seeded shuffled linear order likewise. The same schedule and
//     seed give the same run, bit for bit. So a missing __syncthreads() fails on every run, not by
//     chance: between two barriers the first thread to run sees none of the others' writes of
//     that interval (it reads poison or stale data) and the last one sees all of them; for any
//     writer and reader of a slot, one of forward and reverse runs the reader first, and a cyclic
//     pattern (thread t reads slot t+1 mod n) is wrong in every order.
//   A warp primitive (see "Warps") also ends a fiber's turn until every lane it waits for has
//   arrived; a later pass over the block in the same order runs it on. A correct kernel gives the
//   same results under every schedule. Not emulated in any: lockstep execution of a warp outside
//   its warp primitives (so warp-synchronous code that relies on it without __syncwarp() fails
//   here, as it may on Volta and later GPUs) and weak memory ordering between threads.
//
// Shared memory: LF_SHARED gives each variable one static buffer per kernel instantiation,
// correct because nothing runs two blocks at once: blocks of a launch are sequential (above) and a
// process-wide mutex serialises launches (e.g. two Python threads with the GIL released). On a GPU
// shared memory starts undefined in every block; here it starts POISONED: every byte 0xFF (a NaN
// for float, double and half; -1 for signed integers) when a launch first reaches the declaration,
// and again at the start of every later block of that launch. So a read-before-write, or a read of
// data left by the previous block or launch, shows up as NaN instead of passing silently. (A NaN
// can still be hidden by the kernel, e.g. by fmaxf or a comparison, like on the GPU.) A launch
// whose LF_SHARED variables total more than 48 KiB fails (the static limit of every GPU).
//
// Dynamic shared memory: launch(schedule, grid, block, dynamic_shared_bytes, kernel, args...) (the
// third launch argument of kernel<<<grid, block, bytes>>>) gives each block that many bytes,
// 16-byte aligned, poisoned like static shared memory at the start of every block. A kernel sees
// them through LF_DYNAMIC_SHARED(type, name): here a view whose indexing name[i] is checked against
// the bytes the launch gave (an index out of them, e.g. any index when the launch gave 0 bytes,
// throws std::runtime_error naming the variable); converted to a pointer (name + k, casts) it is
// unchecked, and null for 0 bytes. Every LF_DYNAMIC_SHARED of a kernel views the same bytes, as in
// CUDA. Over 48 KiB of dynamic shared memory is an invalid configuration (checked before running;
// a GPU needs an opt-in attribute for more); static plus dynamic over 48 KiB fails when the
// kernel reaches the LF_SHARED declaration that passes it.
//
// Atomics work on any host pointer (global or shared memory) and return the old value, as in
// CUDA. They are std::atomic_ref operations, sequentially consistent (atomicAdd on float is a
// compare-and-swap loop), so truly atomic among the OS threads of the concurrent schedule and
// trivially so in the fiber schedules, where threads never interleave between barriers. CUDA's
// atomics are relaxed: a kernel that publishes data through an atomic flag without
// __threadfence() is not caught here. A misaligned address throws std::runtime_error (a fault on
// a GPU). A failed atomicCAS yields the OS thread, so spin locks make progress in the concurrent
// schedule; a spin lock whose holder waits at a barrier or warp primitive hangs, as on a GPU.
//
// Warps: the threads of a block form warps of 32 consecutive linear thread indices (x fastest);
// lane = index % 32. A block whose size is not a multiple of 32 ends with a partial warp whose
// missing lanes do not exist. Every warp primitive is a rendezvous of the lanes named in its
// `mask`: each lane of the mask must reach the SAME call, told apart by file, line and column
// (std::source_location), before any of them returns, and each then gets what the others
// contributed at that call (lockstep exchange): __shfl*_sync reads the source lane's value by
// the PTX rules (width-lane segments; a source outside the segment gives the lane its own value),
// __ballot_sync/__all_sync/__any_sync see every lane's predicate, __syncwarp() only waits (and
// orders memory among the lanes). Lanes outside the mask are not waited for. Fibers: a call
// ends the thread's turn until the rendezvous is complete; concurrent: a per-warp mutex and
// condition variable. Misuse is reported as std::runtime_error naming the primitive, its file,
// line and column, the block, warp and lane, in every schedule, instead of a hang or a silent
// result:
//   - the calling lane is not in its own mask;
//   - the mask names lanes that do not exist (a partial last warp; e.g. the full mask there);
//   - a shuffle width that is not a power of two in [1, 32];
//   - a lane of the mask has returned from the kernel, or waits at __syncthreads();
//   - a lane of the mask waits at a different warp primitive call whose own mask names the
//     waiting lane, or every lane of the warp waits and no rendezvous can complete (any cycle);
//   - lanes of one call passed different masks (one lane's mask names another that passed a
//     different one);
//   - a shuffle reads a lane outside the mask (undefined in CUDA).
// Stricter than a GPU: one source line and column is one call, so two lanes reaching one
// primitive inside a device function through different call paths count as the same call, and
// lanes at different __syncwarp() calls are an error even where sm_70 and later would let them
// meet. The primitives may appear in divergent code as long as each call's mask is exactly the
// lanes that reach it.
//
// __syncthreads() is a real barrier over the threads of the block (concurrent: atomic counter +
// futex wait; deterministic: the end of the fiber's turn). A thread waiting in a warp primitive has
// not reached it (a lane waiting at __syncthreads() for one in a warp primitive is reported as
// above). Misuse is reported as
// std::runtime_error instead of hanging or passing silently, in every schedule: a block of more
// than 1024 threads or other invalid grid/block sizes (checked before running); a barrier not
// reached by the whole block (some threads returned while others wait in __syncthreads());
// threads of a block waiting at different __syncthreads() calls (told apart by file and line),
// which the CUDA programming guide makes undefined (a barrier in a branch must see the same branch
// taken by the whole block). An exception thrown by kernel code stops the launch and is rethrown
// (the other threads unwind from their __syncthreads()). Not detected: a kernel that never returns
// hangs, as on a GPU.
#pragma once

#ifdef __CUDACC__
#error "cuda_emu.h is for the host compiler; nvcc compiles the kernels natively"
#endif

#include <math.h>  // expf, tanhf, fmaxf in the global namespace, as in CUDA
#include <sys/mman.h>
#include <ucontext.h>  // fibers for the deterministic schedules (POSIX; Linux and macOS)
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <bit>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <exception>
#include <memory>
#include <mutex>
#include <new>
#include <source_location>
#include <stdexcept>
#include <string>
#include <thread>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#include "emu/schedule.h"

#define LF_CUDA_EMULATION 1
#define LF_KERNEL_NS emu
#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __syncthreads() ::lf::emu::detail::sync_threads(__FILE__, __LINE__)
#if !defined(__GNUC__)  // g++ and clang++ understand __restrict__ natively
#define __restrict__ __restrict
#endif
// A plain `__shared__` variable is a static the emulator cannot find to poison per block.
#define __shared__                                                                        \
  static_assert(false,                                                                    \
                "emulated CUDA: declare shared memory with LF_SHARED(type, name, [dims])" \
                " (core/cuda_subset.h), not __shared__");                                 \
  static
// LF_SHARED(float, tile, [8][64]) declares `tile` as a reference to this launch's poisoned buffer.
#define LF_SHARED(type, name, dims)                                    \
  static ::lf::emu::detail::SharedVar<type dims> lf_shared_var_##name; \
  auto& name = lf_shared_var_##name.get()
// LF_DYNAMIC_SHARED(float, buf) makes `buf` a bounds-checked view of the launch's dynamic shared
// memory (see "Dynamic shared memory").
#define LF_DYNAMIC_SHARED(type, name) \
  const ::lf::emu::detail::DynamicShared<type> name { #name }

namespace lf::emu {

struct dim3 {
  unsigned x, y, z;
  constexpr dim3(unsigned x_ = 1, unsigned y_ = 1, unsigned z_ = 1) : x(x_), y(y_), z(z_) {}
};

// The builtins. thread_local: in the concurrent schedule each CUDA thread is an OS thread with its
// own copy; the deterministic schedules run all fibers on one OS thread and set them before
// resuming each fiber.
inline thread_local dim3 threadIdx, blockIdx, blockDim, gridDim;

namespace detail {

inline constexpr size_t kMaxStaticShared = 48 * 1024;
inline constexpr unsigned char kPoison = 0xFF;

// splitmix64: a tiny, well-mixed generator whose output is the same on every platform, so a seed
// reproduces a shuffled schedule anywhere (std::shuffle's algorithm is implementation-defined).
inline uint64_t splitmix64(uint64_t& state) {
  uint64_t z = (state += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

// A keyed bijection of [0, n) without storage (a grid may have up to 2^62 blocks): rounds of
// add-key, multiply-by-odd and xorshift, each a bijection of [0, 2^bits), applied until the value
// falls in [0, n) again (cycle walking; on average fewer than two passes since 2^bits < 2n).
inline uint64_t permute_index(uint64_t i, uint64_t n, uint64_t key) {
  if (n <= 1) return i;
  const int bits = std::bit_width(n - 1);
  const uint64_t mask = bits == 64 ? ~uint64_t{0} : (uint64_t{1} << bits) - 1;
  const int shift = bits / 2 + 1;
  uint64_t round_keys[4];
  for (uint64_t& k : round_keys) k = splitmix64(key);
  do {
    for (const uint64_t k : round_keys) {
      i = (i + k) & mask;
      i = (i * ((k >> 32) | 1)) & mask;
      i ^= i >> shift;
    }
  } while (i >= n);
  return i;
}

// A call of __syncthreads() or of a warp primitive; file == nullptr: the thread returned from the
// kernel. column is 0 for __syncthreads() (a macro: file and line only); warp primitives take
// theirs from std::source_location, so two calls on one line are told apart.
struct Site {
  const char* file = nullptr;
  int line = 0;
  int column = 0;
  bool same_as(const Site& o) const {
    return line == o.line && column == o.column &&
           (file == o.file || (file && o.file && std::strcmp(file, o.file) == 0));
  }
  std::string str() const {
    return std::string(file) + ":" + std::to_string(line) +
           (column ? ":" + std::to_string(column) : std::string());
  }
};

// What a thread of the running block is doing, as the barrier and the warp rendezvous see it.
enum class ThreadState : uint8_t { running, barrier, warp, exited };

enum class WarpOp : uint8_t { sync, ballot, all, any, shfl_idx, shfl_up, shfl_down, shfl_xor };

inline const char* warp_op_name(WarpOp op) {
  switch (op) {
    case WarpOp::sync: return "__syncwarp()";
    case WarpOp::ballot: return "__ballot_sync()";
    case WarpOp::all: return "__all_sync()";
    case WarpOp::any: return "__any_sync()";
    case WarpOp::shfl_idx: return "__shfl_sync()";
    case WarpOp::shfl_up: return "__shfl_up_sync()";
    case WarpOp::shfl_down: return "__shfl_down_sync()";
    case WarpOp::shfl_xor: return "__shfl_xor_sync()";
  }
  return "?";
}

inline bool is_shuffle(WarpOp op) { return op >= WarpOp::shfl_idx; }

inline std::string hex(uint32_t v) {
  static const char digits[] = "0123456789abcdef";
  std::string s = "0x";
  for (int shift = 28; shift >= 0; shift -= 4) s += digits[(v >> shift) & 0xF];
  return s;
}

// A lane's call of a warp primitive: what it contributes and, once the rendezvous is complete,
// what it gets back. value holds the bits of the shuffled variable (or the predicate); arg is
// srcLane, delta or laneMask.
struct WarpCall {
  Site site;
  WarpOp op = WarpOp::sync;
  uint32_t mask = 0;
  uint64_t value = 0;
  int arg = 0;
  int width = 32;
  uint64_t result = 0;
};

inline constexpr unsigned kWarpSize = 32;

// The lane a shuffle reads, exactly as PTX shfl.sync computes it (width w: segments of w lanes;
// c = ((32 - w) << 8) | 0x1f, or (32 - w) << 8 for .up). A source outside the lane's segment bound
// (later segments for idx/down/bfly, an earlier one for up) gives the lane its own value.
inline unsigned shuffle_source(unsigned lane, WarpOp op, int arg, int width) {
  const unsigned seg = kWarpSize - static_cast<unsigned>(width);  // the segment mask, c[12:8]
  const unsigned b = static_cast<unsigned>(arg) & 31u;
  const unsigned min_lane = lane & seg;
  const unsigned max_lane = min_lane | (31u & ~seg);
  int j = static_cast<int>(lane);
  bool ok = true;
  switch (op) {
    case WarpOp::shfl_idx: j = static_cast<int>(min_lane | (b & ~seg)); break;
    case WarpOp::shfl_up:
      j = static_cast<int>(lane) - static_cast<int>(b);
      ok = j >= static_cast<int>(min_lane);
      break;
    case WarpOp::shfl_down:
      j = static_cast<int>(lane + b);
      ok = j <= static_cast<int>(max_lane);
      break;
    case WarpOp::shfl_xor:
      j = static_cast<int>(lane ^ b);
      ok = j <= static_cast<int>(max_lane);
      break;
    default: break;
  }
  return ok ? static_cast<unsigned>(j) : lane;
}

class Launch;
inline thread_local Launch* current_launch = nullptr;
inline thread_local unsigned current_thread = 0;  // linear index in the block

// The launch-independent part of an LF_SHARED variable: which launch last poisoned it.
struct SharedSlot {
  unsigned char* data;
  size_t bytes;
  std::atomic<uint64_t> launch_id{0};
};

// A fiber's stack: mmap'ed, with an inaccessible guard page below it so that an overflow faults
// instead of corrupting a neighbour. Kept in a pool between launches (under the launch mutex).
struct FiberStack {
  static constexpr size_t kSize = 256 * 1024;  // host code needs far more than a GPU thread's
  unsigned char* base = nullptr;               // the guard page; the stack is above it

  static std::vector<FiberStack>& pool() {
    static std::vector<FiberStack> stacks;  // never freed: reused by every later launch
    return stacks;
  }
  static void reserve(size_t n) {
    std::vector<FiberStack>& stacks = pool();
    const size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
    while (stacks.size() < n) {
      void* p = mmap(nullptr, page + kSize, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
      if (p == MAP_FAILED) throw std::bad_alloc();
      if (mprotect(p, page, PROT_NONE) != 0) {
        munmap(p, page + kSize);
        throw std::bad_alloc();
      }
      stacks.push_back({static_cast<unsigned char*>(p) + page});
    }
  }
};

// One launch: the threads of each block run either as OS threads at once (concurrent) or as
// fibers of the launching thread, one at a time, switching only in __syncthreads(), in a warp
// primitive that waits for other lanes and at the end of the kernel (deterministic schedules; a
// switch costs well under a microsecond, where handing a token between OS threads costs a scheduler
// round trip).
class Launch {
 public:
  struct Aborted {};  // unwinds a thread once another has failed

  Launch(const Schedule& schedule, dim3 grid, dim3 block, size_t dynamic_bytes, void (*body)(void*),
         void* body_arg)
      : id_(next_id()),
        schedule_(schedule),
        grid_(grid),
        block_(block),
        nthreads_(block.x * block.y * block.z),
        nblocks_(uint64_t{grid.x} * grid.y * grid.z),
        body_(body),
        body_arg_(body_arg),
        sites_(nthreads_),
        states_(nthreads_, ThreadState::running),
        calls_(nthreads_),
        nwarps_((nthreads_ + kWarpSize - 1) / kWarpSize),
        warps_(new WarpSync[nwarps_]),
        dynamic_bytes_(dynamic_bytes),
        dynamic_storage_((dynamic_bytes + sizeof(Chunk) - 1) / sizeof(Chunk)) {
    if (dynamic_bytes_) std::memset(dynamic_storage_.data(), kPoison, dynamic_bytes_);
  }

  Launch(const Launch&) = delete;
  Launch& operator=(const Launch&) = delete;

  // Runs every block; rethrows the first error.
  void run() {
    if (schedule_.kind == ScheduleKind::concurrent) {
      run_concurrent();
    } else {
      run_fibers();
    }
    if (error_) std::rethrow_exception(error_);
  }

  // __syncthreads() by thread `t`.
  void barrier(unsigned t, Site site) {
    sites_[t] = site;
    if (schedule_.kind == ScheduleKind::concurrent)
      return arrive_concurrent(t, ThreadState::barrier);
    set_state(t, ThreadState::barrier);
    swapcontext(&fibers_[t].context, &main_context_);  // back to run_fibers
    if (failed_.load()) throw Aborted{};
  }

  // A warp primitive called by thread `t`: a rendezvous of the lanes of t's warp named in
  // call.mask, all at the same call. Returns t's result once every one of them has arrived (each
  // gets what the others contributed); throws std::runtime_error on misuse.
  uint64_t warp_call(unsigned t, const WarpCall& call) {
    const unsigned w = t / kWarpSize, lane = t % kWarpSize;
    const unsigned lanes = std::min(kWarpSize, nthreads_ - w * kWarpSize);
    const uint32_t existing = lanes == kWarpSize ? ~uint32_t{0} : (uint32_t{1} << lanes) - 1;
    if (!(call.mask >> lane & 1u))
      throw warp_error(t, call, "the calling lane is not in its own mask " + hex(call.mask));
    if (call.mask & ~existing)
      throw warp_error(t, call,
                       "the mask " + hex(call.mask) + " names lanes that do not exist: warp " +
                           std::to_string(w) + " of a block of " + std::to_string(nthreads_) +
                           " threads has only " + std::to_string(lanes) + " lanes (" +
                           hex(existing) + ")");
    if (is_shuffle(call.op) && (call.width < 1 || call.width > static_cast<int>(kWarpSize) ||
                                (call.width & (call.width - 1)) != 0))
      throw warp_error(t, call,
                       "width " + std::to_string(call.width) +
                           " is not a power of two in [1, 32] (undefined in CUDA)");
    WarpSync& ws = warps_[w];
    std::unique_lock<std::mutex> lk(ws.m);
    calls_[t] = call;
    states_[t] = ThreadState::warp;
    settle_warp(w);                         // may complete the rendezvous (t's included) or throw
    if (states_[t] == ThreadState::warp) {  // wait for the others
      if (schedule_.kind == ScheduleKind::concurrent) {
        ws.cv.wait(lk, [&] { return states_[t] != ThreadState::warp || failed_.load(); });
      } else {
        lk.unlock();
        swapcontext(&fibers_[t].context, &main_context_);  // resumed once released
        lk.lock();
      }
      if (failed_.load()) throw Aborted{};
    }
    return calls_[t].result;
  }

  unsigned char* dynamic_shared() { return dynamic_bytes_ ? dynamic_storage_[0].bytes : nullptr; }
  size_t dynamic_shared_bytes() const { return dynamic_bytes_; }

  // Records the first error and releases every waiting thread (they unwind with Aborted).
  void fail(std::exception_ptr e) {
    {
      std::lock_guard<std::mutex> lk(error_mutex_);
      if (!error_) error_ = e;
    }
    failed_.store(true);
    phase_.fetch_add(1);
    phase_.notify_all();
    // Wake the lanes waiting in a warp primitive (concurrent). Taking each mutex orders the store
    // above before their next check of failed_, so none can miss it.
    for (unsigned w = 0; w < nwarps_; ++w) {
      {
        std::lock_guard<std::mutex> lk(warps_[w].m);
      }
      warps_[w].cv.notify_all();
    }
  }

  // First use of an LF_SHARED variable in this launch: poison it, count it against the 48 KiB,
  // and remember it so that every later block starts with it poisoned again.
  void activate(SharedSlot& slot) {
    if (slot.launch_id.load(std::memory_order_acquire) == id_) return;
    std::lock_guard<std::mutex> lk(shared_mutex_);
    if (slot.launch_id.load(std::memory_order_relaxed) == id_) return;
    // Not counted when over the limit: in the concurrent schedule every thread that reaches the
    // declaration before the launch aborts fails the same way, with the same total.
    const size_t total = shared_bytes_ + slot.bytes;
    if (total + dynamic_bytes_ > kMaxStaticShared) {
      std::string what = std::to_string(total) + " bytes of static shared memory";
      if (dynamic_bytes_)
        what += " and the launch " + std::to_string(dynamic_bytes_) +
                " bytes of dynamic shared memory, " + std::to_string(total + dynamic_bytes_) +
                " bytes in all";
      throw std::runtime_error("emulated CUDA: the kernel declares " + what +
                               ", more than the 48 KiB limit");
    }
    shared_bytes_ = total;
    std::memset(slot.data, kPoison, slot.bytes);
    shared_.push_back(&slot);
    slot.launch_id.store(id_, std::memory_order_release);
  }

 private:
  enum class Interval { released, block_done, failed };

  struct Fiber {
    ucontext_t context;
    bool done = true;  // returned from the kernel, or not started (prepare() clears it)
  };

  struct WarpSync {  // guards the states_ and calls_ of one warp's lanes
    std::mutex m;
    std::condition_variable cv;  // concurrent: the lanes waiting in a warp primitive
  };

  struct alignas(16) Chunk {  // dynamic shared memory, 16-byte aligned as on a GPU
    unsigned char bytes[16];
  };

  std::runtime_error warp_error(unsigned t, const WarpCall& call, const std::string& why) const {
    return std::runtime_error(std::string("emulated CUDA: ") + warp_op_name(call.op) + " at " +
                              call.site.str() + " in block (" + std::to_string(blockIdx.x) + "," +
                              std::to_string(blockIdx.y) + "," + std::to_string(blockIdx.z) +
                              "), warp " + std::to_string(t / kWarpSize) + ", lane " +
                              std::to_string(t % kWarpSize) + ": " + why);
  }

  // Thread t reaches a barrier or returns: tell its warp (a lane waiting for it may now be stuck).
  void set_state(unsigned t, ThreadState state) {
    const unsigned w = t / kWarpSize;
    std::lock_guard<std::mutex> lk(warps_[w].m);
    states_[t] = state;
    settle_warp(w);
  }

  // With warp w's mutex held: completes every rendezvous of warp w whose lanes have all arrived,
  // and throws std::runtime_error for one that never can: a lane of its mask has returned, waits
  // at __syncthreads(), waits at another warp primitive that needs the waiting lane, or passed a
  // different mask at the same call; or every lane of the warp waits and none can go on.
  void settle_warp(unsigned w) {
    const unsigned first = w * kWarpSize;
    const unsigned lanes = std::min(kWarpSize, nthreads_ - first);
    bool released = false;
    for (unsigned x = 0; x < lanes; ++x) {
      if (states_[first + x] != ThreadState::warp) continue;
      const WarpCall& cx = calls_[first + x];
      bool complete = true;
      for (unsigned y = 0; y < lanes; ++y) {
        if (!(cx.mask >> y & 1u) || y == x) continue;
        const unsigned ty = first + y;
        auto lane_y = [&] { return "lane " + std::to_string(y) + " of its mask " + hex(cx.mask); };
        switch (states_[ty]) {
          case ThreadState::running: complete = false; break;
          case ThreadState::exited:
            throw warp_error(first + x, cx, lane_y() + " has returned from the kernel");
          case ThreadState::barrier:
            throw warp_error(first + x, cx,
                             lane_y() + " waits at __syncthreads() at " + sites_[ty].str());
          case ThreadState::warp: {
            const WarpCall& cy = calls_[ty];
            if (!cy.site.same_as(cx.site)) {
              complete = false;
              if (cy.mask >> x & 1u)
                throw warp_error(first + x, cx,
                                 lane_y() + " waits at a different call, " + warp_op_name(cy.op) +
                                     " at " + cy.site.str() + ", whose mask " + hex(cy.mask) +
                                     " names this lane (a deadlock)");
            } else if (cy.mask != cx.mask) {
              throw warp_error(first + x, cx,
                               "the mask is inconsistent across the lanes: this lane passed " +
                                   hex(cx.mask) + ", lane " + std::to_string(y) + " passed " +
                                   hex(cy.mask));
            }
            break;
          }
        }
      }
      if (complete) {
        exchange(first, cx.mask);
        released = true;
      }
    }
    if (released) {
      if (schedule_.kind == ScheduleKind::concurrent) warps_[w].cv.notify_all();
      return;
    }
    // Nothing released: if no lane of the warp runs any more, a waiting one never will.
    unsigned waiting = lanes;
    for (unsigned x = 0; x < lanes; ++x) {
      if (states_[first + x] == ThreadState::running) return;
      if (states_[first + x] == ThreadState::warp && waiting == lanes) waiting = x;
    }
    if (waiting == lanes) return;  // all at __syncthreads() or returned: the barrier's business
    const WarpCall& cx = calls_[first + waiting];
    for (unsigned y = 0; y < lanes; ++y) {
      const WarpCall& cy = calls_[first + y];
      if ((cx.mask >> y & 1u) && !cy.site.same_as(cx.site))
        throw warp_error(first + waiting, cx,
                         "lane " + std::to_string(y) + " of its mask " + hex(cx.mask) +
                             " waits at a different call, " + warp_op_name(cy.op) + " at " +
                             cy.site.str() + ", and no lane of the warp can go on (a deadlock)");
    }
    throw std::logic_error("emulated CUDA: a warp rendezvous is stuck for no known reason");
  }

  // The rendezvous of the lanes in `mask` of the warp starting at thread `first` is complete:
  // computes every lane's result from the values all contributed, and releases them.
  void exchange(unsigned first, uint32_t mask) {
    uint32_t ballot = 0;
    for (unsigned y = 0; y < kWarpSize; ++y) {
      if ((mask >> y & 1u) && calls_[first + y].value != 0) ballot |= uint32_t{1} << y;
    }
    for (unsigned y = 0; y < kWarpSize; ++y) {
      if (!(mask >> y & 1u)) continue;
      WarpCall& c = calls_[first + y];
      switch (c.op) {
        case WarpOp::sync: c.result = 0; break;
        case WarpOp::ballot: c.result = ballot; break;
        case WarpOp::all: c.result = ballot == mask; break;
        case WarpOp::any: c.result = ballot != 0; break;
        default: {
          const unsigned j = shuffle_source(y, c.op, c.arg, c.width);
          if (!(mask >> j & 1u))
            throw warp_error(first + y, c,
                             "reads lane " + std::to_string(j) + ", which is not in the mask " +
                                 hex(mask) + " (undefined in CUDA)");
          c.result = calls_[first + j].value;
        }
      }
    }
    for (unsigned y = 0; y < kWarpSize; ++y) {
      if (mask >> y & 1u) states_[first + y] = ThreadState::running;
    }
  }

  static uint64_t next_id() {
    static std::atomic<uint64_t> counter{0};
    return counter.fetch_add(1) + 1;  // 0 means "never used" in SharedSlot
  }

  // blockIdx of the b-th block to run.
  dim3 block_at(uint64_t b) const {
    uint64_t lin = b;
    if (schedule_.kind == ScheduleKind::reverse) lin = nblocks_ - 1 - b;
    if (schedule_.kind == ScheduleKind::shuffled)
      lin = permute_index(b, nblocks_, schedule_.seed ^ 0x5851F42D4C957F2Dull);
    return dim3(static_cast<unsigned>(lin % grid_.x),
                static_cast<unsigned>(lin / grid_.x % grid_.y),
                static_cast<unsigned>(lin / (uint64_t{grid_.x} * grid_.y)));
  }

  dim3 thread_at(unsigned t) const {
    return dim3(t % block_.x, t / block_.x % block_.y, t / (block_.x * block_.y));
  }

  // The end of a barrier interval, run by one thread while no other runs kernel code: checks that
  // the whole block agrees (all returned, or all wait at one __syncthreads()) and poisons shared
  // memory when the block is over. Misuse fails the launch.
  Interval complete_interval() {
    unsigned returned = 0;
    const Site* first_wait = nullptr;
    const Site* other_wait = nullptr;
    for (const Site& s : sites_) {
      if (!s.file) {
        ++returned;
      } else if (!first_wait) {
        first_wait = &s;
      } else if (!other_wait && !s.same_as(*first_wait)) {
        other_wait = &s;
      }
    }
    std::string why;
    if (returned == nthreads_) {
      for (SharedSlot* slot : shared_) std::memset(slot->data, kPoison, slot->bytes);
      if (dynamic_bytes_) std::memset(dynamic_storage_.data(), kPoison, dynamic_bytes_);
      std::fill(states_.begin(), states_.end(), ThreadState::running);  // the next block's
      return Interval::block_done;
    }
    if (returned > 0) {
      why = std::to_string(returned) + " of " + std::to_string(nthreads_) +
            " threads returned while the others wait in __syncthreads() at " + first_wait->str();
    } else if (other_wait) {
      why = "threads wait at different __syncthreads() calls, " + first_wait->str() + " and " +
            other_wait->str() + " (a barrier in a branch not taken by the whole block)";
    } else {  // everyone waits at the same call
      std::fill(states_.begin(), states_.end(), ThreadState::running);
      return Interval::released;
    }
    fail(std::make_exception_ptr(
        std::runtime_error("emulated CUDA: __syncthreads() not reached by all threads of block (" +
                           std::to_string(blockIdx.x) + "," + std::to_string(blockIdx.y) + "," +
                           std::to_string(blockIdx.z) + "): " + why)));
    return Interval::failed;
  }

  // ---- concurrent: one OS thread per CUDA thread, a counting barrier ----

  void run_concurrent() {
    auto run_thread = [this](unsigned t) {
      threadIdx = thread_at(t);
      blockDim = block_;
      gridDim = grid_;
      current_launch = this;
      current_thread = t;
      try {
        for (uint64_t b = 0; b < nblocks_; ++b) {
          blockIdx = block_at(b);
          body_(body_arg_);
          sites_[t] = Site{};
          // No thread starts block b+1 while another still runs block b.
          arrive_concurrent(t, ThreadState::exited);
        }
      } catch (const Aborted&) {
      } catch (...) {
        fail(std::current_exception());
      }
      current_launch = nullptr;
    };
    std::vector<std::thread> threads;
    threads.reserve(nthreads_);
    try {
      for (unsigned t = 0; t < nthreads_; ++t) threads.emplace_back(run_thread, t);
    } catch (...) {  // could not start a thread: release the started ones, which would wait forever
      fail(std::current_exception());
    }
    for (auto& th : threads) th.join();
  }

  void arrive_concurrent(unsigned t, ThreadState state) {
    set_state(t, state);  // throws if a lane of t's warp waits for t in a warp primitive
    // Read the phase before arriving (a release cannot happen until this thread has arrived) and
    // before `failed_` (fail() sets it before bumping the phase, so a failure is either seen here
    // or wakes the wait below).
    const uint32_t my_phase = phase_.load();
    if (failed_.load()) throw Aborted{};
    // The last to arrive sees every thread's site: each fetch_add releases, the last acquires.
    if (arrived_.fetch_add(1) + 1 == nthreads_) {
      arrived_.store(0);  // before the release: nobody arrives again until then
      if (complete_interval() == Interval::failed) throw Aborted{};
      phase_.fetch_add(1);
      phase_.notify_all();
      return;
    }
    phase_.wait(my_phase);  // returns once phase_ != my_phase
    if (failed_.load()) throw Aborted{};
  }

  // ---- deterministic: fibers of the calling thread, resumed one at a time in order_ ----

  static void fiber_main() {
    Launch& self = *current_launch;
    const unsigned t = current_thread;
    if (!self.failed_.load()) {
      try {
        self.body_(self.body_arg_);
        self.sites_[t] = Site{};
        self.set_state(t, ThreadState::exited);
      } catch (const Aborted&) {
      } catch (...) {
        self.fail(std::current_exception());
      }
    }
    self.fibers_[t].done = true;
  }  // returns to main_context_ through uc_link

  // A fresh start of the kernel on `stack`, returning to main_context_. Not inlined: getcontext
  // "returns twice" for the compiler, which would then keep the caller's locals out of registers.
  [[gnu::noinline]] void prepare(Fiber& f, const FiberStack& stack) {
    f.done = false;
    if (getcontext(&f.context) != 0) throw std::runtime_error("emulated CUDA: getcontext failed");
    f.context.uc_stack.ss_sp = stack.base;
    f.context.uc_stack.ss_size = FiberStack::kSize;
    f.context.uc_link = &main_context_;
    makecontext(&f.context, &Launch::fiber_main, 0);
  }

  void resume(unsigned t) {
    current_thread = t;
    threadIdx = thread_at(t);
    swapcontext(&main_context_, &fibers_[t].context);
  }

  void run_fibers() {
    FiberStack::reserve(nthreads_);
    fibers_ = std::vector<Fiber>(nthreads_);
    std::vector<unsigned> order(nthreads_);
    for (unsigned t = 0; t < nthreads_; ++t)
      order[t] = schedule_.kind == ScheduleKind::reverse ? nthreads_ - 1 - t : t;
    uint64_t rng = schedule_.seed;
    auto shuffle = [&] {  // Fisher-Yates; the modulo bias (< 2^-50) does not matter here
      for (unsigned i = nthreads_ - 1; i > 0; --i)
        std::swap(order[i], order[splitmix64(rng) % (i + 1)]);
    };
    blockDim = block_;
    gridDim = grid_;
    current_launch = this;
    try {
      for (uint64_t b = 0; b < nblocks_ && !failed_.load(); ++b) {
        blockIdx = block_at(b);
        for (unsigned t = 0; t < nthreads_; ++t) prepare(fibers_[t], FiberStack::pool()[t]);
        for (;;) {  // one barrier interval
          if (schedule_.kind == ScheduleKind::shuffled) shuffle();
          // Passes over the threads in `order`, each running every thread that can run, until
          // all wait at __syncthreads() or have returned (a warp primitive stops a thread until
          // its whole mask has arrived; a later pass runs it on).
          for (bool ran = true; ran && !failed_.load();) {
            ran = false;
            for (unsigned i = 0; i < nthreads_ && !failed_.load(); ++i) {
              const unsigned t = order[i];
              if (states_[t] != ThreadState::running || fibers_[t].done) continue;
              resume(t);
              ran = true;
            }
          }
          if (failed_.load()) break;
          for (const ThreadState st : states_) {
            if (st == ThreadState::warp)  // settle_warp() reports every stuck rendezvous
              throw std::logic_error("emulated CUDA: a warp primitive left waiting");
          }
          if (complete_interval() != Interval::released) break;
        }
      }
    } catch (...) {  // from the scheduler itself (getcontext, memory), not from kernel code
      fail(std::current_exception());
    }
    // After a failure, unwind the suspended fibers: their __syncthreads() throws Aborted, and one
    // not started yet returns at once. Their stacks are then free for the next launch.
    for (unsigned t = 0; t < nthreads_; ++t) {
      if (!fibers_[t].done) resume(t);
    }
    current_launch = nullptr;
  }

  const uint64_t id_;
  const Schedule schedule_;
  const dim3 grid_, block_;
  const unsigned nthreads_;
  const uint64_t nblocks_;
  void (*const body_)(void*);  // runs the kernel once, for the calling thread
  void* const body_arg_;
  std::vector<Site> sites_;          // where each thread of the block is, at the end of an interval
  std::vector<ThreadState> states_;  // each guarded by its warp's mutex while the block runs
  std::vector<WarpCall> calls_;      // likewise: each thread's current warp primitive
  const unsigned nwarps_;
  std::unique_ptr<WarpSync[]> warps_;
  const size_t dynamic_bytes_;
  std::vector<Chunk> dynamic_storage_;  // poisoned at the start of every block

  std::mutex error_mutex_;
  std::exception_ptr error_;
  std::atomic<bool> failed_{false};

  std::mutex shared_mutex_;
  std::vector<SharedSlot*> shared_;  // the LF_SHARED variables reached in this launch
  size_t shared_bytes_ = 0;

  // concurrent
  std::atomic<unsigned> arrived_{0};
  std::atomic<uint32_t> phase_{0};  // bumped each time the whole block is released (or fails)

  // deterministic
  std::vector<Fiber> fibers_;
  ucontext_t main_context_;
};

// The storage of one LF_SHARED variable of one kernel instantiation (a function-local static).
template <class T>
class SharedVar {
  static_assert(std::is_trivially_copyable_v<T> && std::is_trivially_destructible_v<T>,
                "CUDA shared variables cannot have constructors or destructors");

 public:
  SharedVar() : slot_{reinterpret_cast<unsigned char*>(&value_), sizeof(T)} {}
  T& get() {
    Launch* launch = current_launch;
    if (!launch) throw std::logic_error("LF_SHARED variable used outside an emulated kernel");
    launch->activate(slot_);
    return value_;
  }

 private:
  alignas(16) T value_;  // 16: vector loads (float4) of shared memory are aligned on a GPU
  SharedSlot slot_;
};

inline void sync_threads(const char* file, int line) {
  Launch* launch = current_launch;
  if (!launch) throw std::logic_error("__syncthreads() called outside an emulated kernel");
  launch->barrier(current_thread, Site{file, line});
}

inline uint64_t warp_primitive(WarpOp op, unsigned mask, uint64_t value, int arg, int width,
                               const std::source_location& where) {
  Launch* launch = current_launch;
  if (!launch)
    throw std::logic_error(std::string(warp_op_name(op)) + " called outside an emulated kernel");
  WarpCall call;
  call.site =
      Site{where.file_name(), static_cast<int>(where.line()), static_cast<int>(where.column())};
  call.op = op;
  call.mask = mask;
  call.value = value;
  call.arg = arg;
  call.width = width;
  return launch->warp_call(current_thread, call);
}

template <class T>
uint64_t to_bits(T v) {
  static_assert(std::is_arithmetic_v<T> && sizeof(T) <= 8,
                "emulated CUDA: shuffles take an arithmetic type of at most 8 bytes");
  uint64_t bits = 0;
  std::memcpy(&bits, &v, sizeof(T));
  return bits;
}

template <class T>
T from_bits(uint64_t bits) {
  T v;
  std::memcpy(&v, &bits, sizeof(T));
  return v;
}

template <class T>
T* atomic_target(T* address) {  // a misaligned atomic faults on a GPU
  if (reinterpret_cast<uintptr_t>(address) % alignof(T) != 0)
    throw std::runtime_error("emulated CUDA: atomic operation on a misaligned address");
  return address;
}

// The view of the launch's dynamic shared memory that LF_DYNAMIC_SHARED(type, name) declares.
// Indexing is bounds-checked against the size the launch gave (0 bytes: every index fails); a
// conversion to type* (pointer arithmetic, casts) is not checked and is null for 0 bytes.
template <class T>
class DynamicShared {
  static_assert(std::is_trivially_copyable_v<T> && alignof(T) <= 16,
                "dynamic shared memory holds trivially copyable types aligned to at most 16");

 public:
  explicit DynamicShared(const char* name) : name_(name) {
    Launch* launch = current_launch;
    if (!launch) throw std::logic_error("LF_DYNAMIC_SHARED used outside an emulated kernel");
    bytes_ = launch->dynamic_shared_bytes();
    data_ = reinterpret_cast<T*>(launch->dynamic_shared());
  }
  template <class I>
  T& operator[](I i) const {
    static_assert(std::is_integral_v<I>, "dynamic shared memory is indexed by an integer");
    const size_t count = bytes_ / sizeof(T);
    if ((std::is_signed_v<I> && i < 0) || static_cast<uint64_t>(i) >= count)
      throw std::runtime_error("emulated CUDA: index " + std::to_string(i) +
                               " out of bounds of dynamic shared memory `" + name_ +
                               "`: the launch gave " + std::to_string(bytes_) + " bytes, " +
                               std::to_string(count) + " elements of " + std::to_string(sizeof(T)) +
                               " bytes");
    return data_[i];
  }
  operator T*() const { return data_; }

 private:
  const char* name_;
  size_t bytes_;
  T* data_;
};

inline std::mutex& launch_mutex() {
  static std::mutex m;
  return m;
}

[[noreturn]] inline void invalid_configuration(const std::string& why) {
  throw std::runtime_error("emulated CUDA launch: invalid configuration argument (" + why + ")");
}

// The limits of every GPU since compute capability 3.0.
inline void check_configuration(dim3 grid, dim3 block) {
  const uint64_t nthreads = uint64_t{block.x} * block.y * block.z;
  if (block.x == 0 || block.y == 0 || block.z == 0 || block.x > 1024 || block.y > 1024 ||
      block.z > 64 || nthreads > 1024)
    invalid_configuration("block " + std::to_string(block.x) + "x" + std::to_string(block.y) + "x" +
                          std::to_string(block.z) + ": at most 1024 threads, 1024x1024x64");
  if (grid.x == 0 || grid.y == 0 || grid.z == 0 || grid.x > 2147483647u || grid.y > 65535 ||
      grid.z > 65535)
    invalid_configuration("grid " + std::to_string(grid.x) + "x" + std::to_string(grid.y) + "x" +
                          std::to_string(grid.z) + ": at most 2147483647x65535x65535, none 0");
}

}  // namespace detail

// ---- warp primitives: a rendezvous of the lanes named in `mask` (see the header comment) ----

// warpSize: an int that, as in CUDA, is not a compile-time constant.
struct WarpSizeBuiltin {
  operator int() const { return static_cast<int>(detail::kWarpSize); }
};
inline constexpr WarpSizeBuiltin warpSize{};

template <class T>
T __shfl_sync(unsigned mask, T var, int srcLane, int width = 32,
              std::source_location where = std::source_location::current()) {
  return detail::from_bits<T>(detail::warp_primitive(detail::WarpOp::shfl_idx, mask,
                                                     detail::to_bits(var), srcLane, width, where));
}
template <class T>
T __shfl_up_sync(unsigned mask, T var, unsigned delta, int width = 32,
                 std::source_location where = std::source_location::current()) {
  return detail::from_bits<T>(detail::warp_primitive(
      detail::WarpOp::shfl_up, mask, detail::to_bits(var), static_cast<int>(delta), width, where));
}
template <class T>
T __shfl_down_sync(unsigned mask, T var, unsigned delta, int width = 32,
                   std::source_location where = std::source_location::current()) {
  return detail::from_bits<T>(detail::warp_primitive(detail::WarpOp::shfl_down, mask,
                                                     detail::to_bits(var), static_cast<int>(delta),
                                                     width, where));
}
template <class T>
T __shfl_xor_sync(unsigned mask, T var, int laneMask, int width = 32,
                  std::source_location where = std::source_location::current()) {
  return detail::from_bits<T>(detail::warp_primitive(detail::WarpOp::shfl_xor, mask,
                                                     detail::to_bits(var), laneMask, width, where));
}
inline unsigned __ballot_sync(unsigned mask, int predicate,
                              std::source_location where = std::source_location::current()) {
  return static_cast<unsigned>(
      detail::warp_primitive(detail::WarpOp::ballot, mask, predicate != 0, 0, 32, where));
}
inline int __all_sync(unsigned mask, int predicate,
                      std::source_location where = std::source_location::current()) {
  return static_cast<int>(
      detail::warp_primitive(detail::WarpOp::all, mask, predicate != 0, 0, 32, where));
}
inline int __any_sync(unsigned mask, int predicate,
                      std::source_location where = std::source_location::current()) {
  return static_cast<int>(
      detail::warp_primitive(detail::WarpOp::any, mask, predicate != 0, 0, 32, where));
}
inline void __syncwarp(unsigned mask = 0xffffffffu,
                       std::source_location where = std::source_location::current()) {
  detail::warp_primitive(detail::WarpOp::sync, mask, 0, 0, 32, where);
}

// ---- atomics on host pointers (global or shared memory); each returns the old value ----
// Sequentially consistent std::atomic_ref operations (CUDA's are relaxed: see the header comment).

inline int atomicAdd(int* address, int val) {
  return std::atomic_ref<int>(*detail::atomic_target(address)).fetch_add(val);
}
inline unsigned atomicAdd(unsigned* address, unsigned val) {
  return std::atomic_ref<unsigned>(*detail::atomic_target(address)).fetch_add(val);
}
inline unsigned long long atomicAdd(unsigned long long* address, unsigned long long val) {
  return std::atomic_ref<unsigned long long>(*detail::atomic_target(address)).fetch_add(val);
}
inline float atomicAdd(float* address, float val) {  // a compare-and-swap loop, as CUDA's was
  std::atomic_ref<float> a(*detail::atomic_target(address));
  float old = a.load();
  while (!a.compare_exchange_weak(old, old + val)) {
  }
  return old;
}
inline int atomicSub(int* address, int val) {
  return std::atomic_ref<int>(*detail::atomic_target(address)).fetch_sub(val);
}
inline unsigned atomicSub(unsigned* address, unsigned val) {
  return std::atomic_ref<unsigned>(*detail::atomic_target(address)).fetch_sub(val);
}
inline int atomicExch(int* address, int val) {
  return std::atomic_ref<int>(*detail::atomic_target(address)).exchange(val);
}
inline unsigned atomicExch(unsigned* address, unsigned val) {
  return std::atomic_ref<unsigned>(*detail::atomic_target(address)).exchange(val);
}
inline float atomicExch(float* address, float val) {
  return std::atomic_ref<float>(*detail::atomic_target(address)).exchange(val);
}

namespace detail {
template <class T, class Better>
T atomic_pick(T* address, T val, Better better) {
  std::atomic_ref<T> a(*atomic_target(address));
  T old = a.load();
  while (better(val, old) && !a.compare_exchange_weak(old, val)) {
  }
  return old;
}
template <class T>
T atomic_cas(T* address, T compare, T val) {
  // On failure compare_exchange_strong stores the current value in `compare`: the old value
  // either way. A failed attempt yields the OS thread (concurrent schedule), so a spin lock built
  // on atomicCAS lets the holder run instead of burning its time slice.
  if (!std::atomic_ref<T>(*atomic_target(address)).compare_exchange_strong(compare, val))
    std::this_thread::yield();
  return compare;
}
}  // namespace detail

inline int atomicMax(int* address, int val) {
  return detail::atomic_pick(address, val, [](int a, int b) { return a > b; });
}
inline unsigned atomicMax(unsigned* address, unsigned val) {
  return detail::atomic_pick(address, val, [](unsigned a, unsigned b) { return a > b; });
}
inline int atomicMin(int* address, int val) {
  return detail::atomic_pick(address, val, [](int a, int b) { return a < b; });
}
inline unsigned atomicMin(unsigned* address, unsigned val) {
  return detail::atomic_pick(address, val, [](unsigned a, unsigned b) { return a < b; });
}
inline int atomicCAS(int* address, int compare, int val) {
  return detail::atomic_cas(address, compare, val);
}
inline unsigned atomicCAS(unsigned* address, unsigned compare, unsigned val) {
  return detail::atomic_cas(address, compare, val);
}
inline unsigned long long atomicCAS(unsigned long long* address, unsigned long long compare,
                                    unsigned long long val) {
  return detail::atomic_cas(address, compare, val);
}
inline void __threadfence() { std::atomic_thread_fence(std::memory_order_seq_cst); }
inline void __threadfence_block() { std::atomic_thread_fence(std::memory_order_seq_cst); }

// kernel<<<grid, block>>>(args...) under `schedule`: runs every block of the grid and returns
// when all are done. Throws std::runtime_error for an invalid configuration or a misused barrier,
// and rethrows the first exception thrown by kernel code.
template <typename... Params, typename... Args>
void launch(const Schedule& schedule, dim3 grid, dim3 block, size_t dynamic_shared_bytes,
            void (*kernel)(Params...), Args&&... args) {
  static_assert(sizeof...(Params) == sizeof...(Args), "wrong number of kernel arguments");
  if (detail::current_launch)
    throw std::logic_error("emulated CUDA: a kernel cannot launch another kernel");
  detail::check_configuration(grid, block);
  if (dynamic_shared_bytes > detail::kMaxStaticShared)
    detail::invalid_configuration(std::to_string(dynamic_shared_bytes) +
                                  " bytes of dynamic shared memory, more than the 48 KiB limit");
  // Kernel parameters are passed by value, converted once as the CUDA runtime would.
  struct Call {
    void (*kernel)(Params...);
    std::tuple<std::decay_t<Params>...> params;
    static void run(void* self) {
      Call& c = *static_cast<Call*>(self);
      std::apply(c.kernel, c.params);
    }
  } call{kernel, std::tuple<std::decay_t<Params>...>(std::forward<Args>(args)...)};

  std::lock_guard<std::mutex> serial(detail::launch_mutex());  // see "Shared memory" above
  detail::Launch(schedule, grid, block, dynamic_shared_bytes, &Call::run, &call).run();
}

// kernel<<<grid, block>>>(args...): no dynamic shared memory.
template <typename... Params, typename... Args>
void launch(const Schedule& schedule, dim3 grid, dim3 block, void (*kernel)(Params...),
            Args&&... args) {
  launch(schedule, grid, block, size_t{0}, kernel, std::forward<Args>(args)...);
}

}  // namespace lf::emu
