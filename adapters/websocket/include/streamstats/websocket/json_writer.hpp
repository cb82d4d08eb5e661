// streamstats::websocket — a small append-only JSON writer for the server's replies.
// SPDX-License-Identifier: MIT
#pragma once

#include <charconv>
#include <cmath>
#include <cstdint>
#include <string>
#include <string_view>
#include <system_error>

namespace streamstats::websocket {

// Appends JSON to a caller-owned std::string, which the server reuses between messages so that a
// reply costs no allocation once the buffer has grown. Numbers go through std::to_chars: the
// shortest text that reads back to the same double (in scientific notation when the plain form
// would be an integer beyond 64 bits), no locale, no printf. Non-finite numbers,
// which JSON cannot represent, are written as null (the protocol's convention).
// Commas are inserted automatically: begin_object()/member_*()/end_object() track whether a
// separator is due.
class json_writer {
 public:
  explicit json_writer(std::string& out) noexcept : out_(out) {}

  void begin_object() {
    comma();
    out_.push_back('{');
    first_ = true;
  }
  void end_object() {
    out_.push_back('}');
    first_ = false;
  }
  void begin_array() {
    comma();
    out_.push_back('[');
    first_ = true;
  }
  void end_array() {
    out_.push_back(']');
    first_ = false;
  }
  // "name": (the value follows with one of the value_* calls or begin_object/begin_array)
  void key(std::string_view name) {
    comma();
    string_literal(name);
    out_.push_back(':');
    first_ = true;  // no comma between a key and its value
  }

  void value_number(double v) {
    comma();
    if (!std::isfinite(v)) {
      out_.append("null");
      return;
    }
    if (v == 0 && std::signbit(v)) {
      out_.append("-0.0");  // "-0" reads back as the integer 0 in most parsers: keep the sign
      return;
    }
    char buf[32];
    auto r = std::to_chars(buf, buf + sizeof buf, v);
    // The shortest form may be a plain integer of 20+ digits (2.5000000000000004e19 is written
    // "25000000000000004000"): valid JSON, but beyond 64 bits, which simdjson (and others) refuse
    // as an integer. Such numbers are written in scientific notation, which reads as a double.
    const std::size_t digits = static_cast<std::size_t>(r.ptr - buf) - (v < 0 ? 1U : 0U);
    if (digits > 18 && std::string_view(buf, static_cast<std::size_t>(r.ptr - buf)).find_first_of(".e") ==
                           std::string_view::npos) {
      r = std::to_chars(buf, buf + sizeof buf, v, std::chars_format::scientific);
    }
    out_.append(buf, static_cast<std::size_t>(r.ptr - buf));
  }
  void value_uint(std::uint64_t v) {
    comma();
    char buf[24];
    const auto r = std::to_chars(buf, buf + sizeof buf, v);
    out_.append(buf, static_cast<std::size_t>(r.ptr - buf));
  }
  void value_int(std::int64_t v) {
    comma();
    char buf[24];
    const auto r = std::to_chars(buf, buf + sizeof buf, v);
    out_.append(buf, static_cast<std::size_t>(r.ptr - buf));
  }
  void value_string(std::string_view s) {
    comma();
    string_literal(s);
  }
  void value_bool(bool b) {
    comma();
    out_.append(b ? "true" : "false");
  }
  // Already-serialised JSON (for example an echoed "id").
  void value_raw(std::string_view json) {
    comma();
    out_.append(json);
  }

  void member_number(std::string_view name, double v) {
    key(name);
    value_number(v);
  }
  void member_uint(std::string_view name, std::uint64_t v) {
    key(name);
    value_uint(v);
  }
  void member_string(std::string_view name, std::string_view v) {
    key(name);
    value_string(v);
  }

 private:
  void comma() {
    if (!first_) {
      out_.push_back(',');
    }
    first_ = false;
  }

  // RFC 8259 §7: quote, backslash and control characters must be escaped; everything else
  // (including valid multi-byte UTF-8) is copied as is.
  void string_literal(std::string_view s) {
    out_.push_back('"');
    for (const char c : s) {
      const auto u = static_cast<unsigned char>(c);
      if (c == '"' || c == '\\') {
        out_.push_back('\\');
        out_.push_back(c);
      } else if (u < 0x20) {
        static constexpr char hex[] = "0123456789abcdef";
        out_.append("\\u00");
        out_.push_back(hex[u >> 4U]);
        out_.push_back(hex[u & 0xFU]);
      } else {
        out_.push_back(c);
      }
    }
    out_.push_back('"');
  }

  std::string& out_;
  bool first_ = true;
};

}  // namespace streamstats::websocket
