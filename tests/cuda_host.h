// Runs the CUDA kernels of sparsecode/_cuda on the CPU, from their own
// sources, for tests/cuda_host.py (which compiles each source with g++ after
// this header and generates a launcher per kernel).
//
// A launch runs every block, and in each block every warp, one after the
// other (the kernels share no memory between warps: no __shared__, no
// __syncthreads, no atomics). So what this cannot see is a race between
// warps or blocks: two warps writing one address, or reading what another
// writes, run here in one order only. The 32 lanes of a warp are
// fibers on one OS thread (started by ucontext, then switched by _setjmp /
// _longjmp, which save no signal mask: no system call a switch): each lane
// runs until it reaches a
// warp operation (__shfl_sync, __shfl_xor_sync, __syncwarp), where it
// offers its value and yields; once every lane still running has arrived,
// the scheduler hands each its partner's value and resumes them. A lane
// that leaves while others wait at a warp operation, lanes at different
// operations or masks, or a mask that leaves out a running lane are the
// undefined behaviour CUDA does not diagnose: here they fail the launch
// with a message. Between two warp operations the lanes run in lane order,
// or in reverse (`reverse`), so a result that depends on that order (a
// race between lanes the kernel forgot to separate by __syncwarp) shows as
// two different outputs.
//
// No fused multiply-adds are contracted (g++ -ffp-contract=off), as NVRTC
// with --fmad=false compiles omp.cu; elsewhere the GPU may fuse and round
// differently by an ulp.

#pragma once
#include <setjmp.h>
#include <ucontext.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <functional>
#include <string>

#define __device__
#define __forceinline__ inline
#ifndef EMU_KERNEL
#define EMU_KERNEL
#endif
#define __global__ EMU_KERNEL

namespace emu {

struct Dim3 {
    unsigned x = 0, y = 0, z = 0;
};

enum Op { NONE = 0, SHFL_XOR, SHFL_IDX, SYNC };

const char* const OP_NAMES[] = {"none", "__shfl_xor_sync", "__shfl_sync", "__syncwarp"};

struct Lane {
    ucontext_t ctx;
    jmp_buf jump;
    bool started = false;
    char* stack = nullptr;
    Dim3 thread_idx;
    bool finished = false;
    Op op = NONE;
    unsigned mask = 0;
    int arg = 0;
    int size = 0;
    uint64_t value = 0;
    uint64_t result = 0;
};

constexpr size_t STACK = 256 * 1024;

// the lanes' stacks, allocated once for the process (not zeroed: a fresh
// 8 MiB at each launch cost more in page faults than the kernels)
inline char* lane_stack(int l) {
    static char* stacks[32] = {};
    if (!stacks[l]) stacks[l] = new char[STACK];
    return stacks[l];
}

struct Launch {
    Dim3 block_idx, block_dim, grid_dim;
    Lane lanes[32];
    int n_lanes = 0;
    jmp_buf scheduler;
    Lane* cur = nullptr;
    const std::function<void()>* body = nullptr;
};

inline Launch* L = nullptr;
inline std::string last_error;

inline void lane_entry() {
    (*L->body)();
    L->cur->finished = true;
    _longjmp(L->scheduler, 1);  // never returns: the context it came from is gone
}

// run `lane` until it reaches a warp operation or leaves the kernel
inline void resume(Lane& lane) {
    L->cur = &lane;
    if (_setjmp(L->scheduler) == 0) {
        if (!lane.started) {
            lane.started = true;
            ucontext_t here;
            swapcontext(&here, &lane.ctx);
        } else {
            _longjmp(lane.jump, 1);
        }
    }
}

template <typename T>
T exchange(Op op, unsigned mask, T v, int arg) {
    static_assert(sizeof(T) <= 8, "warp operations on up to 64-bit values");
    Lane* me = L->cur;
    me->op = op;
    me->mask = mask;
    me->arg = arg;
    me->size = (int)sizeof(T);
    me->value = 0;
    std::memcpy(&me->value, &v, sizeof(T));
    if (_setjmp(me->jump) == 0) _longjmp(L->scheduler, 1);
    T out;
    std::memcpy(&out, &me->result, sizeof(T));
    return out;
}

// one warp of the current block: 0 when it ran through, else the message in last_error
inline int run_warp(unsigned first_thread, int n_lanes, bool reverse) {
    L->n_lanes = n_lanes;
    for (int l = 0; l < n_lanes; l++) {
        Lane& lane = L->lanes[l];
        lane.finished = false;
        lane.started = false;
        lane.op = NONE;
        lane.thread_idx = Dim3{first_thread + l, 0, 0};
        lane.stack = lane_stack(l);
        getcontext(&lane.ctx);
        lane.ctx.uc_stack.ss_sp = lane.stack;
        lane.ctx.uc_stack.ss_size = STACK;
        lane.ctx.uc_link = nullptr;
        makecontext(&lane.ctx, lane_entry, 0);
    }
    const unsigned present = n_lanes == 32 ? 0xffffffffu : ((1u << n_lanes) - 1u);
    for (;;) {
        for (int step = 0; step < n_lanes; step++) {
            Lane& lane = L->lanes[reverse ? n_lanes - 1 - step : step];
            if (!lane.finished) resume(lane);
        }
        int waiting = 0, first = -1;
        unsigned running = 0;
        for (int l = 0; l < n_lanes; l++) {
            if (!L->lanes[l].finished) {
                waiting++;
                running |= 1u << l;
                if (first < 0) first = l;
            }
        }
        if (waiting == 0) return 0;
        const Lane& a = L->lanes[first];
        char msg[256];
        if (running != present) {
            std::snprintf(msg, sizeof msg,
                          "thread %u: lanes 0x%08x left the kernel while lanes 0x%08x wait at %s",
                          a.thread_idx.x, present & ~running, running, OP_NAMES[a.op]);
            last_error = msg;
            return 1;
        }
        for (int l = 0; l < n_lanes; l++) {
            const Lane& b = L->lanes[l];
            if (b.op != a.op || b.mask != a.mask || b.size != a.size) {
                std::snprintf(msg, sizeof msg,
                              "thread %u: lane %d at %s (mask 0x%08x, %d bytes), lane %d at %s "
                              "(mask 0x%08x, %d bytes)",
                              a.thread_idx.x, first, OP_NAMES[a.op], a.mask, a.size, l,
                              OP_NAMES[b.op], b.mask, b.size);
                last_error = msg;
                return 1;
            }
        }
        if (a.mask != present) {
            std::snprintf(msg, sizeof msg,
                          "thread %u: %s with mask 0x%08x, but the warp's lanes are 0x%08x",
                          a.thread_idx.x, OP_NAMES[a.op], a.mask, present);
            last_error = msg;
            return 1;
        }
        for (int l = 0; l < n_lanes; l++) {
            const Lane& b = L->lanes[l];
            int src = b.op == SHFL_XOR ? l ^ b.arg : b.arg;
            if (b.op != SYNC && (b.arg < 0 || src < 0 || src >= n_lanes)) {
                std::snprintf(msg, sizeof msg,
                              "thread %u: lane %d's %s reads lane %d, outside the warp "
                              "(or a width other than 32)",
                              a.thread_idx.x, l, OP_NAMES[b.op], src);
                last_error = msg;
                return 1;
            }
        }
        for (int l = 0; l < n_lanes; l++) {
            Lane& b = L->lanes[l];
            int src = b.op == SHFL_XOR ? l ^ b.arg : b.op == SHFL_IDX ? b.arg : l;
            b.result = L->lanes[src].value;
            b.op = NONE;
        }
    }
}

inline int launch(unsigned grid, unsigned block, int reverse, const std::function<void()>& body) {
    Launch state;
    L = &state;
    state.body = &body;
    state.grid_dim = Dim3{grid, 1, 1};
    state.block_dim = Dim3{block, 1, 1};
    int status = 0;
    for (unsigned b = 0; b < grid && status == 0; b++) {
        state.block_idx = Dim3{b, 0, 0};
        for (unsigned first = 0; first < block && status == 0; first += 32) {
            int n = block - first < 32 ? (int)(block - first) : 32;
            status = run_warp(first, n, reverse != 0);
        }
    }
    L = nullptr;
    return status;
}

}  // namespace emu

// (a width other than 32 is not modelled: it fails the launch)
template <typename T>
T __shfl_xor_sync(unsigned mask, T v, int lane_mask, int width = 32) {
    return emu::exchange(emu::SHFL_XOR, mask, v, width == 32 ? lane_mask : -1);
}

template <typename T>
T __shfl_sync(unsigned mask, T v, int src_lane, int width = 32) {
    return emu::exchange(emu::SHFL_IDX, mask, v, width == 32 ? src_lane : -1);
}

inline void __syncwarp(unsigned mask = 0xffffffffu) { emu::exchange<int>(emu::SYNC, mask, 0, 0); }

extern "C" const char* emu_last_error() { return emu::last_error.c_str(); }

#define threadIdx (emu::L->cur->thread_idx)
#define blockIdx (emu::L->block_idx)
#define blockDim (emu::L->block_dim)
#define gridDim (emu::L->grid_dim)
