// streamstats::websocket transport — the bytes on the wire: websocketpp's configuration, the
// RFC 6455 rules it enforces, and an accept loop that survives running out of descriptors.
// SPDX-License-Identifier: MIT
//
// The server is written against a transport *config* (uWebSockets does the same with App and
// SSLApp): `plain_config` is TCP; a TLS config will be a second type over the same server code,
// declared with STREAMSTATS_WEBSOCKET_STRICT_RFC6455 like the plain one.
//
// What this header changes in websocketpp 0.8, and why (issue 9):
//   - Only RFC 6455 (Sec-WebSocket-Version: 13) is spoken. websocketpp also speaks hybi-07/08 and
//     hixie-76 ("version 0", picked when the header is missing); its hixie-76 processor never
//     checks max_message_size, so one handshake could make the server buffer any amount of memory.
//     Every other version is refused with HTTP 426 and "Sec-WebSocket-Version: 13" (RFC 6455
//     §4.4), before any processor exists.
//   - A payload length that is not minimally encoded, or a 64-bit length with the most significant
//     bit set (RFC 6455 §5.2: "the most significant bit MUST be 0"), is a protocol error: close
//     1002, where websocketpp says 1011 and 1009.
#pragma once

#ifndef ASIO_STANDALONE
#define ASIO_STANDALONE
#endif
#include <websocketpp/config/asio_no_tls.hpp>
#include <websocketpp/server.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>

namespace streamstats::websocket::detail {

// The hybi-13 processor with RFC 6455's length rules reported as protocol errors (close 1002).
template <typename Config>
class strict_hybi13 final : public websocketpp::processor::hybi13<Config> {
  using base = websocketpp::processor::hybi13<Config>;

 public:
  using base::base;

  std::size_t consume(std::uint8_t* buf, std::size_t len, std::error_code& ec) override {
    const std::size_t n = base::consume(buf, len, ec);
    namespace perr = websocketpp::processor::error;
    if (!ec) {
      return n;
    }
    if (ec == perr::make_error_code(perr::non_minimal_encoding)) {
      ec = perr::make_error_code(perr::protocol_violation);
    } else if (ec == perr::make_error_code(perr::message_too_big) &&
               websocketpp::frame::get_basic_size(this->m_basic_header) ==
                   websocketpp::frame::payload_size_code_64bit &&
               (websocketpp::frame::get_payload_size(this->m_basic_header, this->m_extended_header) >> 63U) !=
                   0U) {
      ec = perr::make_error_code(perr::protocol_violation);
    }
    return n;
  }
};

// The plain (TCP) transport: no logging on the hot path (compile-time levels, the calls vanish).
struct plain_config : websocketpp::config::asio {
  using type = plain_config;
  static const websocketpp::log::level elog_level = websocketpp::log::elevel::none;
  static const websocketpp::log::level alog_level = websocketpp::log::alevel::none;
  static const std::size_t connection_read_buffer_size = 16384;
};

}  // namespace streamstats::websocket::detail

// websocketpp chooses a connection's processor in connection<Config>::initialize_processor; an
// explicit specialization of that member for our config (legal C++, and it needs no patched system
// header) keeps its job but accepts version 13 only and builds the strict processor. It must come
// before anything instantiates the connection, hence right after the config.
#define STREAMSTATS_WEBSOCKET_STRICT_RFC6455(Config)                                         \
  namespace websocketpp {                                                                    \
  template <>                                                                                \
  inline lib::error_code connection<Config>::initialize_processor() {                        \
    if (!processor::is_websocket_handshake(m_request)) {                                     \
      return lib::error_code();                                                              \
    }                                                                                        \
    if (processor::get_websocket_version(m_request) != 13) {                                 \
      m_response.set_status(http::status_code::upgrade_required);                            \
      m_response.replace_header("Sec-WebSocket-Version", "13");                              \
      return error::make_error_code(error::unsupported_version);                             \
    }                                                                                        \
    m_processor = lib::make_shared<::streamstats::websocket::detail::strict_hybi13<Config>>( \
        transport_con_type::is_secure(), m_is_server, m_msg_manager, lib::ref(m_rng));       \
    /* as get_processor() does: the limit is not a constructor argument */                   \
    m_processor->set_max_message_size(m_max_message_size);                                   \
    return lib::error_code();                                                                \
  }                                                                                          \
  }

STREAMSTATS_WEBSOCKET_STRICT_RFC6455(::streamstats::websocket::detail::plain_config)

namespace streamstats::websocket::detail {

// websocketpp's own accept loop re-arms at once after an error: with no descriptor left (EMFILE),
// the listening socket stays readable and the loop spins at full CPU. This one waits before the
// next accept after a failure, doubling from 10 ms up to 1 s, back to none on the first success.
template <typename Config>
class acceptor {
 public:
  using endpoint_type = websocketpp::server<Config>;
  using connection_ptr = typename endpoint_type::connection_ptr;

  // `source` makes the connection each accept fills (default: endpoint.get_connection()); with
  // several io threads it is a connection of another thread's endpoint, whose accept handler then
  // runs on that thread (websocketpp wraps it in the connection's strand): the next accept is
  // re-armed on `io`, the acceptor's thread.
  acceptor(endpoint_type& endpoint, asio::io_context& io, std::function<connection_ptr()> source = {})
      : endpoint_(endpoint), io_(io), retry_(io), source_(std::move(source)) {}

  // Starts accepting (after endpoint.listen()); throws std::system_error when it cannot.
  void start() {
    std::error_code ec;
    accept_next(ec);
    if (ec) {
      throw std::system_error(ec, "streamstats::websocket: cannot accept");
    }
  }
  // On the io thread: no further accept (the caller stops listening, which cancels the pending one).
  void stop() {
    stopped_ = true;
    retry_.cancel();
  }
  // Accept failures so far (EMFILE, ENFILE, ENOBUFS, ...), for the metrics.
  [[nodiscard]] std::uint64_t failures() const noexcept { return failures_.load(std::memory_order_relaxed); }

 private:
  void accept_next(std::error_code& ec) {
    connection_ptr con = source_ ? source_() : endpoint_.get_connection();
    if (!con) {
      ec = websocketpp::error::make_error_code(websocketpp::error::con_creation_failed);
      return;
    }
    using transport_con = typename Config::transport_type::transport_con_type;
    endpoint_.async_accept(
        std::static_pointer_cast<transport_con>(con),
        [this, con](const std::error_code& aec) { on_accept(con, aec); }, ec);
    if (ec) {
      con->terminate(std::error_code());
    }
  }

  // On the connection's thread.
  void on_accept(const connection_ptr& con, const std::error_code& ec) {
    if (!ec) {
      con->start();
    } else {
      con->terminate(ec);
      if (ec == websocketpp::error::make_error_code(websocketpp::error::operation_canceled)) {
        return;  // stop_listening()
      }
    }
    asio::post(io_, [this, failed = static_cast<bool>(ec)] {
      if (failed) {
        failures_.fetch_add(1, std::memory_order_relaxed);
        backoff_ = std::clamp(backoff_ * 2, std::chrono::milliseconds(10), std::chrono::milliseconds(1000));
      } else {
        backoff_ = std::chrono::milliseconds(0);
      }
      arm();
    });
  }

  // The next accept: at once, or after the back-off when the last one failed.
  void arm() {
    if (stopped_ || !endpoint_.is_listening()) {
      return;
    }
    if (backoff_.count() == 0) {
      std::error_code ec;
      accept_next(ec);
      if (!ec) {
        return;
      }
      backoff_ = std::chrono::milliseconds(10);
    }
    retry_.expires_after(backoff_);
    retry_.async_wait([this](const std::error_code& wec) {
      if (wec || stopped_ || !endpoint_.is_listening()) {
        return;
      }
      std::error_code ec;
      accept_next(ec);
      if (ec) {
        backoff_ = std::clamp(backoff_ * 2, std::chrono::milliseconds(10), std::chrono::milliseconds(1000));
        arm();
      }
    });
  }

  endpoint_type& endpoint_;
  asio::io_context& io_;
  asio::steady_timer retry_;
  std::function<connection_ptr()> source_;
  std::chrono::milliseconds backoff_{0};
  bool stopped_ = false;
  std::atomic<std::uint64_t> failures_{0};
};

}  // namespace streamstats::websocket::detail

namespace streamstats::websocket::detail {

// How fan-out (fanout.hpp) reaches a websocketpp connection of transport `Config`.
template <typename Config>
struct ws_link {
  using endpoint_type = websocketpp::server<Config>;
  using connection = typename endpoint_type::connection_ptr;
  using message = typename endpoint_type::message_ptr;

  // A message framed once and queued on any number of connections: server frames are unmasked
  // (RFC 6455 §5.1), so the bytes are the same for every subscriber and websocketpp sends a
  // "prepared" message without copying it.
  static message prepare(std::string_view payload) {
    auto msg = std::make_shared<typename Config::message_type>(
        typename Config::con_msg_manager_type::ptr(), websocketpp::frame::opcode::text, payload.size());
    std::string header;
    header.push_back(static_cast<char>(0x81));  // FIN + text
    const std::size_t n = payload.size();
    if (n < 126) {
      header.push_back(static_cast<char>(n));
    } else if (n <= 0xFFFF) {
      header.push_back(static_cast<char>(126));
      header.push_back(static_cast<char>((n >> 8U) & 0xFFU));
      header.push_back(static_cast<char>(n & 0xFFU));
    } else {
      header.push_back(static_cast<char>(127));
      for (int shift = 56; shift >= 0; shift -= 8) {
        header.push_back(
            static_cast<char>((static_cast<std::uint64_t>(n) >> static_cast<unsigned>(shift)) & 0xFFU));
      }
    }
    msg->set_header(header);
    msg->set_payload(payload.data(), payload.size());
    msg->set_prepared(true);
    return msg;
  }
  static std::size_t queued(const connection& c) { return c->get_buffered_amount(); }
  static bool send(connection& c, const message& m) { return !c->send(m); }
  static bool send_text(connection& c, std::string_view payload) {
    return !c->send(payload.data(), payload.size(), websocketpp::frame::opcode::text);
  }
};

}  // namespace streamstats::websocket::detail
