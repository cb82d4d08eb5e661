// streamstats — saving and restoring the exact state of an accumulator or detector.
// SPDX-License-Identifier: MIT
//
//   std::string bytes = streamstats::save_state(acc);                 // throws only std::bad_alloc
//   auto copy = streamstats::load_state<decltype(acc)>(bytes);        // throws streamstats::state_error
//
// and, allocation-free and noexcept, on the caller's buffer:
//
//   char buf[4096];
//   streamstats::state_save_result r = streamstats::save_state(acc, buf, sizeof buf);
//   if (r.ec == streamstats::state_errc::ok) send(buf, r.size);       // r.size: bytes written (or needed)
//   streamstats::state_errc ec = streamstats::load_state(std::string_view(buf, r.size), acc);
//
// The format (docs/state-format.md): a 12-byte little-endian header (magic "SSTA", format version,
// tag and payload lengths), a type tag that spells the accumulator type and its compile-time
// parameters, the payload (run-time parameters such as α, p, the detector options, then every member
// of the state, each integer and float written byte by byte little-endian), and a CRC-32C of all of
// it. The same state gives the same bytes on every platform, and a restored accumulator continues
// bit for bit as the original would have.
//
// Loading validates everything before it touches the target: the length, the magic, the version,
// the checksum, the type tag, every field's range and the invariants that tie the fields together
// (a window's fill and its counts, the positions of a wedge, the weights of an EMA...). A failure
// leaves the target unchanged and names what is wrong (state_errc, state_error::what()).
// The Eigen layer's types (covariance, mahalanobis_detector, mean/variance/ema of vectors) need
// <streamstats/eigen/state.hpp> as well.
#pragma once

#include <streamstats/autocorrelation.hpp>
#include <streamstats/ddsketch.hpp>
#include <streamstats/detail/common.hpp>
#include <streamstats/detail/episodes.hpp>
#include <streamstats/detail/nonfinite.hpp>
#include <streamstats/ema.hpp>
#include <streamstats/ew_variance.hpp>
#include <streamstats/extrema.hpp>
#include <streamstats/mean.hpp>
#include <streamstats/moments.hpp>
#include <streamstats/multi.hpp>
#include <streamstats/quantile.hpp>
#include <streamstats/rolling_extrema.hpp>
#include <streamstats/rolling_variance.hpp>
#include <streamstats/score_rank.hpp>
#include <streamstats/sma.hpp>
#include <streamstats/time_ema.hpp>
#include <streamstats/time_window.hpp>
#include <streamstats/variance.hpp>
#include <streamstats/weighted_mean.hpp>
#include <streamstats/weighted_variance.hpp>
#include <streamstats/zscore_detector.hpp>

#include <array>
#include <chrono>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <initializer_list>
#include <limits>
#include <ratio>
#include <stdexcept>
#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>

namespace streamstats {

// The format version this header writes (docs/state-format.md, "Versions"). It reads this one and
// the older ones from state_format_oldest_readable on.
inline constexpr std::uint16_t state_format_version = 2;
// Version 1 lacks anomaly_detector's timestamp block (seasonal_options::cycle and the learned pace);
// it loads with the defaults a detector fed without timestamps has.
inline constexpr std::uint16_t state_format_oldest_readable = 1;

// Why a save or a load failed. Each has its own value so that a caller (and the tests) can tell them
// apart; state_errc_message() gives the sentence.
enum class state_errc : unsigned char {
  ok = 0,
  truncated,            // fewer bytes than the header announces (or than a header needs)
  trailing_bytes,       // more bytes than the header announces
  bad_magic,            // not a streamstats state at all
  unsupported_version,  // a format version this build does not read (newer or older)
  checksum_mismatch,    // the CRC-32C does not match: the bytes were corrupted
  type_mismatch,        // the state of another accumulator, or of another value type
  parameter_mismatch,   // the same accumulator with other compile-time parameters (window, policy, D...)
  invalid_field,        // a field out of its range, or fields that contradict each other
  buffer_too_small,     // save_state: the caller's buffer cannot hold the state
};

[[nodiscard]] constexpr const char* state_errc_message(state_errc ec) noexcept {
  switch (ec) {
    case state_errc::ok:
      return "ok";
    case state_errc::truncated:
      return "truncated state: fewer bytes than its header announces";
    case state_errc::trailing_bytes:
      return "trailing bytes after the state";
    case state_errc::bad_magic:
      return "not a streamstats state (wrong magic bytes)";
    case state_errc::unsupported_version:
      return "unsupported state format version";
    case state_errc::checksum_mismatch:
      return "checksum mismatch: the state bytes are corrupted";
    case state_errc::type_mismatch:
      return "the state belongs to another accumulator type or value type";
    case state_errc::parameter_mismatch:
      return "the state belongs to the same accumulator with other template parameters";
    case state_errc::invalid_field:
      return "invalid or inconsistent field in the state";
    case state_errc::buffer_too_small:
      return "the buffer is too small for the state";
  }
  return "unknown state error";
}

// Thrown by load_state<Acc>(bytes). what() says what is wrong, code() which kind of failure it is.
class state_error : public std::runtime_error {
 public:
  state_error(state_errc code, const std::string& what) : std::runtime_error(what), code_(code) {}
  [[nodiscard]] state_errc code() const noexcept { return code_; }

 private:
  state_errc code_;
};

// What the buffer form of save_state returns: ok and the bytes written, or buffer_too_small and the
// bytes the state needs.
struct state_save_result {
  state_errc ec;
  std::size_t size;
};

// The Eigen layer's class templates, so that detail::state_access can name them (their state code is
// in <streamstats/eigen/state.hpp>; nothing here needs Eigen).
template <class T, int D>
class covariance;
template <class T, int D>
class mahalanobis_detector;

namespace detail {

// ---- CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), slicing-by-8 -------------------------
// Why CRC-32C: it detects every burst error up to 32 bits and every odd number of flipped bits, and is
// the checksum of iSCSI, ext4 and Snappy framing (so other languages have it). Slicing-by-8 handles
// eight bytes per step from eight 256-entry tables (8 KiB, built at compile time): ~1 byte per cycle
// less than a byte-wise table, enough for a 1 KiB detector state well under a microsecond.
struct crc32c_tables {
  std::uint32_t t[8][256];
};

[[nodiscard]] constexpr crc32c_tables make_crc32c_tables() noexcept {
  crc32c_tables tables{};
  for (std::uint32_t i = 0; i < 256; ++i) {
    std::uint32_t c = i;
    for (int k = 0; k < 8; ++k) {
      c = (c & 1U) != 0 ? (c >> 1) ^ 0x82F63B78U : c >> 1;
    }
    tables.t[0][i] = c;
  }
  for (std::uint32_t i = 0; i < 256; ++i) {
    for (std::size_t s = 1; s < 8; ++s) {
      const std::uint32_t prev = tables.t[s - 1][i];
      tables.t[s][i] = (prev >> 8) ^ tables.t[0][prev & 0xFFU];
    }
  }
  return tables;
}

inline constexpr crc32c_tables crc32c_table = make_crc32c_tables();

// Appending `crc32c_block` zero bytes to a CRC register is linear in its 32 bits: four 256-entry
// tables (one per byte of the register) apply it with four lookups. Built at compile time from the
// images of the 32 single-bit registers (bit by bit: 32 x 8 x crc32c_block steps).
inline constexpr std::size_t crc32c_block = 256;
struct crc32c_shift_tables {
  std::uint32_t t[4][256];
};
[[nodiscard]] constexpr crc32c_shift_tables make_crc32c_shift_tables() noexcept {
  std::uint32_t image[32] = {};
  for (std::size_t b = 0; b < 32; ++b) {
    std::uint32_t c = std::uint32_t{1} << b;
    for (std::size_t k = 0; k < 8 * crc32c_block; ++k) {
      c = (c & 1U) != 0 ? (c >> 1) ^ 0x82F63B78U : c >> 1;
    }
    image[b] = c;
  }
  crc32c_shift_tables s{};
  for (std::size_t byte = 0; byte < 4; ++byte) {
    for (std::uint32_t v = 0; v < 256; ++v) {
      std::uint32_t c = 0;
      for (std::size_t b = 0; b < 8; ++b) {
        if (((v >> b) & 1U) != 0) {
          c ^= image[8 * byte + b];
        }
      }
      s.t[byte][v] = c;
    }
  }
  return s;
}
inline constexpr crc32c_shift_tables crc32c_shift = make_crc32c_shift_tables();
[[nodiscard]] constexpr std::uint32_t crc32c_skip_block(std::uint32_t c) noexcept {
  return crc32c_shift.t[0][c & 0xFFU] ^ crc32c_shift.t[1][(c >> 8) & 0xFFU] ^
         crc32c_shift.t[2][(c >> 16) & 0xFFU] ^ crc32c_shift.t[3][c >> 24];
}

// The SSE4.2 crc32 instruction computes the same CRC-32C eight bytes at a time; chosen at run time,
// so builds without -msse4.2 use it too. One chain is bound by the instruction's latency (3 cycles
// per 8 bytes); three blocks of 256 bytes run as three independent chains (the instruction issues
// one per cycle), joined by shifting the first two past the blocks that follow them: a 1.7 KB
// detector state in ~60 ns instead of ~160.
#if (defined(__x86_64__) || defined(__i386__)) && (defined(__GNUC__) || defined(__clang__))
#define STREAMSTATS_STATE_CRC32C_SSE42 1
__attribute__((target("sse4.2"))) inline std::uint32_t crc32c_sse42(const unsigned char* p,
                                                                    std::size_t n) noexcept {
  std::uint32_t c = 0xFFFFFFFFU;
#if defined(__x86_64__)
  std::uint64_t c64 = c;
  constexpr std::size_t b = crc32c_block;
  for (; n >= 3 * b; n -= 3 * b, p += 3 * b) {
    std::uint64_t c1 = 0;
    std::uint64_t c2 = 0;
    for (std::size_t i = 0; i < b; i += 8) {
      std::uint64_t v0 = 0;
      std::uint64_t v1 = 0;
      std::uint64_t v2 = 0;
      std::memcpy(&v0, p + i, 8);
      std::memcpy(&v1, p + b + i, 8);
      std::memcpy(&v2, p + 2 * b + i, 8);
      c64 = __builtin_ia32_crc32di(c64, v0);
      c1 = __builtin_ia32_crc32di(c1, v1);
      c2 = __builtin_ia32_crc32di(c2, v2);
    }
    const std::uint32_t j =
        crc32c_skip_block(static_cast<std::uint32_t>(c64)) ^ static_cast<std::uint32_t>(c1);
    c64 = crc32c_skip_block(j) ^ static_cast<std::uint32_t>(c2);
  }
  for (; n >= 8; n -= 8, p += 8) {
    std::uint64_t v = 0;
    std::memcpy(&v, p, 8);
    c64 = __builtin_ia32_crc32di(c64, v);
  }
  c = static_cast<std::uint32_t>(c64);
#endif
  for (; n > 0; --n, ++p) {
    c = __builtin_ia32_crc32qi(c, *p);
  }
  return c ^ 0xFFFFFFFFU;
}
[[nodiscard]] inline bool cpu_has_sse42() noexcept {
  static const bool has = __builtin_cpu_supports("sse4.2") != 0;
  return has;
}
#endif

[[nodiscard]] inline std::uint32_t crc32c_portable(const unsigned char* p, std::size_t n) noexcept {
  const auto& t = crc32c_table.t;
  std::uint32_t c = 0xFFFFFFFFU;
  for (; n >= 8; n -= 8, p += 8) {
    const std::uint32_t lo = c ^ (std::uint32_t{p[0]} | std::uint32_t{p[1]} << 8 | std::uint32_t{p[2]} << 16 |
                                  std::uint32_t{p[3]} << 24);
    c = t[7][lo & 0xFFU] ^ t[6][(lo >> 8) & 0xFFU] ^ t[5][(lo >> 16) & 0xFFU] ^ t[4][lo >> 24] ^ t[3][p[4]] ^
        t[2][p[5]] ^ t[1][p[6]] ^ t[0][p[7]];
  }
  for (; n > 0; --n, ++p) {
    c = (c >> 8) ^ t[0][(c ^ *p) & 0xFFU];
  }
  return c ^ 0xFFFFFFFFU;
}

[[nodiscard]] inline std::uint32_t crc32c(const unsigned char* p, std::size_t n) noexcept {
#if defined(STREAMSTATS_STATE_CRC32C_SSE42)
  if (cpu_has_sse42()) {
    return crc32c_sse42(p, n);
  }
#endif
  return crc32c_portable(p, n);
}

// Arrays of floats are copied whole where the host is little-endian (the bytes are those of the
// element-by-element encoding: IEEE binary32/64, little-endian).
template <class X>
inline constexpr bool state_bulk_copy_v =
#if defined(__BYTE_ORDER__) && defined(__ORDER_LITTLE_ENDIAN__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    (std::is_same_v<X, double> || std::is_same_v<X, float>)&&std::numeric_limits<X>::is_iec559;
#else
    false;
#endif

// ---- layout constants ---------------------------------------------------------------------------
inline constexpr unsigned char state_magic[4] = {'S', 'S', 'T', 'A'};
inline constexpr std::size_t state_header_size =
    12;  // magic, u16 version, u16 tag length, u32 payload length
inline constexpr std::size_t state_trailer_size = 4;  // u32 CRC-32C

// Kinds in the type tag (docs/state-format.md). Never renumber: stored states carry these values.
enum class state_kind : unsigned char {
  mean = 1,
  variance = 2,
  moments = 3,
  extrema = 4,
  autocorrelation = 5,
  multi = 6,
  sma = 7,
  rolling_variance = 8,
  rolling_extrema = 9,
  ema = 10,
  ew_variance = 11,
  time_ema = 12,
  quantile = 13,
  zscore_detector = 14,
  anomaly_detector = 15,
  covariance = 16,
  mahalanobis_detector = 17,
  weighted_mean = 18,
  weighted_variance = 19,
  score_rank = 20,
  ddsketch = 21,
  time_window = 22,
};

[[nodiscard]] constexpr const char* state_kind_name(unsigned kind) noexcept {
  constexpr const char* names[] = {"(none)",
                                   "mean",
                                   "variance",
                                   "moments",
                                   "extrema",
                                   "autocorrelation",
                                   "multi",
                                   "sma",
                                   "rolling_variance",
                                   "rolling_extrema",
                                   "ema",
                                   "ew_variance",
                                   "time_ema",
                                   "quantile",
                                   "zscore_detector",
                                   "anomaly_detector",
                                   "covariance",
                                   "mahalanobis_detector",
                                   "weighted_mean",
                                   "weighted_variance",
                                   "score_rank",
                                   "ddsketch",
                                   "time_window"};
  return kind < sizeof(names) / sizeof(names[0]) ? names[kind] : "(unknown)";
}

// How a member of a state is encoded; specialised for std::array, std::chrono types and (in
// <streamstats/eigen/state.hpp>) Eigen vectors and arrays. The primary template hands accumulators
// and the detail building blocks to state_access, which knows their members.
template <class X, class = void>
struct state_codec;

// The value type in the tag: scalar code (1 float, 2 double) and dimension (0 for a scalar, D for an
// Eigen vector, specialised in <streamstats/eigen/state.hpp>).
template <class T, class = void>
struct state_value_tag {
  static_assert(std::is_same_v<T, float> || std::is_same_v<T, double>,
                "streamstats::save_state/load_state: states of long double accumulators are not "
                "portable (its size and format differ between platforms); use double or float. Eigen "
                "vectors need <streamstats/eigen/state.hpp>");
  static constexpr unsigned char scalar = std::is_same_v<T, float> ? 1 : 2;
  static constexpr std::uint32_t dimension = 0;
};

// Writes little-endian bytes into a caller's buffer, or only counts them (null buffer). Never
// allocates, never throws; writes past the capacity are counted but not stored.
class state_writer {
 public:
  static constexpr bool loading = false;

  state_writer(unsigned char* buf, std::size_t cap) noexcept : buf_(buf), cap_(cap) {}

  // The format version written (fields() test it to read older layouts).
  [[nodiscard]] static constexpr std::uint16_t version() noexcept { return state_format_version; }

  void put(std::uint64_t v, std::size_t nbytes) noexcept {
    if (buf_ != nullptr && pos_ + nbytes <= cap_) {
      unsigned char* p = buf_ + pos_;
#if defined(__BYTE_ORDER__) && defined(__ORDER_LITTLE_ENDIAN__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
      if (nbytes == 8) {
        std::memcpy(p, &v, 8);  // one store: the bytes of the loop below on a little-endian host
        pos_ += 8;
        return;
      }
#endif
      for (std::size_t i = 0; i < nbytes; ++i) {
        p[i] = static_cast<unsigned char>(v >> (8 * i));
      }
    }
    pos_ += nbytes;
  }

  template <class X>
  void operator()(X& x) noexcept {
    if constexpr (std::is_same_v<X, bool>) {
      put(x ? 1U : 0U, 1);
    } else if constexpr (std::is_enum_v<X>) {
      put(static_cast<std::uint64_t>(static_cast<unsigned char>(x)), 1);
    } else if constexpr (std::is_integral_v<X> && std::is_signed_v<X>) {
      put(static_cast<std::uint64_t>(static_cast<std::int64_t>(x)), 8);
    } else if constexpr (std::is_integral_v<X>) {
      put(static_cast<std::uint64_t>(x), 8);
    } else if constexpr (std::is_same_v<X, double>) {
      // Every NaN is written as the one canonical quiet NaN: compilers differ in the sign bit of
      // the NaN an invalid operation makes (g++ 0x7ff8…, clang 0xfff8… for 0/0 folded at compile
      // time), and the format promises the same bytes for the same state everywhere.
      std::uint64_t bits = 0x7ff8000000000000ULL;
      if (x == x) {
        std::memcpy(&bits, &x, 8);
      }
      put(bits, 8);
    } else if constexpr (std::is_same_v<X, float>) {
      std::uint32_t bits = 0x7fc00000U;
      if (x == x) {
        std::memcpy(&bits, &x, 4);
      }
      put(bits, 4);
    } else {
      state_codec<X>::io(*this, x);
    }
  }

  template <class X>
  void items(X* p, std::size_t count, std::size_t /*capacity*/) noexcept {
    if constexpr (state_bulk_copy_v<X>) {
      const std::size_t n = count * sizeof(X);
      if (buf_ != nullptr && pos_ + n <= cap_ && n > 0) {
        std::memcpy(buf_ + pos_, p, n);
        if constexpr (std::is_floating_point_v<X>) {
          for (std::size_t i = 0; i < count; ++i) {
            if (p[i] != p[i]) {  // canonical NaN, as operator() writes it
              const X nan = std::numeric_limits<X>::quiet_NaN();
              std::memcpy(buf_ + pos_ + i * sizeof(X), &nan, sizeof(X));
            }
          }
        }
      }
      pos_ += n;
    } else {
      for (std::size_t i = 0; i < count; ++i) {
        (*this)(p[i]);
      }
    }
  }

  // Checks only matter when loading.
  static constexpr bool require(bool /*ok*/, const char* /*why*/) noexcept { return true; }
  static constexpr bool ok() noexcept { return true; }

  [[nodiscard]] std::size_t size() const noexcept { return pos_; }

 private:
  unsigned char* buf_;
  std::size_t cap_;
  std::size_t pos_ = 0;
};

// Reads what state_writer wrote. The first failure sticks (later reads return zeros and change
// nothing), and records its error and reason.
class state_reader {
 public:
  static constexpr bool loading = true;

  state_reader(const unsigned char* p, std::size_t n, std::uint16_t version = state_format_version) noexcept
      : p_(p), n_(n), version_(version) {}

  // The format version of the bytes being read.
  [[nodiscard]] std::uint16_t version() const noexcept { return version_; }

  std::uint64_t get(std::size_t nbytes) noexcept {
    if (ec_ != state_errc::ok) {
      return 0;
    }
    if (n_ - pos_ < nbytes) {
      fail(state_errc::invalid_field, "the payload ends before the type's last field");
      return 0;
    }
    std::uint64_t v = 0;
#if defined(__BYTE_ORDER__) && defined(__ORDER_LITTLE_ENDIAN__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    if (nbytes == 8) {
      std::memcpy(&v, p_ + pos_, 8);  // one load: the value of the loop below on a little-endian host
      pos_ += 8;
      return v;
    }
#endif
    for (std::size_t i = 0; i < nbytes; ++i) {
      v |= std::uint64_t{p_[pos_ + i]} << (8 * i);
    }
    pos_ += nbytes;
    return v;
  }

  template <class X>
  void operator()(X& x) noexcept {
    if constexpr (std::is_same_v<X, bool>) {
      const std::uint64_t v = get(1);
      if (require(v <= 1, "a boolean field is neither 0 nor 1")) {
        x = v == 1;
      }
    } else if constexpr (std::is_enum_v<X>) {
      // Every enum of the library is an enum class (fixed underlying type): any value is valid
      // to hold, and the accumulator's own check refuses those it does not know.
      x = static_cast<X>(static_cast<unsigned char>(get(1)));
    } else if constexpr (std::is_integral_v<X> && std::is_signed_v<X>) {
      const auto v = static_cast<std::int64_t>(get(8));
      if (require(v >= std::numeric_limits<X>::min() && v <= std::numeric_limits<X>::max(),
                  "an integer field is out of its type's range")) {
        x = static_cast<X>(v);
      }
    } else if constexpr (std::is_integral_v<X>) {
      // Every unsigned field is a count or a position. Below 2^62 on load: no stream gets there
      // (centuries at a sample per ns), and a count near 2^64 would wrap on a later push.
      const std::uint64_t v = get(8);
      if (require(v <= std::numeric_limits<X>::max() && v < (std::uint64_t{1} << 62),
                  "a count or position is not below 2^62")) {
        x = static_cast<X>(v);
      }
    } else if constexpr (std::is_same_v<X, double>) {
      const std::uint64_t bits = get(8);
      if (canonical_nan(bits)) {
        std::memcpy(&x, &bits, 8);
      }
    } else if constexpr (std::is_same_v<X, float>) {
      const auto bits = static_cast<std::uint32_t>(get(4));
      if (canonical_nan(bits)) {
        std::memcpy(&x, &bits, 4);
      }
    } else {
      state_codec<X>::io(*this, x);
    }
  }

  template <class X>
  void items(X* p, std::size_t count, std::size_t capacity) noexcept {
    if (!require(count <= capacity, "a stored item count exceeds the container's capacity")) {
      return;
    }
    if constexpr (state_bulk_copy_v<X>) {
      const std::size_t n = count * sizeof(X);
      if (n_ - pos_ < n) {
        fail(state_errc::invalid_field, "the payload ends before the type's last field");
        return;
      }
      if (n > 0) {
        std::memcpy(p, p_ + pos_, n);
      }
      pos_ += n;
      for (std::size_t i = 0; i < count; ++i) {
        if (p[i] != p[i]) {
          using bits_type = std::conditional_t<sizeof(X) == 8, std::uint64_t, std::uint32_t>;
          bits_type bits = 0;
          std::memcpy(&bits, &p[i], sizeof bits);
          if (!canonical_nan(bits)) {
            return;
          }
        }
      }
    } else {
      for (std::size_t i = 0; i < count && ok(); ++i) {
        (*this)(p[i]);
      }
    }
  }

  bool require(bool ok_, const char* why) noexcept {
    if (!ok_) {
      fail(state_errc::invalid_field, why);
    }
    return ok();
  }
  // The writer writes every NaN as the one canonical quiet NaN (see state_writer): any other NaN is
  // no state it wrote, and would not re-save to the same bytes.
  bool canonical_nan(std::uint64_t bits) noexcept {
    const bool nan =
        (bits & 0x7ff0000000000000ULL) == 0x7ff0000000000000ULL && (bits & 0xfffffffffffffULL) != 0;
    return require(!nan || bits == 0x7ff8000000000000ULL, "a NaN other than the canonical quiet NaN");
  }
  bool canonical_nan(std::uint32_t bits) noexcept {
    const bool nan = (bits & 0x7f800000U) == 0x7f800000U && (bits & 0x7fffffU) != 0;
    return require(!nan || bits == 0x7fc00000U, "a NaN other than the canonical quiet NaN");
  }
  void fail(state_errc ec, const char* why) noexcept {
    if (ec_ == state_errc::ok) {
      ec_ = ec;
      why_ = why;
    }
  }

  [[nodiscard]] bool ok() const noexcept { return ec_ == state_errc::ok; }
  [[nodiscard]] state_errc error() const noexcept { return ec_; }
  [[nodiscard]] const char* why() const noexcept { return why_ == nullptr ? "" : why_; }
  [[nodiscard]] bool at_end() const noexcept { return pos_ == n_; }

 private:
  const unsigned char* p_;
  std::size_t n_;
  std::size_t pos_ = 0;
  std::uint16_t version_;
  state_errc ec_ = state_errc::ok;
  const char* why_ = nullptr;
};

// Compares the tag a type would write with the stored one, byte by byte, without a buffer.
class state_tag_matcher {
 public:
  state_tag_matcher(const unsigned char* p, std::size_t n) noexcept : p_(p), n_(n) {}
  void put(std::uint64_t v, std::size_t nbytes) noexcept {
    for (std::size_t i = 0; i < nbytes; ++i, ++pos_) {
      const auto b = static_cast<unsigned char>(v >> (8 * i));
      if (first_diff_ == npos && (pos_ >= n_ || p_[pos_] != b)) {
        first_diff_ = pos_;
      }
    }
  }
  // npos when the tags are equal, else the offset of the first byte that differs.
  [[nodiscard]] std::size_t first_difference() const noexcept {
    if (first_diff_ == npos && pos_ != n_) {
      return pos_ < n_ ? pos_ : n_;
    }
    return first_diff_;
  }
  static constexpr std::size_t npos = ~std::size_t{0};

 private:
  const unsigned char* p_;
  std::size_t n_;
  std::size_t pos_ = 0;
  std::size_t first_diff_ = npos;
};

template <class Acc>
struct state_type {};

[[nodiscard]] constexpr bool is_binary_finite(double x) noexcept { return x - x == 0.0; }

// The one place that reads and writes private members (every accumulator befriends it). For each
// type: tag() writes the kind and the compile-time parameters, fields() visits every member with a
// state_writer or a state_reader — the same order both ways, so save and load cannot drift apart —
// and, when loading, checks the invariants the accumulator's code relies on (indexes in range,
// counts that agree with the window, weights that are finite numbers), so that no loaded state can
// make a later push() read out of bounds or divide a count by NaN. make() builds an instance to load
// into for types without a default constructor (its parameters are then overwritten).
struct state_access {
  template <class W, class T>
  static void value_tag(W& w) noexcept {
    w.put(state_value_tag<T>::scalar, 1);
    w.put(state_value_tag<T>::dimension, 4);
  }
  template <class W, class T>
  static void head(W& w, state_kind kind) noexcept {
    w.put(static_cast<unsigned char>(kind), 1);
    value_tag<W, T>(w);
  }

  // ---- tags ----------------------------------------------------------------------------------
  template <class W, class T>
  static void tag(W& w, state_type<mean<T>>) noexcept {
    head<W, T>(w, state_kind::mean);
  }
  template <class W, class T>
  static void tag(W& w, state_type<variance<T>>) noexcept {
    head<W, T>(w, state_kind::variance);
  }
  template <class W, class T>
  static void tag(W& w, state_type<moments<T>>) noexcept {
    head<W, T>(w, state_kind::moments);
  }
  template <class W, class T>
  static void tag(W& w, state_type<extrema<T>>) noexcept {
    head<W, T>(w, state_kind::extrema);
  }
  template <class W, class T>
  static void tag(W& w, state_type<autocorrelation<T>>) noexcept {
    head<W, T>(w, state_kind::autocorrelation);
  }
  template <class W, class... A>
  static void tag(W& w, state_type<multi<A...>>) noexcept {
    head<W, typename multi<A...>::value_type>(w, state_kind::multi);
    w.put(sizeof...(A), 4);
    (tag(w, state_type<A>{}), ...);
  }
  template <class W, class T, std::size_t N, window_sum S>
  static void tag(W& w, state_type<sma<T, N, S>>) noexcept {
    head<W, T>(w, state_kind::sma);
    w.put(N, 8);
    w.put(S == window_sum::compensated ? 0U : 1U, 1);
  }
  template <class W, class T, std::size_t N>
  static void tag(W& w, state_type<rolling_variance<T, N>>) noexcept {
    head<W, T>(w, state_kind::rolling_variance);
    w.put(N, 8);
  }
  template <class W, class T, std::size_t N>
  static void tag(W& w, state_type<rolling_extrema<T, N>>) noexcept {
    head<W, T>(w, state_kind::rolling_extrema);
    w.put(N, 8);
  }
  template <class W, class T>
  static void tag(W& w, state_type<ema<T>>) noexcept {
    head<W, T>(w, state_kind::ema);
  }
  template <class W, class T>
  static void tag(W& w, state_type<ew_variance<T>>) noexcept {
    head<W, T>(w, state_kind::ew_variance);
  }
  template <class W, class T, class Clock>
  static void tag(W& w, state_type<time_ema<T, Clock>>) noexcept {
    head<W, T>(w, state_kind::time_ema);
    // The clock's tick (a ratio of seconds) and whether it is steady: a time point of another clock
    // means nothing here.
    using period = typename Clock::duration::period;
    w.put(static_cast<std::uint64_t>(static_cast<std::int64_t>(period::num)), 8);
    w.put(static_cast<std::uint64_t>(static_cast<std::int64_t>(period::den)), 8);
    w.put(Clock::is_steady ? 1U : 0U, 1);
  }
  template <class W, class T>
  static void tag(W& w, state_type<quantile<T>>) noexcept {
    head<W, T>(w, state_kind::quantile);
  }
  template <class W, class B>
  static void tag(W& w, state_type<zscore_detector<B>>) noexcept {
    head<W, typename B::value_type>(w, state_kind::zscore_detector);
    tag(w, state_type<B>{});
  }
  template <class W, class T, std::size_t Window>
  static void tag(W& w, state_type<anomaly_detector<T, Window>>) noexcept {
    head<W, T>(w, state_kind::anomaly_detector);
    w.put(Window, 8);
  }
  template <class W, class T, std::size_t Bins>
  static void tag(W& w, state_type<score_rank<T, Bins>>) noexcept {
    head<W, T>(w, state_kind::score_rank);
    w.put(Bins, 8);
  }

  template <class W, class T, std::size_t Bins>
  static void tag(W& w, state_type<ddsketch<T, Bins>>) noexcept {
    head<W, T>(w, state_kind::ddsketch);
    w.put(Bins, 8);  // α is a run-time parameter: in the payload
  }
  template <class W, class Acc, std::size_t Buckets, class Clock>
  static void tag(W& w, state_type<time_window<Acc, Buckets, Clock>>) noexcept {
    head<W, typename Acc::value_type>(w, state_kind::time_window);
    w.put(Buckets, 8);
    // The clock, as for time_ema (the span is a run-time parameter: in the payload), then the
    // buckets' accumulator.
    using period = typename Clock::duration::period;
    w.put(static_cast<std::uint64_t>(static_cast<std::int64_t>(period::num)), 8);
    w.put(static_cast<std::uint64_t>(static_cast<std::int64_t>(period::den)), 8);
    w.put(Clock::is_steady ? 1U : 0U, 1);
    tag(w, state_type<Acc>{});
  }

  template <class W, class T>
  static void tag(W& w, state_type<weighted_mean<T>>) noexcept {
    head<W, T>(w, state_kind::weighted_mean);
  }
  template <class W, class T>
  static void tag(W& w, state_type<weighted_variance<T>>) noexcept {
    head<W, T>(w, state_kind::weighted_variance);
  }

  // ---- fields --------------------------------------------------------------------------------
  template <class T, class Io>
  static void fields(neumaier_sum<T>& a, Io& io) noexcept {
    io(a.sum_);
    io(a.comp_);
  }

  template <class T, class Io>
  static void fields(mean<T>& a, Io& io) noexcept {
    io(a.n_);
    io(a.sum_);
    if constexpr (!std::is_floating_point_v<T>) {  // mean<Eigen vector>: the compensation apart
      io(a.comp_);
    }
  }

  template <class T, class Io>
  static void fields(variance<T>& a, Io& io) noexcept {
    io(a.n_);
    io(a.shift_);
    io(a.mean_);
    io(a.m2_);
    if constexpr (Io::loading && std::is_floating_point_v<T>) {
      if (!io.require(a.n_ > 0 || (a.shift_ == T(0) && a.mean_ == T(0) && a.m2_ == T(0)),
                      "variance: an empty state with a non-zero mean or M2") ||
          !io.require(!(a.m2_ < T(0)), "variance: negative M2 (sum of squared deviations)")) {
        return;
      }
    }
  }

  template <class T, class Io>
  static void fields(moments<T>& a, Io& io) noexcept {
    io(a.n_);
    io(a.shift_);
    io(a.mean_);
    io(a.m2_);
    io(a.m3_);
    io(a.m4_);
    if constexpr (Io::loading) {
      if (!io.require(a.n_ > 0 || (a.shift_ == T(0) && a.mean_ == T(0) && a.m2_ == T(0) && a.m3_ == T(0) &&
                                   a.m4_ == T(0)),
                      "moments: an empty state with non-zero moments") ||
          !io.require(!(a.m2_ < T(0)) && !(a.m4_ < T(0)), "moments: negative M2 or M4")) {
        return;
      }
    }
  }

  template <class T, class Io>
  static void fields(weighted_mean<T>& a, Io& io) noexcept {
    io(a.n_);
    io(a.rejected_);
    io(a.shift_);
    io(a.sum_w_);
    io(a.sum_wy_);
    if constexpr (Io::loading) {
      io.require(a.n_ > 0 ? !(a.sum_w_ < T(0)) : (a.shift_ == T(0) && a.sum_w_ == T(0) && a.sum_wy_ == T(0)),
                 "weighted_mean: a negative weight sum, or an empty state with non-zero sums");
    }
  }

  template <class T, class Io>
  static void fields(weighted_variance<T>& a, Io& io) noexcept {
    io(a.n_);
    io(a.rejected_);
    io(a.shift_);
    io(a.mean_);
    io(a.s_);
    io(a.sum_w_);
    io(a.sum_w2_);
    if constexpr (Io::loading) {
      io.require(a.n_ > 0 ? !(a.sum_w_ < T(0)) && !(a.sum_w2_ < T(0))
                          : (a.shift_ == T(0) && a.mean_ == T(0) && a.s_ == T(0) && a.sum_w_ == T(0) &&
                             a.sum_w2_ == T(0)),
                 "weighted_variance: a negative weight sum, or an empty state with non-zero sums");
    }
  }

  template <class T, class Io>
  static void fields(extrema<T>& a, Io& io) noexcept {
    io(a.n_);
    io(a.min_);
    io(a.max_);
    if constexpr (Io::loading) {
      io.require(a.n_ > 0 || (a.min_ == detail::infinity<T>() && a.max_ == -detail::infinity<T>()),
                 "extrema: an empty state whose min/max are not +Inf/-Inf");
    }
  }

  template <class T, class Io>
  static void fields(autocorrelation<T>& a, Io& io) noexcept {
    io(a.n_);
    io(a.mean_);
    io(a.m2_);
    io(a.d_);
    io(a.first_);
    io(a.last_);
    if constexpr (Io::loading) {
      io.require(a.n_ > 0 || (a.mean_ == T(0) && a.m2_ == T(0) && a.d_ == T(0) && a.first_ == T(0) &&
                              a.last_ == T(0)),
                 "autocorrelation: an empty state with non-zero sums");
    }
  }

  template <class... A, class Io>
  static void fields(multi<A...>& a, Io& io) noexcept {
    std::apply([&io](auto&... x) { (io(x), ...); }, a.acc_);
  }

  // The non-finite counts must be those of the samples in the window (a push subtracts them again).
  template <class T, class Io>
  static bool check_nonfinite(const nonfinite_counts<T>& c, const T* ring, std::size_t size,
                              Io& io) noexcept {
    nonfinite_counts<T> actual{};
    for (std::size_t i = 0; i < size; ++i) {
      if (!is_finite(ring[i])) {
        actual.enter(ring[i]);
      }
    }
    return io.require(actual.nan == c.nan && actual.pos_inf == c.pos_inf && actual.neg_inf == c.neg_inf,
                      "window: the NaN/Inf counts disagree with the samples in the window");
  }

  template <class T, class Io>
  static void counts(nonfinite_counts<T>& c, Io& io) noexcept {
    io(c.nan);
    io(c.pos_inf);
    io(c.neg_inf);
  }

  template <class T, std::size_t N, window_sum S, class Io>
  static void fields(sma<T, N, S>& a, Io& io) noexcept {
    io(a.window_);  // the run-time window length (≤ the capacity N); 1/window follows from it
    if constexpr (Io::loading) {
      if (!io.require(a.window_ >= 1 && a.window_ <= N, "sma: the window length is not in [1, N]")) {
        return;
      }
      a.inv_w_ = T(1) / static_cast<T>(a.window_);
    }
    io(a.n_);
    io(a.head_);
    counts(a.nonfinite_, io);
    io(a.sum_);
    io(a.comp_);
    io(a.fresh_);
    if constexpr (Io::loading) {
      if (!io.require(a.head_ == a.n_ % a.window_,
                      "sma: the ring's write position disagrees with the count")) {
        return;
      }
    }
    const std::size_t size = a.n_ < a.window_ ? a.n_ : a.window_;
    io.items(a.ring_.data(), size, N);
    if constexpr (Io::loading) {
      if (!io.ok()) {
        return;
      }
      // While the window fills, a push reads the next slot as "the leaving sample": it must be 0.
      for (std::size_t i = size; i < N; ++i) {
        a.ring_[i] = T(0);
      }
      if (!check_nonfinite(a.nonfinite_, a.ring_.data(), size, io)) {
        return;
      }
      if constexpr (S == window_sum::recompute) {
        // The fresh sum is, by construction, the plain sum of the finite samples written since the
        // ring last wrapped, in slot order: recomputed, it must agree bit for bit.
        T fresh = T(0);
        for (std::size_t i = 0; i < a.head_; ++i) {
          if (is_finite(a.ring_[i])) {
            fresh += a.ring_[i];
          }
        }
        io.require(same_bits(fresh, a.fresh_), "sma: the fresh sum disagrees with the window's samples");
      } else {
        io.require(a.fresh_ == T(0), "sma: a compensated window with a recompute-policy sum");
      }
    }
  }

  template <class T>
  [[nodiscard]] static bool same_bits(T a, T b) noexcept {
    return std::memcmp(&a, &b, sizeof(T)) == 0;
  }

  template <class T, std::size_t N, class Io>
  static void fields(rolling_variance<T, N>& a, Io& io) noexcept {
    io(a.window_);  // the run-time window length (≤ the capacity N); 1/(window − 1) follows from it
    if constexpr (Io::loading) {
      if (!io.require(a.window_ >= 1 && a.window_ <= N,
                      "rolling_variance: the window length is not in [1, N]")) {
        return;
      }
      a.inv_w_minus_1_ = rolling_variance<T, N>::inv_minus_1(a.window_);
    }
    io(a.n_);
    io(a.size_);
    io(a.head_);
    io(a.m_);
    io(a.since_recompute_);
    counts(a.nonfinite_, io);
    io(a.inv_m_);
    io(a.shift_);
    io(a.mean_);
    io(a.m2_);
    io(a.churn_);
    if constexpr (Io::loading) {
      if (!io.require(a.size_ == (a.n_ < a.window_ ? a.n_ : a.window_),
                      "rolling_variance: the window's fill disagrees with the count") ||
          !io.require(a.head_ == a.n_ % a.window_,
                      "rolling_variance: the ring's write position disagrees with the count") ||
          !io.require(a.since_recompute_ < a.window_,
                      "rolling_variance: pushes since the last recomputation exceed the window") ||
          !io.require(a.m_ <= a.size_, "rolling_variance: more finite samples than the window holds") ||
          !io.require(a.m_ == 0 || same_bits(a.inv_m_, T(1) / static_cast<T>(a.m_)),
                      "rolling_variance: 1/m disagrees with the count of finite samples") ||
          !io.require(!(a.m2_ < T(0)) && a.churn_ >= T(0), "rolling_variance: negative M2 or churn")) {
        return;
      }
    }
    io.items(a.ring_.data(), a.size_, N);
    if constexpr (Io::loading) {
      if (!io.ok()) {
        return;
      }
      std::size_t finite = 0;
      for (std::size_t i = 0; i < a.size_; ++i) {
        finite += is_finite(a.ring_[i]) ? 1U : 0U;
      }
      if (!io.require(finite == a.m_,
                      "rolling_variance: the count of finite samples disagrees with the window")) {
        return;
      }
      check_nonfinite(a.nonfinite_, a.ring_.data(), a.size_, io);
      // The power sums of the pushes since the last recomputation are not stored: the ring has them.
      a.rebuild_block();
    }
  }

  // A wedge of rolling_extrema: (head, length), then its live entries front to back.
  template <class T, class W, class Io, class Dominated>
  static void wedge_fields(W& w, std::size_t n, std::size_t N, std::size_t window, Io& io,
                           Dominated dominated) noexcept {
    io(w.head_);
    io(w.len_);
    if constexpr (Io::loading) {
      if (!io.require(w.head_ < N && w.len_ <= window,
                      "rolling_extrema: a wedge's head or length exceeds the window")) {
        return;
      }
    }
    for (std::size_t k = 0; k < w.len_ && io.ok(); ++k) {
      const std::size_t slot = w.head_ + k >= N ? w.head_ + k - N : w.head_ + k;
      io(w.values_[slot]);
      io(w.positions_[slot]);
      if constexpr (Io::loading) {
        const std::size_t pos = w.positions_[slot];
        if (!io.require(pos < n && n - pos <= window,
                        "rolling_extrema: a wedge entry lies outside the window") ||
            !io.require(w.values_[slot] == w.values_[slot], "rolling_extrema: NaN in a wedge")) {
          return;
        }
        if (k > 0) {
          const std::size_t prev = w.head_ + k - 1 >= N ? w.head_ + k - 1 - N : w.head_ + k - 1;
          if (!io.require(w.positions_[prev] < pos && !dominated(w.values_[prev], w.values_[slot]),
                          "rolling_extrema: a wedge is not monotonic")) {
            return;
          }
        }
      }
    }
  }

  template <class T, std::size_t N, class Io>
  static void fields(rolling_extrema<T, N>& a, Io& io) noexcept {
    io(a.window_);  // the run-time window length (≤ the capacity N of the wedge rings)
    if constexpr (Io::loading) {
      if (!io.require(a.window_ >= 1 && a.window_ <= N,
                      "rolling_extrema: the window length is not in [1, N]")) {
        return;
      }
    }
    io(a.n_);
    io(a.last_nan_);
    if constexpr (Io::loading) {
      if (!io.require(a.last_nan_ <= a.n_, "rolling_extrema: the last NaN lies after the last sample")) {
        return;
      }
    }
    wedge_fields<T>(a.min_, a.n_, N, a.window_, io, [](T back, T v) { return back >= v; });
    wedge_fields<T>(a.max_, a.n_, N, a.window_, io, [](T back, T v) { return back <= v; });
    if constexpr (Io::loading) {
      if (io.ok() && a.n_ > 0 && a.last_nan_ != a.n_) {
        // The newest sample is a number: it is the back of both wedges.
        const auto back = [](const auto& w) {
          const std::size_t k = w.head_ + w.len_ - 1;
          return w.positions_[k >= N ? k - N : k];
        };
        io.require(a.min_.len_ > 0 && a.max_.len_ > 0 && back(a.min_) == a.n_ - 1 && back(a.max_) == a.n_ - 1,
                   "rolling_extrema: the newest sample is missing from a wedge");
      }
    }
  }

  template <class T, class Io>
  static bool check_alpha(T alpha, Io& io) noexcept {
    return io.require(alpha > T(0) && alpha <= T(1), "ema: alpha is not in (0, 1]");
  }

  // An upper bound of the decayed weight sums of the exponential accumulators, with room for rounding.
  template <class T>
  [[nodiscard]] static T weight_bound(T alpha, std::size_t n) noexcept {
    const T by_alpha = T(2) / alpha + T(2);
    const T by_count = static_cast<T>(n) + T(2);
    return by_alpha < by_count ? by_alpha : by_count;
  }

  template <class T, class Io>
  static void fields(ema<T>& a, Io& io) noexcept {
    io(a.alpha_);
    io(a.convention_);
    io(a.n_);
    io(a.weighted_);
    io(a.old_wt_);
    if constexpr (std::is_floating_point_v<T>) {
      io(a.period_);
      io(a.seed_);
      if constexpr (Io::loading) {
        if (!check_alpha(a.alpha_, io) ||
            !io.require(a.convention_ == ema_convention::pandas_adjust_false ||
                            a.convention_ == ema_convention::pandas_adjust_true ||
                            a.convention_ == ema_convention::talib,
                        "ema: unknown convention") ||
            !io.require(a.old_wt_ >= T(0) && a.old_wt_ <= weight_bound(a.alpha_, a.n_),
                        "ema: the history's weight is not a number in [0, min(2/alpha, count) + 2]")) {
          return;
        }
        if (a.convention_ == ema_convention::talib) {
          io.require(a.period_ >= 1 && same_bits(a.alpha_, T(2) / (static_cast<T>(a.period_) + T(1))),
                     "ema: the TA-Lib period disagrees with alpha");
        } else {
          io.require(a.period_ == 0 && same_bits(a.seed_.value(), T(0)),
                     "ema: a period or a seed outside the talib convention");
        }
      }
    } else if constexpr (Io::loading) {
      if (!check_alpha(a.alpha_, io) || !io.require(a.convention_ == ema_convention::pandas_adjust_false ||
                                                        a.convention_ == ema_convention::pandas_adjust_true,
                                                    "ema: unknown convention (vectors have no talib form)")) {
        return;
      }
      using S = typename T::Scalar;
      io.require(((a.old_wt_ >= S(0)) && (a.old_wt_ - a.old_wt_ == S(0))).all(),
                 "ema: the history's weight is not a finite number >= 0");
    }
  }

  template <class T, class Io>
  static void fields(ew_variance<T>& a, Io& io) noexcept {
    io(a.alpha_);
    io(a.adjust_);
    io(a.n_);
    io(a.observations_);
    io(a.shift_);
    io(a.mean_);
    io(a.var_);
    io(a.sum_wt_);
    io(a.sum_wt2_);
    io(a.old_wt_);
    if constexpr (Io::loading) {
      // Each push decays the weights and adds at most one sample's weight, so they never exceed
      // min(1/α, count + 1) (West's recurrence; adjust=False renormalises below the same bound), and
      // Σw² ≤ (Σw)². A larger weight is no state this class can reach, and would overflow later.
      const T bound = weight_bound(a.alpha_, a.n_);
      const auto weight = [bound](T w) { return w >= T(0) && w <= bound; };
      if (!check_alpha(a.alpha_, io) ||
          !io.require(a.observations_ <= a.n_, "ew_variance: more observations than samples") ||
          !io.require(
              weight(a.sum_wt_) && weight(a.old_wt_) && a.sum_wt2_ >= T(0) && a.sum_wt2_ <= bound * bound,
              "ew_variance: a weight is not a number in [0, min(2/alpha, count) + 2]") ||
          !io.require(!(a.var_ < T(0)), "ew_variance: negative variance")) {
        return;
      }
    }
  }

  template <class T, class Clock, class Io>
  static void fields(time_ema<T, Clock>& a, Io& io) noexcept {
    io(a.halflife_);
    io(a.adjust_);
    io(a.n_);
    io(a.rejected_);
    io(a.weighted_);
    io(a.old_wt_);
    io(a.last_t_);
    if constexpr (Io::loading) {
      // Timestamps are differenced at the next push: one near the ends of its representation would
      // overflow there (found by fuzz_state: a stored tick count of INT64_MIN).
      const auto ticks = a.last_t_.time_since_epoch().count();
      using rep = std::remove_cv_t<decltype(ticks)>;
      bool time_ok = true;
      if constexpr (std::is_integral_v<rep> && std::is_signed_v<rep> && sizeof(rep) == 8) {
        time_ok = ticks > -(rep{1} << 62) && ticks < (rep{1} << 62);
      }
      if (!io.require(time_ok, "time_ema: the last timestamp is not within +-2^62 ticks") ||
          !io.require(a.halflife_.count() > 0, "time_ema: the half-life is not > 0") ||
          !io.require(a.old_wt_ >= T(0) && a.old_wt_ <= static_cast<T>(a.n_) + T(2),
                      "time_ema: the history's weight is not a number in [0, count + 2]")) {
        return;
      }
    }
  }

  template <class T, class Io>
  static void fields(quantile<T>& a, Io& io) noexcept {
    io(a.p_);
    io(a.n_);
    io(a.nan_);
    io(a.q_);
    io(a.pos_);
    io(a.desired_);
    if constexpr (Io::loading) {
      if (!io.require(a.p_ > T(0) && a.p_ < T(1), "quantile: p is not in (0, 1)")) {
        return;
      }
      // The increments follow from p (as reset() sets them). Positions count samples: finite
      // integers from 0. While every marker height is a number, the heights are sorted and the
      // positions strictly increasing, never beyond the samples seen — push() keeps both (a marker
      // moves up exactly when the sample is below it, so unsorted heights would let positions
      // cross). A NaN height (after ±Inf samples: ∞ − ∞) stays NaN, and with it these two invariants.
      using position = std::remove_reference_t<decltype(a.pos_[0])>;
      const auto p = static_cast<position>(a.p_);
      a.increment_ = {0, p / 2, p, (1 + p) / 2, 1};
      bool counts = a.pos_[0] == position(0);
      bool numbers = true;
      bool sorted = true;
      for (std::size_t i = 0; i < 5; ++i) {
        const position x = a.pos_[i];
        counts = counts && x >= position(0) && x < position(9007199254740992.0) &&
                 x == static_cast<position>(static_cast<std::uint64_t>(x)) && is_finite(a.desired_[i]);
        numbers = numbers && a.q_[i] == a.q_[i];
        if (i > 0) {
          sorted = sorted && a.pos_[i - 1] < x && !(a.q_[i] < a.q_[i - 1]);
        }
      }
      if (!io.require(counts, "quantile: a marker position is not a count (NaN, negative or fractional)")) {
        return;
      }
      if (a.n_ <= 5) {
        io.require(a.pos_[1] == position(1) && a.pos_[2] == position(2) && a.pos_[3] == position(3) &&
                       a.pos_[4] == position(4),
                   "quantile: the marker positions disagree with the count");
      } else if (numbers) {
        io.require(sorted && a.pos_[4] < static_cast<position>(a.n_),
                   "quantile: the markers are out of order or beyond the count");
      }
    }
  }

  // ---- detectors -----------------------------------------------------------------------------
  template <class Io>
  static void fields(episode_tracker& e, Io& io) noexcept {
    io(e.anomalies);
    io(e.episode);
    io(e.open);
    io(e.quiet);
    io(e.run);
    io(e.run_side);
    if constexpr (Io::loading) {
      io.require(e.episode <= e.anomalies && e.run <= e.anomalies && e.run_side >= -1 && e.run_side <= 1 &&
                     (!e.open || e.episode > 0) && (e.open || (e.run == 0 && e.run_side == 0)),
                 "detector: the episode counters contradict each other");
    }
  }

  // The re-learn ring: size and write position, then the live slots.
  template <class V, std::size_t Cap, class Io>
  static void recent(recent_samples<V, Cap>& r, std::size_t cap, Io& io) noexcept {
    io(r.size_);
    io(r.head_);
    if constexpr (Io::loading) {
      if (!io.require(r.size_ <= cap && (r.size_ < cap ? r.head_ == r.size_ : r.head_ < cap) &&
                          (cap > 0 || r.head_ == 0),
                      "detector: the re-learn ring's fill or position is out of range")) {
        return;
      }
    }
    io.items(r.items_.data(), r.size_, Cap);
  }

  template <class Options, class Io>
  static bool check_detector_options(const Options& o, Io& io) noexcept {
    return io.require(o.threshold > 0.0 && is_binary_finite(o.threshold),
                      "detector: threshold is not a finite number > 0") &&
           io.require(o.learning == zscore_learning::skip || o.learning == zscore_learning::clipped ||
                          o.learning == zscore_learning::all,
                      "detector: unknown learning policy") &&
           io.require(o.relearn_after <= Options::max_relearn, "detector: relearn_after exceeds max_relearn");
  }

  template <class B, class Io>
  static void fields(zscore_detector<B>& a, Io& io) noexcept {
    auto& o = a.options_;
    io(o.threshold);
    io(o.side);
    io(o.warmup);
    io(o.learning);
    io(o.relearn_after);
    io(o.cooldown);
    io(o.min_stddev);
    io(o.resolution_floor);
    if constexpr (Io::loading) {
      if (!check_detector_options(o, io) ||
          !io.require(
              o.side == zscore_side::both || o.side == zscore_side::upper || o.side == zscore_side::lower,
              "zscore_detector: unknown side") ||
          !io.require(o.min_stddev >= 0.0 && is_binary_finite(o.min_stddev),
                      "zscore_detector: min_stddev is not a finite number >= 0") ||
          !io.require(o.resolution_floor >= 0.0 && is_binary_finite(o.resolution_floor),
                      "zscore_detector: resolution_floor is not a finite number >= 0")) {
        return;
      }
    }
    io(a.count_);
    io(a.rejected_);
    io(a.relearns_);
    io(a.learned_);
    io(a.changes_);
    io(a.previous_);
    io(a.resolution_);
    io(a.episodes_);
    io(a.baseline_);
    if constexpr (Io::loading) {
      using V = typename B::value_type;
      if (!io.ok() ||
          !io.require(a.learned_ <= a.count_ && a.baseline_.count() == a.learned_ &&
                          a.episodes_.anomalies <= a.count_,
                      "zscore_detector: the learned count disagrees with the baseline") ||
          !io.require(a.changes_ <= a.count_ && is_finite(a.previous_) && a.resolution_ >= V(0) &&
                          is_finite(a.resolution_),
                      "zscore_detector: the resolution tracking is inconsistent")) {
        return;
      }
    }
    recent(a.recent_, a.relearn_window(), io);
  }

  template <class T, std::size_t Bins, class Io>
  static void fields(score_rank<T, Bins>& a, Io& io) noexcept {
    // Stored as is: span -> decay and width -> 1/width are computations, their bits are the state.
    io(a.decay_);
    io(a.inverse_decay_);
    io(a.inverse_width_);
    io(a.count_);
    io(a.total_);
    io(a.unit_);
    io.items(a.weights_.data(), Bins, Bins);
    if constexpr (Io::loading) {
      bool weights = true;
      for (const T w : a.weights_) {
        weights = weights && w >= T(0) && is_finite(w);
      }
      io.require(a.decay_ > T(0) && a.decay_ < T(1) && a.inverse_decay_ >= T(1) &&
                     is_finite(a.inverse_decay_) && a.inverse_width_ > T(0) && is_finite(a.inverse_width_) &&
                     a.unit_ >= T(1) && a.unit_ <= T(1e30) / a.decay_ && weights && a.total_ >= T(0) &&
                     is_finite(a.total_),
                 "score_rank: decay, bin width or weights out of range");
    }
  }

  template <class T, std::size_t Window, class Io>
  static void fields(anomaly_detector<T, Window>& a, Io& io) noexcept {
    auto& c = a.calibration_;
    io(c.span);
    io(c.learning);
    io(c.alert_p);
    io(c.quiet);
    auto& so = a.seasonal_;
    io(so.period);
    io(so.slot_alpha);
    io(so.use_ratio);
    if constexpr (Io::loading) {
      if (!io.require(c.span >= 1.0 && is_binary_finite(c.span) && c.alert_p > 0.0 && c.alert_p <= 1.0 &&
                          c.quiet <= calibration_options::max_quiet,
                      "anomaly_detector: calibration span, alert_p or quiet out of range") ||
          !io.require(so.period <= seasonal_options::max_period && so.slot_alpha > 0.0 &&
                          so.slot_alpha <= 1.0 && so.use_ratio >= 0.0 && is_binary_finite(so.use_ratio),
                      "anomaly_detector: seasonal period, slot_alpha or use_ratio out of range")) {
        return;
      }
      // Derived from the options, as the constructor computes them.
      a.alert_p_ = c.alert_p >= 1.0 ? infinity<T>() : static_cast<T>(c.alert_p);
      a.full_ = static_cast<T>((c.span + 1.0) / 2.0);
      a.profile_.period = so.period;
      a.profile_.alpha = static_cast<T>(so.slot_alpha);
      a.profile_.ratio = static_cast<T>(so.use_ratio);
      so.cycle = seasonal_options{}.cycle;  // version 1: no timestamp block (a detector fed by push(x))
      a.pace_.reset();
    }
    if (io.version() >= 2) {
      // The timestamp block: the cycle, then the pace learner (its spacings while learning).
      auto& pc = a.pace_;
      io(so.cycle);
      io(pc.last);
      io(pc.origin);
      io(pc.at);
      io(pc.status);
      io(pc.filled);
      if constexpr (Io::loading) {
        if (!io.require(
                so.cycle >= 0.0 && is_binary_finite(so.cycle) && pc.status <= detail::stream_pace::off &&
                    pc.filled <= pc.n &&
                    (pc.status == detail::stream_pace::learning ? pc.filled < pc.n : pc.filled == pc.n),
                "anomaly_detector: cycle or pace learner out of range")) {
          return;
        }
      }
      io.items(pc.spacing.data(), pc.filled, pc.spacing.size());
      io(pc.pace);
      if constexpr (Io::loading) {
        bool spacings = true;
        for (std::size_t i = 0; i < pc.filled; ++i) {
          spacings = spacings && pc.spacing[i] > 0.0 && is_finite(pc.spacing[i]);
        }
        const std::size_t learned = stream_pace::period_for(so.cycle, pc.pace);
        if (!io.require(!io.ok() || (spacings &&
                                     (pc.last != pc.last ||
                                      (is_finite(pc.last) && is_finite(pc.origin) && pc.origin <= pc.last)) &&
                                     pc.pace >= 0.0 && is_finite(pc.pace) &&
                                     (pc.status == stream_pace::learned) == (learned > 0 && so.period == 0)),
                        "anomaly_detector: the learned pace is inconsistent")) {
          return;
        }
        if (so.period == 0) {
          a.profile_.period = pc.status == stream_pace::learned ? learned : 0;
        }
      }
    }
    io(a.episodes_);
    io(a.zscore_);
    io(a.rank_);
    if constexpr (Io::loading) {
      if (!io.require(!io.ok() || (a.episodes_.anomalies <= a.zscore_.count() &&
                                   a.rank_.count() <= a.zscore_.count()),
                      "anomaly_detector: more anomalies or ranked scores than samples")) {
        return;
      }
    }
    {
      // The quiet window's wedge: length, then (p, position) front to back.
      auto& q = a.recent_p_;
      constexpr std::size_t cap = calibration_options::max_quiet;
      io(q.len);
      if constexpr (Io::loading) {
        q.head = 0;
        if (!io.require(q.len <= c.quiet && q.len <= cap, "anomaly_detector: the quiet window is overfull")) {
          return;
        }
      }
      for (std::size_t k = 0; k < q.len && io.ok(); ++k) {
        const std::size_t slot = q.wrap(q.head + k);
        io(q.values[slot]);
        io(q.at[slot]);
        if constexpr (Io::loading) {
          const bool in_order =
              k == 0 || (q.values[slot - 1] < q.values[slot] && q.at[slot - 1] < q.at[slot]);
          if (!io.require(q.values[slot] > T(0) && q.values[slot] < T(calibration_options::quiet_p) &&
                              in_order && q.at[slot] <= a.zscore_.count(),  // expired ones leave lazily
                          "anomaly_detector: the quiet window's entries are out of order or range")) {
            return;
          }
        }
      }
    }
    // The seasonal stage only when it exists (a period given or learned): its profile and the
    // residual's z-score.
    if (a.profile_.period > 0) {
      auto& pr = a.profile_;
      io(pr.phase);
      io(pr.seen);
      io(pr.residuals);
      io(pr.mean);
      io(pr.variance);
      io(pr.mean_square);
      io(pr.used);
      io.items(pr.slot.data(), pr.slots(), pr.slot.size());
      io(a.residual_z_);
      if constexpr (Io::loading) {
        bool finite = is_finite(pr.mean) && is_finite(pr.variance) && is_finite(pr.mean_square);
        for (std::size_t i = 0; i < pr.slots(); ++i) {
          finite = finite && is_finite(pr.slot[i]);
        }
        io.require(!io.ok() || (pr.phase < pr.period && pr.seen <= pr.span_periods * pr.period &&
                                (!pr.used || pr.seen >= 2 * pr.period) && pr.residuals <= pr.seen &&
                                pr.variance >= T(0) && pr.mean_square >= T(0) && finite &&
                                a.residual_z_.count() <= a.zscore_.count()),
                   "anomaly_detector: the seasonal profile is inconsistent");
      }
    }
  }

  // ---- ddsketch and time_window --------------------------------------------------------------
  // One store of a ddsketch: total, lowest key, highest key, collapsed, then the counts of the keys
  // lowest..highest in key order (none when the store is empty; the other ring slots are zero).
  template <std::size_t Bins, class Io>
  static void ddsketch_store_fields(ddsketch_store<Bins>& s, double multiplier, Io& io) noexcept {
    io(s.total_);
    io(s.min_key_);
    io(s.max_key_);
    io(s.collapsed_);
    if constexpr (Io::loading) {
      if (!io.ok()) {
        return;
      }
      if (s.total_ == 0) {
        if (!io.require(s.min_key_ == 0 && s.max_key_ == 0 && !s.collapsed_,
                        "ddsketch: an empty store with keys or a collapse")) {
          return;
        }
      } else {
        // Keys are ⌈m·L(|x|)⌉ with L ∈ [−1022, 1024) for normal doubles (a collapse only raises a key),
        // and a store spans at most Bins consecutive keys.
        const double lo = -1022.0 * multiplier - 2.0;
        const double hi = 1024.0 * multiplier + 2.0;
        const auto in = [lo, hi](std::int64_t k) {
          const auto d = static_cast<double>(k);
          return d >= lo && d <= hi;
        };
        if (!io.require(in(s.min_key_) && in(s.max_key_) && s.min_key_ <= s.max_key_ &&
                            static_cast<std::uint64_t>(s.max_key_) - static_cast<std::uint64_t>(s.min_key_) <
                                std::uint64_t{Bins},
                        "ddsketch: a store's keys are out of range or span more than Bins")) {
          return;
        }
      }
      s.counts_.fill(0);
    }
    const std::uint64_t keys =
        s.total_ == 0 ? 0
                      : static_cast<std::uint64_t>(s.max_key_) - static_cast<std::uint64_t>(s.min_key_) + 1;
    for (std::uint64_t i = 0; i < keys && io.ok(); ++i) {
      io(s.counts_[ddsketch_store<Bins>::slot(s.min_key_ + static_cast<std::int64_t>(i))]);
    }
    if constexpr (Io::loading) {
      if (!io.ok() || keys == 0) {
        return;
      }
      std::uint64_t sum = 0;
      for (std::uint64_t i = 0; i < keys && sum <= s.total_; ++i) {
        sum += s.counts_[ddsketch_store<Bins>::slot(s.min_key_ + static_cast<std::int64_t>(i))];
      }
      io.require(sum == s.total_ && s.counts_[ddsketch_store<Bins>::slot(s.min_key_)] > 0 &&
                     s.counts_[ddsketch_store<Bins>::slot(s.max_key_)] > 0,
                 "ddsketch: a store's counts disagree with its total, or its lowest or highest key is empty");
    }
  }

  template <class T, std::size_t Bins, class Io>
  static void fields(ddsketch<T, Bins>& a, Io& io) noexcept {
    // α, then the key multiplier m stored as is: m comes from log1p, whose last bit may differ between
    // libms, and every key depends on its bits.
    io(a.alpha_);
    io(a.multiplier_);
    if constexpr (Io::loading) {
      if (!io.require(a.alpha_ > 0.0 && a.alpha_ < 1.0, "ddsketch: alpha is not in (0, 1)")) {
        return;
      }
      // Below 2^52 every key (|k| ≤ 1024·m + 2) is far inside int64_t (α ≳ 1.6e-16).
      const double m = cubic_log_mapping::max_slope / std::log1p(2 * a.alpha_ / (1 - a.alpha_)) * (1 + 1e-9);
      if (!io.require(
              a.multiplier_ > 0.0 && a.multiplier_ < 0x1p52 && std::fabs(a.multiplier_ - m) <= 1e-12 * m,
              "ddsketch: the key multiplier disagrees with alpha")) {
        return;
      }
    }
    io(a.n_);
    io(a.rejected_);
    io(a.zero_);
    io(a.pos_inf_);
    io(a.neg_inf_);
    io(a.min_);
    io(a.max_);
    ddsketch_store_fields(a.positive_, a.multiplier_, io);
    ddsketch_store_fields(a.negative_, a.multiplier_, io);
    if constexpr (Io::loading) {
      if (!io.ok()) {
        return;
      }
      // Each part is below 2^62 and the sum stops past n: no wrap.
      std::uint64_t sum = 0;
      for (const std::uint64_t part :
           {a.zero_, a.pos_inf_, a.neg_inf_, a.positive_.total_, a.negative_.total_}) {
        sum += part;
        if (sum > a.n_) {
          break;
        }
      }
      if (!io.require(sum == a.n_, "ddsketch: the count disagrees with the bins")) {
        return;
      }
      const double inf = infinity<double>();
      if (a.n_ == 0) {
        io.require(a.min_ == inf && a.max_ == -inf,
                   "ddsketch: an empty state whose min/max are not +Inf/-Inf");
      } else {
        io.require(a.min_ <= a.max_ && (a.neg_inf_ > 0) == (a.min_ == -inf) &&
                       (a.pos_inf_ > 0) == (a.max_ == inf) && (a.negative_.total_ == 0 || a.min_ < 0.0) &&
                       (a.positive_.total_ == 0 || a.max_ > 0.0) &&
                       (a.zero_ == 0 || (a.min_ <= 0.0 && a.max_ >= 0.0)) &&
                       (a.zero_ + a.neg_inf_ + a.negative_.total_ > 0 || a.min_ > 0.0) &&
                       (a.zero_ + a.pos_inf_ + a.positive_.total_ > 0 || a.max_ < 0.0),
                   "ddsketch: min/max disagree with the counts");
      }
    }
  }

  template <class Acc, std::size_t Buckets, class Clock, class Io>
  static void fields(time_window<Acc, Buckets, Clock>& a, Io& io) noexcept {
    using window = time_window<Acc, Buckets, Clock>;
    using rep = typename window::rep;
    io(a.span_);  // the bucket width follows from it
    if constexpr (Io::loading) {
      const rep span = a.span_.count();
      if (!io.require(span > 0 && span % static_cast<rep>(Buckets) == 0,
                      "time_window: the span is not a positive multiple of Buckets ticks")) {
        return;
      }
      a.width_ = span / static_cast<rep>(Buckets);
    }
    io(a.prototype_);
    if constexpr (Io::loading) {
      if (!io.ok() ||
          !io.require(a.prototype_.count() == 0, "time_window: the buckets' prototype is not empty")) {
        return;
      }
    }
    io(a.n_);
    io(a.rejected_);
    io(a.newest_);
    io(a.ids_);
    if constexpr (Io::loading) {
      if (!io.ok()) {
        return;
      }
      // Each bucket id k lies in its own slot, no later than the newest bucket (which is present), and
      // within the range where bucket_end(k) = (k + 1)·width and newest − Buckets do not overflow.
      const auto w = static_cast<std::int64_t>(a.width_);
      const std::int64_t kmin =
          std::numeric_limits<std::int64_t>::min() / w + static_cast<std::int64_t>(Buckets) + 1;
      const std::int64_t kmax = std::numeric_limits<std::int64_t>::max() / w - 1;
      bool ids = true;
      bool newest = false;
      for (std::size_t s = 0; s < Buckets; ++s) {
        const std::int64_t k = a.ids_[s];
        if (k != window::no_bucket) {
          ids = ids && k >= kmin && k <= kmax && k <= a.newest_ && window::slot(k) == s;
          newest = newest || k == a.newest_;
        }
      }
      if (!io.require(
              ids && (a.n_ == 0 ? a.newest_ == 0 && !newest : newest),
              "time_window: a bucket's time disagrees with its slot, the newest bucket or the count")) {
        return;
      }
    }
    // The buckets in use; the others are copies of the prototype.
    for (std::size_t s = 0; s < Buckets && io.ok(); ++s) {
      if (a.ids_[s] != window::no_bucket) {
        io(a.buckets_[s]);
      } else if constexpr (Io::loading) {
        a.buckets_[s] = a.prototype_;
      }
    }
    if constexpr (Io::loading) {
      if (!io.ok()) {
        return;
      }
      std::size_t held = 0;
      for (std::size_t s = 0; s < Buckets && held <= a.n_; ++s) {
        if (a.ids_[s] != window::no_bucket) {
          held += a.buckets_[s].count();
        }
      }
      io.require(held <= a.n_, "time_window: the buckets hold more samples than were pushed");
    }
  }

  // ---- instances to load into ----------------------------------------------------------------
  template <class Acc>
  static Acc make(state_type<Acc> /*unused*/) {
    return Acc{};
  }
  template <class T>
  static ema<T> make(state_type<ema<T>> /*unused*/) {
    if constexpr (std::is_floating_point_v<T>) {
      return ema<T>(T(0.5));
    } else {
      return ema<T>(typename T::Scalar(0.5));
    }
  }
  template <class T>
  static ew_variance<T> make(state_type<ew_variance<T>> /*unused*/) {
    return ew_variance<T>(T(0.5));
  }
  template <class T>
  static quantile<T> make(state_type<quantile<T>> /*unused*/) {
    return quantile<T>(T(0.5));
  }
  template <class T, class Clock>
  static time_ema<T, Clock> make(state_type<time_ema<T, Clock>> /*unused*/) {
    return time_ema<T, Clock>(typename Clock::duration(1));
  }
  template <class Acc, std::size_t Buckets, class Clock>
  static time_window<Acc, Buckets, Clock> make(state_type<time_window<Acc, Buckets, Clock>> /*unused*/) {
    using duration = typename Clock::duration;
    return time_window<Acc, Buckets, Clock>(duration(static_cast<typename duration::rep>(Buckets)),
                                            make(state_type<Acc>{}));
  }
  template <class B>
  static zscore_detector<B> make(state_type<zscore_detector<B>> /*unused*/) {
    return zscore_detector<B>(make(state_type<B>{}));
  }
  template <class... A>
  static multi<A...> make(state_type<multi<A...>> /*unused*/) {
    return multi<A...>(make(state_type<A>{})...);
  }

  // The Eigen layer's types: defined with <streamstats/eigen/state.hpp> (declared here so that one
  // class holds the access).
  template <class W, class T, int D>
  static void tag(W& w, state_type<covariance<T, D>>) noexcept;
  template <class W, class T, int D>
  static void tag(W& w, state_type<mahalanobis_detector<T, D>>) noexcept;
  template <class T, int D, class Io>
  static void fields(covariance<T, D>& a, Io& io) noexcept;
  template <class T, int D, class Io>
  static void fields(mahalanobis_detector<T, D>& a, Io& io) noexcept;
};

// Accumulators and building blocks: their members, through state_access.
template <class X, class>
struct state_codec {
  template <class Io>
  static void io(Io& io, X& x) noexcept {
    state_access::fields(x, io);
  }
};

template <class X, std::size_t N>
struct state_codec<std::array<X, N>> {
  template <class Io>
  static void io(Io& io, std::array<X, N>& a) noexcept {
    for (auto& x : a) {
      io(x);
    }
  }
};

template <class Rep, class Period>
struct state_codec<std::chrono::duration<Rep, Period>> {
  template <class Io>
  static void io(Io& io, std::chrono::duration<Rep, Period>& d) noexcept {
    Rep r = d.count();
    io(r);
    d = std::chrono::duration<Rep, Period>(r);
  }
};

template <class Clock, class Duration>
struct state_codec<std::chrono::time_point<Clock, Duration>> {
  template <class Io>
  static void io(Io& io, std::chrono::time_point<Clock, Duration>& t) noexcept {
    Duration d = t.time_since_epoch();
    io(d);
    t = std::chrono::time_point<Clock, Duration>(d);
  }
};

template <class Acc, class W>
void write_state_tag(W& w) noexcept {
  state_access::tag(w, state_type<Acc>{});
}

// Header, tag, payload, CRC into `buf` (or counted only when buf is null). Returns the total size.
template <class Acc>
std::size_t write_state(const Acc& acc, unsigned char* buf, std::size_t cap) noexcept {
  state_writer w(buf, cap);
  for (unsigned char m : state_magic) {
    w.put(m, 1);
  }
  w.put(state_format_version, 2);
  w.put(0, 2);  // tag length, patched below
  w.put(0, 4);  // payload length, patched below
  write_state_tag<Acc>(w);
  const std::size_t tag_end = w.size();
  // The writer only reads through this reference (state_access::fields serves both directions).
  state_codec<Acc>::io(w, const_cast<Acc&>(acc));
  const std::size_t payload_end = w.size();
  w.put(0, 4);  // CRC
  const std::size_t total = w.size();
  if (buf != nullptr && total <= cap) {
    const std::size_t tag_len = tag_end - state_header_size;
    const std::size_t payload_len = payload_end - tag_end;
    state_writer patch(buf + 6, 6);
    patch.put(tag_len, 2);
    patch.put(payload_len, 4);
    state_writer crc(buf + payload_end, 4);
    crc.put(crc32c(buf, payload_end), 4);
  }
  return total;
}

struct state_load_failure {
  state_errc ec = state_errc::ok;
  const char* why = "";
  unsigned stored_kind = 0;
  std::uint16_t stored_version = 0;
};

[[nodiscard]] inline std::uint64_t le_at(const unsigned char* p, std::size_t n) noexcept {
  std::uint64_t v = 0;
  for (std::size_t i = 0; i < n; ++i) {
    v |= std::uint64_t{p[i]} << (8 * i);
  }
  return v;
}

// Everything but the target: validates the bytes and decodes them into `tmp`.
template <class Acc>
state_load_failure read_state(std::string_view bytes, Acc& tmp) noexcept {
  state_load_failure f;
  const auto* p = reinterpret_cast<const unsigned char*>(bytes.data());
  const std::size_t n = bytes.size();
  const auto fail = [&f](state_errc ec, const char* why) {
    f.ec = ec;
    f.why = why;
    return f;
  };
  if (n < sizeof state_magic) {
    return fail(n == 0
                    ? state_errc::truncated
                    : (std::memcmp(p, state_magic, n) == 0 ? state_errc::truncated : state_errc::bad_magic),
                "shorter than the magic bytes");
  }
  if (std::memcmp(p, state_magic, sizeof state_magic) != 0) {
    return fail(state_errc::bad_magic, "the first four bytes are not \"SSTA\"");
  }
  if (n < 6) {
    return fail(state_errc::truncated, "shorter than the header");
  }
  f.stored_version = static_cast<std::uint16_t>(le_at(p + 4, 2));
  if (f.stored_version > state_format_version || f.stored_version < state_format_oldest_readable) {
    return fail(state_errc::unsupported_version,
                f.stored_version > state_format_version
                    ? "written by a newer streamstats (format version above this build's)"
                    : "written in an older format version this build no longer reads");
  }
  if (n < state_header_size) {
    return fail(state_errc::truncated, "shorter than the header");
  }
  const std::size_t tag_len = static_cast<std::size_t>(le_at(p + 6, 2));
  const auto payload_len = static_cast<std::size_t>(le_at(p + 8, 4));
  const std::size_t total = state_header_size + tag_len + payload_len + state_trailer_size;
  if (n < total) {
    return fail(state_errc::truncated, "fewer bytes than the header's tag and payload lengths");
  }
  if (n > total) {
    return fail(state_errc::trailing_bytes, "more bytes than the header's tag and payload lengths");
  }
  const std::size_t body = total - state_trailer_size;
  if (static_cast<std::uint32_t>(le_at(p + body, 4)) != crc32c(p, body)) {
    return fail(state_errc::checksum_mismatch, "the stored CRC-32C differs from the bytes'");
  }
  const unsigned char* tag = p + state_header_size;
  f.stored_kind = tag_len > 0 ? tag[0] : 0;
  state_tag_matcher m(tag, tag_len);
  write_state_tag<Acc>(m);
  if (const std::size_t at = m.first_difference(); at != state_tag_matcher::npos) {
    // Kind and value type are the first 6 bytes of a tag; what follows is template parameters.
    return fail(at < 6 ? state_errc::type_mismatch : state_errc::parameter_mismatch,
                at < 6 ? "the type tag names another accumulator or value type"
                       : "the type tag has other template parameters");
  }
  state_reader r(tag + tag_len, payload_len, f.stored_version);
  state_codec<Acc>::io(r, tmp);
  if (r.ok() && !r.at_end()) {
    r.fail(state_errc::invalid_field, "the payload is longer than the type's fields");
  }
  if (!r.ok()) {
    return fail(r.error(), r.why());
  }
  return f;
}

}  // namespace detail

// ---- public API -------------------------------------------------------------------------------

// Bytes the state of `acc` takes (header, tag, payload and checksum).
template <class Acc>
[[nodiscard]] std::size_t state_size(const Acc& acc) noexcept {
  return detail::write_state(acc, nullptr, 0);
}

// Writes the state of `acc` into [buf, buf + cap). Never allocates, never throws. On success
// {ok, bytes written}; when cap is too small {buffer_too_small, bytes needed} and the buffer's
// content is unspecified.
template <class Acc>
state_save_result save_state(const Acc& acc, char* buf, std::size_t cap) noexcept {
  const std::size_t need = detail::write_state(acc, reinterpret_cast<unsigned char*>(buf), cap);
  if (need > cap) {
    return {state_errc::buffer_too_small, need};
  }
  return {state_errc::ok, need};
}

// The state of `acc` as a byte string (std::bad_alloc is the only exception).
template <class Acc>
[[nodiscard]] std::string save_state(const Acc& acc) {
  std::string out(state_size(acc), '\0');
  detail::write_state(acc, reinterpret_cast<unsigned char*>(out.data()), out.size());
  return out;
}

// Restores `target` from `bytes`. Never allocates, never throws. On any error `target` is left
// exactly as it was (the state is decoded into a copy, then assigned). Parameters stored in the
// payload (α, the convention, p, the detector options...) replace the target's: a state restores the
// accumulator it was saved from; compile-time parameters must match (parameter_mismatch otherwise).
template <class Acc>
[[nodiscard]] state_errc load_state(std::string_view bytes, Acc& target) noexcept {
  Acc tmp = target;
  const auto f = detail::read_state(bytes, tmp);
  if (f.ec == state_errc::ok) {
    target = tmp;
  }
  return f.ec;
}

// The accumulator saved in `bytes`. Throws state_error (its code() and a message saying what is
// wrong) on any invalid input.
template <class Acc>
[[nodiscard]] Acc load_state(std::string_view bytes) {
  Acc acc = detail::state_access::make(detail::state_type<Acc>{});
  const auto f = detail::read_state(bytes, acc);
  if (f.ec != state_errc::ok) {
    std::string msg = "streamstats::load_state: ";
    msg += state_errc_message(f.ec);
    if (f.why[0] != '\0') {
      msg += " (";
      msg += f.why;
      msg += ")";
    }
    if (f.ec == state_errc::type_mismatch || f.ec == state_errc::parameter_mismatch) {
      msg += ": the bytes hold a ";
      msg += detail::state_kind_name(f.stored_kind);
      msg += " state, the target is a ";
      unsigned char kind[1] = {0};
      detail::state_writer k(kind, 1);  // keeps the first byte of the tag: the kind
      detail::write_state_tag<Acc>(k);
      msg += detail::state_kind_name(kind[0]);
    } else if (f.ec == state_errc::unsupported_version) {
      msg += ": the bytes are version " + std::to_string(f.stored_version) + ", this build reads version " +
             std::to_string(state_format_version);
    }
    throw state_error(f.ec, msg);
  }
  return acc;
}

}  // namespace streamstats
