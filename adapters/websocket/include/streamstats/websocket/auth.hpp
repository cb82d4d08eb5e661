// streamstats::websocket auth — what a connection may do, decided at its handshake from its
// credential: the shared producer token, a JWT with per-stream rights, or nothing (anonymous).
// SPDX-License-Identifier: MIT
//
// The three modes, from the simplest (docs/websocket.md, "Access"):
//   nothing configured     everyone may push and subscribe to every stream (a loopback default).
//   producer_token         the token pushes to every stream; without it a connection subscribes only.
//   jwt                    a verified token carries its rights (publish / subscribe globs) and its
//                          expiry; an invalid token is refused at the handshake (HTTP 401, with the
//                          reason in WWW-Authenticate, RFC 6750 §3) and counted by reason.
// Both token kinds may be configured at once: a credential equal to the producer token is the
// shared token, any other is read as a JWT. A connection without a credential is anonymous: it may
// subscribe to every stream when anonymous_subscribe is on, else it is refused (401).
//
// The credential is "Authorization: Bearer <token>" or "?token=<token>" in the URL (browsers
// cannot set headers on a WebSocket handshake).
#pragma once

#include <streamstats/websocket/access.hpp>
#include <streamstats/websocket/rights.hpp>
#if defined(STREAMSTATS_WEBSOCKET_TLS)
#include <streamstats/websocket/jwt.hpp>  // libjwt: only in builds with streamstats::websocket_tls
#endif

#include <cstdint>
#include <limits>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

namespace streamstats::websocket {

struct auth_options {
  std::string producer_token;  // the shared token ("" = none)
#if defined(STREAMSTATS_WEBSOCKET_TLS)
  std::optional<jwt_options> jwt;  // JWT access (nullopt = none)
#endif
  // A connection without a valid credential may subscribe (to every stream). Off: it is refused
  // at the handshake. (streamstatsd's default: on without [jwt], off with it.)
  bool anonymous_subscribe = true;
};

// What one connection may do, for its whole life (a JWT grant also ends at expires_at).
struct access_grant {
  enum class source { open, shared_token, jwt, anonymous };
  source from = source::open;
  bool publish_all = false;
  bool subscribe_all = false;
  stream_rights rights;  // jwt: the token's globs
  std::string subject;   // jwt: `sub`
  // jwt: the instant (Unix seconds) the token stops being valid (exp + leeway); else never.
  std::int64_t expires_at = std::numeric_limits<std::int64_t>::max();

  [[nodiscard]] bool may_publish(std::string_view stream) const noexcept {
    return publish_all || rights.may_publish(stream);
  }
  [[nodiscard]] bool may_subscribe(std::string_view stream) const noexcept {
    return subscribe_all || rights.may_subscribe(stream);
  }
  // Whether every stream, present and future, may be subscribed to (a "*" right): what
  // subscribing to "*" and an unfiltered list need.
  [[nodiscard]] bool may_subscribe_everything() const noexcept {
    if (subscribe_all) {
      return true;
    }
    for (const auto& g : rights.subscribe) {
      if (!g.empty() && g.find_first_not_of('*') == std::string::npos) {
        return true;
      }
    }
    return false;
  }
  // May push to some stream at all (a cheap first check on the push path).
  [[nodiscard]] bool may_publish_any() const noexcept { return publish_all || !rights.publish.empty(); }
  [[nodiscard]] bool expires() const noexcept {
    return expires_at != std::numeric_limits<std::int64_t>::max();
  }
};

// Why a handshake was refused by auth (the `reason` label of the refusal counter): the JWT
// reasons of jwt.hpp, plus "missing_token" (none given where anonymous access is off) and
// "bad_token" (a wrong shared token where no JWT is configured and anonymous access is off).
struct auth_decision {
  bool admitted = false;
  access_grant grant;
  std::string refusal;  // empty when admitted
};

class authenticator {
 public:
  authenticator() = default;
  // Throws std::invalid_argument when the JWT configuration is unusable (jwt_verifier).
  explicit authenticator(auth_options o) : o_(std::move(o)) {
#if defined(STREAMSTATS_WEBSOCKET_TLS)
    if (o_.jwt) {
      verifier_ = std::make_shared<const jwt_verifier>(*o_.jwt);
    }
#endif
  }

  [[nodiscard]] bool jwt_enabled() const noexcept {
#if defined(STREAMSTATS_WEBSOCKET_TLS)
    return verifier_ != nullptr;
#else
    return false;
#endif
  }
  [[nodiscard]] const auth_options& options() const noexcept { return o_; }

  // The decision for a handshake with this Authorization header and request target, at `now`.
  [[nodiscard]] auth_decision decide(std::string_view authorization, std::string_view resource,
                                     std::int64_t now) const {
    auth_decision d;
    if (o_.producer_token.empty() && !jwt_enabled()) {
      d.admitted = true;  // open server: today's default on loopback
      d.grant.from = access_grant::source::open;
      d.grant.publish_all = d.grant.subscribe_all = true;
      return d;
    }
    std::string credential(detail::bearer_credentials(authorization));
    if (credential.empty()) {
      if (const auto q = resource.find('?'); q != std::string_view::npos) {
        bool found = false;
        credential = detail::query_parameter(resource.substr(q + 1), "token", found);
      }
    }
    if (!credential.empty()) {
      if (!o_.producer_token.empty() && detail::same_secret(credential, o_.producer_token)) {
        d.admitted = true;
        d.grant.from = access_grant::source::shared_token;
        d.grant.publish_all = d.grant.subscribe_all = true;
        return d;
      }
#if defined(STREAMSTATS_WEBSOCKET_TLS)
      if (verifier_) {
        jwt_result r = verifier_->verify(credential, now);
        if (!r.ok()) {
          d.refusal = to_string(r.refusal);
          return d;
        }
        d.admitted = true;
        d.grant.from = access_grant::source::jwt;
        d.grant.rights = std::move(r.rights);
        d.grant.subject = std::move(r.subject);
        const std::int64_t leeway = verifier_->options().leeway.count();
        d.grant.expires_at = r.expires_at > std::numeric_limits<std::int64_t>::max() - leeway
                                 ? std::numeric_limits<std::int64_t>::max() - 1
                                 : r.expires_at + leeway;
        return d;
      }
#else
      (void)now;
#endif
      // A wrong shared token and no JWT: anonymous, as before issue 13 (subscribe, never push).
      if (!o_.anonymous_subscribe) {
        d.refusal = "bad_token";
        return d;
      }
    } else if (!o_.anonymous_subscribe) {
      d.refusal = "missing_token";
      return d;
    }
    d.admitted = true;
    d.grant.from = access_grant::source::anonymous;
    d.grant.subscribe_all = true;
    return d;
  }

 private:
  auth_options o_;
#if defined(STREAMSTATS_WEBSOCKET_TLS)
  std::shared_ptr<const jwt_verifier> verifier_;
#endif
};

}  // namespace streamstats::websocket
