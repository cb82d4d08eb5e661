// streamstats benchmarks — the designs measured against the shipped ones for issue 16 ("Performance
// left open last round"): bench/results.md, section "rolling_variance and P²: measured alternatives".
// Not library code: reduced copies (full window N, no run-time window, no state access) whose push
// paths are those of the designs they stand for.
// SPDX-License-Identifier: MIT
#pragma once

#include <streamstats/detail/common.hpp>
#include <streamstats/detail/lanes.hpp>
#include <streamstats/detail/nonfinite.hpp>

#include <array>
#include <cstddef>

namespace streamstats_bench::alt {

namespace sd = streamstats::detail;

// How rolling_variance renews its window every N pushes.
enum class renewal {
  two_pass_member,     // the previous release: corrected two-pass over the ring in a member function
  two_pass_registers,  // the same two-pass, static and taking a copy of the ring (state in registers)
  none,                // no renewal and no cancellation check: inaccurate (drifts), the floor
};

#if defined(__GNUC__) || defined(__clang__)
#define STREAMSTATS_BENCH_NOINLINE __attribute__((noinline))
#define STREAMSTATS_BENCH_INLINE __attribute__((always_inline))
#else
#define STREAMSTATS_BENCH_NOINLINE
#define STREAMSTATS_BENCH_INLINE
#endif

// The previous rolling_variance (shifted windowed Welford, corrected two-pass every N pushes and on
// cancellation), with the renewal chosen by R.
template <class T, std::size_t N, renewal R>
class rolling_variance {
 public:
  STREAMSTATS_BENCH_INLINE void push(const T& x) noexcept {
    const bool x_finite = sd::is_finite(x);
    if (size_ == N) {
      const T old = ring_[head_];
      const bool old_finite = sd::is_finite(old);
      if (old_finite && x_finite && m_ > 0) {
        replace(old, x);
      } else {
        if (old_finite) {
          remove(old);
        } else {
          nonfinite_.leave(old);
        }
        if (x_finite) {
          add(x);
        } else {
          nonfinite_.enter(x);
        }
      }
    } else {
      ++size_;
      if (x_finite) {
        add(x);
      } else {
        nonfinite_.enter(x);
      }
    }
    ring_[head_] = x;
    head_ = head_ + 1 == N ? 0 : head_ + 1;
    ++n_;
    if constexpr (R != renewal::none) {
      if (++since_recompute_ == N || churn_ > T(256) * m2_) {
        recompute();
      }
    }
  }

  [[nodiscard]] T sample_variance() const noexcept {
    if (m_ == N) {
      return m2_ * inv_w_minus_1_;
    }
    return nonfinite_.any() ? sd::quiet_nan<T>()
                            : (m_ < 2 ? sd::quiet_nan<T>() : m2_ / static_cast<T>(m_ - 1));
  }

 private:
  struct moments2 {
    T mean;
    T m2;
  };

  STREAMSTATS_BENCH_INLINE void add(T x) noexcept {
    if (m_ == 0) {
      shift_ = x;
      mean_ = T(0);
      m2_ = T(0);
    }
    const T y = x - shift_;
    ++m_;
    inv_m_ = T(1) / static_cast<T>(m_);
    const T d = y - mean_;
    mean_ += d * inv_m_;
    m2_ += d * (y - mean_);
  }

  STREAMSTATS_BENCH_INLINE void remove(T x) noexcept {
    if (m_ <= 1) {
      m_ = 0;
      mean_ = T(0);
      m2_ = T(0);
      return;
    }
    const T y = x - shift_;
    const T old_mean = mean_;
    --m_;
    inv_m_ = T(1) / static_cast<T>(m_);
    mean_ = old_mean - (y - old_mean) * inv_m_;
    const T term = (y - mean_) * (y - old_mean);
    m2_ -= term;
    churn_ += sd::abs(term);
    if (m2_ < T(0)) {
      m2_ = T(0);
    }
  }

  STREAMSTATS_BENCH_INLINE void replace(T x_old, T x_new) noexcept {
    const T y_old = x_old - shift_;
    const T y_new = x_new - shift_;
    const T old_mean = mean_;
    const T d = y_new - y_old;
    mean_ = old_mean + d * inv_m_;
    const T term = d * ((y_new - mean_) + (y_old - old_mean));
    m2_ += term;
    churn_ += sd::abs(term);
    if (m2_ < T(0)) {
      m2_ = T(0);
    }
  }

  // Finite windows only (the benchmark's data): the previous release's lane kernels.
  static moments2 two_pass(const T* ring, std::size_t m, T k) noexcept {
    const std::size_t body = m - m % sd::lane_count;
    T s = sd::shifted_lane_sum(ring, body, k);
    for (std::size_t i = body; i < m; ++i) {
      s += ring[i] - k;
    }
    const T mu = s / static_cast<T>(m);
    const auto dev = sd::lane_deviation_sums(ring, body, k, mu);
    T sdv = dev.sum;
    T sq = dev.sum_sq;
    for (std::size_t i = body; i < m; ++i) {
      const T e = (ring[i] - k) - mu;
      sdv += e;
      sq += e * e;
    }
    const T m2 = sq - sdv * sdv / static_cast<T>(m);
    return {mu + sdv / static_cast<T>(m), m2 < T(0) ? T(0) : m2};
  }
  STREAMSTATS_BENCH_NOINLINE static moments2 two_pass_copy(const std::array<T, N> ring, std::size_t m,
                                                           T k) noexcept {
    return two_pass(ring.data(), m, k);
  }
  STREAMSTATS_BENCH_NOINLINE void recompute_member() noexcept {
    const T k = shift_ + mean_;
    const moments2 r = two_pass(ring_.data(), m_, k);
    shift_ = k;
    mean_ = r.mean;
    m2_ = r.m2;
  }

  STREAMSTATS_BENCH_INLINE void recompute() noexcept {
    since_recompute_ = 0;
    churn_ = T(0);
    if (m_ == 0) {
      return;
    }
    if constexpr (R == renewal::two_pass_member) {
      recompute_member();
    } else {
      const T k = shift_ + mean_;
      const moments2 r = two_pass_copy(ring_, m_, k);
      shift_ = k;
      mean_ = r.mean;
      m2_ = r.m2;
    }
  }

  std::size_t head_ = 0;
  T inv_w_minus_1_ = T(1) / static_cast<T>(N - 1);
  std::size_t size_ = 0;
  std::size_t n_ = 0;
  std::size_t m_ = 0;
  T inv_m_{};
  std::size_t since_recompute_ = 0;
  sd::nonfinite_counts<T> nonfinite_{};
  T shift_{};
  T mean_{};
  T m2_{};
  T churn_{};
  std::array<T, N> ring_{};
};

// How a P² marker moves (step 3 of Jain & Chlamtac), for quantile below.
enum class p2_step {
  one_branch,   // one branch per marker instead of four, state in registers, branch-free cell
                // flags: the same estimates bit for bit
  branchless,   // every marker's parabola computed on every push, the move selected without a
                // branch: the same estimates bit for bit
  no_division,  // NOT P²: a quarter step towards the neighbour instead of the parabola (no
                // division): the bound for any cheaper interpolation formula
  no_move,      // NOT P²: the markers never move (steps 1–2 only): the bookkeeping's floor
};

// streamstats::quantile's push (P², five markers) with step 3 chosen by S.
template <class T, p2_step S>
class quantile {
  using position = double;

 public:
  explicit quantile(T p) noexcept : p_(p) {
    pos_ = {0, 1, 2, 3, 4};
    desired_ = {0, 2 * p, 4 * p, 2 + 2 * p, 4};
    increment_ = {0, p / 2, p, (1 + p) / 2, 1};
  }

  STREAMSTATS_BENCH_INLINE void push(const T& x) noexcept {
    ++n_;
    if (x != x) {
      nan_ = true;
      return;
    }
    if (n_ <= 5) {
      std::array<T, 5> q = q_;
      std::size_t i = n_ - 1;
      for (; i > 0 && q[i - 1] > x; --i) {
        q[i] = q[i - 1];
      }
      q[i] = x;
      q_ = q;
      return;
    }
    const auto below1 = static_cast<position>(x < q_[1]);
    const auto below2 = static_cast<position>(x < q_[2]);
    const auto below3 = static_cast<position>(x < q_[3]);
    q_[0] = x < q_[0] ? x : q_[0];
    q_[4] = x >= q_[4] ? x : q_[4];
    pos_[1] += below1;
    pos_[2] += below2;
    pos_[3] += below3;
    pos_[4] += 1;
    desired_[1] += increment_[1];
    desired_[2] += increment_[2];
    desired_[3] += increment_[3];
    desired_[4] += increment_[4];
    if constexpr (S != p2_step::no_move) {
      adjust(1);
      adjust(2);
      adjust(3);
    }
  }

  [[nodiscard]] T value() const noexcept { return nan_ ? sd::quiet_nan<T>() : q_[2]; }

 private:
  STREAMSTATS_BENCH_INLINE void adjust(std::size_t i) noexcept {
    const position d = desired_[i] - pos_[i];
    const bool up = (d >= 1) & (pos_[i + 1] - pos_[i] > 1);
    const bool down = (d <= -1) & (pos_[i - 1] - pos_[i] < -1);
    const int s = static_cast<int>(up) - static_cast<int>(down);
    if constexpr (S == p2_step::branchless) {
      const int sign = s == 0 ? 1 : s;
      const T c = parabolic(i, sign);
      const T l = linear(i, sign);
      const T moved = (q_[i - 1] < c && c < q_[i + 1]) ? c : l;
      q_[i] = s != 0 ? moved : q_[i];
      pos_[i] += static_cast<position>(s);
    } else {
      if (s != 0) {
        T c;
        if constexpr (S == p2_step::no_division) {
          c = q_[i] + static_cast<T>(s) * T(0.25) * (s > 0 ? q_[i + 1] - q_[i] : q_[i] - q_[i - 1]);
        } else {
          c = parabolic(i, s);
        }
        q_[i] = (q_[i - 1] < c && c < q_[i + 1]) ? c : linear(i, s);
        pos_[i] += static_cast<position>(s);
      }
    }
  }
  [[nodiscard]] T parabolic(std::size_t i, int s) const noexcept {
    const auto ds = static_cast<position>(s);
    const position left = pos_[i] - pos_[i - 1];
    const position right = pos_[i + 1] - pos_[i];
    const position span = pos_[i + 1] - pos_[i - 1];
    const position up = static_cast<position>(q_[i + 1] - q_[i]) / right;
    const position down = static_cast<position>(q_[i] - q_[i - 1]) / left;
    return q_[i] + static_cast<T>(ds / span * ((left + ds) * up + (right - ds) * down));
  }
  [[nodiscard]] T linear(std::size_t i, int s) const noexcept {
    const T qj = s > 0 ? q_[i + 1] : q_[i - 1];
    const position pj = s > 0 ? pos_[i + 1] : pos_[i - 1];
    return q_[i] +
           static_cast<T>(static_cast<position>(s) * static_cast<position>(qj - q_[i]) / (pj - pos_[i]));
  }

  T p_;
  std::size_t n_ = 0;
  bool nan_ = false;
  std::array<T, 5> q_{};
  std::array<position, 5> pos_{};
  std::array<position, 5> desired_{};
  std::array<position, 5> increment_{};
};

}  // namespace streamstats_bench::alt
