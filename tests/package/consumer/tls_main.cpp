// Uses streamstats::websocket_tls through the installed package: OpenSSL (a context from missing
// files is refused, naming the option) and libjwt (a token signed with another key is refused as
// bad_signature, an alg-none token as alg_mismatch). Exits non-zero on a wrong verdict.
#include <streamstats/websocket/jwt.hpp>
#include <streamstats/websocket/tls.hpp>

#include <cstdio>
#include <string>

int main() {
  namespace ws = streamstats::websocket;
  bool refused = false;
  try {
    ws::tls_options o;
    o.cert_chain = "/nonexistent/streamstats-consumer/cert.pem";
    o.key = "/nonexistent/streamstats-consumer/key.pem";
    (void)ws::make_tls_context(o);
  } catch (const ws::tls_error& e) {
    refused = std::string(e.what()).find("tls.cert") != std::string::npos;
    std::printf("tls: %s\n", e.what());
  }
  if (!refused) {
    std::puts("tls: a context from missing files was not refused with tls.cert in the message");
    return 1;
  }
  ws::jwt_options jo;
  jo.algorithm = ws::jwt_algorithm::hs256;
  jo.key = "0123456789abcdef0123456789abcdef";
  const ws::jwt_verifier v(jo);
  // jwt.io's example token (HS256, signed with another secret) and an unsigned one.
  const auto other_key = v.verify(
      "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9."
      "eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIiwiaWF0IjoxNTE2MjM5MDIy"
      "fQ.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c",
      1700000000);
  const auto unsigned_token = v.verify("eyJhbGciOiJub25lIn0.eyJleHAiOjE5MDAwMDAwMDB9.", 1700000000);
  if (other_key.refusal != ws::jwt_refusal::bad_signature ||
      unsigned_token.refusal != ws::jwt_refusal::alg_mismatch) {
    std::printf("jwt: wrong verdicts %s %s\n", ws::to_string(other_key.refusal),
                ws::to_string(unsigned_token.refusal));
    return 1;
  }
  std::puts("websocket_tls consumer ok");
  return 0;
}
