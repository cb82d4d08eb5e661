// save_state / load_state for the Eigen layer (streamstats/eigen/state.hpp): mean, variance and ema of
// vectors, covariance and mahalanobis_detector continue bit for bit after a cut; covariance shards
// merge; a state of another dimension is refused.
#include <catch2/catch.hpp>

#include "support/state_harness.hpp"

#include <streamstats/eigen.hpp>
#include <streamstats/eigen/state.hpp>

#include <cmath>
#include <limits>
#include <random>
#include <string>
#include <vector>

namespace ss = streamstats;
using streamstats_test::require_restores_exactly;

namespace {

constexpr std::size_t stream_length = 600;
using V3 = Eigen::Vector3d;

// Correlated noise, a level shift at 300 (re-learn), spikes, and a NaN component now and then.
const std::vector<V3>& stream() {
  static const std::vector<V3> xs = [] {
    std::mt19937_64 rng(11);
    std::normal_distribution<double> noise(0.0, 1.0);
    std::vector<V3> v;
    for (std::size_t i = 0; i < stream_length; ++i) {
      const double a = noise(rng);
      V3 x(10.0 + a, -5.0 + 0.5 * a + noise(rng), 1e3 + 0.1 * noise(rng));
      if (i >= 300) {
        x += V3(200.0, -100.0, 50.0);
      }
      if (i % 83 == 40) {
        x(1) += 30.0;
      }
      if (i % 101 == 7) {
        x(2) = std::numeric_limits<double>::quiet_NaN();
      }
      v.push_back(x);
    }
    return v;
  }();
  return xs;
}

std::vector<std::size_t> cuts() {
  std::vector<std::size_t> c = {0, 1, 2, 5, 29, 30, 31, 299, 300, 301, 310, 320};
  std::mt19937_64 rng(3);
  for (int i = 0; i < 6; ++i) {
    c.push_back(static_cast<std::size_t>(rng() % stream_length));
  }
  return c;
}

template <class A>
void require_vector_restores(const A& proto) {
  require_restores_exactly(
      proto, [](A& a, std::size_t i) { return a.push(stream()[i]); }, stream_length, cuts());
}

}  // namespace

TEST_CASE("Eigen accumulators continue bit for bit after save and load") {
  require_vector_restores(ss::mean<V3>{});
  require_vector_restores(ss::variance<V3>{});
  require_vector_restores(ss::ema<V3>(0.1));
  require_vector_restores(ss::ema<V3>(0.1, ss::ema_convention::pandas_adjust_true));
  require_vector_restores(ss::covariance<double, 3>{});
  require_restores_exactly(
      ss::covariance<float, 2>{},
      [](ss::covariance<float, 2>& c, std::size_t i) {
        return c.push(
            Eigen::Vector2f(static_cast<float>(stream()[i](0)), static_cast<float>(stream()[i](1))));
      },
      stream_length, cuts());
}

TEST_CASE("mahalanobis_detector continues bit for bit mid-episode and mid-relearn") {
  ss::mahalanobis_detector<double, 3> probe;
  std::vector<std::size_t> c = cuts();
  std::size_t relearns = 0;
  bool episode = false;
  for (std::size_t i = 0; i < stream_length; ++i) {
    probe.push(stream()[i]);
    if (probe.in_episode() && !episode) {
      episode = true;
      c.push_back(i + 1);
    }
    if (probe.relearns() > relearns) {
      relearns = probe.relearns();
      c.push_back(i);
      c.push_back(i + 1);
    }
  }
  REQUIRE(episode);
  REQUIRE(relearns > 0);
  require_restores_exactly(
      ss::mahalanobis_detector<double, 3>{},
      [](ss::mahalanobis_detector<double, 3>& d, std::size_t i) { return d.push(stream()[i]); },
      stream_length, c);
  // Options travel with the state, and the threshold distance follows them.
  ss::mahalanobis_options o;
  o.threshold = 3.0;
  o.learning = ss::zscore_learning::skip;
  const ss::mahalanobis_detector<double, 3> d(o);
  ss::mahalanobis_detector<double, 3> target;
  REQUIRE(ss::load_state(ss::save_state(d), target) == ss::state_errc::ok);
  CHECK(target.threshold_distance() == d.threshold_distance());
  CHECK(target.options().learning == ss::zscore_learning::skip);
}

TEST_CASE("covariance shards saved and loaded merge like the in-memory shards") {
  ss::covariance<double, 3> parts[3];
  ss::covariance<double, 3> one;
  for (std::size_t i = 0; i < stream_length; ++i) {
    if (std::isnan(stream()[i](2))) {
      continue;
    }
    parts[i * 3 / stream_length].push(stream()[i]);
    one.push(stream()[i]);
  }
  ss::covariance<double, 3> merged;
  ss::covariance<double, 3> merged_here;
  for (auto& p : parts) {
    merged += ss::load_state<ss::covariance<double, 3>>(ss::save_state(p));
    merged_here += p;
  }
  CHECK(ss::save_state(merged) == ss::save_state(merged_here));
  CHECK(merged.count() == one.count());
  CHECK((merged.sample_covariance() - one.sample_covariance()).cwiseAbs().maxCoeff() <
        1e-10 * one.sample_covariance().cwiseAbs().maxCoeff());
}

TEST_CASE("an Eigen state of another dimension or scalar is refused") {
  const std::string b = ss::save_state(ss::covariance<double, 3>{});
  ss::covariance<double, 2> c2;
  CHECK(ss::load_state(b, c2) == ss::state_errc::type_mismatch);
  ss::covariance<float, 3> c3f;
  CHECK(ss::load_state(b, c3f) == ss::state_errc::type_mismatch);
  ss::mean<Eigen::Vector3d> m3;
  ss::mean<double> m1;
  CHECK(ss::load_state(ss::save_state(m3), m1) == ss::state_errc::type_mismatch);
  ss::mahalanobis_detector<double, 2> d2;
  CHECK(ss::load_state(ss::save_state(ss::mahalanobis_detector<double, 3>{}), d2) ==
        ss::state_errc::type_mismatch);
  // A co-moment matrix that is not symmetric (valid checksum): invalid_field.
  ss::covariance<double, 2> c;
  c.push(Eigen::Vector2d(1, 2));
  c.push(Eigen::Vector2d(3, 5));
  std::string s = ss::save_state(c);
  const std::size_t p = 12 + static_cast<unsigned char>(s[6]);
  // n, shift (2), mean (2), C column-major: C(1,0) at 5·8 + 8.
  s[p + 6 * 8] = static_cast<char>(s[p + 6 * 8] ^ 1);
  const std::uint32_t crc =
      ss::detail::crc32c(reinterpret_cast<const unsigned char*>(s.data()), s.size() - 4);
  for (std::size_t i = 0; i < 4; ++i) {
    s[s.size() - 4 + i] = static_cast<char>((crc >> (8 * i)) & 0xFFU);
  }
  CHECK(ss::load_state(s, c) == ss::state_errc::invalid_field);
}
