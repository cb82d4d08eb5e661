#include <catch2/catch.hpp>

#include <support/tail_reference.hpp>

#include <streamstats/eigen.hpp>
#include <streamstats/zscore_detector.hpp>

#include <Eigen/Dense>

#include <cmath>
#include <cstddef>
#include <fstream>
#include <iostream>
#include <limits>
#include <random>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

using streamstats::covariance;
using streamstats::mahalanobis_detector;
using streamstats::mahalanobis_options;
using streamstats::zscore_status;

using streamstats_test::chi2_rows;
using streamstats_test::normal_row;
using streamstats_test::tail_row;

namespace {

constexpr double nan_v = std::numeric_limits<double>::quiet_NaN();
constexpr double inf_v = std::numeric_limits<double>::infinity();

using Vec3 = Eigen::Vector3d;
using Batch3 = Eigen::Matrix<double, Eigen::Dynamic, 3>;

// Correlated, offset, differently scaled samples: x = offset + L·g with g standard normal.
Batch3 correlated_batch(std::size_t n, unsigned seed, double offset) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> g(0.0, 1.0);
  Eigen::Matrix3d l;
  l << 2.0, 0.0, 0.0,  //
      1.5, 0.5, 0.0,   //
      -0.3, 0.2, 0.01;
  Batch3 x(static_cast<Eigen::Index>(n), 3);
  for (Eigen::Index i = 0; i < x.rows(); ++i) {
    const Vec3 z(g(rng), g(rng), g(rng));
    const Vec3 row = Vec3(offset, -offset, 2.0 * offset) + l * z;
    x.row(i) = row.transpose();
  }
  return x;
}

// Eigen's batch reference: centred matrix product, divided by n − ddof.
Eigen::Matrix3d batch_covariance(const Batch3& x, double ddof) {
  const Eigen::RowVector3d m = x.colwise().mean();
  const Batch3 centred = x.rowwise() - m;
  return (centred.transpose() * centred) / (static_cast<double>(x.rows()) - ddof);
}

bool close_mat(const Eigen::MatrixXd& a, const Eigen::MatrixXd& b, double rel) {
  const double scale = b.cwiseAbs().maxCoeff();
  return (a - b).cwiseAbs().maxCoeff() <= rel * (scale > 0 ? scale : 1.0);
}

std::vector<std::vector<double>> read_csv(const std::string& path) {
  std::ifstream in(path);
  REQUIRE(in.good());
  std::vector<std::vector<double>> rows;
  std::string line;
  std::getline(in, line);  // header
  while (std::getline(in, line)) {
    std::vector<double> row;
    std::stringstream ss(line);
    std::string cell;
    while (std::getline(ss, cell, ',')) {
      row.push_back(cell == "nan" ? nan_v : std::stod(cell));
    }
    rows.push_back(row);
  }
  return rows;
}

bool same(double a, double b, double rel) {
  if (std::isnan(a) || std::isnan(b)) {
    return std::isnan(a) && std::isnan(b);
  }
  return std::fabs(a - b) <= rel * std::max(1.0, std::fabs(b));
}
}  // namespace

TEST_CASE("fixed-size vector traits accept fixed column vectors only", "[eigen]") {
  STATIC_REQUIRE(streamstats::eigen::is_fixed_vector_v<Eigen::Vector3d>);
  STATIC_REQUIRE(streamstats::eigen::is_fixed_vector_v<Eigen::Matrix<float, 8, 1>>);
  STATIC_REQUIRE_FALSE(streamstats::eigen::is_fixed_vector_v<Eigen::VectorXd>);
  STATIC_REQUIRE_FALSE(streamstats::eigen::is_fixed_vector_v<Eigen::Vector3i>);
  STATIC_REQUIRE_FALSE(streamstats::eigen::is_fixed_vector_v<double>);
  STATIC_REQUIRE(streamstats::eigen::is_dynamic_matrix<Eigen::MatrixXd>::value);
}

TEST_CASE("mean of Eigen vectors matches colwise().mean() and the scalar mean bit for bit", "[eigen][mean]") {
  const Batch3 x = correlated_batch(5000, 1, 1e6);
  streamstats::mean<Vec3> m;
  streamstats::mean<double> scalar[3];
  for (Eigen::Index i = 0; i < x.rows(); ++i) {
    m.push(x.row(i).transpose());
    for (int k = 0; k < 3; ++k) {
      scalar[k].push(x(i, k));
    }
  }
  CHECK(m.count() == 5000);
  const Vec3 batch = x.colwise().mean().transpose();
  CHECK(close_mat(m.value(), batch, 1e-14));
  for (int k = 0; k < 3; ++k) {
    CHECK(m.value()(k) == scalar[k].value());  // same compensated algorithm, per component
  }
  streamstats::mean<Vec3> empty;
  CHECK(empty.value().array().isNaN().all());
}

TEST_CASE("mean of Eigen vectors merges exactly and resets", "[eigen][mean]") {
  const Batch3 x = correlated_batch(1000, 2, 3.0);
  streamstats::mean<Vec3> all;
  streamstats::mean<Vec3> a;
  streamstats::mean<Vec3> b;
  for (Eigen::Index i = 0; i < x.rows(); ++i) {
    const Vec3 row = x.row(i).transpose();
    all.push(row);
    (i < 313 ? a : b).push(row);
  }
  a += b;
  CHECK(a.count() == all.count());
  CHECK(close_mat(a.value(), all.value(), 1e-15));
  a.reset();
  CHECK(a.count() == 0);
  a.push(Vec3(1, 2, 3));
  CHECK(a.value() == Vec3(1, 2, 3));
}

TEST_CASE("variance of Eigen vectors matches the batch diagonal and the scalar variance",
          "[eigen][variance]") {
  const Batch3 x = correlated_batch(4000, 3, 1e4);
  streamstats::variance<Vec3> v;
  streamstats::variance<double> scalar[3];
  for (Eigen::Index i = 0; i < x.rows(); ++i) {
    v(x.row(i).transpose());
    for (int k = 0; k < 3; ++k) {
      scalar[k].push(x(i, k));
    }
  }
  const Eigen::Matrix3d s = batch_covariance(x, 1.0);
  const Eigen::Matrix3d p = batch_covariance(x, 0.0);
  CHECK(close_mat(v.sample_variance(), s.diagonal(), 1e-11));
  CHECK(close_mat(v.population_variance(), p.diagonal(), 1e-11));
  CHECK(close_mat(v.stddev(), s.diagonal().cwiseSqrt(), 1e-11));
  CHECK(close_mat(v.mean(), x.colwise().mean().transpose(), 1e-13));
  for (int k = 0; k < 3; ++k) {
    CHECK(v.sample_variance()(k) == scalar[k].sample_variance());  // Welford, per component
    CHECK(v.mean()(k) == scalar[k].mean());
  }
  CHECK(v.value() == v.sample_variance());
}

TEST_CASE("variance of Eigen vectors: minimum counts, merge, reset", "[eigen][variance]") {
  streamstats::variance<Vec3> v;
  CHECK(v.mean().array().isNaN().all());
  CHECK(v.population_variance().array().isNaN().all());
  v.push(Vec3(1, 2, 3));
  CHECK(v.sample_variance().array().isNaN().all());
  CHECK(v.population_variance() == Vec3::Zero());

  const Batch3 x = correlated_batch(777, 4, -50.0);
  streamstats::variance<Vec3> all;
  streamstats::variance<Vec3> a;
  streamstats::variance<Vec3> b;
  for (Eigen::Index i = 0; i < x.rows(); ++i) {
    all.push(x.row(i).transpose());
    (i % 3 == 0 ? a : b).push(x.row(i).transpose());
  }
  a.merge(b);
  CHECK(a.count() == 777);
  CHECK(close_mat(a.sample_variance(), all.sample_variance(), 1e-13));
  CHECK(close_mat(a.mean(), all.mean(), 1e-14));
  a.reset();
  CHECK(a.count() == 0);
  CHECK(a.mean().array().isNaN().all());
}

TEST_CASE("variance of Eigen float vectors works per component", "[eigen][variance]") {
  streamstats::variance<Eigen::Vector2f> v;
  for (float x : {2.0F, 4.0F, 4.0F, 4.0F, 5.0F, 5.0F, 7.0F, 9.0F}) {
    v.push(Eigen::Vector2f(x, -2.0F * x));
  }
  // {2,4,4,4,5,5,7,9}: population variance 4; scaled by −2: 16.
  CHECK(v.population_variance()(0) == Approx(4.0F));
  CHECK(v.population_variance()(1) == Approx(16.0F));
}

TEST_CASE("ema of Eigen vectors reproduces pandas ewm per column, NaNs included", "[eigen][ema]") {
  // tests/gen_eigen_reference.py: pandas 1.5 DataFrame.ewm(span=9, adjust=False/True).mean().
  const auto rows = read_csv(STREAMSTATS_TEST_DATA_DIR "/eigen_ewm_reference.csv");
  REQUIRE(rows.size() == 200);
  auto adjust_false = streamstats::ema<Vec3>::from_span(9.0);
  auto adjust_true = streamstats::ema<Vec3>::from_span(9.0, streamstats::ema_convention::pandas_adjust_true);
  CHECK(adjust_false.alpha() == 0.2);
  for (const auto& r : rows) {
    REQUIRE(r.size() == 9);
    const Vec3 x(r[0], r[1], r[2]);
    adjust_false.push(x);
    adjust_true.push(x);
    for (int k = 0; k < 3; ++k) {
      INFO("row " << adjust_false.count() << ", column " << k);
      CHECK(same(adjust_false.value()(k), r[3 + static_cast<std::size_t>(k)], 1e-12));
      CHECK(same(adjust_true.value()(k), r[6 + static_cast<std::size_t>(k)], 1e-12));
    }
  }
}

TEST_CASE("ema of Eigen vectors: constructors, invalid parameters, reset", "[eigen][ema]") {
  using E = streamstats::ema<Eigen::Vector2d>;
  CHECK(E::from_com(1.0).alpha() == 0.5);
  CHECK(E::from_halflife(1.0).alpha() == Approx(0.5).epsilon(1e-15));
  CHECK(E(0.25).alpha() == 0.25);
  CHECK_THROWS_AS(E(0.0), std::invalid_argument);
  CHECK_THROWS_AS(E(1.5), std::invalid_argument);
  CHECK_THROWS_AS(E::from_span(0.5), std::invalid_argument);
  CHECK_THROWS_AS(E::from_span(10.0, streamstats::ema_convention::talib), std::invalid_argument);
  E e(0.5);
  CHECK(e.value().array().isNaN().all());
  e.push(Eigen::Vector2d(2.0, 4.0));
  e.push(Eigen::Vector2d(4.0, 0.0));
  CHECK(e.value() == Eigen::Vector2d(3.0, 2.0));  // adjust=False: 0.5·2 + 0.5·4, 0.5·4 + 0.5·0
  e.reset();
  CHECK(e.count() == 0);
  CHECK(e.value().array().isNaN().all());
}

TEST_CASE("covariance matches Eigen's centred batch product, and np.corrcoef's definition",
          "[eigen][covariance]") {
  const Batch3 x = correlated_batch(10000, 5, 1e5);
  covariance<double, 3> c;
  for (Eigen::Index i = 0; i < x.rows(); ++i) {
    c.push(x.row(i).transpose());
  }
  const Eigen::Matrix3d s = batch_covariance(x, 1.0);
  CHECK(c.count() == 10000);
  CHECK(close_mat(c.mean(), x.colwise().mean().transpose(), 1e-14));
  CHECK(close_mat(c.sample_covariance(), s, 1e-11));
  CHECK(close_mat(c.population_covariance(), batch_covariance(x, 0.0), 1e-11));
  CHECK(c.sample_covariance() == c.sample_covariance().transpose());  // exactly symmetric
  CHECK(close_mat(c.sample_variance(), s.diagonal(), 1e-11));
  const Eigen::Vector3d inv_sd = s.diagonal().cwiseSqrt().cwiseInverse();
  const Eigen::Matrix3d r = inv_sd.asDiagonal() * s * inv_sd.asDiagonal();
  CHECK(close_mat(c.correlation(), r, 1e-10));
  CHECK(c.correlation().diagonal() == Eigen::Vector3d::Ones());
  // L·Lᵀ is the population covariance of the generator: component 0 and 1 correlate at 3/sqrt(2.5·4).
  CHECK(c.correlation()(0, 1) == Approx(3.0 / std::sqrt(4.0 * 2.5)).margin(0.02));
}

TEST_CASE("covariance and variance keep their digits on data offset by 1e9", "[eigen][covariance]") {
  // The covariance is shift-invariant: the reference is Eigen's batch product on the small parts u
  // (exact halves and quarters), the accumulators see 1e9 + u. Unshifted Welford would round the
  // running mean to ulp(1e9) ≈ 1.2e-7 at every update and lose ~7 digits here.
  Batch3 u(4000, 3);
  for (Eigen::Index i = 0; i < u.rows(); ++i) {
    const auto k = static_cast<double>(i % 17);
    u.row(i) << 0.5 * k, 0.25 * static_cast<double>((i * 7) % 13) - k, static_cast<double>(i % 5);
  }
  covariance<double, 3> c;
  streamstats::variance<Vec3> v;
  for (Eigen::Index i = 0; i < u.rows(); ++i) {
    const Vec3 x = Vec3::Constant(1e9) + Vec3(u.row(i).transpose());
    c.push(x);
    v.push(x);
  }
  // The exact reference: u holds multiples of 1/4 below 32, so Σuᵢ and Σuᵢuⱼ are exact in double and
  // n·Σuᵢuⱼ − ΣuᵢΣuⱼ is exact in long double; one division gives the sample covariance correctly
  // rounded (to long double, then to double).
  const auto n = static_cast<long double>(u.rows());
  Eigen::Matrix3d exact;
  for (Eigen::Index a = 0; a < 3; ++a) {
    for (Eigen::Index b = 0; b < 3; ++b) {
      const auto sa = static_cast<long double>(u.col(a).sum());
      const auto sb = static_cast<long double>(u.col(b).sum());
      const auto sab = static_cast<long double>(u.col(a).dot(u.col(b)));
      exact(a, b) = static_cast<double>((n * sab - sa * sb) / (n * (n - 1.0L)));
    }
  }
  const double err_cov = (c.sample_covariance() - exact).cwiseAbs().maxCoeff() / exact.cwiseAbs().maxCoeff();
  const double err_var =
      (v.sample_variance() - exact.diagonal()).cwiseAbs().maxCoeff() / exact.diagonal().cwiseAbs().maxCoeff();
  std::cout << "covariance<double, 3> at a 1e9 offset: rel err (max-norm) covariance " << err_cov
            << ", variance " << err_var << "\n";
  // README (Eigen layer): "shifted Welford co-moment: 7e-16 relative at a 1e9 offset" — the error
  // relative to the largest entry, below 7.5e-16 (what prints as 7e-16).
  CHECK(err_cov < 7.5e-16);
  CHECK(err_var < 7.5e-16);
  const Eigen::Matrix3d s = batch_covariance(u, 1.0);
  CHECK(close_mat(c.sample_covariance(), s, 1e-12));
  CHECK(close_mat(v.sample_variance(), s.diagonal(), 1e-12));
  CHECK(close_mat(c.mean() - Vec3::Constant(1e9), u.colwise().mean().transpose(), 1e-6));
}

TEST_CASE("covariance merges by Chan's formula to the single-pass result", "[eigen][covariance]") {
  const Batch3 x = correlated_batch(3001, 6, 10.0);
  covariance<double, 3> all;
  covariance<double, 3> parts[4];
  for (Eigen::Index i = 0; i < x.rows(); ++i) {
    all.push(x.row(i).transpose());
    parts[static_cast<std::size_t>(i * 4 / x.rows())].push(x.row(i).transpose());
  }
  covariance<double, 3> merged;
  merged += parts[0];  // merging into an empty accumulator copies
  merged += parts[1];
  parts[2] += parts[3];
  merged.merge(parts[2]);
  merged.merge(covariance<double, 3>{});  // merging an empty one changes nothing
  CHECK(merged.count() == all.count());
  CHECK(close_mat(merged.sample_covariance(), all.sample_covariance(), 1e-13));
  CHECK(close_mat(merged.mean(), all.mean(), 1e-14));
  CHECK(close_mat(merged.sample_covariance(), batch_covariance(x, 1.0), 1e-12));
}

TEST_CASE("covariance below its minimum count and with a constant component", "[eigen][covariance]") {
  covariance<double, 2> c;
  CHECK(c.mean().array().isNaN().all());
  CHECK(c.population_covariance().array().isNaN().all());
  c.push(Eigen::Vector2d(1.0, 5.0));
  CHECK(c.sample_covariance().array().isNaN().all());
  CHECK(c.correlation().array().isNaN().all());
  CHECK(c.population_covariance() == Eigen::Matrix2d::Zero());
  c.push(Eigen::Vector2d(3.0, 5.0));
  c.push(Eigen::Vector2d(2.0, 5.0));
  CHECK(c.sample_covariance()(0, 0) == 1.0);
  CHECK(c.sample_covariance()(1, 1) == 0.0);
  // np.corrcoef gives NaN in the row and column of a zero-variance component.
  CHECK(c.correlation()(0, 0) == 1.0);
  CHECK(std::isnan(c.correlation()(0, 1)));
  CHECK(std::isnan(c.correlation()(1, 1)));
  c.reset();
  CHECK(c.count() == 0);
  CHECK(c.co_moment() == Eigen::Matrix2d::Zero());
}

TEST_CASE("Mahalanobis distance equals δᵀS⁻¹δ from Eigen's batch inverse", "[eigen][mahalanobis]") {
  const Batch3 x = correlated_batch(400, 7, 2.0);
  mahalanobis_options o;
  o.ridge = 0.0;
  o.learning = streamstats::zscore_learning::all;
  mahalanobis_detector<double, 3> d(o);
  for (Eigen::Index i = 0; i < x.rows(); ++i) {
    (void)d.push(x.row(i).transpose());
  }
  const Eigen::Matrix3d s = batch_covariance(x, 1.0);
  const Eigen::Vector3d m = x.colwise().mean().transpose();
  const Eigen::Matrix3d s_inv = s.inverse();
  for (const Vec3& probe : {Vec3(2.0, -2.0, 4.0), Vec3(5.0, 1.0, 3.9), Vec3(2.0, -2.0, 4.5)}) {
    const Vec3 delta = probe - m;
    const double expected = std::sqrt(delta.dot(s_inv * delta));
    CHECK(d.distance_of(probe) == Approx(expected).epsilon(1e-9));
  }
  // Off the correlation structure: component 2 has sd ≈ 0.36, but the inverse covariance knows that
  // given components 0 and 1 it is pinned to ±0.01, so a 0.5 move is ≈ 50 Mahalanobis units.
  CHECK(d.distance_of(m + Vec3(0.0, 0.0, 0.5)) > 30.0);
}

TEST_CASE("Mahalanobis in one dimension is the two-sided z-score detector", "[eigen][mahalanobis]") {
  std::mt19937_64 rng(8);
  std::normal_distribution<double> g(3.0, 2.0);
  mahalanobis_options o;
  o.ridge = 0.0;
  mahalanobis_detector<double, 1> md(o);
  streamstats::zscore_options zo;
  zo.threshold = o.threshold;
  streamstats::zscore_detector<streamstats::variance<double>> zd(streamstats::variance<double>{}, zo);
  std::size_t agree = 0;
  for (int i = 0; i < 2000; ++i) {
    const double v = (i % 97 == 50) ? 40.0 : g(rng);
    const auto a = md.push(Eigen::Matrix<double, 1, 1>(v));
    const auto b = zd.push(v);
    if (i >= 40) {
      REQUIRE(a.distance == Approx(std::fabs(b.z)).epsilon(1e-9));
      REQUIRE(a.score() == Approx(b.score()).epsilon(1e-9));
      REQUIRE(a.anomaly == b.anomaly);
      agree += a.anomaly ? 1U : 0U;
    }
  }
  CHECK(agree >= 19);  // the injected spikes
}

TEST_CASE("Mahalanobis score is the chi-square tail with D degrees of freedom (mpmath)",
          "[eigen][mahalanobis]") {
  for (const auto& r : chi2_rows) {
    if (r.k == 3) {
      const double expected = streamstats::anomaly_score(r.log_sf);
      CHECK(streamstats::anomaly_score(streamstats::detail::log_chi2_upper_tail(3, r.x)) ==
            Approx(expected).epsilon(1e-12));
    }
  }
  // The threshold in σ-equivalent units: P(χ²_3 > d²) = P(|Z| > 4.5) at d = threshold_distance().
  const mahalanobis_detector<double, 3> d;
  const double t = d.threshold_distance();
  CHECK(streamstats::detail::log_chi2_upper_tail(3, t * t) ==
        Approx(streamstats::detail::log_chi2_upper_tail(1, 4.5 * 4.5)).epsilon(1e-9));
}

TEST_CASE("Mahalanobis survives a singular covariance through the ridge", "[eigen][mahalanobis]") {
  std::mt19937_64 rng(9);
  std::normal_distribution<double> g(0.0, 1.0);
  mahalanobis_detector<double, 3> d;  // default ridge 1e-9·trace/D
  for (int i = 0; i < 200; ++i) {
    const double a = g(rng);
    (void)d.push(Vec3(a, 2.0 * a, 7.0));  // collinear components and a constant one: rank 1
  }
  const Vec3 m = d.baseline().mean();
  const auto along = d.push(m + Vec3(1.0, 2.0, 0.0));  // along the data: about 1 sd
  CHECK(std::isfinite(along.distance));
  CHECK(along.distance == Approx(1.0).margin(0.2));
  CHECK_FALSE(along.anomaly);
  const auto across = d.push(m + Vec3(0.0, 0.0, 0.01));  // the constant component moved
  CHECK(std::isfinite(across.distance));
  CHECK(across.anomaly);
  CHECK(across.score() < 1.0);
}

TEST_CASE("Mahalanobis on an all-constant baseline: 0 for the same vector, +Inf otherwise",
          "[eigen][mahalanobis]") {
  mahalanobis_detector<double, 2> d;
  for (int i = 0; i < 40; ++i) {
    CHECK_FALSE(d.push(Eigen::Vector2d(1.0, 2.0)).anomaly);
  }
  const auto same_r = d.push(Eigen::Vector2d(1.0, 2.0));
  CHECK(same_r.distance == 0.0);
  CHECK(same_r.score() == 0.0);
  const auto moved = d.push(Eigen::Vector2d(1.0, 2.5));
  CHECK(moved.distance == inf_v);
  CHECK(moved.score() == 1.0);
  CHECK(moved.anomaly);
  CHECK(moved.new_episode);
}

TEST_CASE("Mahalanobis with a quantised component at rest: the resolution floor stops the flood",
          "[eigen][mahalanobis]") {
  // Component 0: N(0, 1); component 1: an integer counter, N(50, 0.3²) rounded (mostly 50, a 49 or
  // 51 one sample in ten). Whenever the covariance has seen the counter at 50 only (after warm-up,
  // after a re-learn), the next 51 was an infinitely unlikely move along a zero-variance direction.
  // Measured over 10⁵ samples: 1 alert episode with the default resolution_floor (0.5), 5 with 0.
  std::mt19937_64 rng(21);
  std::normal_distribution<double> g(0.0, 1.0);
  const auto run = [&rng, &g](double floor) {
    mahalanobis_options o;
    o.resolution_floor = floor;
    mahalanobis_detector<double, 2> d(o);
    for (int i = 0; i < 100000; ++i) {
      (void)d.push(Eigen::Vector2d(g(rng), std::round(50.0 + 0.3 * g(rng))));
    }
    return d.episodes();
  };
  CHECK(run(0.5) <= 1);
}

TEST_CASE("Mahalanobis with a constant component: one step in it is one episode, not a flood",
          "[eigen][mahalanobis]") {
  // Component 0: N(0, 1) noise; component 1: 5 for 3000 samples, then 6 for 3000 (issue 10: a flat
  // series with one step gives one alert episode). The step is infinitely unlikely against a zero
  // variance, so it alarms; the new level must then be learnt, not alarm on every sample after.
  std::mt19937_64 rng(23);
  std::normal_distribution<double> g(0.0, 1.0);
  mahalanobis_detector<double, 2> d;
  std::size_t flagged_after = 0;
  for (int i = 0; i < 6000; ++i) {
    const auto r = d.push(Eigen::Vector2d(g(rng), i < 3000 ? 5.0 : 6.0));
    if (i == 2999) {
      CHECK(d.episodes() == 0);  // noise alone never alarmed
    }
    if (i == 3000) {
      CHECK(r.anomaly);
      CHECK(r.new_episode);
    }
    flagged_after += i >= 3100 && r.anomaly ? 1U : 0U;
  }
  CHECK(d.episodes() == 1);
  CHECK(flagged_after == 0);
  CHECK(d.resolution(1) == 1.0);  // the step is the constant component's only change
}

TEST_CASE("Mahalanobis rejects non-finite vectors, warms up, and resets", "[eigen][mahalanobis]") {
  mahalanobis_detector<double, 4> d;  // warm-up max(30, 10·4) = 40
  std::mt19937_64 rng(10);
  std::normal_distribution<double> g(0.0, 1.0);
  for (int i = 0; i < 40; ++i) {
    const auto r = d.push(Eigen::Vector4d(g(rng), g(rng), g(rng), g(rng)));
    CHECK(r.status == zscore_status::warming_up);
  }
  CHECK(d.push(Eigen::Vector4d(g(rng), g(rng), g(rng), g(rng))).status == zscore_status::scored);
  const auto bad = d.push(Eigen::Vector4d(0.0, nan_v, 0.0, 0.0));
  CHECK(bad.status == zscore_status::rejected);
  CHECK(std::isnan(bad.distance));
  CHECK_FALSE(bad.anomaly);
  (void)d.push(Eigen::Vector4d(inf_v, 0.0, 0.0, 0.0));
  CHECK(d.rejected() == 2);
  CHECK(d.baseline().count() == 41);
  CHECK(d.baseline().mean().allFinite());
  const auto spike = d.push(Eigen::Vector4d(0.0, 0.0, 30.0, 0.0));
  CHECK(spike.anomaly);
  CHECK(spike.new_episode);
  d.reset();
  CHECK(d.count() == 0);
  CHECK(d.rejected() == 0);
  CHECK(d.baseline().count() == 0);
  CHECK(d.push(Eigen::Vector4d::Zero()).status == zscore_status::warming_up);
}

TEST_CASE("Mahalanobis absorbs a lasting multivariate shift in one episode", "[eigen][mahalanobis]") {
  std::mt19937_64 rng(12);
  std::normal_distribution<double> g(0.0, 1.0);
  mahalanobis_detector<double, 2> d;
  for (int i = 0; i < 300; ++i) {
    (void)d.push(Eigen::Vector2d(g(rng), g(rng)));
  }
  std::size_t episodes = 0;
  std::size_t late_alarms = 0;
  for (int i = 0; i < 600; ++i) {
    const auto r = d.push(Eigen::Vector2d(10.0 + g(rng), -10.0 + g(rng)));
    episodes += r.new_episode ? 1U : 0U;
    late_alarms += (i >= 100 && r.anomaly) ? 1U : 0U;
  }
  CHECK(episodes == 1);
  CHECK(late_alarms == 0);
  CHECK(d.relearns() == 1);
}

TEST_CASE("the Eigen layer works with float vectors", "[eigen][float]") {
  covariance<float, 2> c;
  mahalanobis_detector<float, 2> d;
  for (int i = 0; i < 100; ++i) {
    const float a = static_cast<float>(i % 10) - 4.5F;
    const Eigen::Vector2f x(a, 0.5F * a + static_cast<float>(i % 3));
    c.push(x);
    (void)d.push(x);
  }
  // Batch reference in double on the same data.
  Eigen::Matrix<double, 100, 2> b;
  for (int i = 0; i < 100; ++i) {
    const double a = static_cast<double>(i % 10) - 4.5;
    b(i, 0) = a;
    b(i, 1) = 0.5 * a + static_cast<double>(i % 3);
  }
  const Eigen::RowVector2d m = b.colwise().mean();
  const Eigen::Matrix<double, 100, 2> centred = b.rowwise() - m;
  const Eigen::Matrix2d s = centred.transpose() * centred / 99.0;
  CHECK(close_mat(c.sample_covariance().cast<double>(), s, 1e-5));
  const auto far = d.push(Eigen::Vector2f(0.0F, 40.0F));
  CHECK(far.anomaly);
  CHECK(far.score() < 1.0F);
}

TEST_CASE("Mahalanobis refuses invalid options", "[eigen][mahalanobis]") {
  mahalanobis_options o;
  o.threshold = 0.0;
  CHECK_THROWS_WITH((mahalanobis_detector<double, 2>(o)), Catch::Contains("threshold"));
  o = mahalanobis_options{};
  o.ridge = -1e-3;
  CHECK_THROWS_WITH((mahalanobis_detector<double, 2>(o)), Catch::Contains("ridge"));
  o = mahalanobis_options{};
  o.relearn_after = 1000;
  CHECK_THROWS_AS((mahalanobis_detector<double, 2>(o)), std::invalid_argument);
}

TEST_CASE("Eigen accumulators compose in multi<> and take batch pushes", "[eigen][multi]") {
  const Batch3 x = correlated_batch(500, 13, 1.0);
  std::vector<Vec3> samples;
  for (Eigen::Index i = 0; i < x.rows(); ++i) {
    samples.emplace_back(x.row(i).transpose());
  }
  streamstats::multi<streamstats::mean<Vec3>, streamstats::variance<Vec3>, covariance<double, 3>> m;
  m.push(samples.begin(), samples.end());
  CHECK(m.count() == 500);
  CHECK(close_mat(m.get<0>().value(), x.colwise().mean().transpose(), 1e-14));
  CHECK(close_mat(m.get<1>().sample_variance(), batch_covariance(x, 1.0).diagonal(), 1e-12));
  CHECK(close_mat(m.get<2>().sample_covariance(), batch_covariance(x, 1.0), 1e-12));
}
