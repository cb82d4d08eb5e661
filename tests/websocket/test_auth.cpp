// auth.hpp: the handshake decision in each access mode (open, shared token, JWT, anonymous), with
// JWTs made by PyJWT at test time.
#include <catch2/catch.hpp>

#include "tls_fixture.hpp"

#include <streamstats/websocket/auth.hpp>

#include <string>

namespace ws = streamstats::websocket;
using streamstats_test::pyjwt_token;

namespace {

const std::string secret = "a-shared-hs256-secret-of-32-bytes-or-more";

ws::auth_options jwt_auth(bool anonymous_subscribe) {
  ws::auth_options a;
  ws::jwt_options j;
  j.key = secret;
  j.audience = "streamstats";
  a.jwt = j;
  a.anonymous_subscribe = anonymous_subscribe;
  return a;
}

}  // namespace

TEST_CASE("an open server lets everyone publish and subscribe", "[auth]") {
  const ws::authenticator a;
  const auto d = a.decide("", "/ws", 0);
  REQUIRE(d.admitted);
  CHECK(d.grant.may_publish("x"));
  CHECK(d.grant.may_subscribe("x"));
  CHECK_FALSE(d.grant.expires());
}

TEST_CASE("the shared producer token publishes everywhere - without it a client only subscribes", "[auth]") {
  ws::auth_options o;
  o.producer_token = "s3cret";
  const ws::authenticator a(o);
  const auto bearer = a.decide("Bearer s3cret", "/ws", 0);
  REQUIRE(bearer.admitted);
  CHECK(bearer.grant.may_publish("any/stream"));
  const auto query = a.decide("", "/ws?token=s3cret", 0);
  REQUIRE(query.admitted);
  CHECK(query.grant.may_publish("x"));
  const auto wrong = a.decide("Bearer nope", "/ws", 0);
  REQUIRE(wrong.admitted);
  CHECK_FALSE(wrong.grant.may_publish("x"));
  CHECK(wrong.grant.may_subscribe("x"));
  const auto none = a.decide("", "/ws", 0);
  REQUIRE(none.admitted);
  CHECK_FALSE(none.grant.may_publish_any());

  o.anonymous_subscribe = false;
  const ws::authenticator strict(o);
  CHECK(strict.decide("Bearer nope", "/ws", 0).refusal == "bad_token");
  CHECK(strict.decide("", "/ws", 0).refusal == "missing_token");
  CHECK(strict.decide("Bearer s3cret", "/ws", 0).admitted);
}

TEST_CASE("a JWT grants its own rights until exp plus the leeway", "[auth]") {
  const ws::authenticator a(jwt_auth(false));
  const std::int64_t now = ws::unix_now();
  const std::string tok = pyjwt_token(
      "{'sub': 'dash', 'aud': 'streamstats', 'exp': now + 100, 'streams': {'publish': ['lab/*'], "
      "'subscribe': ['lab/*', 'public']}}",
      "'" + secret + "'", "HS256");
  const auto d = a.decide("Bearer " + tok, "/ws", now);
  REQUIRE(d.admitted);
  CHECK(d.grant.subject == "dash");
  CHECK(d.grant.may_publish("lab/t1"));
  CHECK_FALSE(d.grant.may_publish("public"));
  CHECK(d.grant.may_subscribe("public"));
  CHECK_FALSE(d.grant.may_subscribe("private"));
  REQUIRE(d.grant.expires());
  CHECK(d.grant.expires_at >= now + 100 + 30 - 2);  // default leeway 30 s
  CHECK(d.grant.expires_at <= now + 100 + 30 + 2);
  // The same token in the URL.
  CHECK(a.decide("", "/ws?token=" + tok, now).admitted);
}

TEST_CASE("with JWT a bad token is refused with its reason and no token needs anonymous access", "[auth]") {
  const std::int64_t now = ws::unix_now();
  const std::string expired =
      pyjwt_token("{'aud': 'streamstats', 'exp': now - 100}", "'" + secret + "'", "HS256");
  const std::string other_aud = pyjwt_token("{'aud': 'x', 'exp': now + 100}", "'" + secret + "'", "HS256");
  const ws::authenticator strict(jwt_auth(false));
  CHECK(strict.decide("Bearer " + expired, "/ws", now).refusal == "expired");
  CHECK(strict.decide("Bearer " + other_aud, "/ws", now).refusal == "bad_audience");
  CHECK(strict.decide("", "/ws", now).refusal == "missing_token");
  const ws::authenticator open(jwt_auth(true));
  // A bad token is refused even where anonymous access would be allowed: it is a claim that failed.
  CHECK(open.decide("Bearer " + expired, "/ws", now).refusal == "expired");
  const auto anon = open.decide("", "/ws", now);
  REQUIRE(anon.admitted);
  CHECK_FALSE(anon.grant.may_publish_any());
  CHECK(anon.grant.may_subscribe("x"));
}
