// streamstats::websocket rights — which streams a connection may publish to and subscribe to.
// SPDX-License-Identifier: MIT
//
// Rights are lists of globs, the pipeline globs of pipeline_spec.hpp: `*` matches any run of
// characters, `/` included ("sensors/*" matches "sensors/a" and "sensors/a/b", not "sensors"),
// `?` one character; anything else is literal. "*" alone grants every stream. A JWT carries them
// in its rights claim: {"publish": ["sensors/*"], "subscribe": ["*"]} (jwt.hpp).
#pragma once

#include <streamstats/websocket/pipeline_spec.hpp>  // glob_match

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace streamstats::websocket {

// Per-stream rights: globs (see the header comment) a stream name must match.
struct stream_rights {
  std::vector<std::string> publish;
  std::vector<std::string> subscribe;

  [[nodiscard]] bool may_publish(std::string_view stream) const noexcept {
    return any_match(publish, stream);
  }
  [[nodiscard]] bool may_subscribe(std::string_view stream) const noexcept {
    return any_match(subscribe, stream);
  }

 private:
  static bool any_match(const std::vector<std::string>& globs, std::string_view stream) noexcept {
    for (const auto& g : globs) {
      if (glob_match(g, stream)) {
        return true;
      }
    }
    return false;
  }
};

// Seconds since the Unix epoch: the clock a token's exp and nbf are read against.
[[nodiscard]] inline std::int64_t unix_now() noexcept {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace streamstats::websocket
