// FISTA / ISTA for the lasso in Gram form on the GPU: the fused step and the
// per-row duality gap of sparsecode/_kernels/_fista.py (fista_step,
// gap_batch), one warp per row. The products Y @ G and Z @ G run in cuBLAS
// between the launches. T is the input's float type; the momentum, the
// reductions and the scalars are double. Compiled by sparsecode/_cupy_backend.py
// through NVRTC (cupy.RawModule); tests/test_cuda_sources.py compiles it
// without a GPU.

#define WARP 32
#define FULL_MASK 0xffffffffu

__device__ __forceinline__ double warp_sum(double v) {
    for (int off = WARP / 2; off > 0; off /= 2) v += __shfl_xor_sync(FULL_MASK, v, off);
    return v;
}

__device__ __forceinline__ double warp_max(double v) {
    for (int off = WARP / 2; off > 0; off /= 2) v = fmax(v, __shfl_xor_sync(FULL_MASK, v, off));
    return v;
}

__device__ __forceinline__ double soft_threshold(double u, double thresh, int positive) {
    if (positive) return u > thresh ? u - thresh : 0.0;
    if (u > thresh) return u - thresh;
    if (u < -thresh) return u + thresh;
    return 0.0;
}

// One step for rows s = warp index: z = prox(y - (YG - C) / L); restart when
// (y - z).(z - z_old) > 0 (O'Donoghue & Candes' gradient scheme); else
// y = z + (t - 1) / t_new (z - z_old). YG is overwritten with z_old.
template <typename T>
__device__ void fista_step(const T* __restrict__ C, T* __restrict__ YG, T* __restrict__ Y,
                           T* __restrict__ Z, double* __restrict__ Tm, long long n,
                           long long k, double inv_lip, double alpha, int positive,
                           int accelerate) {
    long long s = (blockIdx.x * (long long)blockDim.x + threadIdx.x) / WARP;
    int lane = threadIdx.x % WARP;
    if (s >= n) return;  // the whole warp leaves together
    const long long row = s * k;
    const double thresh = alpha * inv_lip;
    double restart = 0.0;
    for (long long j = lane; j < k; j += WARP) {
        double zo = Z[row + j];
        double y = Y[row + j];
        double zj = soft_threshold(y - inv_lip * ((double)YG[row + j] - (double)C[row + j]),
                                   thresh, positive);
        restart += (y - zj) * (zj - zo);
        YG[row + j] = (T)zo;
        Z[row + j] = (T)zj;
    }
    restart = warp_sum(restart);
    if (accelerate && restart <= 0.0) {
        double t = Tm[s];
        double t_new = 0.5 * (1.0 + sqrt(1.0 + 4.0 * t * t));
        double beta = (t - 1.0) / t_new;
        __syncwarp();
        if (lane == 0) Tm[s] = t_new;
        for (long long j = lane; j < k; j += WARP) {
            double z = Z[row + j];
            Y[row + j] = (T)(z + beta * (z - (double)YG[row + j]));
        }
    } else {
        if (lane == 0) Tm[s] = 1.0;
        for (long long j = lane; j < k; j += WARP) Y[row + j] = Z[row + j];
    }
}

// Duality gap of 0.5 ||x - z D||^2 + alpha ||z||_1 per row, given ZG = Z @ G
// (overwritten with corr = C - Z G) and sq = ||x||^2: done[s] = 1 where the
// gap is at most tol * 0.5 ||x||^2 (sparsecode/_kernels/_common.py lasso_gap).
template <typename T>
__device__ void lasso_gap(const T* __restrict__ Z, const T* __restrict__ C,
                          T* __restrict__ ZG, const double* __restrict__ sq, long long n,
                          long long k, double alpha, int positive, double tol,
                          unsigned char* __restrict__ done) {
    long long s = (blockIdx.x * (long long)blockDim.x + threadIdx.x) / WARP;
    int lane = threadIdx.x % WARP;
    if (s >= n) return;
    const long long row = s * k;
    double zc = 0.0, zcorr = 0.0, l1 = 0.0, m = 0.0;
    for (long long j = lane; j < k; j += WARP) {
        double z = Z[row + j];
        double c = C[row + j];
        double corr = c - (double)ZG[row + j];
        ZG[row + j] = (T)corr;
        zc += z * c;
        zcorr += z * corr;
        l1 += fabs(z);
        double v = positive ? corr : fabs(corr);
        m = fmax(m, v);
    }
    zc = warp_sum(zc);
    zcorr = warp_sum(zcorr);
    l1 = warp_sum(l1);
    m = warp_max(m);
    if (lane == 0) {
        double sq_norm = sq[s];
        double primal = 0.5 * sq_norm - 0.5 * zc - 0.5 * zcorr + alpha * l1;
        double scale = m <= alpha ? 1.0 : alpha / m;
        double xr = sq_norm - zc;
        double rr = fmax(sq_norm - zc - zcorr, 0.0);
        double dual = scale * xr - 0.5 * scale * scale * rr;
        done[s] = (primal - dual) <= tol * 0.5 * sq_norm;
    }
}

// Soft threshold of the correlations (algorithm="threshold"):
// out = sign(c) max(|c| - alpha, 0), or max(c - alpha, 0) if positive.
template <typename T>
__device__ void threshold(const T* __restrict__ C, T* __restrict__ out, long long size,
                          double alpha, int positive) {
    long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x;
    if (i < size) out[i] = (T)soft_threshold((double)C[i], alpha, positive);
}

#define INSTANTIATE(SUFFIX, T)                                                              \
    extern "C" __global__ void fista_step_##SUFFIX(                                        \
        const T* C, T* YG, T* Y, T* Z, double* Tm, long long n, long long k,               \
        double inv_lip, double alpha, int positive, int accelerate) {                      \
        fista_step<T>(C, YG, Y, Z, Tm, n, k, inv_lip, alpha, positive, accelerate);         \
    }                                                                                      \
    extern "C" __global__ void lasso_gap_##SUFFIX(                                         \
        const T* Z, const T* C, T* ZG, const double* sq, long long n, long long k,         \
        double alpha, int positive, double tol, unsigned char* done) {                     \
        lasso_gap<T>(Z, C, ZG, sq, n, k, alpha, positive, tol, done);                      \
    }                                                                                      \
    extern "C" __global__ void threshold_##SUFFIX(const T* C, T* out, long long size,      \
                                                  double alpha, int positive) {            \
        threshold<T>(C, out, size, alpha, positive);                                       \
    }

INSTANTIATE(f32, float)
INSTANTIATE(f64, double)
