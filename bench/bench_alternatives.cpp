// streamstats benchmarks — the alternative designs of bench/alternatives.hpp, beside the shipped
// rolling_variance and quantile rows (same groups, impl names alt-...). bench/alternatives.md
// explains what each shows.
// SPDX-License-Identifier: MIT
#include "alternatives.hpp"
#include "bench_common.hpp"

#include <cstddef>

namespace streamstats_bench {

namespace {

template <class A>
double window_variance(const double* p, std::size_t n) {
  A a;
  double sink = 0;
  for (std::size_t i = 0; i < n; ++i) {
    a.push(p[i]);
    sink += a.sample_variance();
  }
  return sink;
}

template <alt::p2_step S>
double median(const double* p, std::size_t n) {
  alt::quantile<double, S> q(0.5);
  for (std::size_t i = 0; i < n; ++i) {
    q.push(p[i]);
  }
  return q.value();
}

}  // namespace

void register_alternatives() {
  using alt::renewal;
  add("rolling_variance64", "push+variance", "alt-twopass-member",
      window_variance<alt::rolling_variance<double, 64, renewal::two_pass_member>>);
  add("rolling_variance64", "push+variance", "alt-twopass-registers",
      window_variance<alt::rolling_variance<double, 64, renewal::two_pass_registers>>);
  add("rolling_variance64", "push+variance", "alt-no-renewal",
      window_variance<alt::rolling_variance<double, 64, renewal::none>>);
  add("quantile(0.5)", "push", "alt-one-branch", median<alt::p2_step::one_branch>);
  add("quantile(0.5)", "push", "alt-branchless", median<alt::p2_step::branchless>);
  add("quantile(0.5)", "push", "alt-no-division", median<alt::p2_step::no_division>);
  add("quantile(0.5)", "push", "alt-no-move", median<alt::p2_step::no_move>);
}

}  // namespace streamstats_bench
