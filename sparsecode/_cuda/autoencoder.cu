// SparseAutoencoder training on the GPU: the element-wise parts of a
// minibatch step fused around cuBLAS's GEMMs (sparsecode/_autoencoder_xp.py), as
// the CPU's Numba kernels compute them (sparsecode/_kernels/_autoencoder.py:
// relu_forward, relu_backward, adam_update): entries in the parameters' type
// T, column sums and Adam's arithmetic in double. Compiled with
// --fmad=false, so that each operation rounds as on the CPU.
//
// The column sums are per thread: a thread owns one column of a tile of
// ROWS rows (the threads of a warp own consecutive columns, so every row is
// read coalesced), sums it in double and writes it to row `tile` of a
// (tiles x m) array of partial sums, which the caller sums over the tiles
// (no atomics: the order of the additions, and so a fit, is the same run to
// run).

#define ROWS 64

// (column, tile of rows, its first and last row) of the thread; blocks
// cover the columns first, then the tiles of rows
__device__ __forceinline__ bool column_tile(long long n, long long m, long long& j,
                                            long long& tile, long long& r0, long long& r1) {
    long long col_blocks = (m + blockDim.x - 1) / blockDim.x;
    j = (blockIdx.x % col_blocks) * blockDim.x + threadIdx.x;
    tile = blockIdx.x / col_blocks;
    r0 = tile * ROWS;
    r1 = r0 + ROWS < n ? r0 + ROWS : n;
    return j < m;
}

// The ReLU encoder's codes, in place of the pre-activations P = (X - b_dec)
// W_enc^T: F = max(P + b_enc, 0), then times the dropout gates when
// use_gates; the tile's sums of F's columns before the gates in `fired`,
// after them in `mass` (tiles x m each).
template <typename T>
__device__ void relu_forward(T* __restrict__ P, const T* __restrict__ b_enc,
                             const T* __restrict__ gates, long long n, long long m,
                             int use_gates, double* __restrict__ fired,
                             double* __restrict__ mass) {
    long long j, tile, r0, r1;
    if (!column_tile(n, m, j, tile, r0, r1)) return;
    const T b = b_enc[j];
    double f = 0.0, s = 0.0;
    for (long long i = r0; i < r1; i++) {
        T v = (T)(P[i * m + j] + b);
        v = v > (T)0 ? v : (T)0;
        f += (double)v;
        if (use_gates) v = (T)(v * gates[i * m + j]);
        s += (double)v;
        P[i * m + j] = v;
    }
    fired[tile * m + j] = f;
    mass[tile * m + j] = s;
}

// The gradient through the codes' gate, in place of G = R W_dec^T: where
// the code F_ij > 0 (active and, with dropout, kept), g = G_ij (+ add_j when
// use_add) (/ div when use_div) (* scale when use_scale), else 0, each step
// rounded to T (as sparsecode._autoencoder_xp.gate_backward computes it; the
// CPU's kernels order some of these roundings differently, within an ulp a
// step); the tile's column sums of g in `colsum` (tiles x m).
template <typename T>
__device__ void gate_backward(T* __restrict__ G, const T* __restrict__ F,
                              const T* __restrict__ add, long long n, long long m, int use_add,
                              int use_div, double div, int use_scale, double scale,
                              double* __restrict__ colsum) {
    long long j, tile, r0, r1;
    if (!column_tile(n, m, j, tile, r0, r1)) return;
    const T a = use_add ? add[j] : (T)0;
    double s = 0.0;
    for (long long i = r0; i < r1; i++) {
        T g = (T)0;
        if (F[i * m + j] > (T)0) {
            g = G[i * m + j];
            if (use_add) g = (T)(g + a);
            if (use_div) g = (T)(g / (T)div);
            if (use_scale) g = (T)(g * (T)scale);
        }
        G[i * m + j] = g;
        s += (double)g;
    }
    colsum[tile * m + j] = s;
}

// One Adam step in place, an entry a thread, in double as the CPU's
// adam_update (bias1, bias2: 1 - beta^t).
template <typename T>
__device__ void adam_step(T* __restrict__ param, const T* __restrict__ grad, T* __restrict__ m1,
                          T* __restrict__ m2, long long size, double lr, double beta1,
                          double beta2, double eps, double bias1, double bias2) {
    long long s = blockIdx.x * (long long)blockDim.x + threadIdx.x;
    if (s >= size) return;
    double g = grad[s];
    double a = beta1 * (double)m1[s] + (1.0 - beta1) * g;
    double v = beta2 * (double)m2[s] + (1.0 - beta2) * g * g;
    m1[s] = (T)a;
    m2[s] = (T)v;
    param[s] = (T)((double)param[s] - lr * (a / bias1) / (sqrt(v / bias2) + eps));
}

#define INSTANTIATE(SUFFIX, T)                                                              \
    extern "C" __global__ void relu_forward_##SUFFIX(                                      \
        T* P, const T* b_enc, const T* gates, long long n, long long m, int use_gates,     \
        double* fired, double* mass) {                                                     \
        relu_forward<T>(P, b_enc, gates, n, m, use_gates, fired, mass);                    \
    }                                                                                      \
    extern "C" __global__ void gate_backward_##SUFFIX(                                     \
        T* G, const T* F, const T* add, long long n, long long m, int use_add, int use_div, \
        double div, int use_scale, double scale, double* colsum) {                         \
        gate_backward<T>(G, F, add, n, m, use_add, use_div, div, use_scale, scale, colsum); \
    }                                                                                      \
    extern "C" __global__ void adam_step_##SUFFIX(                                         \
        T* param, const T* grad, T* m1, T* m2, long long size, double lr, double beta1,    \
        double beta2, double eps, double bias1, double bias2) {                            \
        adam_step<T>(param, grad, m1, m2, size, lr, beta1, beta2, eps, bias1, bias2);      \
    }

INSTANTIATE(f32, float)
INSTANTIATE(f64, double)
