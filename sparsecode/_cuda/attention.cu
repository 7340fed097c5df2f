// Window attention on the GPU (SparseAttentionTransformer, pattern="window"):
// one warp per query, the keys of its (dilated, optionally causal) window
// inside its own sequence, scores q.k + bias_k, softmax by the online
// (running max) rule, all in double. Q is pre-scaled and the bias holds the
// similarity's per-key term (sparsecode/_attention.py, _qkv). The value
// dimension is split over the lanes, MAX_PER_LANE entries each.

#define WARP 32
#define FULL_MASK 0xffffffffu
#define MAX_PER_LANE 32

template <typename T>
__device__ void window_attention(const T* __restrict__ Q, const T* __restrict__ K,
                                 const T* __restrict__ V, const T* __restrict__ bias,
                                 const long long* __restrict__ start,
                                 const long long* __restrict__ end, T* __restrict__ out,
                                 long long n, long long d, long long dv, long long half,
                                 long long dilation, int causal) {
    long long i = (blockIdx.x * (long long)blockDim.x + threadIdx.x) / WARP;
    int lane = threadIdx.x % WARP;
    if (i >= n) return;
    // keys i + t * dilation, t from -below to above, inside [start, end)
    long long below = (i - start[i]) / dilation;
    if (below > half) below = half;
    long long above = causal ? 0 : (end[i] - 1 - i) / dilation;
    if (above > half) above = half;
    double acc[MAX_PER_LANE];
    for (int r = 0; r < MAX_PER_LANE; r++) acc[r] = 0.0;
    double m = -1.7976931348623157e308, l = 0.0;  // below any finite score
    const T* q = Q + i * d;
    for (long long t = -below; t <= above; t++) {
        long long j = i + t * dilation;
        const T* k = K + j * d;
        double part = 0.0;
        for (long long c = lane; c < d; c += WARP) part += (double)q[c] * (double)k[c];
        for (int off = WARP / 2; off > 0; off /= 2)
            part += __shfl_xor_sync(FULL_MASK, part, off);
        double s = part + (double)bias[j];
        double m_new = fmax(m, s);
        double shrink = exp(m - m_new);  // 0 on the first key
        double w = exp(s - m_new);
        l = l * shrink + w;
        const T* v = V + j * dv;
        int r = 0;
        for (long long c = lane; c < dv; c += WARP, r++) acc[r] = acc[r] * shrink + w * (double)v[c];
        m = m_new;
    }
    int r = 0;
    for (long long c = lane; c < dv; c += WARP, r++) out[i * dv + c] = (T)(acc[r] / l);
}

#define INSTANTIATE(SUFFIX, T)                                                              \
    extern "C" __global__ void window_attention_##SUFFIX(                                  \
        const T* Q, const T* K, const T* V, const T* bias, const long long* start,         \
        const long long* end, T* out, long long n, long long d, long long dv,              \
        long long half, long long dilation, int causal) {                                  \
        window_attention<T>(Q, K, V, bias, start, end, out, n, d, dv, half, dilation,      \
                            causal);                                                       \
    }

INSTANTIATE(f32, float)
INSTANTIATE(f64, double)
