// streamstats — logarithms of Gaussian and chi-square tail probabilities, exact far out, and the
// anomaly score built on them (not part of the public API except anomaly_score()).
// SPDX-License-Identifier: MIT
#pragma once

#include <streamstats/detail/common.hpp>

#include <cmath>
#include <limits>
#include <type_traits>

namespace streamstats {

namespace detail {

// float is computed in double: erfcf underflows near x ≈ 10, which is only |z| ≈ 14.
template <class T>
using tail_calc_t = std::conditional_t<std::is_same_v<T, float>, double, T>;

// ln erfc(x) for every x, without underflow. Below x = 25 std::erfc is accurate and far from
// underflow (erfc(25) ≈ 8e-274); above it, the asymptotic expansion (Abramowitz & Stegun 7.1.23)
//   erfc(x) = exp(−x²) / (x·√π) · (1 − 1/(2x²) + 3/(2x²)² − 15/(2x²)³ + 105/(2x²)⁴ − 945/(2x²)⁵ …)
// whose first omitted term is below 3e-15 relative at x = 25, so it is taken in logs:
//   ln erfc(x) = −x² − ln x − ln √π + ln(series).
// −Inf for x = +Inf (or x² overflowing), ln 2 for x = −Inf, NaN for NaN.
template <class T>
[[nodiscard]] inline T log_erfc(T x) noexcept {
  if (!(x < T(25))) {
    if (x != x) {
      return x;
    }
    const T u = T(1) / (T(2) * x * x);
    const T series = T(1) - u * (T(1) - T(3) * u * (T(1) - T(5) * u * (T(1) - T(7) * u * (T(1) - T(9) * u))));
    // ln √π = 0.5723649429247001
    return -(x * x) - std::log(x) - T(0.57236494292470008707171367567653L) + std::log(series);
  }
  return std::log(std::erfc(x));
}

// ln(e^a + e^b) without overflow; −Inf when both are −Inf.
template <class T>
[[nodiscard]] inline T log_add_exp(T a, T b) noexcept {
  if (a < b) {
    const T t = a;
    a = b;
    b = t;
  }
  if (a == -infinity<T>()) {
    return a;
  }
  return a + std::log1p(std::exp(b - a));
}

// ln P(Z > z) for a standard normal Z: ln(erfc(z/√2) / 2).
template <class T>
[[nodiscard]] inline T log_normal_upper_tail(T z) noexcept {
  using C = tail_calc_t<T>;
  const C v = static_cast<C>(z) * C(0.70710678118654752440084436210485L);
  if (v < C(0)) {
    // P(Z > z) = 1 − erfc(−v)/2 is close to 1: log1p keeps the digits that ln(erfc(v)) − ln 2 loses.
    return static_cast<T>(std::log1p(-std::erfc(-v) / C(2)));
  }
  return static_cast<T>(log_erfc(v) - C(0.69314718055994530941723212145818L));
}

// ln Γ(k/2 + 1) for an integer k ≥ 0, exactly as a sum of logs (no lgamma: it is not thread-safe
// in glibc, which writes the global signgam): k even, ln (k/2)!; k odd, ln √π + Σ_{j≤(k−1)/2} ln(j + 1/2).
template <class C>
[[nodiscard]] inline C log_gamma_half_plus_one(int k) noexcept {
  C sum = C(0);
  if (k % 2 == 0) {
    for (int j = 2; j <= k / 2; ++j) {
      sum += std::log(static_cast<C>(j));
    }
    return sum;
  }
  sum = C(0.57236494292470008707171367567653L);  // ln √π = ln Γ(1/2)
  for (int j = 0; j <= (k - 1) / 2; ++j) {
    sum += std::log(static_cast<C>(j) + C(0.5));
  }
  return sum;
}

// ln(1 − P(a, h)) with P the regularised lower incomplete gamma, for h < a + 1 where P is small or
// moderate: P = h^a e^{−h} / Γ(a + 1) · Σ_{n≥0} h^n / ((a+1)(a+2)…(a+n)) (Abramowitz & Stegun
// 6.5.29; the series of Numerical Recipes' gser), then log1p(−P) — no cancellation when Q ≈ 1.
template <class C>
[[nodiscard]] inline C log_upper_gamma_by_series(int k, C h) noexcept {
  const C a = static_cast<C>(k) / C(2);
  C term = C(1);
  C sum = C(1);
  for (int n = 1; n < 1000; ++n) {
    term *= h / (a + static_cast<C>(n));
    sum += term;
    if (term < sum * std::numeric_limits<C>::epsilon()) {
      break;
    }
  }
  const C log_p = a * std::log(h) - h - log_gamma_half_plus_one<C>(k) + std::log(sum);
  return std::log1p(-std::exp(log_p));
}

// ln Q(k/2, x/2) = ln P(χ²ₖ > x) for an integer k ≥ 1 and x ≥ 0, in closed form (Abramowitz &
// Stegun 26.4.4 and 26.4.5, the regularised upper incomplete gamma at integer and half-integer
// order), every term in logs so that nothing underflows:
//   k = 2m:     Q = e^{−h} Σ_{i<m} h^i / i!                              (h = x/2)
//   k = 2m + 1: Q = erfc(√h) + e^{−h} Σ_{i<m} h^{i+1/2} / Γ(i + 3/2)
// k = 1 is the two-sided Gaussian tail erfc(|z|/√2) with x = z²; k = 2 is e^{−x/2}.
// Below h = k/2 + 1, where Q is close to 1 and ln Q ≈ −P would cancel, ln Q = log1p(−P) with P from
// its power series instead (the switch point of Numerical Recipes' gammq).
// 0 for x ≤ 0, −Inf for x = +Inf, NaN for NaN.
template <class T>
[[nodiscard]] inline T log_chi2_upper_tail(int k, T x) noexcept {
  using C = tail_calc_t<T>;
  const C xc = static_cast<C>(x);
  if (xc != xc) {
    return x;
  }
  if (!(xc > C(0))) {
    return T(0);
  }
  if (xc == infinity<C>()) {
    return -infinity<T>();
  }
  const C h = xc / C(2);
  if (k == 1) {
    // The two-sided Gaussian tail, every z-score's case: Q = erfc(v), v = √h = |z|/√2. Where Q is
    // close to 1 (v < 0.5, Q > 0.48) ln Q = log1p(−erf v), erf having no cancellation there; above,
    // ln erfc(v) directly. Two libm calls instead of the series (a division per term) and four.
    const C v = std::sqrt(h);
    return static_cast<T>(v < C(0.5) ? std::log1p(-std::erf(v)) : log_erfc(v));
  }
  if (h < static_cast<C>(k) / C(2) + C(1)) {
    return static_cast<T>(log_upper_gamma_by_series(k, h));  // Q close to 1: through P = 1 − Q
  }
  const C ln_h = std::log(h);
  const int m = k / 2;
  C sum = -infinity<C>();  // ln Σ, built term by term
  if (k % 2 == 0) {
    C ln_factorial = C(0);  // ln i!
    for (int i = 0; i < m; ++i) {
      if (i > 0) {
        ln_factorial += std::log(static_cast<C>(i));
      }
      sum = log_add_exp(sum, static_cast<C>(i) * ln_h - ln_factorial);
    }
    return static_cast<T>(-h + sum);
  }
  // ln Γ(i + 3/2) = ln Γ(1/2) + Σ_{j=0}^{i} ln(j + 1/2), ln Γ(1/2) = ln √π.
  C ln_gamma = C(0.57236494292470008707171367567653L);
  for (int i = 0; i < m; ++i) {
    ln_gamma += std::log(static_cast<C>(i) + C(0.5));
    sum = log_add_exp(sum, (static_cast<C>(i) + C(0.5)) * ln_h - ln_gamma);
  }
  return static_cast<T>(log_add_exp(log_erfc(std::sqrt(h)), -h + sum));
}

}  // namespace detail

// The anomaly score of a tail probability p, given as ln p:
//   q = −log10 p   (the "number of nines" of the surprise),   score = q / (1 + q).
// Strictly increasing in q, 0 for p = 1, and < 1 for every finite q: unlike 1 − p, which rounds to
// exactly 1.0 in double once p < 1.1e-16 (a Gaussian |z| ≈ 8.3), it still separates |z| = 9, 40 and
// 1e3 (two-sided scores 0.94910, 0.997144, 0.9999954). Two-sided |z| = 3, 4, 5, 6 score 0.7198,
// 0.8076, 0.8619, 0.8970. The map is invertible: p = 10^(−score / (1 − score)), so
// score 0.5 ↔ p = 0.1, 0.75 ↔ p = 1e-3, 0.8 ↔ p = 1e-4, 0.9 ↔ p = 1e-9, 0.99 ↔ p = 1e-99.
// It reaches 1.0 only when q exceeds about 1e16 (Gaussian |z| ≈ 2.8e8) or p = 0 (z = ±Inf).
// 0 for NaN.
template <class T>
[[nodiscard]] inline T anomaly_score(T log_p) noexcept {
  if (!(log_p < T(0))) {
    return T(0);  // p = 1 (or NaN): nothing surprising
  }
  if (log_p == -detail::infinity<T>()) {
    return T(1);
  }
  const T q = -log_p / T(2.30258509299404568401799145468436L);  // ln 10
  return q / (T(1) + q);
}

// p = 10^(−score / (1 − score)): the tail probability a score stands for (the inverse of the map above).
template <class T>
[[nodiscard]] inline T score_to_p_value(T score) noexcept {
  if (!(score < T(1))) {
    return score == T(1) ? T(0) : detail::quiet_nan<T>();
  }
  return std::pow(T(10), -score / (T(1) - score));
}

}  // namespace streamstats
