// Built instead of the CUDA sources when no CUDA compiler was found (CMake LF_WITH_CUDA=OFF).
// Every CUDA entry point exists, so the extension links, and each one says clearly why it cannot
// run: CUDA is never a silent fallback to the CPU.
#include <stdexcept>
#include <string>

#include "core/cuda_runtime.h"
#include "ops/batch_norm.h"
#include "ops/conv2d.h"
#include "ops/elementwise.h"
#include "ops/gemm.h"
#include "ops/knn.h"
#include "ops/local_contrast_norm2d.h"
#include "ops/locally_connected2d.h"
#include "ops/optim.h"
#include "ops/philox.h"
#include "ops/pool2d.h"
#include "ops/rbm_gibbs.h"
#include "ops/topk.h"
#include "ops/tsne_affinity.h"
#include "ops/tsne_bh.h"
#include "ops/tsne_grouped.h"
#include "ops/tsne_symmetrize.h"
#include "ops/word2vec.h"

namespace lf {
namespace {

[[noreturn]] void built_without_cuda(const char* what) {
  throw std::runtime_error(std::string("latentforge was built without CUDA: ") + what +
                           " is unavailable (rebuild with nvcc on PATH or -DLATENTFORGE_CUDA=ON)");
}

}  // namespace

bool cuda_compiled() { return false; }

int cuda_device_count() { return 0; }

std::string cuda_device_name(int) { built_without_cuda("cuda_device_name"); }

std::string cuda_architectures() { return ""; }

int cuda_pointer_device(std::uintptr_t) { built_without_cuda("cuda_pointer_device"); }

int cuda_current_device() { built_without_cuda("cuda_current_device"); }

CudaDeviceGuard::CudaDeviceGuard(int) { built_without_cuda("CudaDeviceGuard"); }

CudaDeviceGuard::~CudaDeviceGuard() = default;

void cuda_stream_wait(std::uintptr_t, std::uintptr_t) { built_without_cuda("cuda_stream_wait"); }

void cuda_stream_synchronize(std::uintptr_t) { built_without_cuda("cuda_stream_synchronize"); }

void* cuda_stream_handle(std::uintptr_t) { built_without_cuda("cuda_stream_handle"); }

void gemm_forward_cuda(float*, int64_t, const float*, int64_t, bool, const float*, int64_t, bool,
                       int64_t, int64_t, int64_t, float, float, const float*, Activation, void*) {
  built_without_cuda("gemm_forward_cuda");
}

void gemm_forward_cuda_config(float*, int64_t, const float*, int64_t, bool, const float*, int64_t,
                              bool, int64_t, int64_t, int64_t, float, float, const float*,
                              Activation, int, void*) {
  built_without_cuda("gemm_forward_cuda");
}

void gemm_cuda_from_host(float*, int64_t, const float*, int64_t, bool, const float*, int64_t, bool,
                         int64_t, int64_t, int64_t, float, float, const float*, Activation, int) {
  built_without_cuda("gemm_cuda_from_host");
}

void batch_norm_forward_train_cuda(float*, float*, float*, float*, float*, const float*,
                                   const float*, const float*, int64_t, int64_t, int64_t, double,
                                   double, int, void*) {
  built_without_cuda("batch_norm_forward_train_cuda");
}

void batch_norm_backward_cuda(float*, float*, float*, const float*, const float*, const float*,
                              const float*, const float*, int64_t, int64_t, int64_t, bool, int,
                              void*) {
  built_without_cuda("batch_norm_backward_cuda");
}

void batch_norm_forward_eval_cuda(float*, const float*, const float*, const float*, const float*,
                                  const float*, int64_t, int64_t, int64_t, double, int, void*) {
  built_without_cuda("batch_norm_forward_eval_cuda");
}

void batch_norm_forward_train_cuda_from_host(float*, float*, float*, float*, float*, const float*,
                                             const float*, const float*, int64_t, int64_t, int64_t,
                                             double, double, int) {
  built_without_cuda("batch_norm_forward_train_cuda_from_host");
}

void batch_norm_backward_cuda_from_host(float*, float*, float*, const float*, const float*,
                                        const float*, const float*, const float*, int64_t, int64_t,
                                        int64_t, bool, int) {
  built_without_cuda("batch_norm_backward_cuda_from_host");
}

void batch_norm_forward_eval_cuda_from_host(float*, const float*, const float*, const float*,
                                            const float*, const float*, int64_t, int64_t, int64_t,
                                            double, int) {
  built_without_cuda("batch_norm_forward_eval_cuda_from_host");
}

void pool2d_forward_cuda(float*, int32_t*, const float*, const Pool2dShape&, PoolMode, void*) {
  built_without_cuda("pool2d_forward_cuda");
}

void pool2d_backward_cuda(float*, const float*, const int32_t*, const float*, const float*,
                          const Pool2dShape&, PoolMode, void*) {
  built_without_cuda("pool2d_backward_cuda");
}

void pool2d_forward_cuda_config(float*, int32_t*, const float*, const Pool2dShape&, PoolMode, int,
                                void*) {
  built_without_cuda("pool2d_forward_cuda");
}

void pool2d_backward_cuda_config(float*, const float*, const int32_t*, const float*, const float*,
                                 const Pool2dShape&, PoolMode, int, void*) {
  built_without_cuda("pool2d_backward_cuda");
}

void pool2d_forward_cuda_from_host(float*, int32_t*, const float*, const Pool2dShape&, PoolMode,
                                   int) {
  built_without_cuda("pool2d_forward_cuda_from_host");
}

void pool2d_backward_cuda_from_host(float*, const float*, const int32_t*, const float*,
                                    const float*, const Pool2dShape&, PoolMode, int) {
  built_without_cuda("pool2d_backward_cuda_from_host");
}

void conv2d_forward_cuda(float*, const float*, const float*, const float*, int64_t, int64_t,
                         int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t,
                         int64_t, void*) {
  built_without_cuda("conv2d_forward_cuda");
}

void conv2d_backward_data_cuda(float*, const float*, const float*, int64_t, int64_t, int64_t,
                               int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t,
                               int64_t, void*) {
  built_without_cuda("conv2d_backward_data_cuda");
}

void conv2d_backward_weights_cuda(float*, float*, const float*, const float*, int64_t, int64_t,
                                  int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t,
                                  int64_t, int64_t, void*) {
  built_without_cuda("conv2d_backward_weights_cuda");
}

void conv2d_cuda_from_host(int, float*, float*, const float*, const float*, const float*, int64_t,
                           int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t,
                           int64_t, int64_t) {
  built_without_cuda("conv2d_cuda_from_host");
}

void locally_connected2d_forward_cuda(float*, const float*, const float*, const float*, int64_t,
                                      int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t,
                                      int64_t, void*) {
  built_without_cuda("locally_connected2d_forward_cuda");
}

void locally_connected2d_backward_data_cuda(float*, const float*, const float*, int64_t, int64_t,
                                            int64_t, int64_t, int64_t, int64_t, int64_t, int64_t,
                                            int64_t, void*) {
  built_without_cuda("locally_connected2d_backward_data_cuda");
}

void locally_connected2d_backward_weights_cuda(float*, float*, const float*, const float*, int64_t,
                                               int64_t, int64_t, int64_t, int64_t, int64_t, int64_t,
                                               int64_t, int64_t, void*) {
  built_without_cuda("locally_connected2d_backward_weights_cuda");
}

void locally_connected2d_cuda_from_host(int, float*, float*, const float*, const float*,
                                        const float*, int64_t, int64_t, int64_t, int64_t, int64_t,
                                        int64_t, int64_t, int64_t, int64_t) {
  built_without_cuda("locally_connected2d_cuda_from_host");
}

void alias_sample_cuda(int32_t*, const float*, const int32_t*, int64_t, int64_t, uint64_t, uint64_t,
                       void*) {
  built_without_cuda("alias_sample_cuda");
}

void word2vec_train_cuda(float*, float*, float*, const int32_t*, int64_t, const int64_t*, int64_t,
                         const float*, const float*, const int32_t*, const float*, int64_t, int64_t,
                         const W2vParams&, int64_t, double*, int64_t*, void*) {
  built_without_cuda("word2vec_train_cuda");
}

void alias_sample_cuda_from_host(int32_t*, const float*, const int32_t*, int64_t, int64_t, uint64_t,
                                 uint64_t) {
  built_without_cuda("alias_sample_cuda_from_host");
}

W2vResult word2vec_train_cuda_from_host(float*, float*, float*, const int32_t*, int64_t,
                                        const int64_t*, int64_t, const float*, const float*,
                                        const int32_t*, const float*, int64_t, int64_t,
                                        const W2vParams&, int64_t) {
  built_without_cuda("word2vec_train_cuda_from_host");
}

void local_contrast_norm2d_forward_cuda(float*, float*, float*, float*, const float*, int64_t,
                                        int64_t, int64_t, int64_t, int64_t, double, double, int,
                                        void*) {
  built_without_cuda("local_contrast_norm2d_forward_cuda");
}

void local_contrast_norm2d_backward_cuda(float*, float*, const float*, const float*, const float*,
                                         const float*, const float*, int64_t, int64_t, int64_t,
                                         int64_t, int64_t, double, double, int, void*) {
  built_without_cuda("local_contrast_norm2d_backward_cuda");
}

void local_contrast_norm2d_forward_cuda_from_host(float*, float*, float*, float*, const float*,
                                                  int64_t, int64_t, int64_t, int64_t, int64_t,
                                                  double, double, int) {
  built_without_cuda("local_contrast_norm2d_forward_cuda_from_host");
}

void local_contrast_norm2d_backward_cuda_from_host(float*, const float*, const float*, const float*,
                                                   const float*, const float*, int64_t, int64_t,
                                                   int64_t, int64_t, int64_t, double, double, int) {
  built_without_cuda("local_contrast_norm2d_backward_cuda_from_host");
}

void activation_forward_cuda(float*, const float*, int64_t, Activation, void*) {
  built_without_cuda("activation_forward_cuda");
}

void activation_backward_cuda(float*, const float*, const float*, int64_t, Activation, void*) {
  built_without_cuda("activation_backward_cuda");
}

void softmax_rows_cuda(float*, const float*, int64_t, int64_t, void*) {
  built_without_cuda("softmax_rows_cuda");
}

void softmax_rows_backward_cuda(float*, const float*, const float*, int64_t, int64_t, void*) {
  built_without_cuda("softmax_rows_backward_cuda");
}

void log_softmax_rows_cuda(float*, const float*, int64_t, int64_t, void*) {
  built_without_cuda("log_softmax_rows_cuda");
}

void log_softmax_rows_backward_cuda(float*, const float*, const float*, int64_t, int64_t, void*) {
  built_without_cuda("log_softmax_rows_backward_cuda");
}

void elementwise_cuda_from_host(ElementwiseCudaOp, float*, const float*, const float*, int64_t,
                                int64_t, Activation, int) {
  built_without_cuda("elementwise_cuda_from_host");
}

void sgd_step_cuda(float*, const float*, int64_t, float, float, float, void*) {
  built_without_cuda("sgd_step_cuda");
}

void momentum_step_cuda(float*, float*, const float*, int64_t, float, float, float, float, void*) {
  built_without_cuda("momentum_step_cuda");
}

void nesterov_step_cuda(float*, float*, const float*, int64_t, float, float, float, float, void*) {
  built_without_cuda("nesterov_step_cuda");
}

void adagrad_step_cuda(float*, float*, const float*, int64_t, float, float, float, float, void*) {
  built_without_cuda("adagrad_step_cuda");
}

void rmsprop_step_cuda(float*, float*, float*, const float*, int64_t, float, float, float, float,
                       float, float, void*) {
  built_without_cuda("rmsprop_step_cuda");
}

void adam_step_cuda(float*, float*, float*, const float*, int64_t, int64_t, float, float, float,
                    float, float, float, void*) {
  built_without_cuda("adam_step_cuda");
}

void adadelta_step_cuda(float*, float*, float*, const float*, int64_t, float, float, float, float,
                        float, void*) {
  built_without_cuda("adadelta_step_cuda");
}

void max_norm_columns_cuda(float*, int32_t*, int64_t, int64_t, float, void*) {
  built_without_cuda("max_norm_columns_cuda");
}

void max_norm_rows_cuda(float*, int32_t*, int64_t, int64_t, float, void*) {
  built_without_cuda("max_norm_rows_cuda");
}

void optim_step_cuda_from_host(OptimRule, float*, float*, float*, const float*, int64_t,
                               const OptimHyper&, int) {
  built_without_cuda("optim_step_cuda_from_host");
}

int64_t max_norm_cuda_from_host(float*, int64_t, int64_t, float, int, int) {
  built_without_cuda("max_norm_cuda_from_host");
}

void tsne_gradient_exact_cuda(float*, double*, const float*, const float*, int64_t, double, void*) {
  built_without_cuda("tsne_gradient_exact_cuda");
}

void tsne_gradient_bh_cuda(float*, double*, const float*, const float*, const int64_t*,
                           const int64_t*, const float*, int64_t, int64_t, double, double, void*) {
  built_without_cuda("tsne_gradient_bh_cuda");
}

double tsne_gradient_exact_cuda_from_host(float*, const float*, const float*, int64_t, double, bool,
                                          int) {
  built_without_cuda("tsne_gradient_exact_cuda_from_host");
}

double tsne_gradient_bh_cuda_from_host(float*, const float*, const int64_t*, const int64_t*,
                                       const float*, int64_t, int64_t, double, double, bool, int) {
  built_without_cuda("tsne_gradient_bh_cuda_from_host");
}

void uniform_cuda(float*, int64_t, uint64_t, uint64_t, uint64_t, void*) {
  built_without_cuda("uniform_cuda");
}

void uniform_cuda_from_host(float*, int64_t, uint64_t, uint64_t, uint64_t, int) {
  built_without_cuda("uniform_cuda_from_host");
}

void sigmoid_bernoulli_cuda(float*, float*, const float*, int64_t, uint64_t, uint64_t, uint64_t,
                            void*) {
  built_without_cuda("sigmoid_bernoulli_cuda");
}

void bernoulli_cuda(float*, int32_t*, const float*, int64_t, uint64_t, uint64_t, uint64_t, void*) {
  built_without_cuda("bernoulli_cuda");
}

void rbm_free_energy_cuda(float*, const float*, const float*, const float*, int64_t, int64_t,
                          int64_t, void*) {
  built_without_cuda("rbm_free_energy_cuda");
}

void sigmoid_bernoulli_cuda_from_host(float*, float*, const float*, int64_t, uint64_t, uint64_t,
                                      uint64_t, int) {
  built_without_cuda("sigmoid_bernoulli_cuda_from_host");
}

void bernoulli_cuda_from_host(float*, int32_t*, const float*, int64_t, uint64_t, uint64_t, uint64_t,
                              int) {
  built_without_cuda("bernoulli_cuda_from_host");
}

void rbm_free_energy_cuda_from_host(float*, const float*, const float*, const float*, int64_t,
                                    int64_t, int64_t, int) {
  built_without_cuda("rbm_free_energy_cuda_from_host");
}

void topk_rows_cuda(float*, uint8_t*, int32_t*, const float*, int64_t, int64_t, int64_t, void*) {
  built_without_cuda("topk_rows_cuda");
}

void topk_rows_backward_cuda(float*, const float*, const uint8_t*, int64_t, int64_t, void*) {
  built_without_cuda("topk_rows_backward_cuda");
}

void topk_rows_cuda_from_host(float*, uint8_t*, const float*, int64_t, int64_t, int64_t, int) {
  built_without_cuda("topk_rows_cuda_from_host");
}

void topk_rows_backward_cuda_from_host(float*, const float*, const uint8_t*, int64_t, int64_t,
                                       int) {
  built_without_cuda("topk_rows_backward_cuda_from_host");
}

void knn_cuda(int64_t*, float*, int32_t*, const float*, int64_t, int64_t, int64_t, void*) {
  built_without_cuda("knn_cuda");
}

void knn_cuda_from_host(int64_t*, float*, const float*, int64_t, int64_t, int64_t, int64_t, int) {
  built_without_cuda("knn_cuda_from_host");
}

void tsne_perplexity_cuda(float*, float*, const float*, int64_t, int64_t, double, double, int,
                          void*) {
  built_without_cuda("tsne_perplexity_cuda");
}

void tsne_perplexity_cuda_from_host(float*, float*, const float*, int64_t, int64_t, double, double,
                                    int, int) {
  built_without_cuda("tsne_perplexity_cuda_from_host");
}

void tsne_symmetrize_cuda(int64_t*, int64_t*, float*, int32_t*, const int64_t*, const float*,
                          int64_t, int64_t, void*) {
  built_without_cuda("tsne_symmetrize_cuda");
}

void tsne_symmetrize_cuda_from_host(CsrMatrixF32*, const int64_t*, const float*, int64_t, int64_t,
                                    int) {
  built_without_cuda("tsne_symmetrize_cuda_from_host");
}

void tsne_step_cuda(double*, double*, double*, int32_t*, const float*, int64_t, double, double,
                    double, void*) {
  built_without_cuda("tsne_step_cuda");
}

void tsne_step_bh_cuda(double*, double*, double*, int32_t*, double*, const int64_t*, const int64_t*,
                       const float*, int64_t, int64_t, double, double, double, double, double,
                       void*) {
  built_without_cuda("tsne_step_bh_cuda");
}

bool tsne_step_cuda_from_host(double*, double*, double*, const float*, int64_t, double, double,
                              double, int) {
  built_without_cuda("tsne_step_cuda_from_host");
}

TsneBarnesHut::StepResult tsne_step_bh_cuda_from_host(double*, double*, double*, const int64_t*,
                                                      const int64_t*, const float*, int64_t,
                                                      int64_t, double, double, double, double,
                                                      double, bool, int) {
  built_without_cuda("tsne_step_bh_cuda_from_host");
}

}  // namespace lf
