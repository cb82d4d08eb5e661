// streamstats::websocket tls — the server's TLS context (OpenSSL through Asio): certificate chain,
// private key, optional client CA for mutual TLS, TLS 1.2 at least, and a reload that keeps the
// connections already open.
// SPDX-License-Identifier: MIT
//
//   tls_options o{"server-chain.pem", "server-key.pem", ""};  // client_ca empty: no mutual TLS
//   tls_context_store store(o);      // throws tls_error: "tls.key: does not match the certificate ..."
//   endpoint.set_tls_init_handler([&](auto) { return store.current(); });
//   ... on SIGHUP: store.reload();   // new connections get the new files; open ones keep theirs
//
// Choices (Mozilla's "intermediate" server profile, 5.7): TLS 1.2 and 1.3 only; for TLS 1.2 only
// ECDHE key exchange with AES-GCM or ChaCha20-Poly1305 (forward secrecy, AEAD); no compression
// (CRIME), no renegotiation, no session tickets (their key would live as long as the process;
// the session cache still resumes). An encrypted private key is refused instead of prompting on
// the terminal: a daemon has no one to type the passphrase.
#pragma once

#include <streamstats/websocket/transport.hpp>  // plain_config's rules, STREAMSTATS_WEBSOCKET_STRICT_RFC6455

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <asio/ssl.hpp>
#include <websocketpp/config/asio.hpp>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <utility>

namespace streamstats::websocket {

struct tls_options {
  std::string cert_chain;  // PEM file: the server certificate first, then its intermediates
  std::string key;         // PEM file: the certificate's private key (not encrypted)
  std::string client_ca;   // PEM file of CAs; when set, every client must present a certificate they signed
};

// A TLS setup that cannot be used; what() names the option and the file ("tls.key: ...").
class tls_error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// What a loaded context serves, for logs and /metrics.
struct tls_certificate_info {
  std::string subject;         // the leaf certificate's subject (one line, RFC 2253)
  std::int64_t not_after = 0;  // its expiry, Unix seconds
  bool mutual = false;         // a client certificate is required
};

// Why a TLS handshake failed, as far as the server can tell (the `reason` label of its counter).
enum class tls_failure {
  not_tls,                     // the first bytes were no TLS ClientHello (plaintext HTTP, or nothing)
  no_client_certificate,       // mutual TLS, and the client sent none
  untrusted_certificate,       // the client's certificate does not chain to client_ca
  expired_certificate,         // the client's certificate is past notAfter (or before notBefore)
  handshake,                   // anything else: no common version or cipher, a bad record, an alert
  client_refused_certificate,  // the client ended it with a certificate alert: it does not trust ours
};

[[nodiscard]] constexpr const char* to_string(tls_failure f) noexcept {
  switch (f) {
    case tls_failure::not_tls:
      return "not_tls";
    case tls_failure::no_client_certificate:
      return "no_client_certificate";
    case tls_failure::untrusted_certificate:
      return "untrusted_certificate";
    case tls_failure::expired_certificate:
      return "expired_certificate";
    case tls_failure::handshake:
      return "handshake";
    case tls_failure::client_refused_certificate:
      return "client_refused_certificate";
  }
  return "?";
}

namespace detail {

// The SSL ex_data slot where the info callback keeps the last fatal alert the client sent (+1).
[[nodiscard]] inline int received_alert_index() noexcept {
  static const int index = SSL_get_ex_new_index(0, nullptr, nullptr, nullptr, nullptr);
  return index;
}

inline void on_ssl_info(const SSL* ssl, int where, int ret) noexcept {
  if ((where & SSL_CB_READ_ALERT) != 0 && ((ret >> 8) & 0xFF) == SSL3_AL_FATAL) {
    SSL_set_ex_data(const_cast<SSL*>(ssl), received_alert_index(),
                    reinterpret_cast<void*>(static_cast<std::intptr_t>((ret & 0xFF) + 1)));
  }
}

}  // namespace detail

// The reason a handshake on `ssl` failed, read from the connection's state after the failure.
[[nodiscard]] inline tls_failure classify_tls_failure(SSL* ssl) noexcept {
  if (ssl == nullptr) {
    return tls_failure::not_tls;
  }
  // The client random is all zero until a ClientHello has been parsed: the peer spoke something
  // else (plaintext HTTP on the TLS port) or nothing at all.
  unsigned char random[SSL3_RANDOM_SIZE] = {};
  const std::size_t n = SSL_get_client_random(ssl, random, sizeof random);
  bool any = false;
  for (std::size_t i = 0; i < n; ++i) {
    any = any || random[i] != 0;
  }
  if (!any) {
    return tls_failure::not_tls;
  }
  switch (SSL_get_verify_result(ssl)) {
    case X509_V_OK:
      break;
    case X509_V_ERR_CERT_HAS_EXPIRED:
    case X509_V_ERR_CERT_NOT_YET_VALID:
      return tls_failure::expired_certificate;
    default:
      return tls_failure::untrusted_certificate;
  }
  if ((SSL_get_verify_mode(ssl) & SSL_VERIFY_FAIL_IF_NO_PEER_CERT) != 0) {
    X509* peer = SSL_get0_peer_certificate(ssl);
    if (peer == nullptr) {
      return tls_failure::no_client_certificate;
    }
  }
  // RFC 8446 §6.2, RFC 5246 §7.2.2: bad_certificate (42) … certificate_unknown (46), unknown_ca (48).
  const auto alert =
      reinterpret_cast<std::intptr_t>(SSL_get_ex_data(ssl, detail::received_alert_index())) - 1;
  if ((alert >= 42 && alert <= 46) || alert == 48) {
    return tls_failure::client_refused_certificate;
  }
  return tls_failure::handshake;
}

namespace detail {

// The OpenSSL error queue as one line (and emptied, so that it does not leak into the next call).
[[nodiscard]] inline std::string openssl_errors() {
  std::string out;
  while (const unsigned long e = ERR_get_error()) {
    char buf[256];
    ERR_error_string_n(e, buf, sizeof buf);
    if (!out.empty()) {
      out += "; ";
    }
    out += buf;
  }
  return out.empty() ? std::string("unknown OpenSSL error") : out;
}

// Throws tls_error when `path` cannot be opened for reading, with the system's reason.
inline void require_readable(const char* option, const std::string& path) {
  if (path.empty()) {
    throw tls_error(std::string(option) + ": no file given");
  }
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (f == nullptr) {
    const int err = errno;
    throw tls_error(std::string(option) + ": cannot read '" + path + "': " + std::strerror(err));
  }
  std::fclose(f);
}

// Refuses to prompt for a passphrase (OpenSSL's default reads the terminal).
inline int no_passphrase(char* /*buf*/, int /*size*/, int /*rwflag*/, void* /*userdata*/) { return 0; }

[[nodiscard]] inline std::int64_t asn1_time_to_unix(const ASN1_TIME* t) noexcept {
  std::tm tm{};
  if (t == nullptr || ASN1_TIME_to_tm(t, &tm) != 1) {
    return 0;
  }
  return static_cast<std::int64_t>(timegm(&tm));
}

}  // namespace detail

using tls_context_ptr = std::shared_ptr<asio::ssl::context>;

// Builds a server context from `o`; throws tls_error with the option, the file and the reason.
[[nodiscard]] inline tls_context_ptr make_tls_context(const tls_options& o,
                                                      tls_certificate_info* info = nullptr) {
  detail::require_readable("tls.cert", o.cert_chain);
  detail::require_readable("tls.key", o.key);
  if (!o.client_ca.empty()) {
    detail::require_readable("tls.client_ca", o.client_ca);
  }
  ERR_clear_error();
  auto ctx = std::make_shared<asio::ssl::context>(asio::ssl::context::tls_server);
  SSL_CTX* native = ctx->native_handle();
  if (SSL_CTX_set_min_proto_version(native, TLS1_2_VERSION) != 1) {
    throw tls_error("tls: cannot require TLS 1.2: " + detail::openssl_errors());
  }
  SSL_CTX_set_options(native, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_TICKET);
  // TLS 1.2 suites (TLS 1.3's are all AEAD with forward secrecy and keep OpenSSL's default).
  if (SSL_CTX_set_cipher_list(native,
                              "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
                              "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
                              "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305") != 1) {
    throw tls_error("tls: cipher list refused: " + detail::openssl_errors());
  }
  SSL_CTX_set_default_passwd_cb(native, &detail::no_passphrase);
  SSL_CTX_set_info_callback(native, &detail::on_ssl_info);  // records the client's fatal alert
  // Resumed sessions must carry this context's id (OpenSSL refuses them without one once client
  // certificates are verified).
  static constexpr unsigned char session_id[] = "streamstats";
  SSL_CTX_set_session_id_context(native, session_id, sizeof session_id - 1);
  if (SSL_CTX_use_certificate_chain_file(native, o.cert_chain.c_str()) != 1) {
    throw tls_error("tls.cert: '" + o.cert_chain +
                    "' holds no usable PEM certificate: " + detail::openssl_errors());
  }
  if (SSL_CTX_use_PrivateKey_file(native, o.key.c_str(), SSL_FILETYPE_PEM) != 1) {
    const std::string why = detail::openssl_errors();
    if (why.find("values mismatch") != std::string::npos ||
        why.find("key values mismatch") != std::string::npos) {
      throw tls_error("tls.key: '" + o.key + "' does not match the certificate in '" + o.cert_chain + "'");
    }
    throw tls_error("tls.key: '" + o.key +
                    "' holds no usable PEM private key (an encrypted key is refused): " + why);
  }
  if (SSL_CTX_check_private_key(native) != 1) {
    ERR_clear_error();
    throw tls_error("tls.key: '" + o.key + "' does not match the certificate in '" + o.cert_chain + "'");
  }
  if (!o.client_ca.empty()) {
    if (SSL_CTX_load_verify_locations(native, o.client_ca.c_str(), nullptr) != 1) {
      throw tls_error("tls.client_ca: '" + o.client_ca +
                      "' holds no usable PEM certificate: " + detail::openssl_errors());
    }
    STACK_OF(X509_NAME)* names = SSL_load_client_CA_file(o.client_ca.c_str());
    if (names == nullptr) {
      throw tls_error("tls.client_ca: '" + o.client_ca + "' holds no CA names: " + detail::openssl_errors());
    }
    SSL_CTX_set_client_CA_list(native, names);  // takes ownership
    SSL_CTX_set_verify(native, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, nullptr);
  } else {
    SSL_CTX_set_verify(native, SSL_VERIFY_NONE, nullptr);
  }
  if (info != nullptr) {
    X509* leaf = SSL_CTX_get0_certificate(native);
    info->not_after = leaf != nullptr ? detail::asn1_time_to_unix(X509_get0_notAfter(leaf)) : 0;
    info->subject.clear();
    if (leaf != nullptr) {
      std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new(BIO_s_mem()), &BIO_free);
      if (bio && X509_NAME_print_ex(bio.get(), X509_get_subject_name(leaf), 0, XN_FLAG_RFC2253) >= 0) {
        char* data = nullptr;
        const long n = BIO_get_mem_data(bio.get(), &data);
        if (n > 0 && data != nullptr) {
          info->subject.assign(data, static_cast<std::size_t>(n));
        }
      }
    }
    info->mutual = !o.client_ca.empty();
  }
  ERR_clear_error();
  return ctx;
}

// The current context, swapped by reload(). current() is what a tls_init_handler returns: each
// new connection takes a reference to the context of the moment, so a reload never touches the
// connections already open, and the old context is freed when the last of them closes.
class tls_context_store {
 public:
  explicit tls_context_store(tls_options o) : options_(std::move(o)) {
    context_ = make_tls_context(options_, &info_);
  }

  [[nodiscard]] tls_context_ptr current() const {
    std::lock_guard<std::mutex> lk(mutex_);
    return context_;
  }
  [[nodiscard]] tls_certificate_info info() const {
    std::lock_guard<std::mutex> lk(mutex_);
    return info_;
  }
  [[nodiscard]] tls_options options() const {
    std::lock_guard<std::mutex> lk(mutex_);
    return options_;
  }

  // Reads the files again (same paths, or `next`). On failure throws tls_error and keeps serving
  // the previous context: a half-written certificate during a renewal must not take the server down.
  void reload() { reload(options()); }
  void reload(tls_options next) {
    tls_certificate_info fresh_info;
    tls_context_ptr fresh = make_tls_context(next, &fresh_info);
    std::lock_guard<std::mutex> lk(mutex_);
    options_ = std::move(next);
    context_ = std::move(fresh);
    info_ = std::move(fresh_info);
    ++reloads_;
  }
  [[nodiscard]] std::uint64_t reloads() const {
    std::lock_guard<std::mutex> lk(mutex_);
    return reloads_;
  }

 private:
  mutable std::mutex mutex_;
  tls_options options_;
  tls_context_ptr context_;
  tls_certificate_info info_;
  std::uint64_t reloads_ = 0;
};

// Moves a connection that has not started its handshake onto `ctx` (its certificate, key and
// client CAs). websocketpp creates the next connection, and so its SSL object, before accept()
// returns: without this, the first client after a reload would get the previous certificate.
inline void adopt_context(SSL* ssl, const tls_context_ptr& ctx) noexcept {
  if (ssl == nullptr || !ctx || SSL_get_SSL_CTX(ssl) == ctx->native_handle()) {
    return;
  }
  SSL_set_SSL_CTX(ssl, ctx->native_handle());  // takes its own reference on the new SSL_CTX
  SSL_set_verify(ssl, SSL_CTX_get_verify_mode(ctx->native_handle()), nullptr);
}

namespace detail {

// The TLS transport: websocketpp's asio_tls config with plain_config's choices (no logging, the
// same read buffer) and the same strict RFC 6455 processor. Each connection asks the server's
// tls_init_handler for its context (tls_context_store::current()).
struct tls_config : websocketpp::config::asio_tls {
  using type = tls_config;
  static const websocketpp::log::level elog_level = websocketpp::log::elevel::none;
  static const websocketpp::log::level alog_level = websocketpp::log::alevel::none;
  static const std::size_t connection_read_buffer_size = 16384;
};

}  // namespace detail

}  // namespace streamstats::websocket

STREAMSTATS_WEBSOCKET_STRICT_RFC6455(::streamstats::websocket::detail::tls_config)
