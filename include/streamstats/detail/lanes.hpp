// streamstats — eight-lane block kernels behind the batch push(first, last) fast paths
// (not part of the public API).
// SPDX-License-Identifier: MIT
#pragma once

#include <cstddef>

namespace streamstats::detail {

// Why eight named lanes: a single running sum is one loop-carried FP add per sample (latency-bound,
// 2–4 cycles each), and GCC at -O2 without -ffast-math may not reassociate it. Eight independent
// partial sums break the dependency. The lanes are written out (constant indices, no inner `for k`
// loop): an inner loop over a lane array is vectorised by GCC -O2 but its array stays in memory,
// paying a store-to-load forwarding per iteration (measured 3× slower); unrolled, the array becomes
// four SSE2 registers, so plain -O2 x86-64 code adds two samples per instruction with no -march flag.
// The reduction is pairwise, fixed, and independent of the compiler, so results are reproducible.
inline constexpr std::size_t lane_count = 8;

// Σ term(p[i]) over the first n − n % 8 samples in eight lanes, uncompensated, folded pairwise.
// One reduction per loop on purpose: GCC -O2's SLP vectoriser packs such a loop into SSE2 registers
// but leaves a loop with two reductions per lane (Σe and Σe² together) scalar and spilled to the
// stack — two single-reduction passes over an L1-resident block are faster (0.68 → 0.39 ns/sample).
template <class T, class Term>
[[nodiscard]] constexpr T lane_reduce(const T* p, std::size_t n, Term term) noexcept {
  T s[lane_count] = {};
  for (std::size_t i = 0; i + lane_count <= n; i += lane_count) {
    s[0] += term(p[i]);
    s[1] += term(p[i + 1]);
    s[2] += term(p[i + 2]);
    s[3] += term(p[i + 3]);
    s[4] += term(p[i + 4]);
    s[5] += term(p[i + 5]);
    s[6] += term(p[i + 6]);
    s[7] += term(p[i + 7]);
  }
  return ((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7]));
}

// Σ p[i] over the first n − n % 8 samples, uncompensated.
template <class T>
[[nodiscard]] constexpr T lane_sum(const T* p, std::size_t n) noexcept {
  return lane_reduce(p, n, [](T x) { return x; });
}

// Σ (p[i] − r) over the first n − n % 8 samples, uncompensated. Subtracting a nearby reference r
// (the caller passes a sample of the block) makes the terms small on offset data, so the rounding
// error of the block, ≤ (n/8 + 3)·ε·Σ|p[i] − r|, is relative to the spread rather than to the offset.
template <class T>
[[nodiscard]] constexpr T shifted_lane_sum(const T* p, std::size_t n, T r) noexcept {
  return lane_reduce(p, n, [r](T x) { return x - r; });
}

template <class T>
struct deviation_sums {
  T sum;     // Σ e
  T sum_sq;  // Σ e²
};

// Σ e and Σ e² with e = p[i] − m over the first n − n % 8 samples (the second pass of the corrected
// two-pass variance).
template <class T>
[[nodiscard]] constexpr deviation_sums<T> lane_deviation_sums(const T* p, std::size_t n, T m) noexcept {
  return {lane_reduce(p, n, [m](T x) { return x - m; }), lane_reduce(p, n, [m](T x) {
            const T e = x - m;
            return e * e;
          })};
}

// The same with e = (p[i] − k) − mu: the second pass of a corrected two-pass around a shift k
// (x − k is exact when x and k are within a factor 2, so the deviations keep every digit on offset
// data; for the moving windows' exact recomputation).
template <class T>
[[nodiscard]] constexpr deviation_sums<T> lane_deviation_sums(const T* p, std::size_t n, T k, T mu) noexcept {
  return {lane_reduce(p, n, [k, mu](T x) { return (x - k) - mu; }), lane_reduce(p, n, [k, mu](T x) {
            const T e = (x - k) - mu;
            return e * e;
          })};
}

}  // namespace streamstats::detail
