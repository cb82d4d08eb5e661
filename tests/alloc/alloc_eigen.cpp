// Pushing 10⁵ fixed-size Eigen vectors through every Eigen-layer accumulator allocates nothing
// (fixed-size Eigen storage lives inside the object; LDLT of a fixed-size matrix is on the stack).
#include <catch2/catch.hpp>

#include "counting_new.hpp"

#include <streamstats/eigen.hpp>

#include <cstddef>

using streamstats_test::allocations_during;

namespace {
constexpr std::size_t n_vectors = 100'000;

Eigen::Vector3d sample(std::size_t i) {
  const double t = static_cast<double>(i % 1000);
  return Eigen::Vector3d(t * 0.5, 3.0 - 0.25 * t, static_cast<double>(i % 7));
}

// Half the vectors through push(x), half through operator()(x).
template <class A>
void require_allocation_free(A& acc) {
  const std::size_t n = allocations_during([&] {
    for (std::size_t i = 0; i < n_vectors; ++i) {
      if (i % 2 == 0) {
        acc.push(sample(i));
      } else {
        acc(sample(i));
      }
    }
  });
  CHECK(n == 0);
}

// 1000 merge() and 1000 operator+= of a copy.
template <class A>
void require_merge_allocation_free(A& acc) {
  const A part = acc;
  const std::size_t n = allocations_during([&] {
    for (int k = 0; k < 1000; ++k) {
      acc.merge(part);
      acc += part;
    }
  });
  CHECK(acc.count() == part.count() * 2001);
  CHECK(n == 0);
}
}  // namespace

TEST_CASE("Eigen-layer accumulators allocate nothing while pushing 10^5 vectors", "[alloc][eigen]") {
  SECTION("mean<Vector3d>") {
    streamstats::mean<Eigen::Vector3d> a;
    require_allocation_free(a);
    CHECK(a.count() == n_vectors);
    require_merge_allocation_free(a);
  }
  SECTION("variance<Vector3d>") {
    streamstats::variance<Eigen::Vector3d> a;
    require_allocation_free(a);
    CHECK(a.count() == n_vectors);
    require_merge_allocation_free(a);
  }
  SECTION("ema<Vector3d>") {
    auto a = streamstats::ema<Eigen::Vector3d>::from_span(20.0);
    require_allocation_free(a);
    CHECK(a.count() == n_vectors);
  }
  SECTION("covariance<double, 3>, getters included") {
    streamstats::covariance<double, 3> a;
    require_allocation_free(a);
    require_merge_allocation_free(a);
    const std::size_t n = allocations_during([&] {
      const Eigen::Matrix3d r = a.correlation();
      const Eigen::Matrix3d s = a.sample_covariance();
      CHECK(r.allFinite());
      CHECK(s.allFinite());
    });
    CHECK(n == 0);
  }
  SECTION("mahalanobis_detector<double, 3>, anomalies, re-learns and score() included") {
    streamstats::mahalanobis_detector<double, 3> d;
    double scores = 0.0;
    const std::size_t n = allocations_during([&] {
      for (std::size_t i = 0; i < n_vectors; ++i) {
        Eigen::Vector3d x = sample(i);
        if (i % 5000 == 4999) {
          x(2) += 1e3;  // a spike
        }
        if (i > n_vectors / 2) {
          x(0) += 1e4;  // a lasting shift: forces a re-learn
        }
        const auto r = i % 2 == 0 ? d.push(x) : d(x);
        scores += r.score();  // the exact chi-square tail, on request
      }
    });
    CHECK(n == 0);
    CHECK(scores > 0.0);
    CHECK(d.anomalies() > 0);
    CHECK(d.relearns() > 0);
  }
}
