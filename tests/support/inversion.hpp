// Random samples by inversion of the CDF on std::mt19937_64's raw output. The engine's output is
// fixed by the standard, but std::*_distribution are implementation-defined (libstdc++ and libc++
// give different numbers for the same seed): tests whose bounds are the README's measured figures
// need the same samples everywhere, so they draw u ∈ (0, 1) from the engine's bits and invert.
#pragma once

#include <cmath>
#include <cstdint>
#include <random>

namespace streamstats_test {

// u ∈ (0, 1): the top 53 bits of one engine output, centred in their cell (never 0, never 1).
inline double uniform_open01(std::mt19937_64& rng) {
  return (static_cast<double>(rng() >> 11) + 0.5) * 0x1.0p-53;
}

// Φ⁻¹(p): Acklam's rational approximation (relative error < 1.2e-9), then one Halley step on
// Φ(x) − p with Φ from std::erfc, which brings it to full double precision.
inline double normal_quantile(double p) {
  constexpr double a[] = {-3.969683028665376e+01, 2.209460984245205e+02,  -2.759285104469687e+02,
                          1.383577518672690e+02,  -3.066479806614716e+01, 2.506628277459239e+00};
  constexpr double b[] = {-5.447609879822406e+01, 1.615858368580409e+02, -1.556989798598866e+02,
                          6.680131188771972e+01, -1.328068155288572e+01};
  constexpr double c[] = {-7.784894002430293e-03, -3.223964580411365e-01, -2.400758277161838e+00,
                          -2.549732539343734e+00, 4.374664141464968e+00,  2.938163982698783e+00};
  constexpr double d[] = {7.784695709041462e-03, 3.224671290700398e-01, 2.445134137142996e+00,
                          3.754408661907416e+00};
  constexpr double p_low = 0.02425;
  double x = 0.0;
  if (p < p_low) {
    const double q = std::sqrt(-2.0 * std::log(p));
    x = (((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) /
        ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1.0);
  } else if (p <= 1.0 - p_low) {
    const double q = p - 0.5;
    const double r = q * q;
    x = (((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5]) * q /
        (((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1.0);
  } else {
    const double q = std::sqrt(-2.0 * std::log1p(-p));
    x = -(((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) /
        ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1.0);
  }
  const double e = 0.5 * std::erfc(-x / std::sqrt(2.0)) - p;
  const double u = e * std::sqrt(2.0 * 3.14159265358979323846) * std::exp(x * x / 2.0);
  return x - u / (1.0 + x * u / 2.0);
}

// N(mean, sd), Exp(rate) and Pareto(shape, x_min = 1) by inversion.
inline double normal_sample(std::mt19937_64& rng, double mean, double sd) {
  return mean + sd * normal_quantile(uniform_open01(rng));
}
inline double exponential_sample(std::mt19937_64& rng, double rate) {
  return -std::log(uniform_open01(rng)) / rate;
}
inline double pareto_sample(std::mt19937_64& rng, double shape) {
  return std::pow(uniform_open01(rng), -1.0 / shape);
}

}  // namespace streamstats_test
