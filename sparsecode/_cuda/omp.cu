// Batch orthogonal matching pursuit on the GPU: sparsecode/_kernels/_omp.py
// (omp_one) with one warp per sample, on the Gram form only (Rubinstein,
// Zibulevsky & Elad 2008). Per sample: the atom of largest |correlation|
// (a warp argmax, lowest index on ties as on the CPU), appended to the
// Cholesky factor of G[A][:, A] (lane 0: m is small), the coefficients by
// two triangular solves (lane 0), the correlations c - G[:, A] z_A (lanes
// over the atoms) and the squared residual ||x||^2 - z_A . c_A. Everything
// is double whatever the input's type T, as on the CPU; the Gram is the
// float64 one. Every sum is taken in the CPU kernel's order (the solves in
// axpy order, the correlations in groups of 8, 4 and 1 as combine_rows, the
// residual term by term) and the file is compiled without fused
// multiply-adds (sparsecode/_cuda OPTIONS), so that the pursuit makes the
// CPU's choices to the bit: on duplicate atoms or rank-deficient data a
// rounding apart would pick another atom. Compiled by sparsecode/_cupy_backend.py
// through NVRTC; tests/test_cuda_sources.py compiles it without a GPU.

#define WARP 32
#define FULL_MASK 0xffffffffu
// numpy's float64 eps: the CPU kernel's rules for a negligible correlation
// and for a dependent atom
#define EPS 2.220446049250313e-16

template <typename T>
__device__ void omp_batch(const T* __restrict__ C, const double* __restrict__ sq,
                          const double* __restrict__ G, long long n, long long k,
                          long long cap, double tol, T* __restrict__ codes,
                          long long* __restrict__ n_iter, unsigned char* __restrict__ dependent,
                          double* __restrict__ work, long long* __restrict__ active_work) {
    long long s = (blockIdx.x * (long long)blockDim.x + threadIdx.x) / WARP;
    int lane = threadIdx.x % WARP;
    if (s >= n) return;  // the whole warp leaves together
    const T* c = C + s * k;
    // this sample's workspace: corr (k), c_act (cap), z_act (cap), L (cap x cap)
    double* corr = work + s * (k + 2 * cap + cap * cap);
    double* c_act = corr + k;
    double* z_act = c_act + cap;
    double* L = z_act + cap;
    long long* active = active_work + s * cap;

    for (long long j = lane; j < k; j += WARP) corr[j] = (double)c[j];
    double residual = sq[s];
    long long m = 0;
    int early = 0;
    __syncwarp();
    if (!(tol >= 0.0 && residual <= tol)) {
        while (m < cap) {
            // argmax |corr|: each lane its first maximum, then the warp's,
            // lower index on ties (the CPU scans in order with a strict >)
            double best = -1.0;
            long long lam = -1;
            for (long long j = lane; j < k; j += WARP) {
                double v = fabs(corr[j]);
                if (v > best) {
                    best = v;
                    lam = j;
                }
            }
            for (int off = WARP / 2; off > 0; off /= 2) {
                double ob = __shfl_xor_sync(FULL_MASK, best, off);
                long long ol = __shfl_xor_sync(FULL_MASK, lam, off);
                if (ob > best || (ob == best && ol >= 0 && (lam < 0 || ol < lam))) {
                    best = ob;
                    lam = ol;
                }
            }
            // what is left of the signal is orthogonal to every atom (lam < 0:
            // no finite correlation, which the callers' checks rule out)
            if (lam < 0 || best * best < EPS) break;
            // append atom lam as row m of L (lane 0), or stop on a dependent atom
            int ok = 0;
            if (lane == 0) {
                double gjj = G[lam * k + lam];
                if (gjj > 0.0) {
                    double* v = L + m * cap;
                    for (long long i = 0; i < m; ++i) v[i] = G[lam * k + active[i]];
                    for (long long i = 0; i < m; ++i) {  // forward solve L v = g
                        double acc = v[i];
                        for (long long t = 0; t < i; ++t) acc -= L[i * cap + t] * v[t];
                        v[i] = acc / L[i * cap + i];
                    }
                    double d = gjj;
                    for (long long t = 0; t < m; ++t) d -= v[t] * v[t];
                    if (d > EPS * gjj) {
                        v[m] = sqrt(d);
                        active[m] = lam;
                        c_act[m] = (double)c[lam];
                        ok = 1;
                    }
                }
            }
            ok = __shfl_sync(FULL_MASK, ok, 0);
            if (!ok) {
                early = 1;
                break;
            }
            m += 1;
            if (lane == 0) {  // z_act = (L L^T)^{-1} c_act
                for (long long i = 0; i < m; ++i) {
                    double acc = c_act[i];
                    for (long long t = 0; t < i; ++t) acc -= L[i * cap + t] * z_act[t];
                    z_act[i] = acc / L[i * cap + i];
                }
                for (long long i = m - 1; i >= 0; --i) {  // (the CPU's axpy order)
                    double acc = z_act[i];
                    for (long long t = m - 1; t > i; --t) acc -= L[t * cap + i] * z_act[t];
                    z_act[i] = acc / L[i * cap + i];
                }
            }
            __syncwarp();
            for (long long j = lane; j < k; j += WARP) {
                // G[:, A] z_A grouped as the CPU's combine_rows
                double acc = 0.0;
                long long i = 0;
                for (; i + 8 <= m; i += 8) {
                    const long long* a = active + i;
                    const double* z = z_act + i;
                    acc += ((z[0] * G[a[0] * k + j] + z[1] * G[a[1] * k + j] +
                             z[2] * G[a[2] * k + j] + z[3] * G[a[3] * k + j]) +
                            (z[4] * G[a[4] * k + j] + z[5] * G[a[5] * k + j] +
                             z[6] * G[a[6] * k + j] + z[7] * G[a[7] * k + j]));
                }
                for (; i + 4 <= m; i += 4) {
                    const long long* a = active + i;
                    const double* z = z_act + i;
                    acc += z[0] * G[a[0] * k + j] + z[1] * G[a[1] * k + j] +
                           z[2] * G[a[2] * k + j] + z[3] * G[a[3] * k + j];
                }
                for (; i < m; ++i) acc += z_act[i] * G[active[i] * k + j];
                corr[j] = (double)c[j] - acc;
            }
            __syncwarp();
            // the residual is orthogonal to the chosen atoms: exactly 0 there,
            // so the argmax never takes one again
            for (long long i = lane; i < m; i += WARP) corr[active[i]] = 0.0;
            if (lane == 0) {  // term by term, as the CPU
                residual = sq[s];
                for (long long i = 0; i < m; ++i) residual -= z_act[i] * c_act[i];
            }
            residual = __shfl_sync(FULL_MASK, residual, 0);
            __syncwarp();
            if (tol >= 0.0 && fabs(residual) <= tol) break;
        }
    }
    for (long long i = lane; i < m; i += WARP) codes[s * k + active[i]] = (T)z_act[i];
    if (lane == 0) {
        n_iter[s] = m;
        dependent[s] = (unsigned char)early;
    }
}

#define INSTANTIATE(SUFFIX, T)                                                              \
    extern "C" __global__ void omp_batch_##SUFFIX(                                         \
        const T* C, const double* sq, const double* G, long long n, long long k,           \
        long long cap, double tol, T* codes, long long* n_iter, unsigned char* dependent,  \
        double* work, long long* active_work) {                                            \
        omp_batch<T>(C, sq, G, n, k, cap, tol, codes, n_iter, dependent, work,             \
                     active_work);                                                         \
    }

INSTANTIATE(f32, float)
INSTANTIATE(f64, double)
