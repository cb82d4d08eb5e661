// streamstatsd as a child process for the process-level tests (tests/streamstatsd/test_*.cpp):
// stdout and stderr collected, exit status, signals; and a scratch directory.
#pragma once

#include <catch2/catch.hpp>

#include <signal.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace streamstatsd_test {

using namespace std::chrono_literals;
namespace fs = std::filesystem;

// streamstatsd as a child process; stdout and stderr collected by two reader threads.
class daemon_process {
 public:
  explicit daemon_process(const std::vector<std::string>& args) {
    int out[2];
    int err[2];
    REQUIRE(::pipe(out) == 0);
    REQUIRE(::pipe(err) == 0);
    std::vector<std::string> argv_s{STREAMSTATSD_EXE};
    argv_s.insert(argv_s.end(), args.begin(), args.end());
    std::vector<char*> argv;
    for (auto& a : argv_s) {
      argv.push_back(a.data());
    }
    argv.push_back(nullptr);
    pid_ = ::fork();
    REQUIRE(pid_ >= 0);
    if (pid_ == 0) {
      ::dup2(out[1], 1);
      ::dup2(err[1], 2);
      ::close(out[0]);
      ::close(err[0]);
      ::close(out[1]);
      ::close(err[1]);
      ::execv(argv[0], argv.data());
      ::_exit(127);
    }
    ::close(out[1]);
    ::close(err[1]);
    readers_.emplace_back([this, fd = out[0]] { drain(fd, out_); });
    readers_.emplace_back([this, fd = err[0]] { drain(fd, err_); });
  }
  daemon_process(const daemon_process&) = delete;
  daemon_process& operator=(const daemon_process&) = delete;
  ~daemon_process() {
    if (status_ < 0) {
      ::kill(pid_, SIGKILL);
      (void)wait_exit(5s);
    }
    for (auto& t : readers_) {
      t.join();
    }
  }

  // The exit code (128 + signal when killed by one), or -1 after `timeout`.
  int wait_exit(std::chrono::milliseconds timeout = 10s) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (status_ < 0) {
      int st = 0;
      const pid_t r = ::waitpid(pid_, &st, WNOHANG);
      if (r == pid_) {
        status_ = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
        // Everything the process wrote is read once both pipes reach end of file.
        for (auto& t : readers_) {
          t.join();
        }
        readers_.clear();
        break;
      }
      if (std::chrono::steady_clock::now() > deadline) {
        return -1;
      }
      std::this_thread::sleep_for(5ms);
    }
    return status_;
  }
  void signal(int sig) const { ::kill(pid_, sig); }

  // Waits until `what` appears in stdout/stderr (after position `from`); true when it did.
  bool wait_stdout(const std::string& what, std::chrono::milliseconds timeout = 10s, std::size_t from = 0) {
    return wait_for(out_, what, timeout, from);
  }
  bool wait_stderr(const std::string& what, std::chrono::milliseconds timeout = 10s, std::size_t from = 0) {
    return wait_for(err_, what, timeout, from);
  }
  std::string out() {
    std::lock_guard<std::mutex> lk(m_);
    return out_;
  }
  std::string err() {
    std::lock_guard<std::mutex> lk(m_);
    return err_;
  }
  // The port from the first stdout line "listening on http://ADDR:PORT/".
  std::uint16_t port() {
    REQUIRE(wait_stdout("/\n"));
    const std::string o = out();
    const auto colon = o.rfind(':', o.find("/\n"));
    return static_cast<std::uint16_t>(std::stoi(o.substr(colon + 1)));
  }

 private:
  void drain(int fd, std::string& into) {
    char buf[4096];
    for (;;) {
      const ssize_t n = ::read(fd, buf, sizeof buf);
      if (n <= 0) {
        break;
      }
      std::lock_guard<std::mutex> lk(m_);
      into.append(buf, static_cast<std::size_t>(n));
      cv_.notify_all();
    }
    ::close(fd);
  }
  bool wait_for(const std::string& s, const std::string& what, std::chrono::milliseconds timeout,
                std::size_t from) {
    std::unique_lock<std::mutex> lk(m_);
    return cv_.wait_for(lk, timeout,
                        [&] { return s.find(what, std::min(from, s.size())) != std::string::npos; });
  }

  pid_t pid_ = -1;
  int status_ = -1;
  std::mutex m_;
  std::condition_variable cv_;
  std::string out_;
  std::string err_;
  std::vector<std::thread> readers_;
};

// A scratch directory removed at the end of the test.
struct scratch {
  scratch()
      : dir(fs::temp_directory_path() /
            ("streamstatsd_run_" + std::to_string(::getpid()) + "_" + std::to_string(counter()++))) {
    fs::create_directories(dir);
  }
  ~scratch() {
    std::error_code ec;
    fs::remove_all(dir, ec);
  }
  scratch(const scratch&) = delete;
  scratch& operator=(const scratch&) = delete;
  std::string write(const std::string& name, const std::string& text) const {
    const auto p = dir / name;
    std::ofstream(p) << text;
    return p.string();
  }
  static int& counter() {
    static int n = 0;
    return n;
  }
  fs::path dir;
};

}  // namespace streamstatsd_test
