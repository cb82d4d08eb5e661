// libFuzzer target for load_state of every accumulator type (docs/state-format.md).
//   input[0]   which type (mod the number of types)
//   input[1]   bit 0: rewrite the payload length to fit the input; bit 1: rewrite the CRC-32C —
//              so that mutations also reach the tag and field checks behind the checksum
//   input[2..] the state bytes
// Oracles: no sanitizer report; a failed load leaves the target's bytes unchanged and the throwing
// load_state<A> throws state_error with the same code; an accepted state re-saves to exactly the
// input bytes (the format is canonical) and survives pushes and another round trip (or, for crafted
// states that drift out of the checked invariants, a refusal as invalid_field).
// STREAMSTATS_FUZZ_WRITE_CORPUS=DIR writes one seed per type into DIR and exits.
#include <streamstats/eigen.hpp>
#include <streamstats/eigen/state.hpp>
#include <streamstats/state.hpp>
#include <streamstats/streamstats.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <limits>
#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>

namespace ss = streamstats;

namespace {

using V3 = Eigen::Vector3d;

// Factories: a fresh instance of each type, with the parameters its seed uses.
const auto types = std::make_tuple(
    [] { return ss::mean<double>{}; }, [] { return ss::mean<float>{}; },
    [] { return ss::variance<double>{}; }, [] { return ss::moments<double>{}; },
    [] { return ss::extrema<double>{}; }, [] { return ss::autocorrelation<double>{}; },
    [] {
      return ss::multi<ss::mean<double>, ss::variance<double>, ss::extrema<double>, ss::sma<double, 8>,
                       ss::ema<double>, ss::quantile<double>>(
          ss::mean<double>{}, ss::variance<double>{}, ss::extrema<double>{}, ss::sma<double, 8>{},
          ss::ema<double>(0.2), ss::quantile<double>(0.3));
    },
    [] { return ss::sma<double, 16>{}; }, [] { return ss::sma<double, 16, ss::window_sum::compensated>{}; },
    [] { return ss::sma<float, 5>{}; }, [] { return ss::rolling_variance<double, 32>{}; },
    [] { return ss::rolling_variance<float, 5>{}; }, [] { return ss::rolling_extrema<double, 16>{}; },
    [] { return ss::rolling_extrema<float, 3>{}; }, [] { return ss::ema<double>(0.1); },
    [] { return ss::ema<double>::from_span(10, ss::ema_convention::talib); },
    [] { return ss::ew_variance<double>(0.1, ss::ema_convention::pandas_adjust_true); },
    [] { return ss::time_ema<double>(std::chrono::seconds(2)); }, [] { return ss::quantile<double>(0.9); },
    [] { return ss::zscore_detector<ss::variance<double>>(ss::variance<double>{}); },
    [] { return ss::zscore_detector<ss::ew_variance<double>>(ss::ew_variance<double>(0.05)); },
    [] { return ss::zscore_detector<ss::rolling_variance<double, 20>>(ss::rolling_variance<double, 20>{}); },
    [] { return ss::anomaly_detector<double>{}; }, [] { return ss::anomaly_detector<float>{}; },
    [] { return ss::score_rank<double>(100.0); }, [] { return ss::mean<V3>{}; },
    [] { return ss::variance<V3>{}; }, [] { return ss::ema<V3>(0.3); },
    [] { return ss::covariance<double, 3>{}; }, [] { return ss::mahalanobis_detector<double, 2>{}; },
    [] { return ss::ddsketch<double, 16>(0.02); }, [] { return ss::ddsketch<float, 64>{}; },
    [] { return ss::time_window<ss::variance<double>, 4>(std::chrono::seconds(8)); },
    [] {
      return ss::time_window<ss::ddsketch<double, 16>, 3>(std::chrono::seconds(6),
                                                          ss::ddsketch<double, 16>(0.05));
    },
    [] {
      ss::seasonal_options so;  // the seasonal stage's profile and residual z-score in the state
      so.period = 16;
      return ss::anomaly_detector<double>(ss::zscore_options{}, ss::calibration_options{}, so);
    });
constexpr std::size_t type_count = std::tuple_size_v<decltype(types)>;

template <class A>
struct is_time_ema : std::false_type {};
template <class T, class C>
struct is_time_ema<ss::time_ema<T, C>> : std::true_type {};

template <class A>
struct is_time_window : std::false_type {};
template <class Acc, std::size_t B, class C>
struct is_time_window<ss::time_window<Acc, B, C>> : std::true_type {};

template <class A>
void push_sample(A& a, double x, std::size_t i) {
  using V = typename A::value_type;
  if constexpr (std::is_floating_point_v<V>) {
    if constexpr (is_time_window<A>::value) {
      // Mostly in order, every third sample 5 s back (late, or too late for the window).
      const auto s = static_cast<long>(i) - (i % 3 == 1 ? 5 : 0);
      static_cast<void>(a.push(static_cast<V>(x), typename A::time_point(std::chrono::seconds(s))));
    } else if constexpr (is_time_ema<A>::value) {
      a.push(static_cast<V>(x), typename A::time_point(std::chrono::seconds(static_cast<long>(i))));
    } else {
      a.push(static_cast<V>(x));
    }
  } else {
    V v = V::Constant(static_cast<typename V::Scalar>(x));
    v(0) += static_cast<typename V::Scalar>(i % 7);
    a.push(v);
  }
}

const double samples[] = {1.0,
                          2.5,
                          -3.0,
                          1e9,
                          std::numeric_limits<double>::quiet_NaN(),
                          0.0,
                          -1e-9,
                          4.0,
                          std::numeric_limits<double>::infinity(),
                          7.0,
                          100.0,
                          -50.0};

template <class A>
A fed(A a, std::size_t n) {
  for (std::size_t i = 0; i < n; ++i) {
    push_sample(a, samples[i % 12] + static_cast<double>(i % 5), i);
  }
  return a;
}

[[noreturn]] void oracle_failed(const char* what) {
  std::fprintf(stderr, "fuzz_state oracle failed: %s\n", what);
  std::abort();
}

template <class Make>
void fuzz_one(Make make, std::string_view bytes) {
  using A = decltype(make());
  A target = fed(make(), 3);
  const std::string before = ss::save_state(target);
  const ss::state_errc ec = ss::load_state(bytes, target);
  ss::state_errc thrown = ss::state_errc::ok;
  try {
    static_cast<void>(ss::load_state<A>(bytes));
  } catch (const ss::state_error& e) {
    thrown = e.code();
  }
  if (thrown != ec) {
    oracle_failed("load_state<A> and load_state(bytes, target) disagree");
  }
  if (ec != ss::state_errc::ok) {
    if (ss::save_state(target) != before) {
      oracle_failed("a failed load modified the target");
    }
    return;
  }
  // A state of the current format version re-saves to the same bytes; one of an older version
  // (still read) is saved in the current one, which must itself load and re-save unchanged.
  const std::string resaved = ss::save_state(target);
  const auto stored_version = static_cast<std::uint16_t>(static_cast<unsigned char>(bytes[4]) |
                                                         (static_cast<unsigned char>(bytes[5]) << 8));
  if (stored_version == ss::state_format_version) {
    if (resaved != bytes) {
      oracle_failed("an accepted state does not re-save to the same bytes");
    }
  } else {
    A migrated = make();
    if (ss::load_state(resaved, migrated) != ss::state_errc::ok || ss::save_state(migrated) != resaved) {
      oracle_failed("an accepted older-version state does not migrate to a stable current one");
    }
  }
  for (std::size_t i = 0; i < 40; ++i) {
    push_sample(target, samples[(i * 5) % 12], i + 1000000);
  }
  static_cast<void>(target.count());
  const std::string again = ss::save_state(target);
  A back = make();
  const ss::state_errc ec2 = ss::load_state(again, back);
  // A crafted state (valid checksum) can pass every check and still drift, once continued, into one
  // that a check refuses (e.g. weights of an EMA with a denormal alpha): refused as invalid_field,
  // never anything else.
  if (ec2 == ss::state_errc::ok ? ss::save_state(back) != again : ec2 != ss::state_errc::invalid_field) {
    oracle_failed("a continued state does not round-trip");
  }
}

template <std::size_t I = 0>
void dispatch(std::size_t which, std::string_view bytes) {
  if constexpr (I < type_count) {
    if (which == I) {
      fuzz_one(std::get<I>(types), bytes);
    } else {
      dispatch<I + 1>(which, bytes);
    }
  }
}

template <std::size_t I = 0>
void write_seeds(const std::string& dir) {
  if constexpr (I < type_count) {
    for (const std::size_t n : {std::size_t{0}, std::size_t{3}, std::size_t{70}}) {
      const std::string state = ss::save_state(fed(std::get<I>(types)(), n));
      std::string seed;
      seed += static_cast<char>(I);
      seed += '\0';
      seed += state;
      std::ofstream out(dir + "/seed_" + std::to_string(I) + "_" + std::to_string(n), std::ios::binary);
      out.write(seed.data(), static_cast<std::streamsize>(seed.size()));
    }
    write_seeds<I + 1>(dir);
  }
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int* /*argc*/, char*** /*argv*/) {
  if (const char* dir = std::getenv("STREAMSTATS_FUZZ_WRITE_CORPUS")) {
    write_seeds(dir);
    std::exit(0);
  }
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 2) {
    return 0;
  }
  std::string bytes(reinterpret_cast<const char*>(data) + 2, size - 2);
  const unsigned flags = data[1];
  if ((flags & 1U) != 0 && bytes.size() >= 16) {
    const std::size_t tag_len = static_cast<unsigned char>(bytes[6]) |
                                static_cast<std::size_t>(static_cast<unsigned char>(bytes[7])) << 8;
    if (bytes.size() >= 16 + tag_len) {
      const std::size_t payload = bytes.size() - 16 - tag_len;
      for (std::size_t i = 0; i < 4; ++i) {
        bytes[8 + i] = static_cast<char>((payload >> (8 * i)) & 0xFFU);
      }
    }
  }
  if ((flags & 2U) != 0 && bytes.size() >= 4) {
    const std::uint32_t crc =
        ss::detail::crc32c(reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size() - 4);
    for (std::size_t i = 0; i < 4; ++i) {
      bytes[bytes.size() - 4 + i] = static_cast<char>((crc >> (8 * i)) & 0xFFU);
    }
  }
  dispatch(data[0] % type_count, bytes);
  return 0;
}
