// Coates & Ng feed-forward encoders on the GPU: the activations of
// sparsecode/_kernels/_threshold.py (soft_encode, hard_encode, topk_encode,
// triangle_encode) applied to the responses C = X M computed by cuBLAS /
// cuSPARSE, with the shift `offset` (the whitening's mean term) subtracted
// here. Reductions and scalars in double; T is the output's float type.

#define WARP 32
#define FULL_MASK 0xffffffffu

// One thread an entry, v = c - offset_j:
// kind 0, soft: max(v - alpha, 0) [and max(-v - alpha, 0) at k + j when split];
// kind 1, hard: v where |v| > alpha [split by sign];
// kind 2, jump ReLU (the autoencoders' ReLU with alpha = 0, BatchTopK's
//   learned threshold): v where v > alpha, else 0;
// kind 3, sigmoid (KLSparseEncoder): 1 / (1 + exp(-v)).
// Then codes below `cut` become 0 when `use_cut` (activation_threshold).
template <typename T>
__device__ void shrink(const T* __restrict__ C, const double* __restrict__ offset,
                       T* __restrict__ out, long long n, long long k, double alpha, int kind,
                       int split, int use_cut, double cut) {
    long long idx = blockIdx.x * (long long)blockDim.x + threadIdx.x;
    if (idx >= n * k) return;
    long long i = idx / k, j = idx % k;
    double v = (double)C[idx] - offset[j];
    T* row = out + i * (split ? 2 * k : k);
    double a, b = 0.0;
    if (kind == 0) {
        a = fmax(v - alpha, 0.0);
        b = fmax(-v - alpha, 0.0);
    } else if (kind == 1) {
        double keep = fabs(v) > alpha ? v : 0.0;
        a = split ? fmax(keep, 0.0) : keep;
        b = fmax(-keep, 0.0);
    } else if (kind == 2) {
        a = v > alpha ? v : 0.0;
    } else {
        a = 1.0 / (1.0 + exp(-v));
    }
    if (use_cut) {  // compared in the output's type, as zero_below does
        if ((T)a < (T)cut) a = 0.0;
        if ((T)b < (T)cut) b = 0.0;
    }
    row[j] = (T)a;
    if (split) row[k + j] = (T)b;
}

// Top-k by |c| per row, ties to the lower index (as on the CPU), one warp a
// row: n_keep rounds of a warp-wide (value, index) argmax over the row's
// magnitudes in `work` (n x k doubles), each taking one entry out.
// by_value (TopK autoencoder): select by v itself and write max(v, 0);
// codes below `cut` become 0 when `use_cut`.
template <typename T>
__device__ void topk(const T* __restrict__ C, const double* __restrict__ offset,
                     T* __restrict__ out, double* __restrict__ work, long long n, long long k,
                     long long n_keep, int split, int by_value, int use_cut, double cut) {
    long long s = (blockIdx.x * (long long)blockDim.x + threadIdx.x) / WARP;
    int lane = threadIdx.x % WARP;
    if (s >= n) return;
    const T* c_row = C + s * k;
    double* w = work + s * k;
    T* row = out + s * (split ? 2 * k : k);
    for (long long j = lane; j < k; j += WARP) {
        double v = (double)c_row[j] - offset[j];
        w[j] = by_value ? v : fabs(v);
        row[j] = (T)0;
        if (split) row[k + j] = (T)0;
    }
    __syncwarp();
    for (long long t = 0; t < n_keep; t++) {
        double best = -1.0;  // (taken entries hold -1; anything <= 0 ends the row)
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
            double a = split || by_value ? fmax(c, 0.0) : c;
            double b = fmax(-c, 0.0);
            if (use_cut && (T)a < (T)cut) a = 0.0;
            if (use_cut && (T)b < (T)cut) b = 0.0;
            row[at] = (T)a;
            if (split) row[k + at] = (T)b;
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
    extern "C" __global__ void shrink_##SUFFIX(                                            \
        const T* C, const double* offset, T* out, long long n, long long k, double alpha,  \
        int kind, int split, int use_cut, double cut) {                                    \
        shrink<T>(C, offset, out, n, k, alpha, kind, split, use_cut, cut);                 \
    }                                                                                      \
    extern "C" __global__ void topk_##SUFFIX(                                              \
        const T* C, const double* offset, T* out, double* work, long long n, long long k,  \
        long long n_keep, int split, int by_value, int use_cut, double cut) {              \
        topk<T>(C, offset, out, work, n, k, n_keep, split, by_value, use_cut, cut);        \
    }                                                                                      \
    extern "C" __global__ void triangle_##SUFFIX(                                          \
        const T* C, const double* offset, const double* sq_x, const double* sq_c, T* out,  \
        double* work, long long n, long long k) {                                          \
        triangle<T>(C, offset, sq_x, sq_c, out, work, n, k);                               \
    }

INSTANTIATE(f32, float)
INSTANTIATE(f64, double)
