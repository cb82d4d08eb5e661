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

// Σ (p[i] − r) over the first n − n % 8 samples, uncompensated. Subtracting a nearby reference r
// (the caller passes a sample of the block) makes the terms small on offset data, so the rounding
// error of the block, ≤ (n/8 + 3)·ε·Σ|p[i] − r|, is relative to the spread rather than to the offset.
template <class T>
[[nodiscard]] constexpr T shifted_lane_sum(const T* p, std::size_t n, T r) noexcept {
  T s[lane_count] = {};
  for (std::size_t i = 0; i + lane_count <= n; i += lane_count) {
    s[0] += p[i] - r;
    s[1] += p[i + 1] - r;
    s[2] += p[i + 2] - r;
    s[3] += p[i + 3] - r;
    s[4] += p[i + 4] - r;
    s[5] += p[i + 5] - r;
    s[6] += p[i + 6] - r;
    s[7] += p[i + 7] - r;
  }
  return ((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7]));
}

// Σ p[i] over the first n − n % 8 samples, uncompensated.
template <class T>
[[nodiscard]] constexpr T lane_sum(const T* p, std::size_t n) noexcept {
  T s[lane_count] = {};
  for (std::size_t i = 0; i + lane_count <= n; i += lane_count) {
    s[0] += p[i];
    s[1] += p[i + 1];
    s[2] += p[i + 2];
    s[3] += p[i + 3];
    s[4] += p[i + 4];
    s[5] += p[i + 5];
    s[6] += p[i + 6];
    s[7] += p[i + 7];
  }
  return ((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7]));
}

template <class T>
struct deviation_sums {
  T sum;     // Σ (p[i] − m)
  T sum_sq;  // Σ (p[i] − m)²
};

// Σ (p[i] − m) and Σ (p[i] − m)² over the first n − n % 8 samples, eight lanes each (the second
// pass of the corrected two-pass variance).
template <class T>
[[nodiscard]] constexpr deviation_sums<T> lane_deviation_sums(const T* p, std::size_t n, T m) noexcept {
  T d[lane_count] = {};
  T q[lane_count] = {};
  for (std::size_t i = 0; i + lane_count <= n; i += lane_count) {
    const T e0 = p[i] - m;
    const T e1 = p[i + 1] - m;
    const T e2 = p[i + 2] - m;
    const T e3 = p[i + 3] - m;
    const T e4 = p[i + 4] - m;
    const T e5 = p[i + 5] - m;
    const T e6 = p[i + 6] - m;
    const T e7 = p[i + 7] - m;
    d[0] += e0;
    d[1] += e1;
    d[2] += e2;
    d[3] += e3;
    d[4] += e4;
    d[5] += e5;
    d[6] += e6;
    d[7] += e7;
    q[0] += e0 * e0;
    q[1] += e1 * e1;
    q[2] += e2 * e2;
    q[3] += e3 * e3;
    q[4] += e4 * e4;
    q[5] += e5 * e5;
    q[6] += e6 * e6;
    q[7] += e7 * e7;
  }
  return {((d[0] + d[1]) + (d[2] + d[3])) + ((d[4] + d[5]) + (d[6] + d[7])),
          ((q[0] + q[1]) + (q[2] + q[3])) + ((q[4] + q[5]) + (q[6] + q[7]))};
}

// Σ e and Σ e² with e = (p[i] − k) − mu over the first n − n % 8 samples: the second pass of a
// corrected two-pass around a shift k (x − k is exact when x and k are within a factor 2, so the
// deviations keep every digit on offset data; used by the moving windows' exact recomputation).
template <class T>
[[nodiscard]] constexpr deviation_sums<T> lane_deviation_sums(const T* p, std::size_t n, T k, T mu) noexcept {
  T d[lane_count] = {};
  T q[lane_count] = {};
  for (std::size_t i = 0; i + lane_count <= n; i += lane_count) {
    const T e0 = (p[i] - k) - mu;
    const T e1 = (p[i + 1] - k) - mu;
    const T e2 = (p[i + 2] - k) - mu;
    const T e3 = (p[i + 3] - k) - mu;
    const T e4 = (p[i + 4] - k) - mu;
    const T e5 = (p[i + 5] - k) - mu;
    const T e6 = (p[i + 6] - k) - mu;
    const T e7 = (p[i + 7] - k) - mu;
    d[0] += e0;
    d[1] += e1;
    d[2] += e2;
    d[3] += e3;
    d[4] += e4;
    d[5] += e5;
    d[6] += e6;
    d[7] += e7;
    q[0] += e0 * e0;
    q[1] += e1 * e1;
    q[2] += e2 * e2;
    q[3] += e3 * e3;
    q[4] += e4 * e4;
    q[5] += e5 * e5;
    q[6] += e6 * e6;
    q[7] += e7 * e7;
  }
  return {((d[0] + d[1]) + (d[2] + d[3])) + ((d[4] + d[5]) + (d[6] + d[7])),
          ((q[0] + q[1]) + (q[2] + q[3])) + ((q[4] + q[5]) + (q[6] + q[7]))};
}

}  // namespace streamstats::detail
