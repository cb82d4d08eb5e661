// tls.hpp: contexts from certificates made by `openssl` at test time, and real handshakes with
// `openssl s_client` (the client from outside the code under test) on 127.0.0.1.
#include <catch2/catch.hpp>

#include "tls_fixture.hpp"

#include <streamstats/websocket/tls.hpp>

#include <asio/ip/tcp.hpp>
#include <asio/write.hpp>

#include <chrono>
#include <ctime>
#include <future>
#include <string>
#include <thread>

namespace ws = streamstats::websocket;
using streamstats_test::pki_dir;
using streamstats_test::run_capture;
using streamstats_test::sh_quote;

namespace {

// One TLS server handshake on 127.0.0.1 with `ctx`, against the shell command `client` (its
// "{port}" replaced). Returns the classification of the failure, or nothing when it succeeded.
struct handshake_outcome {
  bool ok = false;
  ws::tls_failure failure = ws::tls_failure::handshake;
  std::string client_output;
  std::string protocol;  // SSL_get_version on success
};

handshake_outcome one_handshake(const ws::tls_context_ptr& ctx, const std::string& client) {
  asio::io_context io;
  asio::ip::tcp::acceptor acc(io, asio::ip::tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
  const unsigned short port = acc.local_endpoint().port();
  std::string cmd = client;
  cmd.replace(cmd.find("{port}"), 6, std::to_string(port));
  auto out = std::async(std::launch::async, [cmd] {
    try {
      return run_capture(cmd + " 2>&1 || true");
    } catch (const std::exception& e) {
      return std::string(e.what());
    }
  });
  handshake_outcome r;
  asio::ssl::stream<asio::ip::tcp::socket> stream(io, *ctx);
  acc.async_accept(stream.lowest_layer(), [&](const std::error_code& ec) {
    if (ec) {
      return;
    }
    stream.async_handshake(asio::ssl::stream_base::server, [&](const std::error_code& hec) {
      r.ok = !hec;
      if (hec) {
        r.failure = ws::classify_tls_failure(stream.native_handle());
      } else {
        r.protocol = SSL_get_version(stream.native_handle());
        // Answer one line so that s_client has something to read, then close.
        asio::write(stream, asio::buffer(std::string("hello\n")));
        std::error_code sec;
        stream.shutdown(sec);
      }
    });
  });
  io.run_for(std::chrono::seconds(20));
  stream.lowest_layer().close();
  r.client_output = out.get();
  return r;
}

std::string s_client(const pki_dir& pki, const std::string& extra) {
  // -verify_return_error: the client refuses a server certificate it cannot verify.
  return "timeout 15 openssl s_client -connect 127.0.0.1:{port} -CAfile " + sh_quote(pki.path("ca.pem")) +
         " -verify_return_error -verify_ip 127.0.0.1 " + extra + " </dev/null";
}

}  // namespace

TEST_CASE("a context loads a chain and key and reports the leaf's subject and expiry", "[tls]") {
  pki_dir pki;
  pki.make_ca("ca");
  pki.make_leaf("server", "ca");
  ws::tls_certificate_info info;
  const auto ctx = ws::make_tls_context({pki.path("server.pem"), pki.path("server.key"), ""}, &info);
  REQUIRE(ctx != nullptr);
  CHECK(info.subject == "CN=server");
  CHECK_FALSE(info.mutual);
  // openssl's own reading of notAfter, as Unix seconds.
  const std::string end = run_capture("openssl x509 -in " + sh_quote(pki.path("server.pem")) +
                                      " -noout -enddate -dateopt iso_8601 | cut -d= -f2");
  std::tm tm{};
  REQUIRE(strptime(end.c_str(), "%Y-%m-%d %H:%M:%SZ", &tm) != nullptr);
  CHECK(info.not_after == static_cast<std::int64_t>(timegm(&tm)));
}

TEST_CASE("setup errors name the option - the file and the reason", "[tls]") {
  pki_dir pki;
  pki.make_ca("ca");
  pki.make_leaf("server", "ca");
  pki.make_leaf("other", "ca");
  CHECK_THROWS_WITH(ws::make_tls_context({pki.path("missing.pem"), pki.path("server.key"), ""}),
                    Catch::Contains("tls.cert: cannot read") && Catch::Contains("No such file"));
  CHECK_THROWS_WITH(ws::make_tls_context({pki.path("server.pem"), pki.path("missing.key"), ""}),
                    Catch::Contains("tls.key: cannot read"));
  CHECK_THROWS_WITH(ws::make_tls_context({pki.path("server.pem"), pki.path("other.key"), ""}),
                    Catch::Contains("tls.key:") && Catch::Contains("does not match the certificate"));
  CHECK_THROWS_WITH(ws::make_tls_context({pki.path("server.key"), pki.path("server.key"), ""}),
                    Catch::Contains("tls.cert:") && Catch::Contains("no usable PEM certificate"));
  CHECK_THROWS_WITH(ws::make_tls_context({pki.path("server.pem"), pki.path("server.pem"), ""}),
                    Catch::Contains("tls.key:") && Catch::Contains("no usable PEM private key"));
  CHECK_THROWS_WITH(
      ws::make_tls_context({pki.path("server.pem"), pki.path("server.key"), pki.path("none.pem")}),
      Catch::Contains("tls.client_ca: cannot read"));
  // An encrypted key is refused, not prompted for.
  run_capture("openssl pkey -in " + sh_quote(pki.path("server.key")) + " -aes256 -passout pass:secret -out " +
              sh_quote(pki.path("enc.key")));
  CHECK_THROWS_WITH(ws::make_tls_context({pki.path("server.pem"), pki.path("enc.key"), ""}),
                    Catch::Contains("encrypted key is refused"));
}

TEST_CASE("a reload that fails keeps the running context - one that succeeds swaps it", "[tls]") {
  pki_dir pki;
  pki.make_ca("ca");
  pki.make_leaf("server", "ca");
  ws::tls_context_store store({pki.path("server.pem"), pki.path("server.key"), ""});
  const auto first = store.current();
  const auto not_after = store.info().not_after;
  // A renewal half done: a new certificate whose key is not there yet.
  pki.make_leaf("renewed", "ca", 2);
  CHECK_THROWS_AS(store.reload({pki.path("renewed.pem"), pki.path("server.key"), ""}), ws::tls_error);
  CHECK(store.current() == first);
  CHECK(store.reloads() == 0);
  store.reload({pki.path("renewed.pem"), pki.path("renewed.key"), ""});
  CHECK(store.current() != first);
  CHECK(store.reloads() == 1);
  CHECK(store.info().subject == "CN=renewed");
  CHECK(store.info().not_after > not_after);
  // The old context lives on for whoever holds it (an open connection).
  CHECK(first.use_count() == 1);
}

TEST_CASE("TLS 1.2 and 1.3 handshake - TLS 1.1 - plaintext and a distrusting client are refused", "[tls]") {
  pki_dir pki;
  pki.make_ca("ca");
  pki.make_leaf("server", "ca");
  const auto ctx = ws::make_tls_context({pki.path("server.pem"), pki.path("server.key"), ""});

  const auto t13 = one_handshake(ctx, s_client(pki, "-tls1_3"));
  CHECK(t13.ok);
  CHECK(t13.protocol == "TLSv1.3");
  CHECK(t13.client_output.find("Verify return code: 0 (ok)") != std::string::npos);

  const auto t12 = one_handshake(ctx, s_client(pki, "-tls1_2"));
  CHECK(t12.ok);
  CHECK(t12.protocol == "TLSv1.2");
  CHECK(t12.client_output.find("ECDHE") != std::string::npos);

  // OpenSSL 3's default security level refuses TLS 1.1 in the client too; @SECLEVEL=0 lets it
  // ask, so that the refusal is the server's.
  const auto t11 = one_handshake(ctx, s_client(pki, "-tls1_1 -cipher DEFAULT@SECLEVEL=0"));
  CHECK_FALSE(t11.ok);
  CHECK(t11.failure == ws::tls_failure::handshake);

  // A client that does not trust our certificate (another CA) ends with an unknown_ca alert.
  pki_dir other;
  other.make_ca("ca");
  const auto distrust = one_handshake(ctx, s_client(other, "-tls1_3"));
  CHECK_FALSE(distrust.ok);
  CHECK(distrust.failure == ws::tls_failure::client_refused_certificate);

  const auto plain = one_handshake(
      ctx,
      "timeout 15 /usr/bin/python3 -c \"import socket; s=socket.create_connection(('127.0.0.1', {port})); "
      "s.sendall(b'GET / HTTP/1.1\\r\\nHost: x\\r\\n\\r\\n'); s.settimeout(10); s.recv(100)\"");
  CHECK_FALSE(plain.ok);
  CHECK(plain.failure == ws::tls_failure::not_tls);
}

TEST_CASE("mutual TLS refuses no certificate - another CA's and an expired one", "[tls]") {
  pki_dir pki;
  pki.make_ca("ca");
  pki.make_ca("otherca");
  pki.make_leaf("server", "ca");
  pki.make_leaf("client", "ca");
  pki.make_leaf("stranger", "otherca");
  pki.make_leaf("expired", "ca", -1);
  const auto ctx = ws::make_tls_context({pki.path("server.pem"), pki.path("server.key"), pki.path("ca.pem")});
  auto with_cert = [&](const std::string& name, const std::string& version) {
    return s_client(pki, version + " -cert " + sh_quote(pki.path(name + ".pem")) + " -key " +
                             sh_quote(pki.path(name + ".key")));
  };
  for (const std::string version : {"-tls1_2", "-tls1_3"}) {
    CAPTURE(version);
    CHECK(one_handshake(ctx, with_cert("client", version)).ok);
    const auto none = one_handshake(ctx, s_client(pki, version));
    CHECK_FALSE(none.ok);
    CHECK(none.failure == ws::tls_failure::no_client_certificate);
    const auto stranger = one_handshake(ctx, with_cert("stranger", version));
    CHECK_FALSE(stranger.ok);
    CHECK(stranger.failure == ws::tls_failure::untrusted_certificate);
    const auto expired = one_handshake(ctx, with_cert("expired", version));
    CHECK_FALSE(expired.ok);
    CHECK(expired.failure == ws::tls_failure::expired_certificate);
  }
}
