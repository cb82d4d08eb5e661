// streamstats::websocket — the wire protocol: error codes and the parser of client requests.
// The protocol itself is specified in docs/protocol.md.
// SPDX-License-Identifier: MIT
#pragma once

#include <streamstats/websocket/json_writer.hpp>
#include <streamstats/websocket/pipeline.hpp>

#include <simdjson.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <cmath>
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
  out_of_range,         // a finite sample with |x| > max_sample_magnitude (pipeline.hpp)
  duplicate_field,      // a field of the protocol (id, type, stream, value, values, t) given twice
  forbidden,            // a push or subscribe outside the connection's rights (its JWT's globs)
  unavailable,          // the broker (Redis, --redis) did not acknowledge the push: not appended, or unknown
  invalid_producer,     // a bad "producer" id or "seq" (empty, too long, not printable ASCII, 0, > 2^53 - 1)
  out_of_order,         // a push's "seq" skips numbers after the producer's last one: not appended
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
    case error_code::out_of_range:
      return "out_of_range";
    case error_code::duplicate_field:
      return "duplicate_field";
    case error_code::forbidden:
      return "forbidden";
    case error_code::unavailable:
      return "unavailable";
    case error_code::invalid_producer:
      return "invalid_producer";
    case error_code::out_of_order:
      return "out_of_order";
  }
  return "unknown";
}

enum class request_type : unsigned char { push, subscribe, unsubscribe, snapshot, list };

// The binary frame layout: version, name length L, name, then N ≥ 1 little-endian float64 samples.
// With the flag binary_producer_flag on the version byte (0x81), a producer header follows the name:
// its length P (1..max_producer_bytes), the producer id, the batch's sequence number (uint64 LE).
inline constexpr unsigned char binary_protocol_version = 0x01;
inline constexpr unsigned char binary_producer_flag = 0x80;
inline constexpr std::size_t max_stream_name_bytes = 255;

// Idempotent retries (docs/protocol.md, "Producer ids and sequence numbers"): a push may name its
// producer and number its batch. Ids are 1..64 bytes of printable ASCII (no space); sequence numbers
// are 1..2^53 - 1, so that every JSON reader (JavaScript's numbers) and Redis' Lua keep them exact.
inline constexpr std::size_t max_producer_bytes = 64;
inline constexpr std::uint64_t max_producer_seq = (std::uint64_t{1} << 53) - 1;

// A push's producer id and sequence number; seq == 0 means none (the push is not numbered).
struct producer_seq {
  std::string_view producer;
  std::uint64_t seq = 0;
};

[[nodiscard]] inline bool valid_producer_id(std::string_view p) noexcept {
  if (p.empty() || p.size() > max_producer_bytes) {
    return false;
  }
  return std::all_of(p.begin(), p.end(), [](char c) { return c > 0x20 && c < 0x7f; });
}

// A decoded client request. String views point into the parser (or the binary frame) and stay
// valid until the parser's next parse.
struct request {
  request_type type = request_type::push;
  std::string_view stream;
  bool has_stream = false;
  // push: one value (single) or the parser's values() (batch)
  bool single = false;
  double value = 0.0;
  bool has_t = false;
  double t = 0.0;
  // push: "producer" and "seq" (both or neither), or the binary frame's producer header.
  producer_seq origin;
  // The "id" as JSON text, ready to be written into a reply; empty when absent. A string id is
  // re-escaped; a number id is written as read (integers of up to 64 bits exactly, others as the
  // nearest double), so the reply parses as JSON wherever the request did.
  std::string_view id;
};

struct request_error {
  error_code code = error_code::malformed_json;
  const char* message = "";
};

// The admission rule for samples, shared by every path into a stream (JSON and binary frames here,
// server::push from C++): every sample finite and |x| ≤ max_sample_magnitude, and t (when given,
// NaN = absent) finite. Returns false with non_finite or out_of_range, checking the whole batch
// before the caller lets any of it reach a pipeline.
[[nodiscard]] inline bool check_samples(const double* x, std::size_t n, double t,
                                        request_error& err) noexcept {
  if (std::isinf(t)) {
    err = {error_code::non_finite, "t must be a finite number"};
    return false;
  }
  for (std::size_t i = 0; i < n; ++i) {
    // One comparison per sample on the hot path; the negated form also catches NaN.
    if (!(std::fabs(x[i]) <= max_sample_magnitude)) {
      err = std::isfinite(x[i])
                ? request_error{error_code::out_of_range, "samples must be within [-1e60, 1e60]"}
                : request_error{error_code::non_finite, "samples must be finite numbers"};
      return false;
    }
  }
  return true;
}

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

// For a valid JSON number token that std::from_chars found out of range: true when its magnitude
// is ≥ 1 (an overflow), false when it is < 1 (an underflow, which reads as 0 or a subnormal).
// Works from the position of the first significant digit and the exponent, so that a tiny number
// written without an exponent ("0.000…1") is an underflow too. The exponent saturates: a token has
// at most max_message_size digits, far from the clamp.
[[nodiscard]] inline bool is_overflow(std::string_view tok) noexcept {
  std::size_t i = (!tok.empty() && tok[0] == '-') ? 1 : 0;
  long long magnitude = 0;  // decimal exponent of the first significant digit, before "e"
  bool found = false;
  long long int_digits = 0;
  for (; i < tok.size() && tok[i] >= '0' && tok[i] <= '9'; ++i) {
    if (!found && tok[i] != '0') {
      found = true;
      int_digits = 0;
    }
    if (found) {
      ++int_digits;
    }
  }
  if (found) {
    magnitude = int_digits - 1;
  } else if (i < tok.size() && tok[i] == '.') {
    long long zeros = 0;
    for (++i; i < tok.size() && tok[i] == '0'; ++i) {
      ++zeros;
    }
    magnitude = -(zeros + 1);
  }
  while (i < tok.size() && tok[i] != 'e' && tok[i] != 'E') {
    ++i;
  }
  long long exponent = 0;
  if (i < tok.size()) {
    ++i;
    const bool negative = i < tok.size() && tok[i] == '-';
    if (i < tok.size() && (tok[i] == '-' || tok[i] == '+')) {
      ++i;
    }
    constexpr long long clamp = 1LL << 40;
    for (; i < tok.size(); ++i) {
      exponent = std::min(clamp, exponent * 10 + (tok[i] - '0'));
    }
    if (negative) {
      exponent = -exponent;
    }
  }
  return magnitude + exponent >= 0;
}

}  // namespace detail

// Parses the JSON text frames of the protocol with simdjson's DOM parser: it validates the whole
// document (structure, strings, UTF-8, numbers) and reuses its buffers, so a request costs no
// allocation once the parser has seen a message of that size. Batch values are copied into a
// reused vector, so a batch is checked whole before any sample reaches a stream. Binary frames go
// through parse_binary(), into the same vector.
class request_parser {
 public:
  // The message size is bounded by the WebSocket layer (server_options::max_message_size), so the
  // parser keeps simdjson's default capacity limit. (simdjson 3.0.1's set_max_capacity() also stops
  // the parser from growing past its first document's size: do not use it.)
  request_parser() = default;

  // Fills `out` (and values()) or `err`; returns false on error. On an error `out` still carries
  // the stream and the id when the message got that far (for the reply and the stream's count).
  [[nodiscard]] bool parse(std::string_view text, request& out, request_error& err) {
    out = request{};
    values_.clear();
    id_.clear();
    overflow_ = false;
    if (text.empty()) {
      err = {error_code::empty_frame, "empty frame"};
      return false;
    }
    simdjson::dom::element root;
    auto e = parser_.parse(text.data(), text.size()).get(root);
    if (e == simdjson::NUMBER_ERROR) {
      // simdjson refuses numbers outside the double range, and integers beyond 64 bits even when
      // they fit a double: tell bad syntax (malformed_json) from those, and read the document again
      // with the integers as doubles and the out-of-range numbers as null (see number_is_null).
      if (!rewrite_numbers(text)) {
        err = {error_code::malformed_json, "malformed JSON (bad number)"};
        return false;
      }
      e = parser_.parse(rewritten_.data(), rewritten_.size()).get(root);
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

    // First pass: the protocol's fields, each at most once. JSON leaves duplicate names to the
    // implementation (RFC 8259 §4) and readers disagree (first wins, last wins); a request that
    // means different things to a proxy and to this server is refused instead.
    std::array<simdjson::dom::element, field_count> fields{};
    std::array<bool, field_count> present{};
    std::array<bool, field_count> twice{};
    const char* duplicate = nullptr;
    for (auto field : obj) {
      const int f = field_index(field.key);
      if (f < 0) {
        continue;  // other fields are ignored, so that clients may add their own
      }
      const auto k = static_cast<std::size_t>(f);
      if (present[k]) {
        twice[k] = true;
        duplicate = duplicate != nullptr ? duplicate : duplicate_messages[k];
        continue;
      }
      present[k] = true;
      fields[k] = field.value;
    }
    auto has = [&](field_id f) { return present[static_cast<std::size_t>(f)]; };
    auto get = [&](field_id f) { return fields[static_cast<std::size_t>(f)]; };

    // The stream and the id first, so that every error below is counted on the stream and echoes
    // the id — unless that field is the one given twice.
    bool stream_ok = true;
    if (has(f_stream)) {
      stream_ok = get(f_stream).get_string().get(out.stream) == simdjson::SUCCESS;
      out.has_stream = stream_ok && !twice[f_stream];
    }
    if (has(f_id) && !twice[f_id]) {
      if (!write_id(get(f_id))) {
        return fail(err, number_is_null(get(f_id))
                             ? request_error{error_code::non_finite,
                                             "\"id\" is a number outside the range of a double"}
                             : request_error{error_code::wrong_type, "\"id\" must be a string or a number"});
      }
      out.id = id_;
    }
    if (duplicate != nullptr) {
      return fail(err, {error_code::duplicate_field, duplicate});
    }
    if (!stream_ok) {
      return fail(err, {error_code::wrong_type, "\"stream\" must be a string"});
    }
    std::string_view type_name;
    if (has(f_type) && get(f_type).get_string().get(type_name) != simdjson::SUCCESS) {
      return fail(err, {error_code::wrong_type, "\"type\" must be a string"});
    }
    if (has(f_value) && !to_double(get(f_value), out.value)) {
      return fail(err, number_error("\"value\" must be a number", get(f_value)));
    }
    if (has(f_values) && !get(f_values).is_array()) {
      return fail(err, {error_code::wrong_type, "\"values\" must be an array of numbers"});
    }
    if (has(f_t)) {
      if (!to_double(get(f_t), out.t)) {
        return fail(err, number_error("\"t\" must be a number (Unix time in seconds)", get(f_t)));
      }
      out.has_t = true;
    }

    if (!has(f_type) || type_name == "push") {
      out.type = request_type::push;
      if (has(f_value) && has(f_values)) {
        return fail(err, {error_code::wrong_type, R"(a push has "value" or "values", not both)"});
      }
      if (!has(f_value) && !has(f_values)) {
        return fail(err, {error_code::missing_field,
                          has(f_type) ? R"(a push needs "value" or "values")"
                                      : R"(missing "type" (or "value"/"values" for a push))"});
      }
      if (!out.has_stream) {
        return fail(err, {error_code::missing_field, "a push needs \"stream\""});
      }
      if (has(f_producer) || has(f_seq)) {
        request_error bad;
        if (!read_origin(has(f_producer) ? &fields[f_producer] : nullptr,
                         has(f_seq) ? &fields[f_seq] : nullptr, out.origin, bad)) {
          return fail(err, bad);
        }
      }
      if (has(f_value)) {
        out.single = true;
      } else {
        simdjson::dom::array arr = get(f_values).get_array().value_unsafe();
        values_.reserve(arr.size());
        for (simdjson::dom::element x : arr) {
          double d = 0.0;
          if (!to_double(x, d)) {
            return fail(err, number_error("\"values\" must contain numbers only", x));
          }
          values_.push_back(d);
        }
        if (values_.empty()) {
          return fail(err, {error_code::wrong_type, "\"values\" must be a non-empty array of numbers"});
        }
      }
      request_error bad;
      const bool ok = out.single
                          ? check_samples(&out.value, 1, out.has_t ? out.t : 0.0, bad)
                          : check_samples(values_.data(), values_.size(), out.has_t ? out.t : 0.0, bad);
      return ok || fail(err, bad);
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
      return fail(
          err, {error_code::unknown_type, "unknown \"type\" (push, subscribe, unsubscribe, snapshot, list)"});
    }
    if (!out.has_stream) {
      return fail(err, {error_code::missing_field, "missing \"stream\""});
    }
    return true;
  }

  // Decodes a binary frame (docs/protocol.md): byte 0 the version 0x01, byte 1 the name length
  // L ≥ 1, L bytes of UTF-8 name, then N ≥ 1 little-endian float64 samples, copied into values()
  // (the payload need not be 8-byte aligned) and checked by check_samples. With byte 0 = 0x81
  // (binary_producer_flag), a producer header comes between the name and the samples: P (1..64),
  // P bytes of producer id, the sequence number as a little-endian uint64. On success `out` is a
  // batch push (single = false, no t, no id; out.origin set by the header). On an error after the
  // name, out.stream names it.
  [[nodiscard]] bool parse_binary(std::string_view p, request& out, request_error& err) {
    out = request{};
    values_.clear();
    if (p.empty()) {
      err = {error_code::empty_frame, "empty frame"};
      return false;
    }
    const auto version = static_cast<unsigned char>(p.empty() ? 0 : p[0]);
    if (p.size() < 2 || (version & ~binary_producer_flag) != binary_protocol_version) {
      err = {error_code::bad_binary_frame,
             "binary frame: byte 0 must be the version 0x01 (0x81 with a producer)"};
      return false;
    }
    const std::size_t len = static_cast<unsigned char>(p[1]);
    if (len == 0 || p.size() < 2 + len) {
      err = {error_code::bad_binary_frame, "binary frame: bad stream name length"};
      return false;
    }
    const std::string_view name = p.substr(2, len);
    if (!simdjson::validate_utf8(name.data(), name.size())) {
      err = {error_code::invalid_stream_name, "stream name is not valid UTF-8"};
      return false;
    }
    out.stream = name;
    out.has_stream = true;
    std::size_t at = 2 + len;
    if ((version & binary_producer_flag) != 0) {
      const std::size_t plen = at < p.size() ? static_cast<unsigned char>(p[at]) : 0;
      if (at >= p.size() || p.size() < at + 1 + plen + 8) {
        err = {error_code::bad_binary_frame, "binary frame: the producer header is cut short"};
        return false;
      }
      out.origin.producer = p.substr(at + 1, plen);
      if (!valid_producer_id(out.origin.producer)) {
        out.origin = {};
        err = {error_code::invalid_producer,
               "binary frame: the producer id must be 1 to 64 bytes of printable ASCII"};
        return false;
      }
      std::uint64_t seq = 0;
      for (std::size_t b = 0; b < 8; ++b) {
        seq |= std::uint64_t{static_cast<unsigned char>(p[at + 1 + plen + b])} << (8 * b);
      }
      if (seq == 0 || seq > max_producer_seq) {
        out.origin = {};
        err = {error_code::invalid_producer, "binary frame: the sequence number must be from 1 to 2^53 - 1"};
        return false;
      }
      out.origin.seq = seq;
      at += 1 + plen + 8;
    }
    const std::size_t bytes = p.size() - at;
    if (bytes == 0 || bytes % 8 != 0) {
      err = {error_code::bad_binary_frame, "binary frame: samples must be a positive multiple of 8 bytes"};
      return false;
    }
    values_.resize(bytes / 8);
    std::memcpy(values_.data(), p.data() + at, bytes);
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    for (double& d : values_) {
      std::uint64_t u;
      std::memcpy(&u, &d, 8);
      u = __builtin_bswap64(u);
      std::memcpy(&d, &u, 8);
    }
#endif
    if (!check_samples(values_.data(), values_.size(), 0.0, err)) {
      values_.clear();
      return false;
    }
    return true;
  }

  // The samples of the last batch push (JSON "values" or a binary frame).
  [[nodiscard]] const std::vector<double>& values() const noexcept { return values_; }

 private:
  enum field_id : std::size_t {
    f_id,
    f_type,
    f_stream,
    f_value,
    f_values,
    f_t,
    f_producer,
    f_seq,
    field_count
  };
  static constexpr std::array<const char*, field_count> duplicate_messages = {
      "\"id\" appears twice",       "\"type\" appears twice",   "\"stream\" appears twice",
      "\"value\" appears twice",    "\"values\" appears twice", "\"t\" appears twice",
      "\"producer\" appears twice", "\"seq\" appears twice"};

  static int field_index(std::string_view k) noexcept {
    static constexpr std::array<std::string_view, field_count> names = {"id",     "type", "stream",   "value",
                                                                        "values", "t",    "producer", "seq"};
    for (std::size_t i = 0; i < names.size(); ++i) {
      if (k == names[i]) {
        return static_cast<int>(i);
      }
    }
    return -1;
  }

  // "producer" and "seq" of a push (at least one of them present; absent ones are null pointers).
  [[nodiscard]] static bool read_origin(const simdjson::dom::element* producer,
                                        const simdjson::dom::element* seq, producer_seq& out,
                                        request_error& err) noexcept {
    if (producer == nullptr || seq == nullptr) {
      err = {error_code::missing_field, R"("producer" and "seq" go together: give both or neither)"};
      return false;
    }
    if (producer->get_string().get(out.producer) != simdjson::SUCCESS) {
      err = {error_code::wrong_type, R"("producer" must be a string)"};
      return false;
    }
    if (!valid_producer_id(out.producer)) {
      err = {error_code::invalid_producer,
             R"("producer" must be 1 to 64 bytes of printable ASCII, no space)"};
      return false;
    }
    std::uint64_t v = 0;
    switch (seq->type()) {
      case simdjson::dom::element_type::INT64: {
        const std::int64_t i = seq->get_int64().value_unsafe();
        v = i < 0 ? 0 : static_cast<std::uint64_t>(i);
        break;
      }
      case simdjson::dom::element_type::UINT64:
        v = seq->get_uint64().value_unsafe();
        break;
      default:
        err = {error_code::wrong_type, R"("seq" must be an integer)"};
        return false;
    }
    if (v == 0 || v > max_producer_seq) {
      err = {error_code::invalid_producer, R"("seq" must be an integer from 1 to 2^53 - 1)"};
      return false;
    }
    out.seq = v;
    return true;
  }

  bool fail(request_error& err, request_error e) {
    err = e;
    values_.clear();
    return false;
  }

  // A null where a number was expected is an out-of-range number when the document had one
  // (rewrite_numbers wrote null in its place); a null the client wrote is a wrong type. (With both
  // in one message the code may say non_finite: the message is refused either way.)
  [[nodiscard]] bool number_is_null(simdjson::dom::element v) const noexcept {
    return overflow_ && v.is_null();
  }
  [[nodiscard]] request_error number_error(const char* wrong_type_message,
                                           simdjson::dom::element v) const noexcept {
    return number_is_null(v)
               ? request_error{error_code::non_finite, "a number is outside the range of a double"}
               : request_error{error_code::wrong_type, wrong_type_message};
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
  // the JSON grammar and std::from_chars, and writes the document again into rewritten_:
  // - a number beyond the double range (detail::is_overflow) becomes null and sets overflow_;
  // - an underflow is kept as written (simdjson reads it as 0 or a subnormal, as from a literal);
  // - an integer beyond 64 bits gets ".0", which simdjson then reads as the nearest double.
  // Returns false on a token that is not a JSON number.
  bool rewrite_numbers(std::string_view s) {
    rewritten_.clear();
    overflow_ = false;
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
        if (r.ec == std::errc::result_out_of_range && detail::is_overflow(tok)) {
          overflow_ = true;
          rewritten_.append("null");
          continue;
        }
        rewritten_.append(tok);
        if (integer && !fits_64_bits(tok)) {
          rewritten_.append(".0");
        }
      } else {
        rewritten_.push_back(c);
        ++i;
      }
    }
    return true;
  }

  static bool fits_64_bits(std::string_view tok) noexcept {
    const char* end = tok.data() + tok.size();
    if (tok[0] == '-') {
      std::int64_t v = 0;
      const auto r = std::from_chars(tok.data(), end, v);
      return r.ec == std::errc{} && r.ptr == end;
    }
    std::uint64_t v = 0;
    const auto r = std::from_chars(tok.data(), end, v);
    return r.ec == std::errc{} && r.ptr == end;
  }

  simdjson::dom::parser parser_;
  std::vector<double> values_;
  std::string id_;
  std::string rewritten_;
  bool overflow_ = false;
};

}  // namespace streamstats::websocket
