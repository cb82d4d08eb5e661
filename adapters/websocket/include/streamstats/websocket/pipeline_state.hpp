// streamstats::websocket — the byte format of a pipeline's saved state (issue 11, checkpoints):
// an envelope around the library states of the pipeline's accumulators (include/streamstats/state.hpp)
// that also records which pipeline, configured how, wrote them. docs/state-format.md, "Pipeline
// states", is the reference.
// SPDX-License-Identifier: MIT
#pragma once

#include <streamstats/state.hpp>

#include <charconv>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <system_error>

namespace streamstats::websocket {

// Which pipeline class wrote a state (the envelope's kind byte). Never renumber.
enum class pipeline_state_kind : unsigned char {
  default_pipeline = 1,
  spec_pipeline = 2,
};

// The envelope's version; any change of the envelope or of the members a pipeline writes bumps it.
inline constexpr std::uint16_t pipeline_state_version = 1;

namespace detail {

inline constexpr unsigned char pipeline_state_magic[4] = {'S', 'S', 'P', 'L'};
// magic, u16 version, u8 kind, u8 reserved (0), u32 total length (header to CRC inclusive)
inline constexpr std::size_t pipeline_state_header_size = 12;

inline void put_le(std::string& out, std::uint64_t v, std::size_t nbytes) {
  for (std::size_t i = 0; i < nbytes; ++i) {
    out.push_back(static_cast<char>(static_cast<unsigned char>(v >> (8 * i))));
  }
}

inline void patch_le(std::string& out, std::size_t at, std::uint64_t v, std::size_t nbytes) noexcept {
  for (std::size_t i = 0; i < nbytes; ++i) {
    out[at + i] = static_cast<char>(static_cast<unsigned char>(v >> (8 * i)));
  }
}

[[nodiscard]] inline std::uint64_t get_le(const char* p, std::size_t nbytes) noexcept {
  std::uint64_t v = 0;
  for (std::size_t i = 0; i < nbytes; ++i) {
    v |= std::uint64_t{static_cast<unsigned char>(p[i])} << (8 * i);
  }
  return v;
}

[[nodiscard]] inline std::uint32_t crc32c_of(const char* p, std::size_t n) noexcept {
  return streamstats::detail::crc32c(reinterpret_cast<const unsigned char*>(p), n);
}

// The identity of a pipeline: a canonical text of every parameter that shapes its state ("sma=20
// ema_alpha=0.09523809523809523 ..."). Stored in the state and compared on load byte for byte, so a
// state saved under another configuration is refused with both texts in the message. Numbers go
// through std::to_chars (shortest round-trip form, no locale): two different doubles never print
// the same.
class pipeline_identity {
 public:
  explicit pipeline_identity(std::string_view name) : text_(name) {}
  pipeline_identity& add(std::string_view key, double v) {
    char buf[32];
    const auto r = std::to_chars(buf, buf + sizeof buf, v);
    return add(key, std::string_view(buf, static_cast<std::size_t>(r.ptr - buf)));
  }
  pipeline_identity& add(std::string_view key, std::uint64_t v) {
    char buf[24];
    const auto r = std::to_chars(buf, buf + sizeof buf, v);
    return add(key, std::string_view(buf, static_cast<std::size_t>(r.ptr - buf)));
  }
  pipeline_identity& add(std::string_view key, std::string_view v) {
    text_.push_back(' ');
    text_.append(key);
    text_.push_back('=');
    text_.append(v);
    return *this;
  }
  [[nodiscard]] const std::string& str() const noexcept { return text_; }

 private:
  std::string text_;
};

// Appends a pipeline state to a string: header, identity, then fields in the order the pipeline
// chooses (doubles, and member states each as u32 length + a library state), then finish() writes
// the length and the CRC-32C. On an exception (std::bad_alloc only) `out` may hold a partial state.
class pipeline_state_writer {
 public:
  pipeline_state_writer(std::string& out, pipeline_state_kind kind, std::string_view identity)
      : out_(out), start_(out.size()) {
    out_.append(reinterpret_cast<const char*>(pipeline_state_magic), sizeof pipeline_state_magic);
    put_le(out_, pipeline_state_version, 2);
    put_le(out_, static_cast<std::uint64_t>(kind), 1);
    put_le(out_, 0, 1);
    put_le(out_, 0, 4);  // total length, patched by finish()
    put_le(out_, identity.size(), 2);
    out_.append(identity);
  }

  // A double as its IEEE bits; every NaN as the canonical quiet NaN (as the library states do).
  void value(double x) {
    std::uint64_t bits = 0x7ff8000000000000ULL;
    if (x == x) {
      std::memcpy(&bits, &x, 8);
    }
    put_le(out_, bits, 8);
  }

  // u32 length, then the library state of `acc`, written straight into `out` (no temporary).
  template <class Acc>
  void member(const Acc& acc) {
    // Sized first (a pass that only counts): growing `out` by more than the state would zero-fill
    // the excess, which on a checkpoint's large buffer costs more than the state itself.
    const std::size_t need = streamstats::state_size(acc);
    put_le(out_, need, 4);
    const std::size_t at = out_.size();
    out_.resize(at + need);
    (void)streamstats::save_state(acc, out_.data() + at, need);
  }

  void finish() {
    const std::size_t total = out_.size() - start_ + 4;
    patch_le(out_, start_ + 8, total, 4);
    put_le(out_, crc32c_of(out_.data() + start_, out_.size() - start_), 4);
  }

 private:
  std::string& out_;
  std::size_t start_;
};

// Reads what pipeline_state_writer wrote. The constructor checks the envelope (magic, version,
// length, CRC-32C, kind, identity) and throws state_error with a message that names the pipeline;
// member() loads one member through streamstats::load_state and names the member in its errors.
class pipeline_state_reader {
 public:
  pipeline_state_reader(std::string_view bytes, pipeline_state_kind kind, std::string_view identity,
                        const char* pipeline_name)
      : p_(bytes.data()), n_(bytes.size()), name_(pipeline_name) {
    if (n_ < sizeof pipeline_state_magic ||
        std::memcmp(p_, pipeline_state_magic, sizeof pipeline_state_magic) != 0) {
      fail(n_ < sizeof pipeline_state_magic ? state_errc::truncated : state_errc::bad_magic,
           "not a pipeline state (the first four bytes are not \"SSPL\")");
    }
    if (n_ < pipeline_state_header_size + 2) {
      fail(state_errc::truncated, "shorter than the pipeline state header");
    }
    const auto version = static_cast<std::uint16_t>(get_le(p_ + 4, 2));
    if (version != pipeline_state_version) {
      fail(state_errc::unsupported_version, "pipeline state version " + std::to_string(version) +
                                                ", this build reads version " +
                                                std::to_string(pipeline_state_version));
    }
    const auto total = static_cast<std::size_t>(get_le(p_ + 8, 4));
    if (n_ < total) {
      fail(state_errc::truncated,
           std::to_string(n_) + " bytes, the header announces " + std::to_string(total));
    }
    if (n_ > total) {
      fail(state_errc::trailing_bytes,
           std::to_string(n_) + " bytes, the header announces " + std::to_string(total));
    }
    if (total < pipeline_state_header_size + 2 + 4) {
      fail(state_errc::invalid_field, "the announced length is below the smallest pipeline state");
    }
    end_ = n_ - 4;
    if (static_cast<std::uint32_t>(get_le(p_ + end_, 4)) != crc32c_of(p_, end_)) {
      fail(state_errc::checksum_mismatch, "the stored CRC-32C differs from the bytes' (corrupted)");
    }
    const auto stored_kind = static_cast<unsigned char>(p_[6]);
    if (stored_kind != static_cast<unsigned char>(kind)) {
      fail(state_errc::type_mismatch, std::string("the state was saved by a ") + kind_name(stored_kind) +
                                          ", this stream's pipeline is a " +
                                          kind_name(static_cast<unsigned char>(kind)));
    }
    pos_ = pipeline_state_header_size;
    const auto id_len = static_cast<std::size_t>(get_le(p_ + pos_, 2));
    pos_ += 2;
    if (end_ - pos_ < id_len) {
      fail(state_errc::invalid_field, "the identity runs past the end of the state");
    }
    const std::string_view stored(p_ + pos_, id_len);
    pos_ += id_len;
    if (stored != identity) {
      fail(state_errc::parameter_mismatch,
           "the state was saved by a pipeline with another configuration: saved [" + std::string(stored) +
               "], this stream's pipeline is [" + std::string(identity) + "]");
    }
  }

  [[nodiscard]] double value() {
    need(8, "a value");
    const std::uint64_t bits = get_le(p_ + pos_, 8);
    pos_ += 8;
    double x = 0.0;
    std::memcpy(&x, &bits, 8);
    if (x != x && bits != 0x7ff8000000000000ULL) {
      fail(state_errc::invalid_field, "a NaN other than the canonical quiet NaN");
    }
    return x;
  }

  template <class Acc>
  void member(Acc& target, const char* what) {
    need(4, what);
    const auto len = static_cast<std::size_t>(get_le(p_ + pos_, 4));
    pos_ += 4;
    need(len, what);
    try {
      target = streamstats::load_state<Acc>(std::string_view(p_ + pos_, len));
    } catch (const state_error& e) {
      throw state_error(e.code(), std::string(name_) + " state, member " + what + ": " + e.what());
    }
    pos_ += len;
  }

  void finish() const {
    if (pos_ != end_) {
      fail(state_errc::invalid_field, "bytes left after the pipeline's last member");
    }
  }

  [[noreturn]] void fail(state_errc ec, const std::string& why) const {
    throw state_error(ec, std::string(name_) + " state: " + state_errc_message(ec) + " (" + why + ")");
  }

 private:
  static const char* kind_name(unsigned char k) noexcept {
    switch (k) {
      case static_cast<unsigned char>(pipeline_state_kind::default_pipeline):
        return "default_pipeline";
      case static_cast<unsigned char>(pipeline_state_kind::spec_pipeline):
        return "spec_pipeline";
      default:
        return "pipeline of unknown kind";
    }
  }
  void need(std::size_t k, const char* what) const {
    if (end_ - pos_ < k) {
      fail(state_errc::invalid_field, std::string("the state ends inside ") + what);
    }
  }

  const char* p_;
  std::size_t n_;
  const char* name_;
  std::size_t end_ = 0;
  std::size_t pos_ = 0;
};

}  // namespace detail
}  // namespace streamstats::websocket
