// A small CUDA emulator: compiles a kernel written in a small CUDA subset as plain C++ and runs it
// on the CPU with real block/thread semantics, so index and synchronisation bugs show up in tests
// on machines without a GPU. Every CUDA kernel in latentforge is written to this subset and has a
// `csrc/emu/<op>_cuda_emu.cpp` twin that includes this header and then the kernel's `.cuh`. The
// twins, this header and the tests' deliberately broken kernels are built into the test-only
// extension module latentforge._emu, never into the shipped _C.
//
// Supported subset (anything else does not compile, which is the point):
//   __global__, __device__, __host__, __forceinline__, __restrict__; __syncthreads(); threadIdx,
//   blockIdx, blockDim, gridDim; expf, tanhf, fmaxf (from <math.h>); static shared memory declared
//   with LF_SHARED(type, name, [dims]) (core/cuda_subset.h; a plain `__shared__` is a compile error
//   here, see "Shared memory"). No warp intrinsics, atomics, dynamic shared memory, streams or
//   device memory: emulated kernels get host pointers.
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
//   A correct kernel gives the same results under every schedule. Not emulated in any: warps (no
//   lockstep, so warp-synchronous code without barriers fails here, as it may on a GPU) and weak
//   memory ordering between threads.
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
// __syncthreads() is a real barrier over the threads of the block (concurrent: atomic counter +
// futex wait; deterministic: the end of the fiber's turn). Misuse is reported as
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

#include <atomic>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <exception>
#include <mutex>
#include <new>
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
  type(&name) dims = lf_shared_var_##name.get()

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

struct Site {  // a __syncthreads() call; file == nullptr: the thread returned from the kernel
  const char* file = nullptr;
  int line = 0;
  bool same_as(const Site& o) const {
    return line == o.line && (file == o.file || std::strcmp(file, o.file) == 0);
  }
  std::string str() const { return std::string(file) + ":" + std::to_string(line); }
};

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
// fibers of the launching thread, one at a time, switching only in __syncthreads() and at the end
// of the kernel (deterministic schedules; a switch costs well under a microsecond, where handing a
// token between OS threads costs a scheduler round trip).
class Launch {
 public:
  struct Aborted {};  // unwinds a thread once another has failed

  Launch(const Schedule& schedule, dim3 grid, dim3 block, void (*body)(void*), void* body_arg)
      : id_(next_id()),
        schedule_(schedule),
        grid_(grid),
        block_(block),
        nthreads_(block.x * block.y * block.z),
        nblocks_(uint64_t{grid.x} * grid.y * grid.z),
        body_(body),
        body_arg_(body_arg),
        sites_(nthreads_) {}

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
    if (schedule_.kind == ScheduleKind::concurrent) return arrive_concurrent();
    swapcontext(&fibers_[t].context, &main_context_);  // back to run_fibers
    if (failed_.load()) throw Aborted{};
  }

  // Records the first error and releases every waiting thread (they unwind with Aborted).
  void fail(std::exception_ptr e) {
    {
      std::lock_guard<std::mutex> lk(error_mutex_);
      if (!error_) error_ = e;
    }
    failed_.store(true);
    phase_.fetch_add(1);
    phase_.notify_all();
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
    if (total > kMaxStaticShared)
      throw std::runtime_error("emulated CUDA: the kernel declares " + std::to_string(total) +
                               " bytes of static shared memory, more than the 48 KiB limit");
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
      return Interval::block_done;
    }
    if (returned > 0) {
      why = std::to_string(returned) + " of " + std::to_string(nthreads_) +
            " threads returned while the others wait in __syncthreads() at " + first_wait->str();
    } else if (other_wait) {
      why = "threads wait at different __syncthreads() calls, " + first_wait->str() + " and " +
            other_wait->str() + " (a barrier in a branch not taken by the whole block)";
    } else {
      return Interval::released;  // everyone waits at the same call
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
          arrive_concurrent();  // no thread starts block b+1 while another still runs block b
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

  void arrive_concurrent() {
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
        for (;;) {  // one barrier interval per pass
          if (schedule_.kind == ScheduleKind::shuffled) shuffle();
          for (unsigned i = 0; i < nthreads_ && !failed_.load(); ++i) resume(order[i]);
          if (failed_.load() || complete_interval() != Interval::released) break;
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
  std::vector<Site> sites_;  // where each thread of the block is, at the end of an interval

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

// kernel<<<grid, block>>>(args...) under `schedule`: runs every block of the grid and returns
// when all are done. Throws std::runtime_error for an invalid configuration or a misused barrier,
// and rethrows the first exception thrown by kernel code.
template <typename... Params, typename... Args>
void launch(const Schedule& schedule, dim3 grid, dim3 block, void (*kernel)(Params...),
            Args&&... args) {
  static_assert(sizeof...(Params) == sizeof...(Args), "wrong number of kernel arguments");
  if (detail::current_launch)
    throw std::logic_error("emulated CUDA: a kernel cannot launch another kernel");
  detail::check_configuration(grid, block);
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
  detail::Launch(schedule, grid, block, &Call::run, &call).run();
}

}  // namespace lf::emu
