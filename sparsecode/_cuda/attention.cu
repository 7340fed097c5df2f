// Sparse attention on the GPU (SparseAttentionTransformer): one warp per
// query, scores q.k + bias_k over the query's keys, softmax by the online
// (running max) rule, all in double. Q is pre-scaled and the bias holds the
// similarity's per-key term (sparsecode/_attention_model.py, qkv). The value
// dimension is split over the lanes, MAX_PER_LANE entries each.
//
// window_attention: pattern="window", the keys of the query's (dilated,
// optionally causal) window inside its own sequence, computed in place.
// pattern_attention: any pattern, the keys of each query given as a CSR
// row (sparsecode._attention_plan.pattern_csr: longformer, bigbird with
// its global and random keys, window2d, lsh buckets, dense).

#define WARP 32
#define FULL_MASK 0xffffffffu
#define MAX_PER_LANE 32

// the online softmax's state for one query: running max m, sum l, and the
// lane's share of the weighted values
struct Online {
    double m, l;
    double acc[MAX_PER_LANE];
};

__device__ __forceinline__ void online_start(Online& o) {
    o.m = -1.7976931348623157e308;  // below any finite score
    o.l = 0.0;
    for (int r = 0; r < MAX_PER_LANE; r++) o.acc[r] = 0.0;
}

// key j into the query's softmax (every lane of the warp calls it)
template <typename T>
__device__ __forceinline__ void online_key(Online& o, const T* __restrict__ q,
                                           const T* __restrict__ K, const T* __restrict__ V,
                                           const T* __restrict__ bias, long long j,
                                           long long d, long long dv, int lane) {
    const T* k = K + j * d;
    double part = 0.0;
    for (long long c = lane; c < d; c += WARP) part += (double)q[c] * (double)k[c];
    for (int off = WARP / 2; off > 0; off /= 2) part += __shfl_xor_sync(FULL_MASK, part, off);
    double s = part + (double)bias[j];
    double m_new = fmax(o.m, s);
    double shrink = exp(o.m - m_new);  // 0 on the first key
    double w = exp(s - m_new);
    o.l = o.l * shrink + w;
    const T* v = V + j * dv;
    int r = 0;
    for (long long c = lane; c < dv; c += WARP, r++) o.acc[r] = o.acc[r] * shrink + w * (double)v[c];
    o.m = m_new;
}

// the query's output row (0 for a query without keys)
template <typename T>
__device__ __forceinline__ void online_finish(const Online& o, T* __restrict__ out, long long i,
                                              long long dv, int lane) {
    int r = 0;
    for (long long c = lane; c < dv; c += WARP, r++)
        out[i * dv + c] = (T)(o.l > 0.0 ? o.acc[r] / o.l : 0.0);
}

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
    Online o;
    online_start(o);
    for (long long t = -below; t <= above; t++)
        online_key(o, Q + i * d, K, V, bias, i + t * dilation, d, dv, lane);
    online_finish(o, out, i, dv, lane);
}

template <typename T>
__device__ void pattern_attention(const T* __restrict__ Q, const T* __restrict__ K,
                                  const T* __restrict__ V, const T* __restrict__ bias,
                                  const long long* __restrict__ indptr,
                                  const long long* __restrict__ indices, T* __restrict__ out,
                                  long long n, long long d, long long dv) {
    long long i = (blockIdx.x * (long long)blockDim.x + threadIdx.x) / WARP;
    int lane = threadIdx.x % WARP;
    if (i >= n) return;
    Online o;
    online_start(o);
    for (long long p = indptr[i]; p < indptr[i + 1]; p++)
        online_key(o, Q + i * d, K, V, bias, indices[p], d, dv, lane);
    online_finish(o, out, i, dv, lane);
}

#define INSTANTIATE(SUFFIX, T)                                                              \
    extern "C" __global__ void window_attention_##SUFFIX(                                  \
        const T* Q, const T* K, const T* V, const T* bias, const long long* start,         \
        const long long* end, T* out, long long n, long long d, long long dv,              \
        long long half, long long dilation, int causal) {                                  \
        window_attention<T>(Q, K, V, bias, start, end, out, n, d, dv, half, dilation,      \
                            causal);                                                       \
    }                                                                                      \
    extern "C" __global__ void pattern_attention_##SUFFIX(                                 \
        const T* Q, const T* K, const T* V, const T* bias, const long long* indptr,        \
        const long long* indices, T* out, long long n, long long d, long long dv) {        \
        pattern_attention<T>(Q, K, V, bias, indptr, indices, out, n, d, dv);               \
    }

INSTANTIATE(f32, float)
INSTANTIATE(f64, double)
