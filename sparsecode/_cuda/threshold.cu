// Coates & Ng feed-forward encoders on the GPU: the activations of
// sparsecode/_kernels/_threshold.py (soft_encode, hard_encode, topk_encode,
// triangle_encode) applied to the responses C = X M computed by cuBLAS /
// cuSPARSE, with the shift `offset` (the whitening's mean term) subtracted
// here. Reductions and scalars in double; T is the output's float type.

#define WARP 32
#define FULL_MASK 0xffffffffu

// soft (hard = 0): max(c - alpha, 0) [and max(-c - alpha, 0) at k + j];
// hard (hard = 1): c where |c| > alpha [split by sign]. One thread an entry.
template <typename T>
__device__ void shrink(const T* __restrict__ C, const double* __restrict__ offset,
                       T* __restrict__ out, long long n, long long k, double alpha, int hard,
                       int split) {
    long long idx = blockIdx.x * (long long)blockDim.x + threadIdx.x;
    if (idx >= n * k) return;
    long long i = idx / k, j = idx % k;
    double c = (double)C[idx] - offset[j];
    T* row = out + i * (split ? 2 * k : k);
    if (hard) {
        double keep = fabs(c) > alpha ? c : 0.0;
        if (split) {
            row[j] = (T)fmax(keep, 0.0);
            row[k + j] = (T)fmax(-keep, 0.0);
        } else {
            row[j] = (T)keep;
        }
    } else {
        row[j] = (T)fmax(c - alpha, 0.0);
        if (split) row[k + j] = (T)fmax(-c - alpha, 0.0);
    }
}

// Top-k by |c| per row, ties to the lower index (as on the CPU), one warp a
// row: n_keep rounds of a warp-wide (value, index) argmax over the row's
// magnitudes in `work` (n x k doubles), each taking one entry out.
template <typename T>
__device__ void topk(const T* __restrict__ C, const double* __restrict__ offset,
                     T* __restrict__ out, double* __restrict__ work, long long n, long long k,
                     long long n_keep, int split) {
    long long s = (blockIdx.x * (long long)blockDim.x + threadIdx.x) / WARP;
    int lane = threadIdx.x % WARP;
    if (s >= n) return;
    const T* c_row = C + s * k;
    double* w = work + s * k;
    T* row = out + s * (split ? 2 * k : k);
    for (long long j = lane; j < k; j += WARP) {
        w[j] = fabs((double)c_row[j] - offset[j]);
        row[j] = (T)0;
        if (split) row[k + j] = (T)0;
    }
    __syncwarp();
    for (long long t = 0; t < n_keep; t++) {
        double best = -1.0;
        long long at = k;
        for (long long j = lane; j < k; j += WARP) {
            if (w[j] > best) {  // strict: the lowest index of equal values
                best = w[j];
                at = j;
            }
        }
        for (int off = WARP / 2; off > 0; off /= 2) {
            double other = __shfl_xor_sync(FULL_MASK, best, off);
            long long other_at = __shfl_xor_sync(FULL_MASK, at, off);
            if (other > best || (other == best && other_at < at)) {
                best = other;
                at = other_at;
            }
        }
        if (best <= 0.0) break;  // the rest are zeros either way
        if (lane == 0) {
            double c = (double)c_row[at] - offset[at];
            w[at] = -1.0;
            if (split) {
                row[at] = (T)fmax(c, 0.0);
                row[k + at] = (T)fmax(-c, 0.0);
            } else {
                row[at] = (T)c;
            }
        }
        __syncwarp();
    }
}

// Triangle: z_j = ||x - c_j|| = sqrt(||x||^2 - 2 (c - offset_j) + ||c_j||^2),
// out_j = max(mean_j z_j - z_j, 0). One warp a row; z kept in `work`.
template <typename T>
__device__ void triangle(const T* __restrict__ C, const double* __restrict__ offset,
                         const double* __restrict__ sq_x, const double* __restrict__ sq_c,
                         T* __restrict__ out, double* __restrict__ work, long long n,
                         long long k) {
    long long s = (blockIdx.x * (long long)blockDim.x + threadIdx.x) / WARP;
    int lane = threadIdx.x % WARP;
    if (s >= n) return;
    double total = 0.0;
    for (long long j = lane; j < k; j += WARP) {
        double d2 = sq_x[s] - 2.0 * ((double)C[s * k + j] - offset[j]) + sq_c[j];
        double z = d2 > 0.0 ? sqrt(d2) : 0.0;
        work[s * k + j] = z;
        total += z;
    }
    for (int off = WARP / 2; off > 0; off /= 2) total += __shfl_xor_sync(FULL_MASK, total, off);
    double mean = total / k;
    for (long long j = lane; j < k; j += WARP)
        out[s * k + j] = (T)fmax(mean - work[s * k + j], 0.0);
}

#define INSTANTIATE(SUFFIX, T)                                                              \
    extern "C" __global__ void shrink_##SUFFIX(const T* C, const double* offset, T* out,   \
                                               long long n, long long k, double alpha,     \
                                               int hard, int split) {                      \
        shrink<T>(C, offset, out, n, k, alpha, hard, split);                               \
    }                                                                                      \
    extern "C" __global__ void topk_##SUFFIX(const T* C, const double* offset, T* out,     \
                                             double* work, long long n, long long k,       \
                                             long long n_keep, int split) {                \
        topk<T>(C, offset, out, work, n, k, n_keep, split);                                \
    }                                                                                      \
    extern "C" __global__ void triangle_##SUFFIX(                                          \
        const T* C, const double* offset, const double* sq_x, const double* sq_c, T* out,  \
        double* work, long long n, long long k) {                                          \
        triangle<T>(C, offset, sq_x, sq_c, out, work, n, k);                               \
    }

INSTANTIATE(f32, float)
INSTANTIATE(f64, double)
