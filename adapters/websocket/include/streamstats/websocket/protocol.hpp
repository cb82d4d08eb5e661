// streamstats::websocket — the wire protocol: error codes and the parser of client requests.
// The protocol itself is specified in docs/protocol.md.
// SPDX-License-Identifier: MIT
#pragma once

#include <streamstats/websocket/json_writer.hpp>

#include <simdjson.h>

#include <charconv>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

namespace streamstats::websocket {

// The "code" of an error reply. After any of them the connection stays open and no stream changed.
enum class error_code : unsigned char {
  malformed_json,       // not JSON (or not one complete JSON value)
  wrong_type,           // a field (or the message itself) has the wrong JSON type
  missing_field,        // a required field is absent
  non_finite,           // NaN/±Inf in a binary frame, or a JSON number outside the double range
  empty_frame,          // a text or binary frame with no payload
  unknown_stream,       // subscribe/unsubscribe/snapshot of a stream that does not exist
  unknown_type,         // "type" is not one of push, subscribe, unsubscribe, snapshot, list
  bad_binary_frame,     // wrong version byte, bad name length, or samples not a positive multiple of 8 bytes
  too_many_streams,     // a push would create a stream beyond server_options::max_streams
  unauthorized,         // a push on a connection without the producer token
  rate_limited,         // more messages than server_options::max_messages_per_second
  invalid_stream_name,  // empty, longer than 255 bytes, or not valid UTF-8
};

[[nodiscard]] constexpr std::string_view to_string(error_code c) noexcept {
  switch (c) {
    case error_code::malformed_json:
      return "malformed_json";
    case error_code::wrong_type:
      return "wrong_type";
    case error_code::missing_field:
      return "missing_field";
    case error_code::non_finite:
      return "non_finite";
    case error_code::empty_frame:
      return "empty_frame";
    case error_code::unknown_stream:
      return "unknown_stream";
    case error_code::unknown_type:
      return "unknown_type";
    case error_code::bad_binary_frame:
      return "bad_binary_frame";
    case error_code::too_many_streams:
      return "too_many_streams";
    case error_code::unauthorized:
      return "unauthorized";
    case error_code::rate_limited:
      return "rate_limited";
    case error_code::invalid_stream_name:
      return "invalid_stream_name";
  }
  return "unknown";
}

enum class request_type : unsigned char { push, subscribe, unsubscribe, snapshot, list };

// The binary frame layout: version, name length L, name, then N ≥ 1 little-endian float64 samples.
inline constexpr unsigned char binary_protocol_version = 0x01;
inline constexpr std::size_t max_stream_name_bytes = 255;

// A decoded client request. String views point into the parser and stay valid until its next parse.
struct request {
  request_type type = request_type::push;
  std::string_view stream;
  bool has_stream = false;
  // push: one value (single) or the parser's values() (batch)
  bool single = false;
  double value = 0.0;
  bool has_t = false;
  double t = 0.0;
  // The "id" as JSON text, to be echoed verbatim; empty when absent.
  std::string_view id;
};

struct request_error {
  error_code code = error_code::malformed_json;
  const char* message = "";
};

namespace detail {

// JSON number grammar (RFC 8259 §6): -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
[[nodiscard]] inline bool is_json_number(std::string_view s, bool& integer) noexcept {
  std::size_t i = 0;
  const std::size_t n = s.size();
  auto digit = [&](std::size_t k) { return k < n && s[k] >= '0' && s[k] <= '9'; };
  integer = true;
  if (i < n && s[i] == '-') {
    ++i;
  }
  if (!digit(i)) {
    return false;
  }
  if (s[i] == '0') {
    ++i;
  } else {
    while (digit(i)) {
      ++i;
    }
  }
  if (i < n && s[i] == '.') {
    integer = false;
    ++i;
    if (!digit(i)) {
      return false;
    }
    while (digit(i)) {
      ++i;
    }
  }
  if (i < n && (s[i] == 'e' || s[i] == 'E')) {
    integer = false;
    ++i;
    if (i < n && (s[i] == '+' || s[i] == '-')) {
      ++i;
    }
    if (!digit(i)) {
      return false;
    }
    while (digit(i)) {
      ++i;
    }
  }
  return i == n;
}

}  // namespace detail

// Parses the JSON text frames of the protocol with simdjson's DOM parser: it validates the whole
// document (structure, strings, UTF-8, numbers) and reuses its buffers, so a request costs no
// allocation once the parser has seen a message of that size. Batch values are copied into a
// reused vector, so a batch is checked whole before any sample reaches a stream.
class request_parser {
 public:
  // The message size is bounded by the WebSocket layer (server_options::max_message_size), so the
  // parser keeps simdjson's default capacity limit. (simdjson 3.0.1's set_max_capacity() also stops
  // the parser from growing past its first document's size: do not use it.)
  request_parser() = default;

  // Fills `out` (and values()) or `err`; returns false on error.
  [[nodiscard]] bool parse(std::string_view text, request& out, request_error& err) {
    out = request{};
    values_.clear();
    if (text.empty()) {
      err = {error_code::empty_frame, "empty frame"};
      return false;
    }
    simdjson::dom::element root;
    auto e = parser_.parse(text.data(), text.size()).get(root);
    if (e == simdjson::NUMBER_ERROR) {
      // simdjson refuses numbers outside the double range, and integers beyond 64 bits even when
      // they fit a double: tell "out of range" (non_finite) from bad syntax (malformed_json), and
      // retry the second kind as doubles.
      bool overflow = false;
      if (!rewrite_numbers(text, overflow)) {
        err = {error_code::malformed_json, "malformed JSON (bad number)"};
        return false;
      }
      e = parser_.parse(rewritten_.data(), rewritten_.size()).get(root);
      if (overflow) {
        // The out-of-range numbers were replaced by 0 in rewritten_, only so that the stream and
        // the id can still be read for the reply and the stream's rejected count.
        simdjson::dom::object obj;
        if (e == simdjson::SUCCESS && root.get_object().get(obj) == simdjson::SUCCESS) {
          return fail(obj, out, err, error_code::non_finite, "a number is outside the range of a double");
        }
        err = {error_code::non_finite, "a number is outside the range of a double"};
        return false;
      }
    }
    if (e != simdjson::SUCCESS) {
      err = {error_code::malformed_json, simdjson::error_message(e)};
      return false;
    }
    simdjson::dom::object obj;
    if (root.get_object().get(obj) != simdjson::SUCCESS) {
      err = {error_code::wrong_type, "a message must be a JSON object"};
      return false;
    }

    bool has_type = false;
    bool has_value = false;
    bool has_values = false;
    std::string_view type_name;
    simdjson::dom::element values_elem;
    for (auto field : obj) {
      const std::string_view k = field.key;
      const simdjson::dom::element v = field.value;
      if (k == "id") {
        if (!write_id(v)) {
          id_.clear();
          return fail(obj, out, err, error_code::wrong_type, "\"id\" must be a string or a number");
        }
        out.id = id_;
      } else if (k == "type") {
        if (v.get_string().get(type_name) != simdjson::SUCCESS) {
          return fail(obj, out, err, error_code::wrong_type, "\"type\" must be a string");
        }
        has_type = true;
      } else if (k == "stream") {
        if (v.get_string().get(out.stream) != simdjson::SUCCESS) {
          return fail(obj, out, err, error_code::wrong_type, "\"stream\" must be a string");
        }
        out.has_stream = true;
      } else if (k == "value") {
        if (!to_double(v, out.value)) {
          return fail(obj, out, err, error_code::wrong_type, "\"value\" must be a number");
        }
        has_value = true;
      } else if (k == "values") {
        if (!v.is_array()) {
          return fail(obj, out, err, error_code::wrong_type, "\"values\" must be an array of numbers");
        }
        values_elem = v;
        has_values = true;
      } else if (k == "t") {
        if (!to_double(v, out.t)) {
          return fail(obj, out, err, error_code::wrong_type, "\"t\" must be a number (Unix time in seconds)");
        }
        out.has_t = true;
      }
      // Other fields are ignored, so that clients may add their own.
    }

    if (!has_type || type_name == "push") {
      out.type = request_type::push;
      if (has_value && has_values) {
        return fail(obj, out, err, error_code::wrong_type, R"(a push has "value" or "values", not both)");
      }
      if (!has_value && !has_values) {
        return fail(obj, out, err, error_code::missing_field,
                    has_type ? R"(a push needs "value" or "values")"
                             : R"(missing "type" (or "value"/"values" for a push))");
      }
      if (!out.has_stream) {
        return fail(obj, out, err, error_code::missing_field, "a push needs \"stream\"");
      }
      if (has_value) {
        out.single = true;
      } else {
        simdjson::dom::array arr = values_elem.get_array().value_unsafe();
        values_.reserve(arr.size());
        for (simdjson::dom::element x : arr) {
          double d = 0.0;
          if (!to_double(x, d)) {
            return fail(obj, out, err, error_code::wrong_type, "\"values\" must contain numbers only");
          }
          values_.push_back(d);
        }
        if (values_.empty()) {
          return fail(obj, out, err, error_code::wrong_type,
                      "\"values\" must be a non-empty array of numbers");
        }
      }
      return true;
    }
    if (type_name == "subscribe") {
      out.type = request_type::subscribe;
    } else if (type_name == "unsubscribe") {
      out.type = request_type::unsubscribe;
    } else if (type_name == "snapshot") {
      out.type = request_type::snapshot;
    } else if (type_name == "list") {
      out.type = request_type::list;
      return true;
    } else {
      return fail(obj, out, err, error_code::unknown_type,
                  "unknown \"type\" (push, subscribe, unsubscribe, snapshot, list)");
    }
    if (!out.has_stream) {
      return fail(obj, out, err, error_code::missing_field, "missing \"stream\"");
    }
    return true;
  }

  // The samples of the last batch push.
  [[nodiscard]] const std::vector<double>& values() const noexcept { return values_; }

 private:
  // Reports an error found after the message parsed as an object: the stream and the id are still
  // read (whatever the order of the fields), so that the reply echoes the id and the rejection is
  // counted on the stream.
  bool fail(simdjson::dom::object obj, request& out, request_error& err, error_code code,
            const char* message) {
    err = {code, message};
    values_.clear();
    std::string_view name;
    if (obj["stream"].get_string().get(name) == simdjson::SUCCESS) {
      out.stream = name;
      out.has_stream = true;
    }
    simdjson::dom::element id;
    if (out.id.empty() && obj["id"].get(id) == simdjson::SUCCESS && write_id(id)) {
      out.id = id_;
    }
    return false;
  }

  static bool to_double(simdjson::dom::element v, double& out) noexcept {
    switch (v.type()) {
      case simdjson::dom::element_type::DOUBLE:
        out = v.get_double().value_unsafe();
        return true;
      case simdjson::dom::element_type::INT64:
        out = static_cast<double>(v.get_int64().value_unsafe());
        return true;
      case simdjson::dom::element_type::UINT64:
        out = static_cast<double>(v.get_uint64().value_unsafe());
        return true;
      default:
        return false;
    }
  }

  bool write_id(simdjson::dom::element v) {
    id_.clear();
    json_writer w(id_);
    switch (v.type()) {
      case simdjson::dom::element_type::STRING:
        w.value_string(v.get_string().value_unsafe());
        return true;
      case simdjson::dom::element_type::INT64:
        w.value_int(v.get_int64().value_unsafe());
        return true;
      case simdjson::dom::element_type::UINT64:
        w.value_uint(v.get_uint64().value_unsafe());
        return true;
      case simdjson::dom::element_type::DOUBLE:
        w.value_number(v.get_double().value_unsafe());
        return true;
      default:
        return false;
    }
  }

  // The slow path after simdjson's NUMBER_ERROR: checks every number token outside strings with
  // the JSON grammar and std::from_chars. Returns false on a token that is not a JSON number;
  // sets `overflow` when one is beyond the double range (from_chars: result_out_of_range without a
  // negative exponent; an underflow to 0 is accepted, as simdjson does) and writes 0 in its place.
  // Writes into rewritten_ the text with ".0" after integers too long for 64 bits, which simdjson
  // then reads as doubles.
  bool rewrite_numbers(std::string_view s, bool& overflow) {
    rewritten_.clear();
    overflow = false;
    std::size_t i = 0;
    const std::size_t n = s.size();
    while (i < n) {
      const char c = s[i];
      if (c == '"') {
        const std::size_t start = i++;
        while (i < n && s[i] != '"') {
          i += (s[i] == '\\') ? std::size_t{2} : std::size_t{1};
        }
        i = (i < n) ? i + 1 : n;
        rewritten_.append(s.substr(start, i - start));
      } else if (c == '-' || (c >= '0' && c <= '9')) {
        const std::size_t start = i;
        while (i < n && (s[i] == '-' || s[i] == '+' || s[i] == '.' || s[i] == 'e' || s[i] == 'E' ||
                         (s[i] >= '0' && s[i] <= '9'))) {
          ++i;
        }
        const std::string_view tok = s.substr(start, i - start);
        bool integer = false;
        if (!detail::is_json_number(tok, integer)) {
          return false;
        }
        double d = 0.0;
        const auto r = std::from_chars(tok.data(), tok.data() + tok.size(), d);
        if (r.ec == std::errc::result_out_of_range) {
          const auto epos = tok.find_first_of("eE");
          const bool negative_exponent =
              epos != std::string_view::npos && epos + 1 < tok.size() && tok[epos + 1] == '-';
          if (!negative_exponent) {
            overflow = true;
            rewritten_.push_back('0');
            continue;
          }
        }
        rewritten_.append(tok);
        if (integer && tok.size() > 18) {
          rewritten_.append(".0");
        }
      } else {
        rewritten_.push_back(c);
        ++i;
      }
    }
    return true;
  }

  simdjson::dom::parser parser_;
  std::vector<double> values_;
  std::string id_;
  std::string rewritten_;
};

}  // namespace streamstats::websocket
