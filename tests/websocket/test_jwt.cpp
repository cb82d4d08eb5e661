// jwt.hpp: tokens made by PyJWT (an implementation outside the code under test) at test time, keys
// made by `openssl` at test time; every refusal reason is reached by a token built for it.
#include <catch2/catch.hpp>

#include "tls_fixture.hpp"

#include <streamstats/websocket/jwt.hpp>

#include <string>

namespace ws = streamstats::websocket;
using streamstats_test::pki_dir;
using streamstats_test::pyjwt_token;
using streamstats_test::read_text;
using streamstats_test::run_capture;
using streamstats_test::sh_quote;

namespace {

const std::string secret = "0123456789abcdef0123456789abcdef-hs256";  // 38 bytes
const std::string secret_py = "'" + secret + "'";

ws::jwt_options hs_options() {
  ws::jwt_options o;
  o.algorithm = ws::jwt_algorithm::hs256;
  o.key = secret;
  o.issuer = "https://auth.test";
  o.audience = "streamstats";
  o.leeway = std::chrono::seconds(5);
  return o;
}

const std::string good_claims =
    "{'sub': 'feeder-1', 'iss': 'https://auth.test', 'aud': 'streamstats', 'exp': now + 600, "
    "'streams': {'publish': ['sensors/*'], 'subscribe': ['*']}}";

}  // namespace

TEST_CASE("a valid HS256 token yields its subject - rights and expiry", "[jwt]") {
  const ws::jwt_verifier v(hs_options());
  const std::string tok = pyjwt_token(good_claims, secret_py, "HS256");
  const std::int64_t now = ws::unix_now();
  const ws::jwt_result r = v.verify(tok, now);
  REQUIRE(r.ok());
  CHECK(r.subject == "feeder-1");
  CHECK(r.expires_at >= now + 590);
  CHECK(r.expires_at <= now + 610);
  CHECK(r.rights.may_publish("sensors/a"));
  CHECK(r.rights.may_publish("sensors/a/b"));
  CHECK_FALSE(r.rights.may_publish("actuators/a"));
  CHECK_FALSE(r.rights.may_publish("sensors"));
  CHECK(r.rights.may_subscribe("anything/at/all"));
  CHECK_FALSE(r.previous_key);
}

TEST_CASE("an audience array is accepted when it contains ours", "[jwt]") {
  const ws::jwt_verifier v(hs_options());
  const std::string tok = pyjwt_token(
      "{'iss': 'https://auth.test', 'aud': ['other', 'streamstats'], 'exp': now + 60}", secret_py, "HS256");
  const auto r = v.verify(tok, ws::unix_now());
  REQUIRE(r.ok());
  CHECK(r.rights.publish.empty());
  CHECK_FALSE(r.rights.may_subscribe("x"));  // no rights claim: no rights
}

TEST_CASE("each bad claim is refused with its own reason", "[jwt]") {
  const ws::jwt_verifier v(hs_options());
  const std::int64_t now = ws::unix_now();
  auto verdict = [&](const std::string& claims) {
    return v.verify(pyjwt_token(claims, secret_py, "HS256"), now).refusal;
  };
  // exp 10 s ago is past the 5 s leeway; 3 s ago is within it.
  CHECK(verdict("{'iss': 'https://auth.test', 'aud': 'streamstats', 'exp': now - 10}") ==
        ws::jwt_refusal::expired);
  CHECK(verdict("{'iss': 'https://auth.test', 'aud': 'streamstats', 'exp': now - 3}") ==
        ws::jwt_refusal::none);
  CHECK(verdict("{'iss': 'https://auth.test', 'aud': 'streamstats', 'exp': now + 60, 'nbf': now + 30}") ==
        ws::jwt_refusal::not_yet_valid);
  CHECK(verdict("{'iss': 'https://auth.test', 'aud': 'streamstats', 'exp': now + 60, 'nbf': now + 3}") ==
        ws::jwt_refusal::none);
  CHECK(verdict("{'iss': 'https://auth.test', 'aud': 'streamstats'}") == ws::jwt_refusal::missing_exp);
  CHECK(verdict("{'iss': 'https://evil.test', 'aud': 'streamstats', 'exp': now + 60}") ==
        ws::jwt_refusal::bad_issuer);
  CHECK(verdict("{'aud': 'streamstats', 'exp': now + 60}") == ws::jwt_refusal::bad_issuer);
  CHECK(verdict("{'iss': 'https://auth.test', 'aud': 'other', 'exp': now + 60}") ==
        ws::jwt_refusal::bad_audience);
  CHECK(verdict("{'iss': 'https://auth.test', 'exp': now + 60}") == ws::jwt_refusal::bad_audience);
  CHECK(verdict("{'iss': 'https://auth.test', 'aud': 'streamstats', 'exp': now + 60, 'streams': ['a']}") ==
        ws::jwt_refusal::malformed);
  CHECK(verdict("{'iss': 'https://auth.test', 'aud': 'streamstats', 'exp': now + 60, 'streams': {'publish': "
                "'a'}}") == ws::jwt_refusal::malformed);
  CHECK(verdict("{'iss': 'https://auth.test', 'aud': 'streamstats', 'exp': 'tomorrow'}") ==
        ws::jwt_refusal::malformed);
}

TEST_CASE("a token signed with another secret is a bad signature", "[jwt]") {
  const ws::jwt_verifier v(hs_options());
  const std::string tok = pyjwt_token(good_claims, "'another-secret-of-thirty-two-bytes-long'", "HS256");
  CHECK(v.verify(tok, ws::unix_now()).refusal == ws::jwt_refusal::bad_signature);
  // One flipped character in the signature.
  std::string good = pyjwt_token(good_claims, secret_py, "HS256");
  good[good.size() - 2] = good[good.size() - 2] == 'A' ? 'B' : 'A';
  CHECK(v.verify(good, ws::unix_now()).refusal == ws::jwt_refusal::bad_signature);
}

TEST_CASE("alg none is refused even without a signature to check", "[jwt]") {
  const ws::jwt_verifier v(hs_options());
  const std::string tok = pyjwt_token(good_claims, "None", "none");
  REQUIRE(tok.back() == '.');  // PyJWT's unsecured JWS: empty signature
  CHECK(v.verify(tok, ws::unix_now()).refusal == ws::jwt_refusal::alg_mismatch);
}

TEST_CASE("garbage is malformed", "[jwt]") {
  const ws::jwt_verifier v(hs_options());
  const auto now = ws::unix_now();
  CHECK(v.verify("", now).refusal == ws::jwt_refusal::malformed);
  CHECK(v.verify("not-a-token", now).refusal == ws::jwt_refusal::malformed);
  CHECK(v.verify("a.b.c", now).refusal == ws::jwt_refusal::malformed);
  CHECK(v.verify(std::string(ws::jwt_verifier::max_token_bytes + 1, 'a'), now).refusal ==
        ws::jwt_refusal::malformed);
}

TEST_CASE("RS256 verifies with the public key and refuses the HS/RS confusion", "[jwt]") {
  pki_dir pki;
  pki.make_keypair("issuer");
  ws::jwt_options o = hs_options();
  o.algorithm = ws::jwt_algorithm::rs256;
  o.key = read_text(pki.path("issuer.pub"));
  const ws::jwt_verifier v(o);
  const std::string key_py = "open(" + sh_quote(pki.path("issuer.key")) + ").read()";
  const auto now = ws::unix_now();

  const auto good = v.verify(pyjwt_token(good_claims, key_py, "RS256"), now);
  REQUIRE(good.ok());
  CHECK(good.subject == "feeder-1");

  // The attack: HS256 with the (public) PEM as the HMAC secret. PyJWT refuses to make such a
  // token, so it is built with Python's hmac module.
  const std::string forge =
      "import base64, hmac, hashlib, json, time\n"
      "b = lambda x: base64.urlsafe_b64encode(x).rstrip(b'=').decode()\n"
      "h = b(json.dumps({'alg': 'HS256', 'typ': 'JWT'}).encode())\n"
      "p = b(json.dumps({'sub': 'mallory', 'iss': 'https://auth.test', 'aud': 'streamstats', "
      "'exp': int(time.time()) + 600, 'streams': {'publish': ['*']}}).encode())\n"
      "k = open(" +
      sh_quote(pki.path("issuer.pub")) +
      ", 'rb').read()\n"
      "s = b(hmac.new(k, (h + '.' + p).encode(), hashlib.sha256).digest())\n"
      "print(h + '.' + p + '.' + s)\n";
  const std::string forged = run_capture("/usr/bin/python3 -c " + sh_quote(forge));
  CHECK(v.verify(forged, now).refusal == ws::jwt_refusal::alg_mismatch);

  // Another RSA key: bad signature.
  pki.make_keypair("mallory");
  const std::string other_py = "open(" + sh_quote(pki.path("mallory.key")) + ").read()";
  CHECK(v.verify(pyjwt_token(good_claims, other_py, "RS256"), now).refusal == ws::jwt_refusal::bad_signature);
  // RS512 with the right key: the algorithm is ours to choose, not the token's.
  CHECK(v.verify(pyjwt_token(good_claims, key_py, "RS512"), now).refusal == ws::jwt_refusal::alg_mismatch);
}

TEST_CASE("ES256 tokens from PyJWT verify", "[jwt]") {
  pki_dir pki;
  pki.make_keypair("issuer", false);
  ws::jwt_options o = hs_options();
  o.algorithm = ws::jwt_algorithm::es256;
  o.key = read_text(pki.path("issuer.pub"));
  const ws::jwt_verifier v(o);
  const std::string key_py = "open(" + sh_quote(pki.path("issuer.key")) + ").read()";
  CHECK(v.verify(pyjwt_token(good_claims, key_py, "ES256"), ws::unix_now()).ok());
}

TEST_CASE("the previous key is accepted until its date - then refused", "[jwt]") {
  ws::jwt_options o = hs_options();
  const std::string old_secret = "the-previous-secret-32-bytes-or-more!";
  o.key = "the-current-secret-32-bytes-or-more!!";
  o.previous_key = old_secret;
  const auto now = ws::unix_now();
  o.previous_key_until = now + 100;
  const ws::jwt_verifier v(o);
  const std::string old_tok = pyjwt_token(good_claims, "'" + old_secret + "'", "HS256");
  const std::string new_tok = pyjwt_token(good_claims, "'" + o.key + "'", "HS256");
  const auto before = v.verify(old_tok, now);
  CHECK(before.ok());
  CHECK(before.previous_key);
  CHECK(v.verify(old_tok, now + 101).refusal == ws::jwt_refusal::bad_signature);
  const auto current = v.verify(new_tok, now);
  CHECK(current.ok());
  CHECK_FALSE(current.previous_key);
}

TEST_CASE("a key that cannot serve the algorithm is a configuration error", "[jwt]") {
  pki_dir pki;
  pki.make_keypair("rsa");
  pki.make_keypair("ec", false);
  ws::jwt_options o;
  o.algorithm = ws::jwt_algorithm::hs256;
  o.key = "short";
  CHECK_THROWS_WITH(ws::jwt_verifier(o), Catch::Contains("at least 32 bytes"));
  o.key = read_text(pki.path("rsa.pub"));  // an RS public key as an HMAC secret
  CHECK_THROWS_WITH(ws::jwt_verifier(o), Catch::Contains("PEM key was given for HS256"));
  o.algorithm = ws::jwt_algorithm::rs256;
  o.key = read_text(pki.path("rsa.key"));
  CHECK_THROWS_WITH(ws::jwt_verifier(o), Catch::Contains("private key"));
  o.key = read_text(pki.path("ec.pub"));
  CHECK_THROWS_WITH(ws::jwt_verifier(o), Catch::Contains("does not fit RS256"));
  o.key = "not a pem";
  CHECK_THROWS_WITH(ws::jwt_verifier(o), Catch::Contains("does not parse"));
  o.key = read_text(pki.path("rsa.pub"));
  CHECK_NOTHROW(ws::jwt_verifier(o));
}

TEST_CASE("algorithm names parse in their JOSE spelling only", "[jwt]") {
  ws::jwt_algorithm a{};
  CHECK(ws::parse_jwt_algorithm("RS256", a));
  CHECK(a == ws::jwt_algorithm::rs256);
  CHECK_FALSE(ws::parse_jwt_algorithm("rs256", a));
  CHECK_FALSE(ws::parse_jwt_algorithm("none", a));
}
