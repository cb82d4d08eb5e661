// Hand-made traffic for the hardening tests: raw TCP on 127.0.0.x with timeouts, handshakes and
// frames that no WebSocket library would send, and a server in a child process whose memory
// (VmRSS) and CPU time can be read from /proc while a test attacks it.
#pragma once

#include <streamstats/websocket/server.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <functional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace raw {

using namespace std::chrono_literals;

// A blocking TCP socket to 127.0.0.1:port (optionally from another loopback source address), every
// send and receive bounded by a timeout.
class tcp {
 public:
  explicit tcp(std::uint16_t port, const char* source = nullptr, int rcvbuf = 0,
               std::chrono::milliseconds timeout = 3000ms) {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd_ < 0) {
      throw std::runtime_error("socket: " + std::string(std::strerror(errno)));
    }
    if (rcvbuf > 0) {
      ::setsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
    }
    set_timeout(timeout);
    if (source != nullptr) {
      sockaddr_in src{};
      src.sin_family = AF_INET;
      ::inet_pton(AF_INET, source, &src.sin_addr);
      if (::bind(fd_, reinterpret_cast<sockaddr*>(&src), sizeof src) != 0) {
        throw std::runtime_error("bind: " + std::string(std::strerror(errno)));
      }
    }
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    ::inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    if (::connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
      const int e = errno;
      ::close(fd_);
      throw std::runtime_error("connect: " + std::string(std::strerror(e)));
    }
    const int one = 1;
    ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  }
  tcp(const tcp&) = delete;
  tcp& operator=(const tcp&) = delete;
  tcp(tcp&& o) noexcept : fd_(std::exchange(o.fd_, -1)), in_(std::move(o.in_)) {}
  tcp& operator=(tcp&& o) noexcept {
    if (this != &o) {
      close();
      fd_ = std::exchange(o.fd_, -1);
      in_ = std::move(o.in_);
    }
    return *this;
  }
  ~tcp() { close(); }

  void close() {
    if (fd_ >= 0) {
      ::close(fd_);
      fd_ = -1;
    }
  }
  void set_timeout(std::chrono::milliseconds t) {
    timeval tv{};
    tv.tv_sec = static_cast<time_t>(t.count() / 1000);
    tv.tv_usec = static_cast<suseconds_t>((t.count() % 1000) * 1000);
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    ::setsockopt(fd_, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  }

  // Sends all of `data`; false when the peer is gone or the send timed out.
  bool send(const std::string& data) {
    std::size_t off = 0;
    while (off < data.size()) {
      const ssize_t n = ::send(fd_, data.data() + off, data.size() - off, MSG_NOSIGNAL);
      if (n <= 0) {
        if (n < 0 && errno == EINTR) {
          continue;
        }
        return false;
      }
      off += static_cast<std::size_t>(n);
    }
    return true;
  }

  // Reads until `delim` is in the input (or EOF / timeout); returns what came before and including it.
  std::string read_until(const std::string& delim) {
    for (;;) {
      const auto at = in_.find(delim);
      if (at != std::string::npos) {
        std::string head = in_.substr(0, at + delim.size());
        in_.erase(0, at + delim.size());
        return head;
      }
      if (!fill()) {
        return std::exchange(in_, std::string());
      }
    }
  }
  // Everything until the peer closes (or the timeout).
  std::string read_all() {
    while (fill()) {
    }
    return std::exchange(in_, std::string());
  }

  // Reads one WebSocket frame (server frames are unmasked); {-1, ""} when the socket ends first.
  std::pair<int, std::string> read_frame() {
    if (!need(2)) {
      return {-1, {}};
    }
    const int op = static_cast<unsigned char>(in_[0]) & 0x0F;
    std::size_t len = static_cast<unsigned char>(in_[1]) & 0x7FU;
    std::size_t hdr = 2;
    if (len == 126) {
      if (!need(4)) {
        return {-1, {}};
      }
      len = (std::size_t(static_cast<unsigned char>(in_[2])) << 8U) | static_cast<unsigned char>(in_[3]);
      hdr = 4;
    } else if (len == 127) {
      if (!need(10)) {
        return {-1, {}};
      }
      len = 0;
      for (int i = 0; i < 8; ++i) {
        len = (len << 8U) | static_cast<unsigned char>(in_[static_cast<std::size_t>(2 + i)]);
      }
      hdr = 10;
    }
    if (!need(hdr + len)) {
      return {-1, {}};
    }
    std::string payload = in_.substr(hdr, len);
    in_.erase(0, hdr + len);
    return {op, payload};
  }
  // Reads frames until a close frame and returns its code; -1 when the socket ends (or times out) first.
  int read_close_code(std::chrono::milliseconds timeout = 5000ms) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
      auto [op, payload] = read_frame();
      if (op < 0) {
        return -1;
      }
      if (op == 8) {
        return payload.size() >= 2
                   ? (static_cast<unsigned char>(payload[0]) << 8U) | static_cast<unsigned char>(payload[1])
                   : 1005;
      }
    }
    return -1;
  }
  [[nodiscard]] int fd() const noexcept { return fd_; }

 private:
  bool fill() {
    char b[65536];
    for (;;) {
      const ssize_t n = ::recv(fd_, b, sizeof b, 0);
      if (n > 0) {
        in_.append(b, static_cast<std::size_t>(n));
        return true;
      }
      if (n < 0 && errno == EINTR) {
        continue;
      }
      return false;
    }
  }
  bool need(std::size_t k) {
    while (in_.size() < k) {
      if (!fill()) {
        return false;
      }
    }
    return true;
  }

  int fd_ = -1;
  std::string in_;
};

// An opening handshake; `version` empty leaves Sec-WebSocket-Version out.
inline std::string handshake(const std::string& version = "13", const std::string& extra_headers = "",
                             const std::string& resource = "/ws", const std::string& host = "127.0.0.1") {
  std::string r = "GET " + resource + " HTTP/1.1\r\nHost: " + host +
                  "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                  "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n";
  if (!version.empty()) {
    r += "Sec-WebSocket-Version: " + version + "\r\n";
  }
  return r + extra_headers + "\r\n";
}

// A hixie-76 (draft 00) handshake: no Sec-WebSocket-Version, two keys in headers and eight key bytes
// after them. The keys are draft-76's own example.
inline std::string hixie76_handshake(bool with_key3 = true) {
  std::string r =
      "GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: WebSocket\r\nConnection: Upgrade\r\n"
      "Origin: http://127.0.0.1\r\n"
      "Sec-WebSocket-Key1: 4 @1  46546xW%0l 1 5\r\nSec-WebSocket-Key2: 12998 5 Y3 1  .P00\r\n\r\n";
  if (with_key3) {
    r += "^n:ds[4U";
  }
  return r;
}

// The HTTP status of a response head ("HTTP/1.1 426 Upgrade Required" -> 426), 0 if none.
inline int status_of(const std::string& head) {
  if (head.size() < 12 || head.compare(0, 5, "HTTP/") != 0) {
    return 0;
  }
  return std::atoi(head.c_str() + 9);
}

// How a frame's payload length is written: as RFC 6455 requires, or in a longer form than needed,
// or as a 64-bit length with the given value regardless of the payload sent.
enum class length_form { minimal, as_16_bit, as_64_bit };

// One masked client frame (RFC 6455 §5.2).
inline std::string frame(std::uint8_t opcode, const std::string& payload,
                         length_form form = length_form::minimal, std::uint64_t claimed_length = 0) {
  std::string f;
  f.push_back(static_cast<char>(0x80U | opcode));
  const std::uint64_t n = claimed_length != 0 ? claimed_length : payload.size();
  if (form == length_form::minimal && n < 126) {
    f.push_back(static_cast<char>(0x80U | n));
  } else if ((form == length_form::minimal && n <= 0xFFFF) || form == length_form::as_16_bit) {
    f.push_back(static_cast<char>(0x80U | 126U));
    f.push_back(static_cast<char>((n >> 8U) & 0xFFU));
    f.push_back(static_cast<char>(n & 0xFFU));
  } else {
    f.push_back(static_cast<char>(0x80U | 127U));
    for (int s = 56; s >= 0; s -= 8) {
      f.push_back(static_cast<char>((n >> static_cast<unsigned>(s)) & 0xFFU));
    }
  }
  const unsigned char mask[4] = {0x12, 0x34, 0x56, 0x78};
  f.append(reinterpret_cast<const char*>(mask), 4);
  for (std::size_t i = 0; i < payload.size(); ++i) {
    f.push_back(static_cast<char>(static_cast<unsigned char>(payload[i]) ^ mask[i % 4]));
  }
  return f;
}

// An HTTP GET with a timeout; the whole response, or what came before the timeout.
inline std::string http_get(std::uint16_t port, const std::string& path,
                            std::chrono::milliseconds timeout = 3000ms) {
  tcp s(port, nullptr, 0, timeout);
  s.send("GET " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
  return s.read_all();
}

// A server in a child process (forked before the test starts threads of its own): its memory and
// CPU time are its own, and it may run with fewer descriptors (RLIMIT_NOFILE) than the test.
class server_process {
 public:
  explicit server_process(streamstats::websocket::server_options o, rlim_t max_files = 0) {
    int fds[2];
    if (::pipe(fds) != 0) {
      throw std::runtime_error("pipe");
    }
    pid_ = ::fork();
    if (pid_ < 0) {
      throw std::runtime_error("fork");
    }
    if (pid_ == 0) {
      ::close(fds[0]);
      // Never outlive the test (killed by a timeout, it runs no destructor).
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);
      int code = 0;
      try {
        if (max_files != 0) {
          const rlimit lim{max_files, max_files};
          ::setrlimit(RLIMIT_NOFILE, &lim);
        }
        o.port = 0;
        streamstats::websocket::server s(std::move(o));
        s.stop_on_signals({SIGTERM});
        s.listen();
        const std::uint16_t port = s.port();
        if (::write(fds[1], &port, sizeof port) != static_cast<ssize_t>(sizeof port)) {
          ::_exit(3);
        }
        ::close(fds[1]);
        s.run();
      } catch (...) {
        code = 1;
      }
      ::_exit(code);
    }
    ::close(fds[1]);
    if (::read(fds[0], &port_, sizeof port_) != static_cast<ssize_t>(sizeof port_)) {
      ::close(fds[0]);
      stop();
      throw std::runtime_error("server_process: no port");
    }
    ::close(fds[0]);
  }
  server_process(const server_process&) = delete;
  server_process& operator=(const server_process&) = delete;
  ~server_process() { stop(); }

  [[nodiscard]] std::uint16_t port() const noexcept { return port_; }
  [[nodiscard]] pid_t pid() const noexcept { return pid_; }

  // Resident memory now (VmRSS), KiB.
  [[nodiscard]] long rss_kib() const {
    std::ifstream f("/proc/" + std::to_string(pid_) + "/status");
    std::string line;
    while (std::getline(f, line)) {
      if (line.rfind("VmRSS:", 0) == 0) {
        return std::stol(line.substr(6));
      }
    }
    return -1;
  }
  // User + system CPU time so far, seconds.
  [[nodiscard]] double cpu_seconds() const {
    std::ifstream f("/proc/" + std::to_string(pid_) + "/stat");
    std::string all((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
    std::istringstream rest(all.substr(all.rfind(')') + 2));
    std::string field;
    unsigned long long utime = 0;
    unsigned long long stime = 0;
    // Fields after "(comm)": state is field 3; utime and stime are fields 14 and 15.
    for (int i = 3; i <= 15 && rest >> field; ++i) {
      if (i == 14) {
        utime = std::stoull(field);
      } else if (i == 15) {
        stime = std::stoull(field);
      }
    }
    return static_cast<double>(utime + stime) / static_cast<double>(::sysconf(_SC_CLK_TCK));
  }
  // Whether the child still runs.
  [[nodiscard]] bool alive() const { return pid_ > 0 && ::waitpid(pid_, nullptr, WNOHANG) == 0; }

  // SIGTERM (a graceful stop), then SIGKILL if it has not exited within 5 s.
  void stop() {
    if (pid_ <= 0) {
      return;
    }
    ::kill(pid_, SIGTERM);
    const auto deadline = std::chrono::steady_clock::now() + 5s;
    while (std::chrono::steady_clock::now() < deadline) {
      if (::waitpid(pid_, nullptr, WNOHANG) != 0) {
        pid_ = -1;
        return;
      }
      std::this_thread::sleep_for(10ms);
    }
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
    pid_ = -1;
  }

 private:
  pid_t pid_ = -1;
  std::uint16_t port_ = 0;
};

}  // namespace raw
