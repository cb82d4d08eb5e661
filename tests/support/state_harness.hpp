// Shared by test_state.cpp and test_state_eigen.cpp: every getter of an accumulator as bits, and the
// cut-save-load-continue check.
#pragma once

#include <catch2/catch.hpp>

#include <streamstats/state.hpp>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

namespace streamstats_test {

#define STREAMSTATS_TEST_GETTER(name)     \
  template <class A, class = void>        \
  struct has_##name : std::false_type {}; \
  template <class A>                      \
  struct has_##name<A, std::void_t<decltype(std::declval<const A&>().name())>> : std::true_type {};

STREAMSTATS_TEST_GETTER(count)
STREAMSTATS_TEST_GETTER(value)
STREAMSTATS_TEST_GETTER(mean)
STREAMSTATS_TEST_GETTER(sum)
STREAMSTATS_TEST_GETTER(sample_variance)
STREAMSTATS_TEST_GETTER(population_variance)
STREAMSTATS_TEST_GETTER(stddev)
STREAMSTATS_TEST_GETTER(population_stddev)
STREAMSTATS_TEST_GETTER(sum_of_squares)
STREAMSTATS_TEST_GETTER(skewness)
STREAMSTATS_TEST_GETTER(kurtosis)
STREAMSTATS_TEST_GETTER(sample_skewness)
STREAMSTATS_TEST_GETTER(sample_kurtosis)
STREAMSTATS_TEST_GETTER(min)
STREAMSTATS_TEST_GETTER(max)
STREAMSTATS_TEST_GETTER(range)
STREAMSTATS_TEST_GETTER(size)
STREAMSTATS_TEST_GETTER(full)
STREAMSTATS_TEST_GETTER(alpha)
STREAMSTATS_TEST_GETTER(period)
STREAMSTATS_TEST_GETTER(probability)
STREAMSTATS_TEST_GETTER(rejected)
STREAMSTATS_TEST_GETTER(anomalies)
STREAMSTATS_TEST_GETTER(episodes)
STREAMSTATS_TEST_GETTER(relearns)
STREAMSTATS_TEST_GETTER(in_episode)
STREAMSTATS_TEST_GETTER(baseline)
STREAMSTATS_TEST_GETTER(co_moment)
STREAMSTATS_TEST_GETTER(sample_covariance)
STREAMSTATS_TEST_GETTER(population_covariance)
STREAMSTATS_TEST_GETTER(correlation)
STREAMSTATS_TEST_GETTER(threshold_distance)
STREAMSTATS_TEST_GETTER(sum_of_weights)
STREAMSTATS_TEST_GETTER(sum_of_squared_weights)
STREAMSTATS_TEST_GETTER(effective_count)
STREAMSTATS_TEST_GETTER(frequency_variance)
STREAMSTATS_TEST_GETTER(reliability_variance)

template <class A, class = void>
struct is_multi : std::false_type {};
template <class... A>
struct is_multi<streamstats::multi<A...>> : std::true_type {};

// The bits of every value, so NaN compares equal to the same NaN and -0 differs from +0.
struct snapshot {
  std::vector<std::uint64_t> bits;

  template <class X>
  void add(const X& x) {
    if constexpr (std::is_same_v<X, double>) {
      std::uint64_t b = 0;
      std::memcpy(&b, &x, 8);
      bits.push_back(b);
    } else if constexpr (std::is_same_v<X, float>) {
      std::uint32_t b = 0;
      std::memcpy(&b, &x, 4);
      bits.push_back(b);
    } else if constexpr (std::is_arithmetic_v<X>) {
      bits.push_back(static_cast<std::uint64_t>(x));
    } else {  // Eigen vectors and matrices
      for (int i = 0; i < static_cast<int>(x.size()); ++i) {
        add(x.data()[i]);
      }
    }
  }

  template <class A>
  void of(const A& a) {
    if constexpr (is_multi<A>::value) {
      add(a.count());
      of_each(a, std::make_index_sequence<std::tuple_size_v<decltype(a.value())>>{});
    } else {
#define STREAMSTATS_TEST_TAKE(name)     \
  if constexpr (has_##name<A>::value) { \
    add(a.name());                      \
  }
      STREAMSTATS_TEST_TAKE(count)
      STREAMSTATS_TEST_TAKE(mean)
      STREAMSTATS_TEST_TAKE(sum)
      STREAMSTATS_TEST_TAKE(sample_variance)
      STREAMSTATS_TEST_TAKE(population_variance)
      STREAMSTATS_TEST_TAKE(stddev)
      STREAMSTATS_TEST_TAKE(population_stddev)
      STREAMSTATS_TEST_TAKE(sum_of_squares)
      STREAMSTATS_TEST_TAKE(skewness)
      STREAMSTATS_TEST_TAKE(kurtosis)
      STREAMSTATS_TEST_TAKE(sample_skewness)
      STREAMSTATS_TEST_TAKE(sample_kurtosis)
      STREAMSTATS_TEST_TAKE(min)
      STREAMSTATS_TEST_TAKE(max)
      STREAMSTATS_TEST_TAKE(range)
      STREAMSTATS_TEST_TAKE(size)
      STREAMSTATS_TEST_TAKE(full)
      STREAMSTATS_TEST_TAKE(alpha)
      STREAMSTATS_TEST_TAKE(period)
      STREAMSTATS_TEST_TAKE(probability)
      STREAMSTATS_TEST_TAKE(rejected)
      STREAMSTATS_TEST_TAKE(anomalies)
      STREAMSTATS_TEST_TAKE(episodes)
      STREAMSTATS_TEST_TAKE(relearns)
      STREAMSTATS_TEST_TAKE(in_episode)
      STREAMSTATS_TEST_TAKE(co_moment)
      STREAMSTATS_TEST_TAKE(sample_covariance)
      STREAMSTATS_TEST_TAKE(population_covariance)
      STREAMSTATS_TEST_TAKE(correlation)
      STREAMSTATS_TEST_TAKE(threshold_distance)
      STREAMSTATS_TEST_TAKE(sum_of_weights)
      STREAMSTATS_TEST_TAKE(sum_of_squared_weights)
      STREAMSTATS_TEST_TAKE(effective_count)
      STREAMSTATS_TEST_TAKE(frequency_variance)
      STREAMSTATS_TEST_TAKE(reliability_variance)
#undef STREAMSTATS_TEST_TAKE
      if constexpr (has_value<A>::value) {
        add(a.value());
      }
      if constexpr (has_baseline<A>::value) {
        of(a.baseline());
      }
    }
  }

  template <class A, std::size_t... I>
  void of_each(const A& a, std::index_sequence<I...> /*unused*/) {
    (of(a.template get<I>()), ...);
  }

  template <class R, class = void>
  struct has_report_score : std::false_type {};
  template <class R>
  struct has_report_score<R, std::void_t<decltype(std::declval<const R&>().report_score())>>
      : std::true_type {};

  // A detector's push result (z or distance, log_p, flags, episode, status).
  template <class R>
  void result(const R& r) {
    if constexpr (std::is_class_v<R>) {
      if constexpr (std::is_same_v<decltype(r.anomaly), const bool>) {
        add(r.anomaly);
        add(r.new_episode);
        add(r.episode);
        add(static_cast<int>(r.status));
        add(r.score());
        if constexpr (has_report_score<R>::value) {
          add(r.report_score());  // anomaly_detector: the quiet window travels with the state
        }
      }
    } else if constexpr (!std::is_void_v<R>) {
      add(r);
    }
  }
};

template <class A>
std::vector<std::uint64_t> bits_of(const A& a) {
  snapshot s;
  s.of(a);
  return s.bits;
}

// Feeds `proto` the samples 0..len with push(acc, i) (which returns what the accumulator's push
// returns), and, for each cut k, a second copy with 0..k, saved with save_state, loaded into a fresh
// object with load_state<A>, then fed k..len: after every push, every getter (and the push result)
// must equal the uninterrupted run's bit for bit, and at the end the two states must be the same bytes.
template <class A, class Push>
void require_restores_exactly(const A& proto, Push push, std::size_t len,
                              const std::vector<std::size_t>& cuts) {
  std::vector<std::vector<std::uint64_t>> expected(len + 1);  // push result and getters
  std::vector<std::vector<std::uint64_t>> state(len + 1);     // getters only
  A whole = proto;
  expected[0] = state[0] = bits_of(whole);
  for (std::size_t i = 0; i < len; ++i) {
    snapshot s;
    using R = decltype(push(whole, i));
    if constexpr (std::is_void_v<R>) {
      push(whole, i);
    } else {
      s.result(push(whole, i));
    }
    state[i + 1] = bits_of(whole);
    s.bits.insert(s.bits.end(), state[i + 1].begin(), state[i + 1].end());
    expected[i + 1] = s.bits;
  }
  const std::string final_bytes = streamstats::save_state(whole);
  for (const std::size_t k : cuts) {
    INFO("cut after " << k << " samples");
    A part = proto;
    for (std::size_t i = 0; i < k; ++i) {
      push(part, i);
    }
    const std::string bytes = streamstats::save_state(part);
    A restored = streamstats::load_state<A>(bytes);
    REQUIRE(bits_of(restored) == state[k]);
    for (std::size_t i = k; i < len; ++i) {
      snapshot s;
      using R = decltype(push(restored, i));
      if constexpr (std::is_void_v<R>) {
        push(restored, i);
      } else {
        s.result(push(restored, i));
      }
      s.of(restored);
      if (s.bits != expected[i + 1]) {
        FAIL_CHECK("getters differ from the uninterrupted run after sample " << i);
        break;
      }
    }
    CHECK(streamstats::save_state(restored) == final_bytes);
  }
}

}  // namespace streamstats_test
