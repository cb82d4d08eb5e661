// load_client — one load generator for streamstats and for the servers people write today
// (bench/peers/py_server.py, bench/peers/node_server.mjs): the same messages, the same pacing,
// the same measurement against each. bench/peers/run.sh builds it (g++ -O2, no dependency) and
// runs it against every server in one run.
//
//   load_client --port P [--messages N] [--seconds T] [--window W] [--rate R] [--latency-seconds S]
//               [--spike-every K]
//
// Phase 1, throughput: a subscriber is subscribed to the stream and reads everything; a producer
// sends one-sample JSON messages {"stream","value"} fire-and-forget, as fast as the server takes them
// (at most --window messages, default 20000, beyond the last count the server confirmed: a snapshot
// request rides along every 5000 messages), until N messages or T seconds of sending;
// then asks for a snapshot and waits for the reply (the server handles a connection's messages in
// order, so the reply proves every sample before it was processed). messages/s = samples the server
// counted / time from the first send to that reply.
// Phase 2, latency: a producer paced at R messages/s for S seconds (a rate every server sustains),
// a 50-sigma spike every K messages; a subscriber times each spike's alert (sample sent → alert
// received). Prints one line: key=value pairs.
//
// The client is one thread with raw sockets and pre-encoded, pre-masked frames, so it costs far less
// per message than any of the servers measured. Bounded: every wait has a deadline.
// SPDX-License-Identifier: MIT

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <random>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace {

using clock_type = std::chrono::steady_clock;

double seconds_since(clock_type::time_point t0) {
  return std::chrono::duration<double>(clock_type::now() - t0).count();
}

[[noreturn]] void die(const std::string& what) {
  std::fprintf(stderr, "load_client: %s (errno %d: %s)\n", what.c_str(), errno, std::strerror(errno));
  std::exit(1);
}

class raw_client {
 public:
  explicit raw_client(std::uint16_t port) {
    fd_ = socket(AF_INET, SOCK_STREAM, 0);
    if (fd_ < 0) {
      die("socket");
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

  // One masked client text frame (a fixed mask key: the server unmasks any key the same way).
  static std::string text(std::string_view payload) { return frame(0x1, payload); }

  static std::string frame(unsigned opcode, std::string_view payload) {
    std::string f;
    f.push_back(static_cast<char>(0x80 | opcode));
    const std::size_t n = payload.size();
    if (n < 126) {
      f.push_back(static_cast<char>(0x80 | n));
    } else {
      f.push_back(static_cast<char>(0x80 | 126));
      f.push_back(static_cast<char>(n >> 8));
      f.push_back(static_cast<char>(n & 0xff));
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

  void queue(std::string_view frame) { out_.append(frame); }
  [[nodiscard]] std::size_t pending() const noexcept { return out_.size() - out_pos_; }

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

  // Reads what is there; calls on_text(payload) for each complete text message.
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
      } else if (opcode == 0x9) {
        // A ping: answer it, as every client must (websockets closes a connection whose pongs stop
        // coming after 20 + 20 s).
        queue(frame(0xA, payload));
      } else if (opcode == 0x8) {
        errno = 0;
        die("the server sent a close frame");
      }
      pos += hdr + static_cast<std::size_t>(n);
    }
    in_.erase(0, pos);
    flush();
  }

 private:
  int fd_ = -1;
  std::string out_;
  std::size_t out_pos_ = 0;
  std::string in_;
};

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

// "key":"value", with or without a space after the colon (Python's json.dumps writes one).
bool has_string(std::string_view msg, std::string_view key, std::string_view value) {
  const std::string k = "\"" + std::string(key) + "\":";
  const std::string v = "\"" + std::string(value) + "\"";
  return msg.find(k + v) != std::string_view::npos || msg.find(k + " " + v) != std::string_view::npos;
}

bool has_type(std::string_view msg, std::string_view type) { return has_string(msg, "type", type); }

double number_field(std::string_view msg, std::string_view key) {
  const std::string k = "\"" + std::string(key) + "\":";
  const auto p = msg.find(k);
  if (p == std::string_view::npos) {
    return std::nan("");
  }
  return std::strtod(std::string(msg.substr(p + k.size(), 40)).c_str(), nullptr);
}

std::string push_json(const std::string& stream, double v, const char* id = nullptr) {
  char buf[200];
  if (id != nullptr) {
    std::snprintf(buf, sizeof buf, "{\"stream\":\"%s\",\"value\":%.6f,\"id\":\"%s\"}", stream.c_str(), v, id);
  } else {
    std::snprintf(buf, sizeof buf, "{\"stream\":\"%s\",\"value\":%.6f}", stream.c_str(), v);
  }
  return buf;
}

// Sends a request carrying id `id` and pumps (draining `other` too) until the reply with that id.
std::string request(raw_client& c, raw_client* other, const std::string& payload, const std::string& id,
                    double timeout_s, const std::function<void(std::string_view)>& on_other = {}) {
  c.queue(raw_client::text(payload));
  std::string reply;
  const auto t0 = clock_type::now();
  while (reply.empty()) {
    c.flush();
    if (other != nullptr) {
      wait_io({&c, other}, 50);
      other->read([&](std::string_view m) {
        if (on_other) {
          on_other(m);
        }
      });
    } else {
      wait_io({&c}, 50);
    }
    c.read([&](std::string_view m) {
      if (has_string(m, "id", id)) {
        reply = std::string(m);
      }
    });
    if (seconds_since(t0) > timeout_s) {
      errno = 0;
      die("no reply to " + payload + " within the time limit");
    }
  }
  return reply;
}

void subscribe(raw_client& sub, const std::string& stream) {
  request(sub, nullptr, "{\"type\":\"subscribe\",\"stream\":\"" + stream + "\",\"id\":\"sub\"}", "sub", 30);
}

double percentile(std::vector<double> v, double q) {
  if (v.empty()) {
    return std::nan("");
  }
  std::sort(v.begin(), v.end());
  const auto k = static_cast<std::size_t>(q * static_cast<double>(v.size() - 1) + 0.5);
  return v[std::min(k, v.size() - 1)];
}

struct options {
  std::uint16_t port = 0;
  std::size_t messages = 2'000'000;
  double seconds = 5;
  double rate = 1000;
  double latency_seconds = 15;
  std::size_t spike_every = 50;
  std::size_t window = 20000;
};

}  // namespace

int main(int argc, char** argv) {
  options o;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string k = argv[i];
    const char* v = argv[i + 1];
    if (k == "--port") {
      o.port = static_cast<std::uint16_t>(std::strtoul(v, nullptr, 10));
    } else if (k == "--messages") {
      o.messages = std::strtoull(v, nullptr, 10);
    } else if (k == "--seconds") {
      o.seconds = std::strtod(v, nullptr);
    } else if (k == "--rate") {
      o.rate = std::strtod(v, nullptr);
    } else if (k == "--latency-seconds") {
      o.latency_seconds = std::strtod(v, nullptr);
    } else if (k == "--window") {
      o.window = std::strtoull(v, nullptr, 10);
    } else if (k == "--spike-every") {
      o.spike_every = std::strtoull(v, nullptr, 10);
    } else {
      std::fprintf(stderr, "load_client: unknown option %s\n", k.c_str());
      return 2;
    }
  }
  if (o.port == 0) {
    std::fprintf(stderr, "usage: load_client --port P [--messages N] [--seconds T] [--rate R] ...\n");
    return 2;
  }

  // ---- phase 1: throughput ----
  std::mt19937_64 rng(42);
  std::normal_distribution<double> noise(0.0, 1.0);
  std::vector<std::string> frames;  // 65536 distinct pre-encoded messages, cycled
  frames.reserve(65536);
  for (int i = 0; i < 65536; ++i) {
    frames.push_back(raw_client::text(push_json("load", noise(rng))));
  }
  raw_client prod(o.port);
  raw_client sub(o.port);
  request(prod, nullptr, push_json("load", 0.0, "seed"), "seed", 30);  // creates the stream
  subscribe(sub, "load");
  std::size_t sent = 0;
  std::size_t sub_msgs = 0;
  const auto on_sub = [&](std::string_view) { ++sub_msgs; };
  // At most o.window messages beyond the last one the server confirmed (a snapshot request every
  // probe_every messages; its reply's count): without it a slow server's socket buffers would hold
  // tens of seconds of backlog, and websockets' keepalive (ping, 20 s for the pong) closes a
  // connection whose pong waits behind that backlog.
  constexpr std::size_t probe_every = 5000;
  const std::string probe = raw_client::text("{\"type\":\"snapshot\",\"stream\":\"load\",\"id\":\"probe\"}");
  std::size_t confirmed = 0;
  const auto on_prod = [&](std::string_view m) {
    if (has_type(m, "snapshot")) {
      confirmed = std::max(confirmed, static_cast<std::size_t>(number_field(m, "count")) - 1);
    }
  };
  const auto t0 = clock_type::now();
  while (sent < o.messages && seconds_since(t0) < o.seconds) {
    while (sent < o.messages && prod.pending() < (256U << 10) && sent - confirmed < o.window) {
      prod.queue(frames[sent % frames.size()]);
      ++sent;
      if (sent % probe_every == 0) {
        prod.queue(probe);
      }
    }
    prod.flush();
    prod.read(on_prod);
    sub.read(on_sub);
    if (prod.pending() > 0 || sent - confirmed >= o.window) {
      wait_io({&prod, &sub}, 10);
    }
  }
  const double send_s = seconds_since(t0);
  const std::string end =
      request(prod, &sub, "{\"type\":\"snapshot\",\"stream\":\"load\",\"id\":\"end\"}", "end", 180, on_sub);
  const double elapsed = seconds_since(t0);
  const double counted = number_field(end, "count") - 1;  // minus the seed sample
  if (counted != static_cast<double>(sent)) {
    std::fprintf(stderr, "load_client: the server counted %.0f of %zu samples\n", counted, sent);
    return 1;
  }
  const double msgs_per_s = counted / elapsed;
  // Drain what the subscriber still has coming (bounded), so phase 2 starts clean.
  for (auto t = clock_type::now(); seconds_since(t) < 0.3;) {
    wait_io({&sub}, 20);
    sub.read(on_sub);
  }

  // ---- phase 2: latency at a fixed rate ----
  raw_client lprod(o.port);
  raw_client lsub(o.port);
  for (int i = 0; i < 199; ++i) {
    lprod.queue(raw_client::text(push_json("lat", noise(rng))));
  }
  request(lprod, nullptr, push_json("lat", noise(rng), "warm"), "warm", 30);
  subscribe(lsub, "lat");
  std::vector<std::string> lat_frames;  // the same noise, addressed to the latency stream
  lat_frames.reserve(4096);
  for (int i = 0; i < 4096; ++i) {
    lat_frames.push_back(raw_client::text(push_json("lat", noise(rng))));
  }
  std::unordered_map<long long, clock_type::time_point> spike_sent;  // key: spike value × 1000
  std::vector<double> lat_us;
  std::size_t spikes = 0;
  std::size_t alerts = 0;
  const auto on_lsub = [&](std::string_view m) {
    if (!has_type(m, "alert")) {
      return;
    }
    ++alerts;
    const auto it = spike_sent.find(std::llround(number_field(m, "value") * 1000));
    if (it != spike_sent.end()) {
      lat_us.push_back(std::chrono::duration<double, std::micro>(clock_type::now() - it->second).count());
      spike_sent.erase(it);
    }
  };
  const auto total = static_cast<std::size_t>(o.rate * o.latency_seconds);
  std::size_t lsent = 0;
  const auto l0 = clock_type::now();
  while (lsent < total && seconds_since(l0) < o.latency_seconds * 3) {
    const double due = seconds_since(l0) * o.rate;
    while (static_cast<double>(lsent) < due && lsent < total) {
      ++lsent;
      if (lsent % o.spike_every == 0) {
        const double v = 50.0 + static_cast<double>(spikes++) * 0.001;
        lprod.queue(raw_client::text(push_json("lat", v)));
        lprod.flush();
        spike_sent.emplace(std::llround(v * 1000), clock_type::now());
      } else {
        lprod.queue(lat_frames[lsent % lat_frames.size()]);
      }
    }
    lprod.flush();
    lsub.read(on_lsub);
    lprod.read([](std::string_view) {});
    // Sleep in poll until the next message is due (at most 1 ms): no busy loop on a shared machine.
    wait_io({&lsub}, 1);
  }
  request(lprod, &lsub, "{\"type\":\"snapshot\",\"stream\":\"lat\",\"id\":\"lend\"}", "lend", 60, on_lsub);
  for (auto t = clock_type::now(); seconds_since(t) < 1.0 && !spike_sent.empty();) {
    wait_io({&lsub}, 10);
    lsub.read(on_lsub);
  }
  std::printf(
      "messages=%zu send_s=%.3f elapsed_s=%.3f msgs_per_s=%.1f sub_msgs=%zu rate=%.0f spikes=%zu "
      "alerts=%zu p50_us=%.1f p90_us=%.1f p99_us=%.1f max_us=%.1f\n",
      sent, send_s, elapsed, msgs_per_s, sub_msgs, o.rate, spikes, alerts, percentile(lat_us, 0.5),
      percentile(lat_us, 0.9), percentile(lat_us, 0.99),
      lat_us.empty() ? std::nan("") : *std::max_element(lat_us.begin(), lat_us.end()));
  return lat_us.size() == spikes ? 0 : 3;
}
