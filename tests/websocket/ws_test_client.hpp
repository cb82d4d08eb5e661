// Test clients for the WebSocket adapter tests.
//   client_pool / client — websocketpp clients sharing one io thread, with blocking waits.
//   raw_socket           — a hand-rolled RFC 6455 client over a plain TCP socket, for what a
//                          well-behaved library will not do: send invalid UTF-8 text, stop reading.
#pragma once

#include <nlohmann/json.hpp>

#ifndef ASIO_STANDALONE
#define ASIO_STANDALONE
#endif
#include <websocketpp/client.hpp>
#include <websocketpp/config/asio_no_tls_client.hpp>

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstring>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace ws_test {

using namespace std::chrono_literals;
using json = nlohmann::json;

struct client_config : websocketpp::config::asio_client {
  using type = client_config;
  static const websocketpp::log::level elog_level = websocketpp::log::elevel::none;
  static const websocketpp::log::level alog_level = websocketpp::log::alevel::none;
};
using endpoint_type = websocketpp::client<client_config>;

// One connection's received messages and fate.
struct connection_state {
  std::mutex m;
  std::condition_variable cv;
  std::deque<std::string> messages;
  bool open = false;
  bool done = false;   // closed or failed
  int close_code = 0;  // remote close code
  int http_status = 0;
  websocketpp::connection_hdl hdl;
};

class client_pool;

class client {
 public:
  client(client_pool* pool, std::shared_ptr<connection_state> st) : pool_(pool), st_(std::move(st)) {}
  [[nodiscard]] bool is_open() const {
    std::lock_guard<std::mutex> lk(st_->m);
    return st_->open && !st_->done;
  }
  [[nodiscard]] int http_status() const {
    std::lock_guard<std::mutex> lk(st_->m);
    return st_->http_status;
  }
  void send_text(const std::string& s);
  void send_json(const json& j) { send_text(j.dump()); }
  void send_binary(const std::string& s);
  void close();

  // The next text message, or nullopt after `timeout`.
  std::optional<std::string> next(std::chrono::milliseconds timeout = 5000ms) {
    std::unique_lock<std::mutex> lk(st_->m);
    if (!st_->cv.wait_for(lk, timeout, [&] { return !st_->messages.empty(); })) {
      return std::nullopt;
    }
    std::string s = std::move(st_->messages.front());
    st_->messages.pop_front();
    return s;
  }
  // The next message parsed; throws on timeout so that a test fails loudly.
  json next_json(std::chrono::milliseconds timeout = 5000ms) {
    auto s = next(timeout);
    if (!s) {
      throw std::runtime_error("timed out waiting for a message");
    }
    return json::parse(*s);
  }
  // The next message of this type, skipping others (snapshots arrive on their own schedule).
  json next_of_type(const std::string& type, std::chrono::milliseconds timeout = 5000ms) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      const auto left =
          std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
      auto s = next(left > 0ms ? left : 0ms);
      if (!s) {
        throw std::runtime_error("timed out waiting for a '" + type + "' message");
      }
      json j = json::parse(*s);
      if (j.value("type", "") == type) {
        return j;
      }
    }
  }
  // Waits until the connection is closed; returns the close code the server sent (0 if none).
  int wait_closed(std::chrono::milliseconds timeout = 5000ms) {
    std::unique_lock<std::mutex> lk(st_->m);
    st_->cv.wait_for(lk, timeout, [&] { return st_->done; });
    return st_->done ? st_->close_code : -1;
  }
  std::size_t pending() const {
    std::lock_guard<std::mutex> lk(st_->m);
    return st_->messages.size();
  }

 private:
  client_pool* pool_;
  std::shared_ptr<connection_state> st_;
};

class client_pool {
 public:
  client_pool() {
    ep_.init_asio();
    ep_.start_perpetual();
    thread_ = std::thread([this] { ep_.run(); });
  }
  client_pool(const client_pool&) = delete;
  client_pool& operator=(const client_pool&) = delete;
  ~client_pool() {
    ep_.stop_perpetual();
    {
      std::lock_guard<std::mutex> lk(m_);
      for (auto& st : all_) {
        std::error_code ec;
        ep_.close(st->hdl, websocketpp::close::status::normal, "", ec);
      }
    }
    // Give close handshakes a moment, then stop hard.
    const auto deadline = std::chrono::steady_clock::now() + 2s;
    while (std::chrono::steady_clock::now() < deadline && !all_done()) {
      std::this_thread::sleep_for(5ms);
    }
    ep_.stop();
    thread_.join();
  }

  // Connects to ws://127.0.0.1:port<resource>; blocks until open or failed.
  client connect(std::uint16_t port, const std::string& resource = "/ws",
                 const std::vector<std::pair<std::string, std::string>>& headers = {}) {
    auto st = std::make_shared<connection_state>();
    std::error_code ec;
    auto con = ep_.get_connection("ws://127.0.0.1:" + std::to_string(port) + resource, ec);
    if (ec) {
      throw std::runtime_error("get_connection: " + ec.message());
    }
    for (const auto& [k, v] : headers) {
      con->append_header(k, v);
    }
    con->set_max_message_size(64U << 20U);
    std::weak_ptr<connection_state> w = st;
    con->set_open_handler([w](websocketpp::connection_hdl) {
      if (auto s = w.lock()) {
        std::lock_guard<std::mutex> lk(s->m);
        s->open = true;
        s->cv.notify_all();
      }
    });
    con->set_fail_handler([this, w](websocketpp::connection_hdl h) {
      if (auto s = w.lock()) {
        auto c = ep_.get_con_from_hdl(h);
        std::lock_guard<std::mutex> lk(s->m);
        s->http_status = static_cast<int>(c->get_response_code());
        s->done = true;
        s->cv.notify_all();
      }
    });
    con->set_close_handler([this, w](websocketpp::connection_hdl h) {
      if (auto s = w.lock()) {
        auto c = ep_.get_con_from_hdl(h);
        std::lock_guard<std::mutex> lk(s->m);
        s->close_code = static_cast<int>(c->get_remote_close_code());
        s->done = true;
        s->cv.notify_all();
      }
    });
    con->set_message_handler([w](websocketpp::connection_hdl, endpoint_type::message_ptr msg) {
      if (auto s = w.lock()) {
        std::lock_guard<std::mutex> lk(s->m);
        s->messages.push_back(msg->get_payload());
        s->cv.notify_all();
      }
    });
    st->hdl = con;
    {
      std::lock_guard<std::mutex> lk(m_);
      all_.push_back(st);
    }
    ep_.connect(con);
    std::unique_lock<std::mutex> lk(st->m);
    st->cv.wait_for(lk, 5s, [&] { return st->open || st->done; });
    return client(this, st);
  }

  endpoint_type& endpoint() { return ep_; }

 private:
  bool all_done() {
    std::lock_guard<std::mutex> lk(m_);
    for (auto& st : all_) {
      std::lock_guard<std::mutex> lk2(st->m);
      if (st->open && !st->done) {
        return false;
      }
    }
    return true;
  }

  endpoint_type ep_;
  std::thread thread_;
  std::mutex m_;
  std::vector<std::shared_ptr<connection_state>> all_;
  friend class client;
};

inline void client::send_text(const std::string& s) {
  std::error_code ec;
  pool_->ep_.send(st_->hdl, s, websocketpp::frame::opcode::text, ec);
  if (ec) {
    throw std::runtime_error("send: " + ec.message());
  }
}
inline void client::send_binary(const std::string& s) {
  std::error_code ec;
  pool_->ep_.send(st_->hdl, s, websocketpp::frame::opcode::binary, ec);
  if (ec) {
    throw std::runtime_error("send: " + ec.message());
  }
}
inline void client::close() {
  std::error_code ec;
  pool_->ep_.close(st_->hdl, websocketpp::close::status::normal, "", ec);
}

// A binary push frame: version 1, name length, name, little-endian float64 samples.
inline std::string binary_frame(const std::string& name, const std::vector<double>& values) {
  std::string f;
  f.push_back('\x01');
  f.push_back(static_cast<char>(name.size()));
  f += name;
  for (double v : values) {
    char b[8];
    std::memcpy(b, &v, 8);  // the test machines are little-endian (x86-64, arm64)
    f.append(b, 8);
  }
  return f;
}

// A minimal RFC 6455 client on a blocking TCP socket.
class raw_socket {
 public:
  explicit raw_socket(std::uint16_t port, const std::string& resource = "/ws", int rcvbuf = 0) : sock_(io_) {
    sock_.open(asio::ip::tcp::v4());
    if (rcvbuf > 0) {
      sock_.set_option(asio::socket_base::receive_buffer_size(rcvbuf));
    }
    sock_.connect(asio::ip::tcp::endpoint(asio::ip::make_address("127.0.0.1"), port));
    const std::string req =
        "GET " + resource +
        " HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";
    asio::write(sock_, asio::buffer(req));
    asio::read_until(sock_, buf_, "\r\n\r\n");
    std::string head(asio::buffers_begin(buf_.data()), asio::buffers_end(buf_.data()));
    const auto end = head.find("\r\n\r\n");
    status_line_ = head.substr(0, head.find("\r\n"));
    buf_.consume(end + 4);
  }
  [[nodiscard]] const std::string& status_line() const { return status_line_; }

  // Sends one masked frame (clients must mask, RFC 6455 §5.3).
  void send_frame(std::uint8_t opcode, const std::string& payload) {
    std::string f;
    f.push_back(static_cast<char>(0x80U | opcode));
    const std::size_t n = payload.size();
    if (n < 126) {
      f.push_back(static_cast<char>(0x80U | n));
    } else if (n <= 0xFFFF) {
      f.push_back(static_cast<char>(0x80U | 126U));
      f.push_back(static_cast<char>(n >> 8U));
      f.push_back(static_cast<char>(n & 0xFFU));
    } else {
      f.push_back(static_cast<char>(0x80U | 127U));
      for (int s = 56; s >= 0; s -= 8) {
        f.push_back(static_cast<char>((static_cast<std::uint64_t>(n) >> static_cast<unsigned>(s)) & 0xFFU));
      }
    }
    const unsigned char mask[4] = {0x12, 0x34, 0x56, 0x78};
    f.append(reinterpret_cast<const char*>(mask), 4);
    for (std::size_t i = 0; i < n; ++i) {
      f.push_back(static_cast<char>(static_cast<unsigned char>(payload[i]) ^ mask[i % 4]));
    }
    asio::write(sock_, asio::buffer(f));
  }

  // Reads one frame; returns {opcode, payload}. For a close frame the payload starts with the code.
  std::pair<int, std::string> read_frame() {
    auto need = [&](std::size_t k) {
      if (buf_.size() < k) {
        asio::read(sock_, buf_, asio::transfer_at_least(k - buf_.size()));
      }
    };
    need(2);
    const auto* p = static_cast<const unsigned char*>(buf_.data().data());
    const int op = p[0] & 0x0F;
    std::size_t len = p[1] & 0x7FU;
    std::size_t hdr = 2;
    if (len == 126) {
      need(4);
      p = static_cast<const unsigned char*>(buf_.data().data());
      len = (std::size_t(p[2]) << 8U) | p[3];
      hdr = 4;
    } else if (len == 127) {
      need(10);
      p = static_cast<const unsigned char*>(buf_.data().data());
      len = 0;
      for (int i = 0; i < 8; ++i) {
        len = (len << 8U) | p[2 + i];
      }
      hdr = 10;
    }
    need(hdr + len);
    p = static_cast<const unsigned char*>(buf_.data().data());
    std::string payload(reinterpret_cast<const char*>(p + hdr), len);
    buf_.consume(hdr + len);
    return {op, payload};
  }
  // Reads frames until a close frame; returns its code (-1 if the socket ends first).
  int read_until_close(std::chrono::milliseconds timeout = 5000ms) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    try {
      while (std::chrono::steady_clock::now() < deadline) {
        auto [op, payload] = read_frame();
        if (op == 8) {
          return payload.size() >= 2
                     ? (static_cast<unsigned char>(payload[0]) << 8U) | static_cast<unsigned char>(payload[1])
                     : 1005;
        }
      }
    } catch (const std::exception&) {
    }
    return -1;
  }
  asio::ip::tcp::socket& socket() { return sock_; }

 private:
  asio::io_context io_;
  asio::ip::tcp::socket sock_;
  asio::streambuf buf_;
  std::string status_line_;
};

// An HTTP GET over a plain socket; returns the whole response.
inline std::string http_get(std::uint16_t port, const std::string& path) {
  asio::io_context io;
  asio::ip::tcp::socket s(io);
  s.connect(asio::ip::tcp::endpoint(asio::ip::make_address("127.0.0.1"), port));
  const std::string req = "GET " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
  asio::write(s, asio::buffer(req));
  std::string out;
  std::error_code ec;
  char b[4096];
  for (;;) {
    const std::size_t n = s.read_some(asio::buffer(b), ec);
    out.append(b, n);
    if (ec) {
      break;
    }
  }
  return out;
}

}  // namespace ws_test
