// A real redis-server for one test: its own temporary directory and unix socket, no TCP port
// (--port 0), started and stopped by the test, nothing left behind. Also drives an io_context in
// bounded steps. Used by tests/redis and bench/redis_bench.cpp.
#pragma once

#include <asio/io_context.hpp>

#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

namespace streamstats_test {

struct redis_server_options {
  // AOF with fsync on every write (appendfsync always) in the temporary directory, so that a
  // SIGKILLed server restarts with everything it acknowledged. Otherwise no persistence at all.
  bool persist = false;
  // --requirepass: clients must AUTH with it.
  std::string requirepass;
  // Also listen on 127.0.0.1 on a free TCP port (port()), besides the unix socket.
  bool tcp = false;
};

class redis_server {
 public:
  explicit redis_server(bool persist = false) : redis_server(redis_server_options{persist, {}, false}) {}
  explicit redis_server(redis_server_options o)
      : persist_(o.persist), requirepass_(std::move(o.requirepass)) {
    if (o.tcp)
      port_ = free_port();
    char tmpl[] = "/tmp/ss-redis-XXXXXX";
    if (mkdtemp(tmpl) == nullptr)
      throw std::runtime_error("mkdtemp failed");
    dir_ = tmpl;
    socket_ = dir_ + "/redis.sock";
    start();
  }
  redis_server(const redis_server&) = delete;
  redis_server& operator=(const redis_server&) = delete;
  ~redis_server() {
    stop(SIGKILL);
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }

  const std::string& socket_path() const { return socket_; }
  const std::string& dir() const { return dir_; }
  bool running() const { return pid_ > 0; }
  pid_t pid() const { return pid_; }
  int port() const { return port_; }

  void start() {
    if (pid_ > 0)
      return;
    std::vector<std::string> args = {"redis-server",
                                     "--port",
                                     std::to_string(port_),
                                     "--bind",
                                     "127.0.0.1",
                                     "--unixsocket",
                                     socket_,
                                     "--unixsocketperm",
                                     "700",
                                     "--dir",
                                     dir_,
                                     "--save",
                                     "",
                                     "--daemonize",
                                     "no",
                                     "--loglevel",
                                     "warning",
                                     "--logfile",
                                     dir_ + "/redis.log"};
    if (!requirepass_.empty()) {
      args.insert(args.end(), {"--requirepass", requirepass_});
    }
    if (persist_) {
      args.insert(args.end(), {"--appendonly", "yes", "--appendfsync", "always"});
    } else {
      args.insert(args.end(), {"--appendonly", "no"});
    }
    pid_t pid = fork();
    if (pid < 0)
      throw std::runtime_error("fork failed");
    if (pid == 0) {
      // A test killed by its timeout takes its server along. (The "parent" is the thread that
      // forked: start() from a thread that outlives the server's use.)
      prctl(PR_SET_PDEATHSIG, SIGKILL);
      std::vector<char*> argv;
      for (auto& a : args)
        argv.push_back(a.data());
      argv.push_back(nullptr);
      execvp("redis-server", argv.data());
      _exit(127);
    }
    pid_ = pid;
    // Ready when the socket accepts a connection (bounded: 10 s).
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (std::chrono::steady_clock::now() < deadline) {
      if (can_connect())
        return;
      int status = 0;
      if (waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        throw std::runtime_error("redis-server exited at start (is it installed?)");
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    stop(SIGKILL);
    throw std::runtime_error("redis-server did not open its socket within 10 s");
  }

  // Any signal, without waiting: SIGSTOP / SIGCONT stall and resume the server (a slow fsync, a
  // stuck host) while its socket stays open.
  void signal(int sig) {
    if (pid_ > 0)
      ::kill(pid_, sig);
  }

  // SIGKILL: a crash. SIGTERM: a clean shutdown. Waits (bounded) for the process to go.
  void stop(int sig = SIGTERM) {
    if (pid_ <= 0)
      return;
    ::kill(pid_, sig);
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    int status = 0;
    while (waitpid(pid_, &status, WNOHANG) == 0) {
      if (std::chrono::steady_clock::now() > deadline) {
        ::kill(pid_, SIGKILL);
        waitpid(pid_, &status, 0);
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    pid_ = -1;
    std::error_code ec;
    std::filesystem::remove(socket_, ec);
  }

  bool can_connect() const {
    int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
    if (fd < 0)
      return false;
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    socket_.copy(a.sun_path, sizeof a.sun_path - 1);
    const bool ok = ::connect(fd, reinterpret_cast<const sockaddr*>(&a), sizeof a) == 0;
    ::close(fd);
    return ok;
  }

 private:
  // A port the kernel just gave out on 127.0.0.1 (bound, read, closed: free unless taken meanwhile).
  static int free_port() {
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
      throw std::runtime_error("socket failed");
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    if (::bind(fd, reinterpret_cast<const sockaddr*>(&a), sizeof a) != 0 ||
        ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
      ::close(fd);
      throw std::runtime_error("no free port");
    }
    ::close(fd);
    return ntohs(a.sin_port);
  }

  bool persist_;
  std::string requirepass_;
  int port_ = 0;
  std::string dir_;
  std::string socket_;
  pid_t pid_ = -1;
};

// Runs `io` until pred() holds or `limit` passes; true when pred() held.
inline bool run_until(asio::io_context& io, const std::function<bool()>& pred,
                      std::chrono::milliseconds limit) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (!pred()) {
    if (std::chrono::steady_clock::now() > deadline)
      return false;
    if (io.stopped())
      io.restart();
    if (io.run_for(std::chrono::milliseconds(5)) == 0)
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return true;
}

inline void run_for(asio::io_context& io, std::chrono::milliseconds d) {
  const auto deadline = std::chrono::steady_clock::now() + d;
  while (std::chrono::steady_clock::now() < deadline) {
    if (io.stopped())
      io.restart();
    if (io.run_for(std::chrono::milliseconds(5)) == 0)
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
}

}  // namespace streamstats_test
