// streamstats::websocket access — who may connect (Origin) and who may push (the producer token).
// SPDX-License-Identifier: MIT
//
// Decided once per connection, at the handshake, from its headers and URL; nothing here touches a
// socket, so each rule is tested on its own. (JWT will be a second way to prove "producer" here.)
#pragma once

#include <algorithm>
#include <charconv>
#include <cstddef>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace streamstats::websocket {

namespace detail {

[[nodiscard]] constexpr char ascii_lower(char c) noexcept {
  return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
}

[[nodiscard]] constexpr bool iequals(std::string_view a, std::string_view b) noexcept {
  if (a.size() != b.size()) {
    return false;
  }
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (ascii_lower(a[i]) != ascii_lower(b[i])) {
      return false;
    }
  }
  return true;
}

// Equality whose running time depends on the length of `secret` only: no early exit on the first
// differing byte nor on a length mismatch, so timing reveals neither a matching prefix nor the
// secret's length to someone who controls `given`.
[[nodiscard]] inline bool same_secret(std::string_view given, std::string_view secret) noexcept {
  unsigned diff = given.size() == secret.size() ? 0U : 1U;
  for (std::size_t i = 0; i < secret.size(); ++i) {
    // Reads given[i % size] so that the loop does the same work whatever given's length.
    const unsigned char g = given.empty() ? 0U : static_cast<unsigned char>(given[i % given.size()]);
    diff |= static_cast<unsigned>(g ^ static_cast<unsigned char>(secret[i]));
  }
  return diff == 0U;
}

// The credentials of "Authorization: Bearer <token>" (RFC 6750 §2.1; the scheme is
// case-insensitive, RFC 7235 §2.1), or an empty view.
[[nodiscard]] inline std::string_view bearer_credentials(std::string_view authorization) noexcept {
  constexpr std::string_view scheme = "bearer";
  if (authorization.size() <= scheme.size() || !iequals(authorization.substr(0, scheme.size()), scheme) ||
      (authorization[scheme.size()] != ' ' && authorization[scheme.size()] != '\t')) {
    return {};
  }
  std::string_view rest = authorization.substr(scheme.size());
  while (!rest.empty() && (rest.front() == ' ' || rest.front() == '\t')) {
    rest.remove_prefix(1);
  }
  while (!rest.empty() && (rest.back() == ' ' || rest.back() == '\t')) {
    rest.remove_suffix(1);
  }
  return rest;
}

// The percent-decoded value of query parameter `name` in `query` (the part after '?'); `found`
// says whether it was there.
[[nodiscard]] inline std::string query_parameter(std::string_view query, std::string_view name, bool& found) {
  found = false;
  while (!query.empty()) {
    const auto amp = query.find('&');
    const std::string_view param = query.substr(0, amp);
    if (param.size() > name.size() && param.substr(0, name.size()) == name && param[name.size()] == '=') {
      std::string decoded;
      const std::string_view enc = param.substr(name.size() + 1);
      for (std::size_t i = 0; i < enc.size(); ++i) {
        if (enc[i] == '%' && i + 2 < enc.size()) {
          unsigned v = 0;
          const auto r = std::from_chars(enc.data() + i + 1, enc.data() + i + 3, v, 16);
          if (r.ptr == enc.data() + i + 3) {
            decoded.push_back(static_cast<char>(v));
            i += 2;
            continue;
          }
        }
        decoded.push_back(enc[i] == '+' ? ' ' : enc[i]);
      }
      found = true;
      return decoded;
    }
    query = (amp == std::string_view::npos) ? std::string_view{} : query.substr(amp + 1);
  }
  return {};
}

// Whether Origin ("scheme://host[:port]") names the same host[:port] as the Host header, i.e. the
// page that opens the WebSocket was served by this server (browsers send both; RFC 6454 §7).
[[nodiscard]] inline bool same_origin(std::string_view origin, std::string_view host, bool secure) noexcept {
  const std::string_view scheme = secure ? "https://" : "http://";
  if (host.empty() || origin.size() <= scheme.size() || !iequals(origin.substr(0, scheme.size()), scheme)) {
    return false;
  }
  return iequals(origin.substr(scheme.size()), host);
}

}  // namespace detail

// The access rules of a server, from its server_options (see there for each field).
class access_policy {
 public:
  access_policy() = default;
  access_policy(std::vector<std::string> allowed_origins, bool same_origin_only, std::string producer_token)
      : allowed_origins_(std::move(allowed_origins)),
        same_origin_(same_origin_only),
        producer_token_(std::move(producer_token)) {}

  // Whether a handshake with this Origin (empty: none, i.e. not a browser) and Host may connect.
  [[nodiscard]] bool origin_allowed(std::string_view origin, std::string_view host,
                                    bool secure = false) const {
    if (origin.empty()) {
      return true;  // non-browser clients send no Origin; browsers always do
    }
    const bool listed =
        std::find(allowed_origins_.begin(), allowed_origins_.end(), origin) != allowed_origins_.end();
    if (same_origin_) {
      return listed || detail::same_origin(origin, host, secure);
    }
    return allowed_origins_.empty() || listed;
  }

  // Whether a connection with this Authorization header and request target may push.
  [[nodiscard]] bool may_push(std::string_view authorization, std::string_view resource) const {
    if (producer_token_.empty()) {
      return true;
    }
    if (const std::string_view bearer = detail::bearer_credentials(authorization); !bearer.empty()) {
      return detail::same_secret(bearer, producer_token_);
    }
    const auto q = resource.find('?');
    if (q == std::string_view::npos) {
      return false;
    }
    bool found = false;
    const std::string token = detail::query_parameter(resource.substr(q + 1), "token", found);
    return found && detail::same_secret(token, producer_token_);
  }

  [[nodiscard]] bool token_required() const noexcept { return !producer_token_.empty(); }

 private:
  std::vector<std::string> allowed_origins_;
  bool same_origin_ = false;
  std::string producer_token_;
};

}  // namespace streamstats::websocket
