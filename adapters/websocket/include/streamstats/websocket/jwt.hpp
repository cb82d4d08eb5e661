// streamstats::websocket jwt — JSON Web Token access (RFC 7519) with per-stream rights, over libjwt.
// SPDX-License-Identifier: MIT
//
//   jwt_options o;
//   o.algorithm = jwt_algorithm::rs256;            // fixed by the config, never by the token
//   o.key = read_file("issuer-public.pem");        // HS*: the shared secret; RS*/ES*: a public key PEM
//   o.issuer = "https://auth.example"; o.audience = "streamstats";
//   jwt_verifier v(o);                             // throws std::invalid_argument on a bad config
//   jwt_result r = v.verify(token, unix_now());
//   if (!r.ok()) refuse(to_string(r.refusal));     // "expired", "bad_signature", ...
//   r.rights.may_publish("sensors/a");
//
// Needs libjwt (Debian libjwt-dev; 1.10 and later) and simdjson. The signature is checked by
// libjwt, never here. libjwt 1.x verifies with whatever algorithm the token's header names, so
// the header is read first (an unverified decode, whose only use is the header's `alg`) and a
// token whose `alg` is not the configured one is refused before any key touches it: `alg: none`, and the
// HS/RS confusion where an RS256 public key (public by definition) is used as an HS256 secret, never reach
// verification.
//
// Claims (all times are NumericDate: seconds since the Unix epoch, integer or not):
//   exp  required (a token without it would never expire); refused when now >= exp + leeway.
//   nbf  optional; refused when now + leeway < nbf.
//   iss  must equal options.issuer when that is set.
//   aud  a string or an array of strings; must contain options.audience when that is set.
//   sub  the identity (may be absent: empty identity).
//   streams (options.rights_claim)  {"publish": [globs], "subscribe": [globs]}; absent = no rights.
// Rights are globs (rights.hpp).
#pragma once

#include <streamstats/websocket/rights.hpp>

#include <jwt.h>
#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <simdjson.h>

#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <limits>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace streamstats::websocket {

enum class jwt_algorithm { hs256, hs384, hs512, rs256, rs384, rs512, es256, es384, es512 };

// "HS256" ... (the JOSE names, RFC 7518 §3.1).
[[nodiscard]] constexpr const char* to_string(jwt_algorithm a) noexcept {
  switch (a) {
    case jwt_algorithm::hs256:
      return "HS256";
    case jwt_algorithm::hs384:
      return "HS384";
    case jwt_algorithm::hs512:
      return "HS512";
    case jwt_algorithm::rs256:
      return "RS256";
    case jwt_algorithm::rs384:
      return "RS384";
    case jwt_algorithm::rs512:
      return "RS512";
    case jwt_algorithm::es256:
      return "ES256";
    case jwt_algorithm::es384:
      return "ES384";
    case jwt_algorithm::es512:
      return "ES512";
  }
  return "?";
}

// The algorithm named `name` (exact JOSE spelling); false when there is none.
[[nodiscard]] inline bool parse_jwt_algorithm(std::string_view name, jwt_algorithm& out) noexcept {
  for (auto a : {jwt_algorithm::hs256, jwt_algorithm::hs384, jwt_algorithm::hs512, jwt_algorithm::rs256,
                 jwt_algorithm::rs384, jwt_algorithm::rs512, jwt_algorithm::es256, jwt_algorithm::es384,
                 jwt_algorithm::es512}) {
    if (name == to_string(a)) {
      out = a;
      return true;
    }
  }
  return false;
}

[[nodiscard]] constexpr bool is_hmac(jwt_algorithm a) noexcept {
  return a == jwt_algorithm::hs256 || a == jwt_algorithm::hs384 || a == jwt_algorithm::hs512;
}

struct jwt_options {
  jwt_algorithm algorithm = jwt_algorithm::hs256;
  // HS*: the shared secret, at least as long as the hash (32, 48, 64 bytes; RFC 7518 §3.2).
  // RS*/ES*: the issuer's public key, PEM ("-----BEGIN PUBLIC KEY-----").
  std::string key;
  // Rotation: tokens signed with the previous key still pass until previous_key_until (Unix
  // seconds), then only `key` does. Empty: no previous key.
  std::string previous_key;
  std::int64_t previous_key_until = 0;
  std::string issuer;               // required `iss` when not empty
  std::string audience;             // required member of `aud` when not empty
  std::chrono::seconds leeway{30};  // clock skew allowed on exp and nbf
  std::string rights_claim = "streams";
};

// Why a token was refused. The names (to_string) are the `reason` label of the server's counter.
enum class jwt_refusal {
  none,
  malformed,      // not three base64url parts of JSON, or a claim of the wrong type
  alg_mismatch,   // the header's alg is not the configured one (alg none included)
  bad_signature,  // no configured key verifies it (or the previous key is past its date)
  expired,
  not_yet_valid,
  missing_exp,
  bad_issuer,
  bad_audience,
};

[[nodiscard]] constexpr const char* to_string(jwt_refusal r) noexcept {
  switch (r) {
    case jwt_refusal::none:
      return "none";
    case jwt_refusal::malformed:
      return "malformed";
    case jwt_refusal::alg_mismatch:
      return "alg_mismatch";
    case jwt_refusal::bad_signature:
      return "bad_signature";
    case jwt_refusal::expired:
      return "expired";
    case jwt_refusal::not_yet_valid:
      return "not_yet_valid";
    case jwt_refusal::missing_exp:
      return "missing_exp";
    case jwt_refusal::bad_issuer:
      return "bad_issuer";
    case jwt_refusal::bad_audience:
      return "bad_audience";
  }
  return "?";
}

struct jwt_result {
  jwt_refusal refusal = jwt_refusal::malformed;
  std::string subject;  // `sub`
  stream_rights rights;
  std::int64_t expires_at = 0;  // `exp`, Unix seconds (rounded down)
  bool previous_key = false;    // verified by the previous key (rotation in progress)

  [[nodiscard]] bool ok() const noexcept { return refusal == jwt_refusal::none; }
};

namespace detail {

struct jwt_deleter {
  void operator()(jwt_t* j) const noexcept { jwt_free(j); }
};
using jwt_ptr = std::unique_ptr<jwt_t, jwt_deleter>;

[[nodiscard]] inline jwt_alg_t to_libjwt(jwt_algorithm a) noexcept {
  switch (a) {
    case jwt_algorithm::hs256:
      return JWT_ALG_HS256;
    case jwt_algorithm::hs384:
      return JWT_ALG_HS384;
    case jwt_algorithm::hs512:
      return JWT_ALG_HS512;
    case jwt_algorithm::rs256:
      return JWT_ALG_RS256;
    case jwt_algorithm::rs384:
      return JWT_ALG_RS384;
    case jwt_algorithm::rs512:
      return JWT_ALG_RS512;
    case jwt_algorithm::es256:
      return JWT_ALG_ES256;
    case jwt_algorithm::es384:
      return JWT_ALG_ES384;
    case jwt_algorithm::es512:
      return JWT_ALG_ES512;
  }
  return JWT_ALG_INVAL;
}

[[nodiscard]] inline std::size_t hmac_min_key_bytes(jwt_algorithm a) noexcept {
  return a == jwt_algorithm::hs512 ? 64U : a == jwt_algorithm::hs384 ? 48U : 32U;
}

// Why `key` cannot serve `a` (empty when it can): the checks that keep a config error from
// becoming a silent "every token refused" or, worse, an HS/RS confusion.
[[nodiscard]] inline std::string jwt_key_problem(jwt_algorithm a, std::string_view key) {
  const bool looks_pem = key.find("-----BEGIN") != std::string_view::npos;
  if (is_hmac(a)) {
    if (looks_pem) {
      return std::string("a PEM key was given for ") + to_string(a) +
             ", which takes a shared secret (a public key used as an HMAC secret lets anyone sign)";
    }
    if (key.size() < hmac_min_key_bytes(a)) {
      return std::string(to_string(a)) + " needs a secret of at least " +
             std::to_string(hmac_min_key_bytes(a)) + " bytes (RFC 7518 §3.2), got " +
             std::to_string(key.size());
    }
    return {};
  }
  if (key.find("PRIVATE KEY") != std::string_view::npos) {
    return "a private key was given; the verifier takes the issuer's public key (PEM, BEGIN PUBLIC KEY)";
  }
  std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new_mem_buf(key.data(), static_cast<int>(key.size())),
                                                &BIO_free);
  std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> pkey(
      bio ? PEM_read_bio_PUBKEY(bio.get(), nullptr, nullptr, nullptr) : nullptr, &EVP_PKEY_free);
  if (!pkey) {
    return std::string(to_string(a)) +
           " needs a public key in PEM (BEGIN PUBLIC KEY); this one does not parse";
  }
  const bool rsa = a == jwt_algorithm::rs256 || a == jwt_algorithm::rs384 || a == jwt_algorithm::rs512;
  if (rsa != (EVP_PKEY_base_id(pkey.get()) == EVP_PKEY_RSA)) {
    return std::string("the public key's type does not fit ") + to_string(a);
  }
  return {};
}

// A NumericDate (integer or not) as whole seconds, rounded down; false when not a number.
[[nodiscard]] inline bool numeric_date(simdjson::dom::element e, std::int64_t& out) noexcept {
  std::int64_t i = 0;
  if (e.get_int64().get(i) == simdjson::SUCCESS) {
    out = i;
    return true;
  }
  double d = 0;
  if (e.get_double().get(d) == simdjson::SUCCESS && std::isfinite(d) && std::fabs(d) < 9.0e15) {
    out = static_cast<std::int64_t>(std::floor(d));
    return true;
  }
  return false;
}

[[nodiscard]] inline bool string_list(simdjson::dom::element e, std::vector<std::string>& out) {
  simdjson::dom::array arr;
  if (e.get_array().get(arr) != simdjson::SUCCESS) {
    return false;
  }
  for (simdjson::dom::element x : arr) {
    std::string_view s;
    if (x.get_string().get(s) != simdjson::SUCCESS) {
      return false;
    }
    out.emplace_back(s);
  }
  return true;
}

}  // namespace detail

// Verifies tokens against one configuration. const and thread-safe: verify() keeps no state
// (a simdjson parser per call: tokens are checked once per connection, not per message).
class jwt_verifier {
 public:
  // Tokens longer than this are refused as malformed before any parsing.
  static constexpr std::size_t max_token_bytes = 8192;

  explicit jwt_verifier(jwt_options o) : o_(std::move(o)) {
    if (std::string p = detail::jwt_key_problem(o_.algorithm, o_.key); !p.empty()) {
      throw std::invalid_argument("jwt key: " + p);
    }
    if (!o_.previous_key.empty()) {
      if (std::string p = detail::jwt_key_problem(o_.algorithm, o_.previous_key); !p.empty()) {
        throw std::invalid_argument("jwt previous key: " + p);
      }
    }
    if (o_.leeway.count() < 0) {
      throw std::invalid_argument("jwt leeway: must not be negative");
    }
    if (o_.rights_claim.empty()) {
      throw std::invalid_argument("jwt rights claim: must not be empty");
    }
  }

  [[nodiscard]] const jwt_options& options() const noexcept { return o_; }

  // The verdict on `token` at time `now` (Unix seconds).
  [[nodiscard]] jwt_result verify(std::string_view token, std::int64_t now) const {
    jwt_result r;
    if (token.empty() || token.size() > max_token_bytes) {
      return r;  // malformed
    }
    const std::string tok(token);  // libjwt wants a NUL-terminated string
    // 1. The header, unverified: only to compare its alg with ours before any key is used.
    {
      jwt_t* raw = nullptr;
      if (jwt_decode(&raw, tok.c_str(), nullptr, 0) != 0 || raw == nullptr) {
        return r;  // malformed
      }
      const detail::jwt_ptr unverified(raw);
      // Decoded without a key, libjwt reports the algorithm as "none" whatever the header says;
      // the header itself keeps the token's claim.
      const char* alg = jwt_get_header(raw, "alg");
      if (alg == nullptr || std::string_view(alg) != to_string(o_.algorithm)) {
        r.refusal = jwt_refusal::alg_mismatch;
        return r;
      }
    }
    // 2. The signature, with the current key, then the previous one while it is still accepted.
    detail::jwt_ptr verified = decode_with(tok, o_.key);
    if (!verified && !o_.previous_key.empty() && now <= o_.previous_key_until) {
      verified = decode_with(tok, o_.previous_key);
      r.previous_key = static_cast<bool>(verified);
    }
    if (!verified || jwt_get_alg(verified.get()) != detail::to_libjwt(o_.algorithm)) {
      r.refusal = jwt_refusal::bad_signature;
      return r;
    }
    // 3. The claims (one JSON parse of the whole claim set).
    std::unique_ptr<char, decltype(&std::free)> json(jwt_get_grants_json(verified.get(), nullptr),
                                                     &std::free);
    if (!json) {
      return r;  // malformed
    }
    simdjson::dom::parser parser;
    simdjson::dom::object claims;
    if (parser.parse(json.get(), std::char_traits<char>::length(json.get())).get_object().get(claims) !=
        simdjson::SUCCESS) {
      return r;
    }
    return check_claims(claims, now, std::move(r));
  }

 private:
  detail::jwt_ptr decode_with(const std::string& tok, const std::string& key) const {
    jwt_t* raw = nullptr;
    if (jwt_decode(&raw, tok.c_str(), reinterpret_cast<const unsigned char*>(key.data()),
                   static_cast<int>(key.size())) != 0) {
      return nullptr;
    }
    return detail::jwt_ptr(raw);
  }

  jwt_result check_claims(simdjson::dom::object claims, std::int64_t now, jwt_result r) const {
    const std::int64_t leeway = o_.leeway.count();
    simdjson::dom::element e;
    // exp: required.
    if (claims["exp"].get(e) != simdjson::SUCCESS) {
      r.refusal = jwt_refusal::missing_exp;
      return r;
    }
    if (!detail::numeric_date(e, r.expires_at)) {
      r.refusal = jwt_refusal::malformed;
      return r;
    }
    if (now >= sat_add(r.expires_at, leeway)) {
      r.refusal = jwt_refusal::expired;
      return r;
    }
    // nbf: optional.
    if (claims["nbf"].get(e) == simdjson::SUCCESS) {
      std::int64_t nbf = 0;
      if (!detail::numeric_date(e, nbf)) {
        r.refusal = jwt_refusal::malformed;
        return r;
      }
      if (sat_add(now, leeway) < nbf) {
        r.refusal = jwt_refusal::not_yet_valid;
        return r;
      }
    }
    // iss
    if (!o_.issuer.empty()) {
      std::string_view iss;
      if (claims["iss"].get(e) != simdjson::SUCCESS || e.get_string().get(iss) != simdjson::SUCCESS ||
          iss != o_.issuer) {
        r.refusal = jwt_refusal::bad_issuer;
        return r;
      }
    }
    // aud: a string or an array of strings (RFC 7519 §4.1.3).
    if (!o_.audience.empty()) {
      bool found = false;
      if (claims["aud"].get(e) == simdjson::SUCCESS) {
        std::string_view one;
        std::vector<std::string> many;
        if (e.get_string().get(one) == simdjson::SUCCESS) {
          found = one == o_.audience;
        } else if (detail::string_list(e, many)) {
          for (const auto& a : many) {
            found = found || a == o_.audience;
          }
        }
      }
      if (!found) {
        r.refusal = jwt_refusal::bad_audience;
        return r;
      }
    }
    // sub
    if (claims["sub"].get(e) == simdjson::SUCCESS) {
      std::string_view sub;
      if (e.get_string().get(sub) != simdjson::SUCCESS) {
        r.refusal = jwt_refusal::malformed;
        return r;
      }
      r.subject = std::string(sub);
    }
    // Rights: {"publish": [...], "subscribe": [...]}, both optional.
    if (claims[o_.rights_claim].get(e) == simdjson::SUCCESS) {
      simdjson::dom::object rights;
      if (e.get_object().get(rights) != simdjson::SUCCESS) {
        r.refusal = jwt_refusal::malformed;
        return r;
      }
      simdjson::dom::element list;
      if (rights["publish"].get(list) == simdjson::SUCCESS && !detail::string_list(list, r.rights.publish)) {
        r.refusal = jwt_refusal::malformed;
        return r;
      }
      if (rights["subscribe"].get(list) == simdjson::SUCCESS &&
          !detail::string_list(list, r.rights.subscribe)) {
        r.refusal = jwt_refusal::malformed;
        return r;
      }
    }
    r.refusal = jwt_refusal::none;
    return r;
  }

  static std::int64_t sat_add(std::int64_t a, std::int64_t b) noexcept {
    if (b > 0 && a > std::numeric_limits<std::int64_t>::max() - b) {
      return std::numeric_limits<std::int64_t>::max();
    }
    return a + b;
  }

  jwt_options o_;
};

}  // namespace streamstats::websocket
