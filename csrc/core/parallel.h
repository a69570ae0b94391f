// One threading runtime: our OpenMP. Kernels take an explicit num_threads argument; the
// bindings pass lf::num_threads().
#pragma once

namespace lf {

// Threads the kernels use: the value given to set_num_threads(), or else OpenMP's
// omp_get_max_threads() on the calling thread (so OMP_NUM_THREADS and threadpoolctl's limits
// apply). Always >= 1; 1 in a build without OpenMP.
int num_threads();
// n >= 1 fixes the count; n == 0 returns to the OpenMP default. Throws on n < 0.
void set_num_threads(int n);
bool openmp_enabled();

}  // namespace lf
