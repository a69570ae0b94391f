// Barnes-Hut t-SNE gradient with group traversal: the fast CPU path of TSNE(method=
// "barnes_hut"). ops/tsne_bh.h keeps the textbook per-point version beside it as the reference.
//
// A TsneBarnesHut object holds the sparse P (validated once, at construction) and every buffer an
// iteration needs, so an optimiser calls gradient() or step() 1000 times without reallocating or
// revalidating P.
//
// Per call (Y: n x 2 float32):
//  1. Quadtree from sorted Morton codes. Y is quantised to a 2^16 x 2^16 grid over its bounding
//     square, points are radix-sorted by (code, index) -- stable, so the order is a function of Y
//     alone -- and cells are ranges of the sorted points, split top-down while they hold more than
//     kLeafSize points (at most 16 levels; points closer than side / 2^16 share a leaf). Each
//     cell keeps its count, centre of mass (double prefix sums over the sorted coordinates), the
//     side of its grid square and the tight bounding box of its points.
//  2. Groups: the highest cells holding at most kGroupSize points (or a leaf) partition the
//     points. For each group one depth-first walk builds an interaction list: a cell is
//     summarised by its centre of mass (mass = count) when its points' bounding box is disjoint
//     from the group's and side < theta * d, d the distance from the centre of mass to the
//     group's bounding box (so side / |y_i - centre| < theta holds for every point i of the group,
//     the per-point criterion of ops/tsne_bh.h, and no point is ever summarised together with
//     itself); otherwise its children, or for a leaf its points (mass 1), are listed. theta = 0
//     lists every point: exact repulsion.
//  3. Every point of the group is evaluated against the list by the ISA's SIMD kernel
//     (ops/tsne_grouped_kernels.h, float32, IEEE division). The group's own points open the list,
//     so the kernel skips each point's own entry exactly (no self term to subtract from z_i).
//  4. Attraction over the CSR rows of P (float32), the KL terms in double when asked (one log1p
//     per entry). The rows are stored in the order of an earlier call's tree (relabelled every
//     100 calls) for locality. With several threads, one builds the tree (step 1) while the
//     others start on these rows; it joins them when done.
//  grad_i = 4 (exaggeration attr_i - rep_i / Z), Z = sum_i z_i in double, in sorted order.
//
// Groups run in parallel (each writes only its own points), every sum has a fixed order, and the
// tree is a function of Y: the results are bitwise independent of the thread count. They depend
// on the ISA (the kernels' summation orders differ) and differ from ops/tsne_bh.h by float32
// rounding and by the (stricter) group criterion.
#pragma once

#include <cstdint>
#include <vector>

namespace lf {

class TsneBarnesHut {
 public:
  static constexpr int64_t kLeafSize = 16;
  static constexpr int64_t kGroupSize = 64;
  static constexpr int kLevels = 16;

  // P as CSR: indptr (n + 1), indices / pvals (nnz = indptr[n]), copied (indices as int32).
  // Validates: n >= 2 and < 2^31, indptr[0] == 0, non-decreasing, indptr[n] == nnz, 0 <=
  // indices < n, pvals finite and >= 0. The diagonal is ignored. P is assumed symmetric.
  TsneBarnesHut(const int64_t* indptr, const int64_t* indices, const float* pvals, int64_t n,
                int64_t nnz);

  int64_t n() const { return n_; }
  int64_t nnz() const { return static_cast<int64_t>(indices_.size()); }
  // Bytes held now (P and the per-call buffers; grows once to its working size on first use).
  int64_t nbytes() const;
  // Interactions (list entries x points) evaluated by the last call.
  int64_t last_interactions() const { return last_interactions_; }
  // Wall seconds of the last call's phases: tree build, repulsion, attraction. When the tree is
  // built during the attraction (most calls with several threads), `attraction` is the wall time
  // of both and `tree` the builder thread's share of it.
  struct Timings {
    double tree, repulsion, attraction;
  };
  Timings last_timings() const { return last_timings_; }

  // grad (n x 2) = gradient at Y (n x 2, finite); returns KL(P || Q) with the Barnes-Hut Z
  // (NaN unless compute_kl). theta >= 0 finite, exaggeration finite.
  double gradient(float* grad, const float* Y, double theta, double exaggeration, bool compute_kl,
                  int num_threads);

  // One gradient-descent iteration with momentum and gains, in place (all n x 2 float64):
  //   g = gradient(float32(Y)); gains = where(update * g < 0, gains + 0.2, gains * 0.8)
  //   gains = max(gains, min_gain); update = momentum * update - learning_rate * gains * g;
  //   Y += update
  // (the operations in this order, in double, as the numpy reference in the tests). Returns
  // the KL of the gradient call and whether every g (and float32(Y)) was finite; when not, Y,
  // update and gains are left untouched and the KL is NaN if float32(Y) overflowed.
  struct StepResult {
    double kl;
    bool finite;
  };
  StepResult step(double* Y, double* update, double* gains, double theta, double exaggeration,
                  double momentum, double learning_rate, double min_gain, bool compute_kl,
                  int num_threads);

 private:
  struct Node {
    float lox, loy, hix, hiy;  // tight bounding box of the points
    float comx, comy, mass;    // centre of mass, count
    float side;                // side of the cell's grid square
    int32_t begin, end;        // sorted points [begin, end)
    int32_t child, nchild;     // children are nodes [child, child + nchild)
  };

  void check_args(double theta, double exaggeration, const char* who) const;
  // gradient() on an already validated Y (finite) and arguments.
  double compute(float* grad, const float* Y, double theta, double exaggeration, bool compute_kl,
                 int num_threads);
  void build_tree(const float* Y);
  void relabel(const std::vector<int32_t>& new_perm, int num_threads);
  void repulsion(double theta, int num_threads);

  int64_t n_;
  std::vector<int64_t> indptr_;
  std::vector<int32_t> indices_;
  std::vector<float> pvals_;
  // P is stored with its rows in a locality order: storage row r holds point perm_[r] (inv_ is
  // the inverse), column labels are storage rows, and every row keeps its entries in the input
  // order. Relabelling to the tree's order (every kRelabelEvery calls) makes the neighbours of
  // consecutive rows close in memory; results do not depend on it (same terms, same order).
  static constexpr int64_t kRelabelEvery = 100;
  std::vector<int32_t> perm_, inv_;
  std::vector<float> yp_;  // Y in storage order
  int64_t calls_since_relabel_ = -1;

  // Per-call buffers (sorted order unless noted).
  std::vector<uint32_t> codes_, codes_tmp_;
  std::vector<int32_t> order_, order_tmp_;  // order_[p]: original index of sorted point p
  std::vector<float> xs_, ys_;
  std::vector<double> psx_, psy_;  // prefix sums of xs_, ys_
  std::vector<Node> nodes_;
  std::vector<int32_t> groups_;  // node ids
  std::vector<float> z_, rx_, ry_;
  std::vector<float> attr_;                // original order, n x 2
  std::vector<double> klrow_;              // original order: -sum_j p_ij log w_ij
  double plogp_ = 0.0, psum_ = 0.0;        // sum p log p and sum p over the stored p > 0
  std::vector<float> y32_, grad32_;        // step()
  std::vector<std::vector<float>> lists_;  // per thread: sx | sy | sm
  int64_t last_interactions_ = 0;
  Timings last_timings_{};
};

// ---- CUDA sibling of step() (ops/tsne_grouped_cuda.cu, kernels in ops/tsne_grouped_cuda.cuh) ----
// On a stream (cudaStream_t as void*; nullptr is the legacy default stream), DEVICE pointers,
// Y / update / gains n x 2 float64 updated in place, grad n x 2 float32:
//
// tsne_step_cuda: step()'s update given the gradient. One block checks that every grad element is
//   finite (fixed-order AND through shared memory) and writes *finite (one int32: 1, or 0 and
//   nothing is modified, as step() leaves Y, update and gains untouched); then one thread per
//   coordinate applies, in double and in this order (the file is compiled with -fmad=false):
//     g = grad[k]; gk = update[k] * g < 0 ? gains[k] + 0.2 : gains[k] * 0.8;
//     gk = max(gk, min_gain); gains[k] = gk; u = update[k] * momentum - (learning_rate * gk) * g;
//     update[k] = u; Y[k] += u
//   exactly step()'s operations (no centering, no KL), so given the same gradient the results
//   equal the CPU's bit for bit. finite may be nullptr (a stream-ordered scratch int is used).
//
// tsne_step_bh_cuda: one whole optimisation iteration on the device: y32 = float32(Y) (a kernel),
//   copied to the host, where the quadtree is built (the call synchronizes `stream` there); a
//   non-finite float32(Y) sets *finite = 0 and *kl = NaN (when kl is not null) and modifies
//   nothing, as step() does. Otherwise the gradient is tsne_gradient_bh_cuda's (ops/tsne_bh.h:
//   the PER-POINT Barnes-Hut criterion of the reference, in double, on the device) -- NOT the
//   grouped gradient of TsneBarnesHut::gradient() above (group criterion, float32 SIMD kernels):
//   the device iteration follows tsne_bh's trajectory, not the CPU fast path's. The KL (when kl is
//   not null) is tsne_gradient_bh_cuda's; then tsne_step_cuda's check and update. P is the CSR
//   of tsne_gradient_bh_cuda (indptr n + 1, indices / pvals nnz; on the device, not checked
//   there: the from_host helper checks it first).
//
// The launchers check sizes and scalars (std::invalid_argument: n >= 1 (>= 2 for the BH step),
// momentum, learning_rate and min_gain finite) and allocate their scratch stream-ordered. The
// *_from_host helpers (the tests' entry) upload, run launch configuration `config` of the step
// kernels on the default stream (the BH step's gradient runs tsne_gradient_bh_cuda's own
// configuration), wait, and download Y, update, gains; they return finite (and the KL).
inline constexpr int kTsneStepCudaConfigs = 2;  // launch configurations (the emulator tests all)

void tsne_step_cuda(double* Y, double* update, double* gains, int32_t* finite, const float* grad,
                    int64_t n, double momentum, double learning_rate, double min_gain,
                    void* stream);

void tsne_step_bh_cuda(double* Y, double* update, double* gains, int32_t* finite, double* kl,
                       const int64_t* indptr, const int64_t* indices, const float* pvals, int64_t n,
                       int64_t nnz, double theta, double exaggeration, double momentum,
                       double learning_rate, double min_gain, void* stream);

bool tsne_step_cuda_from_host(double* Y, double* update, double* gains, const float* grad,
                              int64_t n, double momentum, double learning_rate, double min_gain,
                              int config);

TsneBarnesHut::StepResult tsne_step_bh_cuda_from_host(double* Y, double* update, double* gains,
                                                      const int64_t* indptr, const int64_t* indices,
                                                      const float* pvals, int64_t n, int64_t nnz,
                                                      double theta, double exaggeration,
                                                      double momentum, double learning_rate,
                                                      double min_gain, bool compute_kl, int config);

}  // namespace lf
