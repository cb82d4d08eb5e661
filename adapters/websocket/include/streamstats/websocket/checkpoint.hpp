// streamstats::websocket — checkpoint files: every stream's counters and pipeline state in one file,
// written atomically, kept in generations, read back with damage detected (issue 11).
// docs/state-format.md, "Checkpoint files", is the reference for the bytes.
// SPDX-License-Identifier: MIT
//
//   checkpoint_builder b;                        // on the thread that owns the pipelines
//   b.add(name, {count, rejected, last, t}, pipe);   // as many as there are streams, in slices
//   checkpoint_store store("/var/lib/streamstatsd");
//   auto r = store.write(b.take());              // any thread (checkpoint_writer: a background one)
//   auto loaded = store.load();                  // newest valid generation; damaged ones reported
#pragma once

#include <streamstats/websocket/checkpoint_format.hpp>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <thread>
#include <vector>

namespace streamstats::websocket {

// ---- files -------------------------------------------------------------------------------------

struct checkpoint_write_result {
  bool ok = false;
  std::uint64_t generation = 0;
  std::string path;   // the file written (or attempted)
  std::string error;  // when !ok: the step that failed and why ("fsync /dir/x.tmp: Input/output error")
  std::size_t bytes = 0;
  std::chrono::nanoseconds write_time{0};  // CRC, open, write, close of the temporary file
  std::chrono::nanoseconds sync_time{0};   // fsync of the file, rename, fsync of the directory
};

struct checkpoint_load_result {
  bool found = false;  // a valid generation was read into `data`
  std::string path;    // its file
  checkpoint_data data;
  // One line per newer generation that could not be used: "<path>: <what is wrong>".
  std::vector<std::string> problems;
};

// A directory of checkpoint generations: checkpoint-<generation, 20 digits>.sscp, the newest
// `keep` of them kept (so the previous good one survives a damaged newest). One thread at a time
// (the server: load() on its io thread before it accepts connections, write() on the writer thread).
class checkpoint_store {
 public:
  explicit checkpoint_store(std::string directory, std::size_t keep = 2)
      : dir_(std::move(directory)), keep_(std::max<std::size_t>(keep, 2)) {
    if (dir_.empty()) {
      throw std::invalid_argument("checkpoint_store: the directory is empty");
    }
  }

  [[nodiscard]] const std::string& directory() const noexcept { return dir_; }
  [[nodiscard]] std::string path_of(std::uint64_t generation) const {
    char name[48];
    std::snprintf(name, sizeof name, "checkpoint-%020llu.sscp", static_cast<unsigned long long>(generation));
    return dir_ + "/" + name;
  }

  // Creates the directory (and its parents) when missing; throws std::system_error otherwise.
  void create_directory() const {
    std::error_code ec;
    std::filesystem::create_directories(dir_, ec);
    if (ec) {
      throw std::system_error(ec, "cannot create the state directory " + dir_);
    }
  }

  // The generations present, newest first (by file name; their content is not read).
  [[nodiscard]] std::vector<std::uint64_t> generations() const {
    std::vector<std::uint64_t> g;
    std::error_code ec;
    for (std::filesystem::directory_iterator it(dir_, ec), end; !ec && it != end; it.increment(ec)) {
      std::uint64_t v = 0;
      if (parse_name(it->path().filename().string(), ".sscp", v)) {
        g.push_back(v);
      }
    }
    std::sort(g.rbegin(), g.rend());
    return g;
  }

  // The newest generation that reads back whole. Each newer one that does not (truncated, corrupted,
  // unreadable...) is listed in `problems` and, when set_aside_damaged, renamed to <file>.damaged so
  // that it is neither retried nor counted among the kept generations; only then (the owner's
  // recovery at start-up) are leftover temporary files of an interrupted write removed too. A plain
  // load() changes nothing on disk, so a tool or another process may inspect the directory of a
  // running server without deleting the temporary file its writer is about to rename. A missing or
  // empty directory: found = false, no problems.
  checkpoint_load_result load(bool set_aside_damaged = false) {
    checkpoint_load_result r;
    if (set_aside_damaged) {
      remove_temporaries();
    }
    const auto gens = generations();
    next_ = gens.empty() ? 1 : gens.front() + 1;
    for (const std::uint64_t g : gens) {
      const std::string path = path_of(g);
      try {
        auto bytes = std::make_shared<std::string>(read_file(path));
        r.data = parse_checkpoint(std::move(bytes));
        if (r.data.generation != g) {
          throw checkpoint_error("its header holds generation " + std::to_string(r.data.generation) +
                                 ", its name another");
        }
        r.found = true;
        r.path = path;
        return r;
      } catch (const std::exception& e) {
        r.problems.push_back(path + ": " + e.what());
        if (set_aside_damaged) {
          std::error_code ec;
          std::filesystem::rename(path, path + ".damaged", ec);
        }
      }
    }
    r.data = checkpoint_data{};
    return r;
  }

  // Writes the bytes of checkpoint_builder::take() as the next generation: CRC, temporary file,
  // fsync, rename, fsync of the directory; then removes the generations beyond the newest `keep`.
  // A crash at any point leaves every complete generation intact (at worst a temporary file, which
  // load(true) removes).
  checkpoint_write_result write(std::string bytes) {
    using clock = std::chrono::steady_clock;
    checkpoint_write_result r;
    const auto t0 = clock::now();
    if (next_ == 0) {
      const auto gens = generations();
      next_ = gens.empty() ? 1 : gens.front() + 1;
    }
    r.generation = next_;
    r.path = path_of(r.generation);
    r.bytes = bytes.size();
    const std::string tmp = dir_ + "/checkpoint-" + r.path.substr(r.path.size() - 25, 20) + ".tmp";
    auto fail = [&](const char* step, const std::string& file, int err) {
      r.error = std::string(step) + " " + file + ": " + std::strerror(err);
      ::unlink(tmp.c_str());
      return r;
    };
    finish_checkpoint(bytes, r.generation);
    std::error_code mk;
    std::filesystem::create_directories(dir_, mk);  // gone since start (or never made): recreate
    const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
      return fail("open", tmp, errno);
    }
    for (std::size_t done = 0; done < bytes.size();) {
      const ::ssize_t w = ::write(fd, bytes.data() + done, bytes.size() - done);
      if (w < 0 && errno == EINTR) {
        continue;
      }
      if (w <= 0) {
        const int err = w < 0 ? errno : EIO;
        ::close(fd);
        return fail("write", tmp, err);
      }
      done += static_cast<std::size_t>(w);
    }
    const auto t1 = clock::now();
    if (::fsync(fd) != 0) {
      const int err = errno;
      ::close(fd);
      return fail("fsync", tmp, err);
    }
    if (::close(fd) != 0) {
      return fail("close", tmp, errno);
    }
    if (::rename(tmp.c_str(), r.path.c_str()) != 0) {
      return fail("rename", tmp, errno);
    }
    next_ = r.generation + 1;  // the name is taken from here on, whatever follows
    // The rename is durable only once the directory's entry is: fsync the directory.
    const int dfd = ::open(dir_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0 || ::fsync(dfd) != 0) {
      const int err = errno;
      if (dfd >= 0) {
        ::close(dfd);
      }
      r.error = "fsync " + dir_ + ": " + std::strerror(err);
      return r;
    }
    ::close(dfd);
    const auto t2 = clock::now();
    r.write_time = t1 - t0;
    r.sync_time = t2 - t1;
    r.ok = true;
    prune();
    return r;
  }

 private:
  static bool parse_name(const std::string& name, std::string_view suffix, std::uint64_t& v) {
    constexpr std::string_view prefix = "checkpoint-";
    if (name.size() != prefix.size() + 20 + suffix.size() || name.compare(0, prefix.size(), prefix) != 0 ||
        name.compare(prefix.size() + 20, suffix.size(), suffix) != 0) {
      return false;
    }
    v = 0;
    for (std::size_t i = prefix.size(); i < prefix.size() + 20; ++i) {
      if (name[i] < '0' || name[i] > '9') {
        return false;
      }
      v = v * 10 + static_cast<std::uint64_t>(name[i] - '0');
    }
    return true;
  }

  static std::string read_file(const std::string& path) {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
      throw checkpoint_error(std::string("cannot open: ") + std::strerror(errno));
    }
    std::string out;
    struct stat st {};
    if (::fstat(fd, &st) == 0 && st.st_size > 0) {
      out.reserve(static_cast<std::size_t>(st.st_size));
    }
    char buf[1 << 16];
    for (;;) {
      const ::ssize_t n = ::read(fd, buf, sizeof buf);
      if (n < 0 && errno == EINTR) {
        continue;
      }
      if (n < 0) {
        const int err = errno;
        ::close(fd);
        throw checkpoint_error(std::string("cannot read: ") + std::strerror(err));
      }
      if (n == 0) {
        break;
      }
      out.append(buf, static_cast<std::size_t>(n));
    }
    ::close(fd);
    return out;
  }

  void remove_temporaries() const {
    std::error_code ec;
    for (std::filesystem::directory_iterator it(dir_, ec), end; !ec && it != end; it.increment(ec)) {
      std::uint64_t v = 0;
      if (parse_name(it->path().filename().string(), ".tmp", v)) {
        std::error_code rm;
        std::filesystem::remove(it->path(), rm);
      }
    }
  }

  void prune() const {
    const auto gens = generations();
    for (std::size_t i = keep_; i < gens.size(); ++i) {
      ::unlink(path_of(gens[i]).c_str());
    }
  }

  std::string dir_;
  std::size_t keep_;
  std::uint64_t next_ = 0;  // the next generation to write; 0 = directory not scanned yet
};

// Writes checkpoints on a thread of its own, so that the thread that serialised them (the server's
// io thread) never waits for the disk. One write at a time: submit() refuses a new one while the
// previous is in flight (the caller skips that checkpoint, or tries on its next turn).
class checkpoint_writer {
 public:
  using callback = std::function<void(const checkpoint_write_result&)>;

  explicit checkpoint_writer(checkpoint_store& store) : store_(store), thread_([this] { loop(); }) {}
  checkpoint_writer(const checkpoint_writer&) = delete;
  checkpoint_writer& operator=(const checkpoint_writer&) = delete;
  checkpoint_writer(checkpoint_writer&&) = delete;
  checkpoint_writer& operator=(checkpoint_writer&&) = delete;
  // Finishes the write in flight, then joins.
  ~checkpoint_writer() {
    {
      std::lock_guard<std::mutex> lk(m_);
      quit_ = true;
    }
    cv_.notify_all();
    thread_.join();
  }

  // Hands `bytes` to the writer thread; `done` runs there with the result. False (nothing taken)
  // while a write is in flight.
  bool submit(std::string bytes, callback done) {
    {
      std::lock_guard<std::mutex> lk(m_);
      if (busy_) {
        return false;
      }
      busy_ = true;
      bytes_ = std::move(bytes);
      done_ = std::move(done);
    }
    cv_.notify_all();
    return true;
  }
  [[nodiscard]] bool busy() const {
    std::lock_guard<std::mutex> lk(m_);
    return busy_;
  }
  // Blocks until no write is in flight.
  void wait_idle() {
    std::unique_lock<std::mutex> lk(m_);
    cv_.wait(lk, [this] { return !busy_; });
  }

 private:
  void loop() {
    std::unique_lock<std::mutex> lk(m_);
    for (;;) {
      cv_.wait(lk, [this] { return quit_ || (busy_ && !running_); });
      if (!busy_) {
        return;  // quit, nothing pending
      }
      running_ = true;
      std::string bytes = std::move(bytes_);
      callback done = std::move(done_);
      lk.unlock();
      checkpoint_write_result r;
      try {
        r = store_.write(std::move(bytes));
      } catch (const std::exception& e) {
        r.error = e.what();
      }
      if (done) {
        done(r);
      }
      lk.lock();
      running_ = false;
      busy_ = false;
      cv_.notify_all();
    }
  }

  checkpoint_store& store_;
  mutable std::mutex m_;
  std::condition_variable cv_;
  bool busy_ = false;
  bool running_ = false;
  bool quit_ = false;
  std::string bytes_;
  callback done_;
  std::thread thread_;  // last: started once every member above exists
};

}  // namespace streamstats::websocket
