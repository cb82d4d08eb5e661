// ws_bench — the WebSocket adapter over loopback, against a bare websocketpp server measured in the
// same run with the same client. Prints a Markdown table.
//
//   ws_bench [--quick] [--runs N]
//   ws_bench --threads [--runs N]   io_threads 1 against 2: 64 streams fed by 4 connections
//
// Each server runs in a child process (fork before any thread exists), so its peak RSS can be read
// from /proc and the client's own buffers never count against it. The client is one thread with
// raw sockets and pre-encoded, pre-masked frames: it costs far less per message than either server,
// so the numbers measure the servers, not the client.
//
// Scenarios (every one ends with a request whose reply proves that every sample arrived):
//   json fire-and-forget  one-sample {"stream","value"} messages, no id, so no reply traffic
//   json acked            the same with an "id": the server acks each; at most 1000 in flight
//   binary batches        frames of 1024 little-endian float64 into one stream
//   stalled subscriber    a subscriber with a 4 KiB receive buffer that never reads, while a
//                         producer pushes JSON and binary batches with frequent anomalies
//   alert latency         a producer paced below capacity (both processes busy) injects a spike
//                         every 500 samples; a subscriber times sample → alert
//
// The "bare" server is the floor any adapter pays: websocketpp's framing plus the smallest parse
// that extracts the stream name and value (no JSON validation) and a Welford update.
// SPDX-License-Identifier: MIT

#include <streamstats/variance.hpp>
#include <streamstats/websocket/server.hpp>

#include <websocketpp/config/asio_no_tls.hpp>
#include <websocketpp/server.hpp>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <random>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

namespace {

using clock_type = std::chrono::steady_clock;

double seconds_since(clock_type::time_point t0) {
  return std::chrono::duration<double>(clock_type::now() - t0).count();
}

[[noreturn]] void die(const std::string& what) {
  std::fprintf(stderr, "ws_bench: %s (errno %d: %s)\n", what.c_str(), errno, std::strerror(errno));
  std::exit(1);
}

// ---- the bare websocketpp server -----------------------------------------------------------------
// One Welford accumulator per stream name; replies only to messages that carry an "id" (an ack) or
// ask for a snapshot (the count), exactly the reply traffic the adapter's protocol has.
class bare_server {
 public:
  // The adapter's transport configuration (compile-time log levels, 16 KiB read buffer), so that
  // the two servers differ only in what they do with a message.
  struct config : websocketpp::config::asio {
    using type = config;
    static const websocketpp::log::level elog_level = websocketpp::log::elevel::none;
    static const websocketpp::log::level alog_level = websocketpp::log::alevel::none;
    static const std::size_t connection_read_buffer_size = 16384;
  };
  using server_type = websocketpp::server<config>;

  explicit bare_server(std::uint16_t port) {
    server_.clear_access_channels(websocketpp::log::alevel::all);
    server_.clear_error_channels(websocketpp::log::elevel::all);
    server_.init_asio();
    server_.set_reuse_addr(true);
    server_.set_message_handler(
        [this](websocketpp::connection_hdl hdl, server_type::message_ptr msg) { on_message(hdl, msg); });
    server_.listen(asio::ip::tcp::endpoint(asio::ip::make_address("127.0.0.1"), port));
    server_.start_accept();
  }

  std::uint16_t port() {
    asio::error_code ec;
    return server_.get_local_endpoint(ec).port();
  }

  void run() { server_.run(); }

 private:
  static std::string_view field(std::string_view s, std::string_view key) {
    const auto p = s.find(key);
    if (p == std::string_view::npos) {
      return {};
    }
    auto b = p + key.size();
    if (b < s.size() && s[b] == '"') {
      const auto e = s.find('"', b + 1);
      return s.substr(b + 1, e - b - 1);
    }
    auto e = b;
    while (e < s.size() && s[e] != ',' && s[e] != '}') {
      ++e;
    }
    return s.substr(b, e - b);
  }

  void on_message(const websocketpp::connection_hdl& hdl, const server_type::message_ptr& msg) {
    const std::string& payload = msg->get_payload();
    if (msg->get_opcode() == websocketpp::frame::opcode::binary) {
      if (payload.size() < 3 || static_cast<unsigned char>(payload[0]) != 1) {
        return;
      }
      const std::size_t len = static_cast<unsigned char>(payload[1]);
      const std::size_t n = (payload.size() - 2 - len) / 8;
      auto& acc = find(std::string_view(payload).substr(2, len));
      std::array<double, 1024> buf{};
      const char* p = payload.data() + 2 + len;
      for (std::size_t i = 0; i < n;) {
        const std::size_t k = std::min(buf.size(), n - i);
        std::memcpy(buf.data(), p + i * 8, k * 8);
        acc.push(buf.data(), buf.data() + k);
        i += k;
      }
      return;
    }
    const std::string_view s(payload);
    const std::string_view name = field(s, "\"stream\":");
    const std::string_view id = field(s, "\"id\":");
    if (field(s, "\"type\":") == "snapshot") {
      const auto& acc = find(name);
      reply_ = "{\"type\":\"snapshot\",\"stream\":\"" + std::string(name) +
               "\",\"count\":" + std::to_string(acc.count()) + ",\"id\":\"" + std::string(id) + "\"}";
      server_.send(hdl, reply_, websocketpp::frame::opcode::text);
      return;
    }
    const std::string_view v = field(s, "\"value\":");
    double x = 0.0;
    std::from_chars(v.data(), v.data() + v.size(), x);
    find(name).push(x);
    if (!id.empty()) {
      reply_.assign("{\"type\":\"ack\",\"stream\":\"")
          .append(name)
          .append("\",\"accepted\":1,\"id\":")
          .append(id)
          .append("}");
      server_.send(hdl, reply_, websocketpp::frame::opcode::text);
    }
  }

  // Streams by name; the last one looked up is cached, so a run of messages to one stream costs
  // one string comparison, not a hash and an allocation.
  streamstats::variance<double>& find(std::string_view name) {
    if (last_ != nullptr && name == last_name_) {
      return *last_;
    }
    last_name_.assign(name);
    last_ = &streams_[last_name_];
    return *last_;
  }

  server_type server_;
  std::unordered_map<std::string, streamstats::variance<double>> streams_;
  std::string last_name_;
  streamstats::variance<double>* last_ = nullptr;
  std::string reply_;
};

// ---- the adapter -------------------------------------------------------------------------------
void run_adapter(int port_fd);
void run_adapter_no_detector(int port_fd);

void run_bare(int port_fd) {
  bare_server s(0);
  const std::uint16_t port = s.port();
  if (write(port_fd, &port, sizeof port) != static_cast<ssize_t>(sizeof port)) {
    die("write port");
  }
  close(port_fd);
  s.run();
}

// ---- a child process per server -------------------------------------------------------------------
struct child {
  pid_t pid = -1;
  std::uint16_t port = 0;
};

child spawn(void (*serve)(int)) {
  int fds[2];
  if (pipe(fds) != 0) {
    die("pipe");
  }
  std::fflush(stdout);
  const pid_t pid = fork();
  if (pid < 0) {
    die("fork");
  }
  if (pid == 0) {
    close(fds[0]);
    serve(fds[1]);
    std::_Exit(0);
  }
  close(fds[1]);
  child c;
  c.pid = pid;
  if (read(fds[0], &c.port, sizeof c.port) != static_cast<ssize_t>(sizeof c.port)) {
    die("the server child did not report its port");
  }
  close(fds[0]);
  return c;
}

void stop(child& c) {
  if (c.pid > 0) {
    kill(c.pid, SIGTERM);
    int status = 0;
    waitpid(c.pid, &status, 0);
    c.pid = -1;
  }
}

// VmHWM / VmRSS of a process in KiB (Linux /proc).
long proc_status_kib(pid_t pid, const char* key) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  const std::size_t klen = std::strlen(key);
  while (std::getline(f, line)) {
    if (line.compare(0, klen, key) == 0) {
      return std::strtol(line.c_str() + klen + 1, nullptr, 10);
    }
  }
  return -1;
}

// The user + system CPU seconds of each thread of a process (Linux /proc), in thread-id order.
std::string thread_cpu(pid_t pid) {
  std::string out;
  const std::string dir = "/proc/" + std::to_string(pid) + "/task";
  std::vector<long> tids;
  for (long tid = pid; tid < pid + 64; ++tid) {
    std::ifstream f(dir + "/" + std::to_string(tid) + "/stat");
    std::string line;
    if (!std::getline(f, line)) {
      continue;
    }
    // Fields after the command (which is in parentheses): state is 3rd, utime 14th, stime 15th.
    std::istringstream rest(line.substr(line.rfind(')') + 2));
    std::string field;
    double ticks = 0;
    for (int i = 3; i <= 15 && rest >> field; ++i) {
      if (i >= 14) {
        ticks += std::strtod(field.c_str(), nullptr);
      }
    }
    char b[32];
    std::snprintf(b, sizeof b, " %.2f", ticks / static_cast<double>(sysconf(_SC_CLK_TCK)));
    out += b;
  }
  return out;
}

// ---- a raw WebSocket client (RFC 6455), one non-blocking socket --------------------------------------
class raw_client {
 public:
  explicit raw_client(std::uint16_t port, int rcvbuf = 0) {
    fd_ = socket(AF_INET, SOCK_STREAM, 0);
    if (fd_ < 0) {
      die("socket");
    }
    if (rcvbuf > 0) {
      setsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
    }
    const int one = 1;
    setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
      die("connect");
    }
    const std::string req =
        "GET /ws HTTP/1.1\r\nHost: 127.0.0.1:" + std::to_string(port) +
        "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";
    if (send(fd_, req.data(), req.size(), 0) != static_cast<ssize_t>(req.size())) {
      die("send handshake");
    }
    std::string resp;
    char c = 0;
    while (resp.size() < 4 || resp.compare(resp.size() - 4, 4, "\r\n\r\n") != 0) {
      if (recv(fd_, &c, 1, 0) != 1) {
        die("handshake: connection closed");
      }
      resp.push_back(c);
    }
    if (resp.compare(0, 12, "HTTP/1.1 101") != 0) {
      errno = 0;
      die("handshake refused: " + resp.substr(0, resp.find('\r')));
    }
    fcntl(fd_, F_SETFL, fcntl(fd_, F_GETFL) | O_NONBLOCK);
  }
  raw_client(const raw_client&) = delete;
  raw_client& operator=(const raw_client&) = delete;
  ~raw_client() { close(fd_); }

  [[nodiscard]] int fd() const noexcept { return fd_; }

  // Encodes one masked client frame (fixed mask key: the server unmasks all the same).
  static std::string encode(std::uint8_t opcode, std::string_view payload) {
    std::string f;
    f.reserve(payload.size() + 14);
    f.push_back(static_cast<char>(0x80 | opcode));
    const std::size_t n = payload.size();
    if (n < 126) {
      f.push_back(static_cast<char>(0x80 | n));
    } else if (n < 65536) {
      f.push_back(static_cast<char>(0x80 | 126));
      f.push_back(static_cast<char>(n >> 8));
      f.push_back(static_cast<char>(n & 0xff));
    } else {
      f.push_back(static_cast<char>(0x80 | 127));
      for (int s = 56; s >= 0; s -= 8) {
        f.push_back(static_cast<char>((static_cast<std::uint64_t>(n) >> s) & 0xff));
      }
    }
    const std::array<unsigned char, 4> key{0x37, 0xfa, 0x21, 0x3d};
    for (unsigned char k : key) {
      f.push_back(static_cast<char>(k));
    }
    for (std::size_t i = 0; i < n; ++i) {
      f.push_back(static_cast<char>(static_cast<unsigned char>(payload[i]) ^ key[i & 3]));
    }
    return f;
  }
  static std::string text(std::string_view s) { return encode(0x1, s); }
  static std::string binary(std::string_view s) { return encode(0x2, s); }

  void queue(std::string_view frame) { out_.append(frame); }
  [[nodiscard]] std::size_t pending() const noexcept { return out_.size() - out_pos_; }

  // Sends what the socket takes without blocking.
  void flush() {
    while (out_pos_ < out_.size()) {
      const ssize_t k = ::send(fd_, out_.data() + out_pos_, out_.size() - out_pos_, MSG_NOSIGNAL);
      if (k < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK) {
          break;
        }
        die("send");
      }
      out_pos_ += static_cast<std::size_t>(k);
    }
    if (out_pos_ == out_.size()) {
      out_.clear();
      out_pos_ = 0;
    } else if (out_pos_ > (1U << 20)) {
      out_.erase(0, out_pos_);
      out_pos_ = 0;
    }
  }

  // Reads what is there and calls on_text(payload) for every complete text message.
  template <class F>
  void read(F&& on_text) {
    char buf[65536];
    for (;;) {
      const ssize_t k = recv(fd_, buf, sizeof buf, 0);
      if (k < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK) {
          break;
        }
        die("recv");
      }
      if (k == 0) {
        errno = 0;
        die("the server closed the connection");
      }
      in_.append(buf, static_cast<std::size_t>(k));
    }
    std::size_t pos = 0;
    for (;;) {
      if (in_.size() - pos < 2) {
        break;
      }
      const auto* p = reinterpret_cast<const unsigned char*>(in_.data() + pos);
      std::size_t hdr = 2;
      std::uint64_t n = p[1] & 0x7f;
      if (n == 126) {
        if (in_.size() - pos < 4) {
          break;
        }
        n = (std::uint64_t{p[2]} << 8) | p[3];
        hdr = 4;
      } else if (n == 127) {
        if (in_.size() - pos < 10) {
          break;
        }
        n = 0;
        for (int i = 0; i < 8; ++i) {
          n = (n << 8) | p[2 + i];
        }
        hdr = 10;
      }
      if (in_.size() - pos < hdr + n) {
        break;
      }
      const unsigned opcode = p[0] & 0x0f;
      const std::string_view payload(in_.data() + pos + hdr, static_cast<std::size_t>(n));
      if (opcode == 0x1) {
        on_text(payload);
      } else if (opcode == 0x8) {
        errno = 0;
        die("the server sent a close frame: " + std::string(payload.size() > 2 ? payload.substr(2) : ""));
      }
      pos += hdr + static_cast<std::size_t>(n);
    }
    in_.erase(0, pos);
  }

 private:
  int fd_ = -1;
  std::string out_;
  std::size_t out_pos_ = 0;
  std::string in_;
};

// Waits (poll) until one of the clients can make progress; timeout in ms (0 = just look).
void wait_io(std::initializer_list<raw_client*> clients, int timeout_ms) {
  std::array<pollfd, 4> fds{};
  nfds_t n = 0;
  for (raw_client* c : clients) {
    fds[n].fd = c->fd();
    fds[n].events = static_cast<short>(POLLIN | (c->pending() > 0 ? POLLOUT : 0));
    ++n;
  }
  poll(fds.data(), n, timeout_ms);
}

bool has_type(std::string_view msg, std::string_view type) {
  const std::string key = "\"type\":\"" + std::string(type) + "\"";
  return msg.find(key) != std::string_view::npos;
}

double number_field(std::string_view msg, std::string_view key) {
  const std::string k = "\"" + std::string(key) + "\":";
  const auto p = msg.find(k);
  if (p == std::string_view::npos) {
    return std::nan("");
  }
  return std::strtod(std::string(msg.substr(p + k.size(), 40)).c_str(), nullptr);
}

// Pre-encoded one-sample JSON frames (values of a seeded normal distribution).
// 65536 distinct messages (~3 MB), cycled: a short cycle would let the branch predictor learn the
// samples' path through the detector's tail functions and flatter the server.
std::vector<std::string> json_frames(const std::string& stream, bool with_id, std::size_t distinct = 65536) {
  std::mt19937_64 rng(42);
  std::normal_distribution<double> noise(0.0, 1.0);
  std::vector<std::string> frames;
  frames.reserve(distinct);
  char buf[160];
  for (std::size_t i = 0; i < distinct; ++i) {
    if (with_id) {
      std::snprintf(buf, sizeof buf, "{\"stream\":\"%s\",\"value\":%.6f,\"id\":%zu}", stream.c_str(),
                    noise(rng), i);
    } else {
      std::snprintf(buf, sizeof buf, "{\"stream\":\"%s\",\"value\":%.6f}", stream.c_str(), noise(rng));
    }
    frames.push_back(raw_client::text(buf));
  }
  return frames;
}

std::string binary_payload(const std::string& stream, const std::vector<double>& xs) {
  std::string p;
  p.push_back('\x01');
  p.push_back(static_cast<char>(stream.size()));
  p += stream;
  const std::size_t off = p.size();
  p.resize(off + xs.size() * 8);
  std::memcpy(p.data() + off, xs.data(), xs.size() * 8);  // x86-64 is little-endian
  return p;
}

// Sends the snapshot request and pumps until its reply; returns the reported count.
double finish(raw_client& c, const std::string& stream) {
  c.queue(raw_client::text("{\"type\":\"snapshot\",\"stream\":\"" + stream + "\",\"id\":\"end\"}"));
  double count = -1;
  const auto t0 = clock_type::now();
  while (count < 0) {
    c.flush();
    wait_io({&c}, 100);
    c.read([&](std::string_view m) {
      if (has_type(m, "snapshot") && m.find("\"end\"") != std::string_view::npos) {
        count = number_field(m, "count");
      } else if (has_type(m, "error")) {
        errno = 0;
        die("error reply: " + std::string(m));
      }
    });
    if (seconds_since(t0) > 120) {
      errno = 0;
      die("no reply to the final snapshot request");
    }
  }
  return count;
}

// ---- scenarios -----------------------------------------------------------------------------------
int g_run = 0;                 // makes stream names unique per run, so counts start at 0
std::size_t g_io_threads = 1;  // server_options::io_threads of run_adapter

// JSON one-sample messages; window = 0: fire-and-forget, else at most `window` un-acked.
double json_rate(std::uint16_t port, std::size_t n, std::size_t window) {
  const std::string stream = "json" + std::to_string(++g_run);
  const auto frames = json_frames(stream, window > 0);
  raw_client c(port);
  std::size_t sent = 0;
  std::size_t acked = 0;
  const auto t0 = clock_type::now();
  while (sent < n || (window > 0 && acked < n)) {
    while (sent < n && c.pending() < (256U << 10) && (window == 0 || sent - acked < window)) {
      c.queue(frames[sent % frames.size()]);
      ++sent;
    }
    c.flush();
    if (window > 0) {
      c.read([&](std::string_view m) {
        if (has_type(m, "error")) {
          errno = 0;
          die("error reply: " + std::string(m));
        }
        acked += has_type(m, "ack") ? 1U : 0U;
      });
    }
    if (c.pending() > 0 || (window > 0 && sent - acked >= window)) {
      wait_io({&c}, 100);
    }
    if (seconds_since(t0) > 120) {
      errno = 0;
      die("json: no progress within 120 s");
    }
  }
  const double count = finish(c, stream);
  const double secs = seconds_since(t0);
  if (count != static_cast<double>(n)) {
    std::fprintf(stderr, "ws_bench: json: the server counted %.0f of %zu samples\n", count, n);
    std::exit(1);
  }
  return static_cast<double>(n) / secs;
}

double binary_rate(std::uint16_t port, std::size_t frames_total, std::size_t per_frame) {
  const std::string stream = "bin" + std::to_string(++g_run);
  std::mt19937_64 rng(7);
  std::normal_distribution<double> noise(0.0, 1.0);
  std::vector<std::string> frames;
  // 256 distinct frames (256 Ki samples, 2 MiB), cycled (see json_frames).
  for (int f = 0; f < 256; ++f) {
    std::vector<double> xs(per_frame);
    for (double& x : xs) {
      x = noise(rng);
    }
    frames.push_back(raw_client::binary(binary_payload(stream, xs)));
  }
  raw_client c(port);
  std::size_t sent = 0;
  const auto t0 = clock_type::now();
  while (sent < frames_total) {
    while (sent < frames_total && c.pending() < (1U << 20)) {
      c.queue(frames[sent % frames.size()]);
      ++sent;
    }
    c.flush();
    if (c.pending() > 0) {
      wait_io({&c}, 100);
    }
  }
  const double count = finish(c, stream);
  const double secs = seconds_since(t0);
  const double total = static_cast<double>(frames_total * per_frame);
  if (count != total) {
    std::fprintf(stderr, "ws_bench: binary: the server counted %.0f of %.0f samples\n", count, total);
    std::exit(1);
  }
  return total / secs;
}

// 64 streams (issue 12's io_threads measure) fed by `conns` connections, each cycling through
// every stream: binary frames of `per_frame` float64, or (per_frame = 0) one-sample JSON messages.
// Ends with a "list" on each connection (its reply comes after everything the connection sent was
// handled, on every io thread), then checks the streams' counts; returns samples per second.
double multi_rate(std::uint16_t port, std::size_t conns, std::size_t streams, std::size_t messages,
                  std::size_t per_frame) {
  const std::string prefix = "m" + std::to_string(++g_run) + "_";
  std::mt19937_64 rng(11);
  std::normal_distribution<double> noise(0.0, 1.0);
  const std::size_t distinct = per_frame > 0 ? 8 : 1024;  // per stream
  std::vector<std::string> frames;                        // frames[k * streams + s]
  char buf[160];
  for (std::size_t k = 0; k < distinct; ++k) {
    for (std::size_t s = 0; s < streams; ++s) {
      const std::string name = prefix + std::to_string(s);
      if (per_frame > 0) {
        std::vector<double> xs(per_frame);
        for (double& x : xs) {
          x = noise(rng);
        }
        frames.push_back(raw_client::binary(binary_payload(name, xs)));
      } else {
        std::snprintf(buf, sizeof buf, "{\"stream\":\"%s\",\"value\":%.6f}", name.c_str(), noise(rng));
        frames.push_back(raw_client::text(buf));
      }
    }
  }
  std::vector<std::unique_ptr<raw_client>> cs;
  for (std::size_t c = 0; c < conns; ++c) {
    cs.push_back(std::make_unique<raw_client>(port));
  }
  const std::size_t per_conn = messages / conns;
  std::vector<std::size_t> sent(conns, 0);
  const std::size_t limit = per_frame > 0 ? (1U << 20) : (256U << 10);
  const auto t0 = clock_type::now();
  for (;;) {
    bool more = false;
    for (std::size_t c = 0; c < conns; ++c) {
      raw_client& cl = *cs[c];
      while (sent[c] < per_conn && cl.pending() < limit) {
        // Connection c starts at stream c·streams/conns, so that the streams are fed evenly.
        cl.queue(frames[(sent[c] + c * streams / conns) % frames.size()]);
        ++sent[c];
      }
      cl.flush();
      more = more || sent[c] < per_conn || cl.pending() > 0;
    }
    if (!more) {
      break;
    }
    bool blocked = false;
    for (const auto& cl : cs) {
      blocked = blocked || cl->pending() > 0;
    }
    if (!blocked) {
      continue;  // the kernel took everything: queue more at once
    }
    std::array<pollfd, 8> fds{};
    for (std::size_t c = 0; c < conns; ++c) {
      fds[c].fd = cs[c]->fd();
      fds[c].events = static_cast<short>(cs[c]->pending() > 0 ? POLLOUT : 0);
    }
    poll(fds.data(), static_cast<nfds_t>(conns), 100);
    if (seconds_since(t0) > 120) {
      errno = 0;
      die("multi: no progress within 120 s");
    }
  }
  double counted = 0;
  for (std::size_t c = 0; c < conns; ++c) {
    raw_client& cl = *cs[c];
    cl.queue(raw_client::text("{\"type\":\"list\",\"id\":\"end\"}"));
    bool done = false;
    while (!done) {
      cl.flush();
      wait_io({&cl}, 100);
      cl.read([&](std::string_view m) {
        if (has_type(m, "error")) {
          errno = 0;
          die("error reply: " + std::string(m));
        }
        if (!has_type(m, "streams")) {
          return;
        }
        done = true;
        if (c + 1 == conns) {  // the last barrier: every sample of every connection is in
          for (auto p = m.find("\"count\":"); p != std::string_view::npos; p = m.find("\"count\":", p + 1)) {
            counted += std::strtod(std::string(m.substr(p + 8, 30)).c_str(), nullptr);
          }
        }
      });
      if (seconds_since(t0) > 240) {
        errno = 0;
        die("multi: no list reply");
      }
    }
  }
  const double secs = seconds_since(t0);
  const double total = static_cast<double>(per_conn * conns * std::max<std::size_t>(per_frame, 1));
  if (counted != total) {
    std::fprintf(stderr, "ws_bench: multi: the server counted %.0f of %.0f samples\n", counted, total);
    std::exit(1);
  }
  return total / secs;
}

struct latency_result {
  double p50_us = 0;
  double p90_us = 0;
  double p99_us = 0;
  double max_us = 0;
  std::size_t alerts = 0;
  std::size_t spikes = 0;
};

double percentile(std::vector<double> v, double q) {
  if (v.empty()) {
    return std::nan("");
  }
  std::sort(v.begin(), v.end());
  const auto k = static_cast<std::size_t>(q * static_cast<double>(v.size() - 1) + 0.5);
  return v[std::min(k, v.size() - 1)];
}

// A paced producer (one JSON sample per message) and a subscriber in one thread: the subscriber's
// alert carries the spike's value, which is unique, so it maps back to the spike's send time.
latency_result alert_latency(std::uint16_t port, double rate, double seconds) {
  const std::string stream = "lat" + std::to_string(++g_run);
  raw_client sub(port);
  raw_client prod(port);
  // Warm the stream up (the detector raises no alarm before its warm-up) and create it, then subscribe.
  std::mt19937_64 rng(11);
  std::normal_distribution<double> noise(0.0, 1.0);
  char buf[160];
  for (int i = 0; i < 2000; ++i) {
    std::snprintf(buf, sizeof buf, "{\"stream\":\"%s\",\"value\":%.6f}", stream.c_str(), noise(rng));
    prod.queue(raw_client::text(buf));
  }
  finish(prod, stream);
  sub.queue(raw_client::text("{\"type\":\"subscribe\",\"stream\":\"" + stream + "\"}"));
  bool subscribed = false;
  const auto t_sub = clock_type::now();
  while (!subscribed) {
    if (seconds_since(t_sub) > 10) {
      errno = 0;
      die("no reply to subscribe");
    }
    sub.flush();
    wait_io({&sub}, 100);
    sub.read([&](std::string_view m) { subscribed = subscribed || has_type(m, "subscribed"); });
  }

  constexpr std::size_t spike_every = 500;
  const auto noise_frames = json_frames(stream, false);              // pre-encoded: the client stays cheap
  std::unordered_map<long long, clock_type::time_point> spike_sent;  // key: spike value × 1000
  std::vector<double> lat_us;
  latency_result r;
  const auto t0 = clock_type::now();
  const auto total = static_cast<std::size_t>(rate * seconds);
  std::size_t sent = 0;
  auto on_sub = [&](std::string_view m) {
    if (!has_type(m, "alert")) {
      return;
    }
    ++r.alerts;
    const double v = number_field(m, "value");
    const auto it = spike_sent.find(std::llround(v * 1000));
    if (it != spike_sent.end()) {
      lat_us.push_back(std::chrono::duration<double, std::micro>(clock_type::now() - it->second).count());
      spike_sent.erase(it);
    }
  };
  while (sent < total) {
    // Busy pacing: the client never sleeps, like a producer with work of its own.
    const double due = seconds_since(t0) * rate;
    bool spike_now = false;
    while (static_cast<double>(sent) < due && sent < total) {
      ++sent;
      if (sent % spike_every == 0) {
        const double v = 50.0 + static_cast<double>(r.spikes++) * 0.001;
        std::snprintf(buf, sizeof buf, "{\"stream\":\"%s\",\"value\":%.3f}", stream.c_str(), v);
        prod.queue(raw_client::text(buf));
        prod.flush();
        spike_sent.emplace(std::llround(v * 1000), clock_type::now());
        spike_now = true;
      } else {
        prod.queue(noise_frames[sent % noise_frames.size()]);
      }
    }
    (void)spike_now;
    prod.flush();
    sub.read(on_sub);
    prod.read([](std::string_view) {});
  }
  finish(prod, stream);
  const auto t1 = clock_type::now();
  while (std::chrono::duration<double>(clock_type::now() - t1).count() < 0.5) {
    sub.read(on_sub);
    wait_io({&sub}, 10);
  }
  r.p50_us = percentile(lat_us, 0.50);
  r.p90_us = percentile(lat_us, 0.90);
  r.p99_us = percentile(lat_us, 0.99);
  r.max_us = lat_us.empty() ? std::nan("") : *std::max_element(lat_us.begin(), lat_us.end());
  return r;
}

struct stall_result {
  long rss_before_kib = 0;
  long hwm_after_kib = 0;
  double samples = 0;
  double seconds = 0;
};

// A subscriber that never reads (4 KiB receive buffer) while a producer pushes JSON and binary
// batches with a spike every 1000 samples: the server must neither block the producer nor buffer
// without bound for the stalled reader.
stall_result stalled_subscriber(child& server, double seconds) {
  const std::string stream = "stall" + std::to_string(++g_run);
  stall_result r;
  raw_client prod(server.port);
  prod.queue(raw_client::text("{\"stream\":\"" + stream + "\",\"value\":0.5}"));
  finish(prod, stream);
  r.rss_before_kib = proc_status_kib(server.pid, "VmRSS");
  raw_client stalled(server.port, 4096);
  stalled.queue(raw_client::text("{\"type\":\"subscribe\",\"stream\":\"*\"}"));
  stalled.flush();

  std::mt19937_64 rng(5);
  std::normal_distribution<double> noise(0.0, 1.0);
  std::vector<std::string> frames;
  for (int f = 0; f < 16; ++f) {
    std::vector<double> xs(1024);
    for (std::size_t i = 0; i < xs.size(); ++i) {
      xs[i] = (i % 1000 == 999) ? 40.0 + f : noise(rng);
    }
    frames.push_back(raw_client::binary(binary_payload(stream, xs)));
  }
  const auto jframes = json_frames(stream, false);
  const auto t0 = clock_type::now();
  std::size_t k = 0;
  while (seconds_since(t0) < seconds) {
    while (prod.pending() < (1U << 20)) {
      // 1 binary frame (1024 samples) per 64 JSON messages
      if (k % 65 == 64) {
        prod.queue(frames[k % frames.size()]);
        r.samples += 1024;
      } else {
        prod.queue(jframes[k % jframes.size()]);
        r.samples += 1;
      }
      ++k;
    }
    prod.flush();
    wait_io({&prod}, 10);
  }
  const double count = finish(prod, stream);
  r.seconds = seconds_since(t0);
  r.hwm_after_kib = proc_status_kib(server.pid, "VmHWM");
  if (count != r.samples + 1) {
    std::fprintf(stderr, "ws_bench: stall: the server counted %.0f of %.0f samples\n", count, r.samples + 1);
    std::exit(1);
  }
  return r;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

// In-process cost of the default pipeline per sample, and of its z-score detector alone: the
// ceiling of one stream's ingest rate whatever the transport (binary batches approach it).
struct pipeline_cost {
  double pipeline_ns = 0;
  double detector_ns = 0;
};

pipeline_cost measure_pipeline(std::size_t n) {
  std::mt19937_64 rng(3);
  std::normal_distribution<double> noise(0.0, 1.0);
  std::vector<double> xs(n);
  for (double& x : xs) {
    x = noise(rng);
  }
  pipeline_cost c;
  streamstats::websocket::default_pipeline p;
  streamstats::websocket::alert_info a;
  std::size_t fired = 0;
  auto t0 = clock_type::now();
  for (const double x : xs) {
    fired += p.push(x, a) ? 1U : 0U;
  }
  c.pipeline_ns = seconds_since(t0) * 1e9 / static_cast<double>(n);
  streamstats::anomaly_detector<double> d;
  double sink = 0;
  t0 = clock_type::now();
  for (const double x : xs) {
    sink += d.push(x).z;  // score() is computed on request (alerts, snapshots), not here
  }
  c.detector_ns = seconds_since(t0) * 1e9 / static_cast<double>(n);
  if (sink < 0 || fired > n) {
    std::puts("");  // keeps the loops from being optimised away
  }
  return c;
}

std::string si(double x) {
  char buf[64];
  if (x >= 1e6) {
    std::snprintf(buf, sizeof buf, "%.2f M", x / 1e6);
  } else if (x >= 1e3) {
    std::snprintf(buf, sizeof buf, "%.1f k", x / 1e3);
  } else {
    std::snprintf(buf, sizeof buf, "%.0f", x);
  }
  return buf;
}

}  // namespace

int main(int argc, char** argv) {
  bool quick = false;
  int runs = 3;
  std::string profile;
  bool threads_compare = false;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--quick") {
      quick = true;
      runs = 1;
    } else if (a == "--runs" && i + 1 < argc) {
      runs = std::max(1, std::atoi(argv[++i]));
    } else if (a == "--profile" && i + 1 < argc) {
      profile = argv[++i];
    } else if (a == "--threads") {
      threads_compare = true;
    } else {
      std::fprintf(
          stderr, "usage: ws_bench [--quick] [--runs N] [--threads] [--profile json|acked|binary|latency]\n");
      return 2;
    }
  }
  signal(SIGPIPE, SIG_IGN);
  if (!profile.empty()) {
    // One long scenario against the adapter alone, for a profiler:
    //   perf record -g -- ws_bench --profile binary; perf report --pid <the pid printed here>
    child a = spawn(run_adapter);
    std::fprintf(stderr, "ws_bench: adapter server pid %d\n", static_cast<int>(a.pid));
    double rate = 0;
    if (profile == "binary") {
      rate = binary_rate(a.port, 50000, 1024);
    } else if (profile == "json" || profile == "acked") {
      rate = json_rate(a.port, 2000000, profile == "acked" ? 1000 : 0);
    } else if (profile == "latency") {
      const latency_result lat = alert_latency(a.port, 100000.0, 5.0);
      stop(a);
      std::printf(
          "latency at 100 k msg/s: p50 %.0f us, p90 %.0f us, p99 %.0f us, max %.0f us, %zu alerts / %zu "
          "spikes\n",
          lat.p50_us, lat.p90_us, lat.p99_us, lat.max_us, lat.alerts, lat.spikes);
      return 0;
    } else {
      std::fprintf(stderr, "ws_bench: --profile json|acked|binary|latency\n");
      return 2;
    }
    stop(a);
    std::printf("%s: %s/s\n", profile.c_str(), si(rate).c_str());
    return 0;
  }
  if (threads_compare) {
    // io_threads 1 against 2, interleaved runs (load from elsewhere hits both alike).
    struct cell {
      const char* what;
      std::size_t messages;
      std::size_t per_frame;
      std::array<std::vector<double>, 2> rates;
    };
    std::array<cell, 2> cells{{{"binary, 1024 float64/frame", quick ? 4000U : 40000U, 1024, {}},
                               {"JSON, 1 sample/message", quick ? 200000U : 2000000U, 0, {}}}};
    // WS_BENCH_CONNS (1 … 8, default 4) and WS_BENCH_STREAMS (default 64) vary the scenario.
    const char* env_conns = std::getenv("WS_BENCH_CONNS");
    const char* env_streams = std::getenv("WS_BENCH_STREAMS");
    const std::size_t conns =
        std::clamp<std::size_t>(env_conns ? std::strtoul(env_conns, nullptr, 10) : 4, 1, 8);
    const std::size_t nstreams =
        std::max<std::size_t>(env_streams ? std::strtoul(env_streams, nullptr, 10) : 64, 1);
    std::fprintf(stderr,
                 "ws_bench --threads: %zu streams, %zu connections, %d run(s) per cell, median reported\n",
                 nstreams, conns, runs);
    for (int r = 0; r < runs; ++r) {
      for (cell& c : cells) {
        for (std::size_t t = 0; t < 2; ++t) {
          g_io_threads = t + 1;
          child a = spawn(run_adapter);
          c.rates[t].push_back(multi_rate(a.port, conns, nstreams, c.messages, c.per_frame));
          std::fprintf(stderr, "    CPU seconds per server thread:%s\n", thread_cpu(a.pid).c_str());
          stop(a);
          std::fprintf(stderr, "  %s, io_threads %zu: %s samples/s\n", c.what, t + 1,
                       si(c.rates[t].back()).c_str());
        }
      }
    }
    std::ifstream loadavg("/proc/loadavg");
    std::string load;
    std::getline(loadavg, load);
    std::printf("ws_bench --threads, %u hardware threads, load average at the end: %s\n\n",
                std::thread::hardware_concurrency(), load.c_str());
    std::printf(
        "| 64 streams, 4 producer connections, loopback, %d run(s), median | io_threads = 1 | io_threads = 2 "
        "| 2 / 1 |\n",
        runs);
    std::printf("|---|---:|---:|---:|\n");
    for (const cell& c : cells) {
      const double one = median(c.rates[0]);
      const double two = median(c.rates[1]);
      std::printf("| %s | %s samples/s | %s samples/s | %.2f× |\n", c.what, si(one).c_str(), si(two).c_str(),
                  two / one);
    }
    return 0;
  }
  const std::size_t json_n = quick ? 50000 : 2000000;
  const std::size_t bin_frames = quick ? 2000 : 40000;

  struct row {
    std::string what;
    std::string unit;
    double bare;
    double adapter;
  };
  std::vector<row> rows;

  auto measure = [&](const std::string& what, const std::string& unit,
                     const std::function<double(std::uint16_t)>& f, void (*adapter)(int) = run_adapter) {
    std::vector<double> bare_v;
    std::vector<double> adapter_v;
    // Interleaved runs, so that load from elsewhere on the machine hits both servers alike.
    for (int r = 0; r < runs; ++r) {
      child b = spawn(run_bare);
      bare_v.push_back(f(b.port));
      stop(b);
      child a = spawn(adapter);
      adapter_v.push_back(f(a.port));
      stop(a);
    }
    rows.push_back({what, unit, median(bare_v), median(adapter_v)});
    std::fprintf(stderr, "  %s: bare %s, adapter %s\n", what.c_str(), si(rows.back().bare).c_str(),
                 si(rows.back().adapter).c_str());
  };

  std::fprintf(stderr, "ws_bench: %d run(s) per cell, median reported\n", runs);
  measure("JSON, 1 sample/message, fire-and-forget", "messages/s",
          [&](std::uint16_t port) { return json_rate(port, json_n, 0); });
  measure(
      "JSON, 1 sample/message, fire-and-forget, detector off (`detect = false`)", "messages/s",
      [&](std::uint16_t port) { return json_rate(port, json_n, 0); }, run_adapter_no_detector);
  measure("JSON, 1 sample/message, acked, 1000 in flight", "messages/s",
          [&](std::uint16_t port) { return json_rate(port, json_n, 1000); });
  measure("binary, 1024 float64/frame, one stream", "samples/s",
          [&](std::uint16_t port) { return binary_rate(port, bin_frames, 1024); });
  measure(
      "binary, 1024 float64/frame, one stream, detector off (`detect = false`)", "samples/s",
      [&](std::uint16_t port) { return binary_rate(port, bin_frames, 1024); }, run_adapter_no_detector);

  // Latency, two paces: 100 k msg/s (the server mostly waits, so part of the figure is its wake-up)
  // and a quarter of the adapter's measured fire-and-forget rate, at most 400 k msg/s (busier,
  // with headroom left for the rest of the machine; at half the rate a shared 2-core box queues).
  // The client never sleeps, so its own wake-ups are never in the figure.
  const std::array<double, 2> paces{100000.0, std::clamp(0.25 * rows[0].adapter, 100000.0, 400000.0)};
  std::array<latency_result, 2> lats{};
  for (std::size_t i = 0; i < paces.size(); ++i) {
    child a = spawn(run_adapter);
    lats[i] = alert_latency(a.port, paces[i], quick ? 2.0 : 5.0);
    stop(a);
  }
  child s = spawn(run_adapter);
  const stall_result st = stalled_subscriber(s, quick ? 1.0 : 3.0);
  stop(s);

  {
    // The context a reader needs to weigh the numbers: the machine is shared, and loopback rates
    // move with whatever else runs.
    std::ifstream loadavg("/proc/loadavg");
    std::string load;
    std::getline(loadavg, load);
    const std::time_t now = std::time(nullptr);
    char date[32];
    std::strftime(date, sizeof date, "%Y-%m-%d %H:%M UTC", std::gmtime(&now));
    std::printf("ws_bench, %s, %u hardware threads, load average at the end: %s\n\n", date,
                std::thread::hardware_concurrency(), load.substr(0, load.find(' ')).c_str());
  }
  std::printf("| loopback, %d run(s), median | bare websocketpp | streamstats adapter | adapter / bare |\n",
              runs);
  std::printf("|---|---:|---:|---:|\n");
  for (const row& r : rows) {
    std::printf("| %s | %s %s | %s %s | %.0f %% |\n", r.what.c_str(), si(r.bare).c_str(), r.unit.c_str(),
                si(r.adapter).c_str(), r.unit.c_str(), 100.0 * r.adapter / r.bare);
  }
  std::printf("\n| adapter, default pipeline | value |\n|---|---:|\n");
  for (std::size_t i = 0; i < paces.size(); ++i) {
    const latency_result& lat = lats[i];
    std::printf(
        "| alert latency, sample sent → alert received, producer at %s msg/s: p50 / p90 / p99 / max | %.0f / "
        "%.0f / %.0f / %.0f µs |\n",
        si(paces[i]).c_str(), lat.p50_us, lat.p90_us, lat.p99_us, lat.max_us);
    std::printf("| … spikes sent / alerts received | %zu / %zu |\n", lat.spikes, lat.alerts);
  }
  const pipeline_cost pc = measure_pipeline(quick ? 1000000 : 5000000);
  std::printf(
      "| default_pipeline::push, in process (its ceiling for one stream) | %.0f ns/sample (%s samples/s) |\n",
      pc.pipeline_ns, si(1e9 / pc.pipeline_ns).c_str());
  std::printf("| of which anomaly_detector<double>::push | %.0f ns/sample |\n", pc.detector_ns);
  std::printf("| server RSS before the stall | %.1f MiB |\n",
              static_cast<double>(st.rss_before_kib) / 1024.0);
  std::printf("| server peak RSS, stalled subscriber, %.1f s of pushes (%s samples) | %.1f MiB |\n",
              st.seconds, si(st.samples).c_str(), static_cast<double>(st.hwm_after_kib) / 1024.0);
  return 0;
}

namespace {
// The adapter with its default options and default pipeline (count, mean, stddev, min, max, SMA 20,
// EMA, z-score detector), as a user gets it from `server s; s.run();` (io_threads from --threads).
void run_adapter(int port_fd) {
  streamstats::websocket::server_options options;
  options.address = "127.0.0.1";
  options.port = 0;
  options.io_threads = g_io_threads;
  streamstats::websocket::server s(options);
  s.listen();
  const std::uint16_t port = s.port();
  if (write(port_fd, &port, sizeof port) != static_cast<ssize_t>(sizeof port)) {
    die("write port");
  }
  close(port_fd);
  s.run();
}

// The same without the detector (no alerts, no z/score/band): statistics only, for streams whose
// rate matters more than alerts.
void run_adapter_no_detector(int port_fd) {
  streamstats::websocket::server_options options;
  options.address = "127.0.0.1";
  options.port = 0;
  streamstats::websocket::default_pipeline_options pipeline;
  pipeline.detect = false;
  options.make_pipeline = streamstats::websocket::default_pipeline_factory(pipeline);
  streamstats::websocket::server s(options);
  s.listen();
  const std::uint16_t port = s.port();
  if (write(port_fd, &port, sizeof port) != static_cast<ssize_t>(sizeof port)) {
    die("write port");
  }
  close(port_fd);
  s.run();
}
}  // namespace
