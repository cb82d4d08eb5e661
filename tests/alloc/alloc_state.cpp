// The buffer forms of save_state and load_state allocate nothing — every error path included.
#include <catch2/catch.hpp>

#include "counting_new.hpp"

#include <streamstats/state.hpp>
#include <streamstats/streamstats.hpp>

#include <array>
#include <cstddef>
#include <string_view>

using streamstats_test::allocations_during;

namespace {

template <class A>
void require_state_allocation_free(A acc) {
  for (int i = 0; i < 500; ++i) {
    acc.push(static_cast<typename A::value_type>((i * 37) % 101) * 0.25);
  }
  std::array<char, 4096> buf{};
  std::array<char, 8> small{};
  A target = acc;
  target.reset();
  streamstats::state_save_result saved{};
  streamstats::state_errc loaded{};
  streamstats::state_errc truncated{};
  streamstats::state_errc corrupted{};
  streamstats::state_save_result too_small{};
  const std::size_t n = allocations_during([&] {
    for (int round = 0; round < 1000; ++round) {
      saved = streamstats::save_state(acc, buf.data(), buf.size());
      loaded = streamstats::load_state(std::string_view(buf.data(), saved.size), target);
      truncated = streamstats::load_state(std::string_view(buf.data(), saved.size - 1), target);
      too_small = streamstats::save_state(acc, small.data(), small.size());
    }
    buf[20] = static_cast<char>(buf[20] ^ 1);
    corrupted = streamstats::load_state(std::string_view(buf.data(), saved.size), target);
  });
  CHECK(n == 0);
  CHECK(saved.ec == streamstats::state_errc::ok);
  CHECK(loaded == streamstats::state_errc::ok);
  CHECK(truncated == streamstats::state_errc::truncated);
  CHECK(corrupted == streamstats::state_errc::checksum_mismatch);
  CHECK(too_small.ec == streamstats::state_errc::buffer_too_small);
  CHECK(target.count() == acc.count());
}

}  // namespace

TEST_CASE("save_state and load_state on a caller's buffer allocate nothing") {
  require_state_allocation_free(streamstats::anomaly_detector<double>{});
  require_state_allocation_free(
      streamstats::zscore_detector<streamstats::ew_variance<double>>(streamstats::ew_variance<double>(0.05)));
  require_state_allocation_free(streamstats::sma<double, 64>{});
  require_state_allocation_free(streamstats::rolling_extrema<double, 32>{});
  require_state_allocation_free(streamstats::quantile<double>(0.99));
  require_state_allocation_free(streamstats::ema<double>::from_span(10, streamstats::ema_convention::talib));
  require_state_allocation_free(streamstats::multi<streamstats::mean<double>, streamstats::moments<double>,
                                                   streamstats::extrema<double>>{});
}
