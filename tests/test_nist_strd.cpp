// NIST StRD univariate summary statistics: mean, standard deviation and lag-1 autocorrelation
// against NIST's certified values (tests/data/strd). Floors from the issue, ceilings from the data's
// README (no double-precision method beats them, since the inputs are rounded when parsed).
#include <catch2/catch.hpp>

#include <streamstats/autocorrelation.hpp>
#include <streamstats/mean.hpp>
#include <streamstats/variance.hpp>
#include <support/strd.hpp>

#include <cmath>
#include <cstdio>
#include <map>
#include <string>

using streamstats_test::load_strd;
using streamstats_test::lre;

namespace {

struct floors {
  double mean;
  double sd;
  double r1;
};

const std::map<std::string, floors>& required() {
  static const std::map<std::string, floors> f = {
      {"PiDigits", {14, 14.5, 12}}, {"Lottery", {14, 15, 12}},    {"Lew", {14, 15, 12}},
      {"Mavro", {14, 12, 12}},      {"Michelso", {14, 12.3, 12}}, {"NumAcc1", {14, 15, 12}},
      {"NumAcc2", {14, 15, 12}},    {"NumAcc3", {14, 9.4, 11}},   {"NumAcc4", {14, 8.2, 10}},
  };
  return f;
}

}  // namespace

TEST_CASE("NIST StRD: mean, standard deviation and lag-1 autocorrelation reach the certified digits",
          "[nist]") {
  std::printf("%-9s %6s | %8s %8s %8s | %8s %8s | %8s %8s\n", "set", "n", "mean", "mean*", "var.mean", "sd",
              "sd*", "r(1)", "r(1)*");
  for (const char* name : streamstats_test::strd_names) {
    const auto set = load_strd(name);
    const auto& want = required().at(name);

    streamstats::mean<double> m;
    streamstats::variance<double> v;
    streamstats::autocorrelation<double> r;
    for (double y : set.y) {
      m.push(y);
      v.push(y);
      r.push(y);
    }
    // The batch (contiguous) paths must reach the same floors.
    streamstats::mean<double> mb;
    streamstats::variance<double> vb;
    mb.push(set.y.begin(), set.y.end());
    vb.push(set.y.data(), set.y.data() + set.y.size());

    const double lre_mean = lre(m.value(), set.mean);
    const double lre_mean_batch = lre(mb.value(), set.mean);
    const double lre_var_mean = lre(v.mean(), set.mean);
    const double lre_sd = lre(v.stddev(), set.sd);
    const double lre_sd_batch = lre(vb.stddev(), set.sd);
    const double lre_r1 = lre(r.value(), set.r1);
    const double lre_r1_var = lre(std::sqrt(r.sample_variance()), set.sd);
    std::printf("%-9s %6zu | %8.2f %8.2f %8.2f | %8.2f %8.2f | %8.2f %8.2f\n", name, set.y.size(), lre_mean,
                lre_mean_batch, lre_var_mean, lre_sd, lre_sd_batch, lre_r1, lre_r1_var);
    std::fflush(stdout);

    INFO(name);
    REQUIRE(m.count() == set.y.size());
    CHECK(lre_mean >= want.mean);
    CHECK(lre_mean_batch >= want.mean);
    CHECK(lre_sd >= want.sd);
    CHECK(lre_sd_batch >= want.sd);
    CHECK(lre_r1 >= want.r1);
    CHECK(lre_r1_var >= want.sd);
  }
  std::printf(
      "(* = batch push(first, last); var.mean = variance<T>::mean(); last column: sd from "
      "autocorrelation's own M2)\n");
}
