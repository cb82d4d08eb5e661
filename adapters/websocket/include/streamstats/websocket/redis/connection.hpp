// streamstats::websocket::redis — one Redis connection on the server's io_context: connects,
// reconnects with backoff, times commands out, and says "unavailable" instead of waiting.
// SPDX-License-Identifier: MIT
//
//   asio::io_context io;
//   redis::connection c(io, {.unix_path = "/run/redis.sock"});   // or host + port
//   c.start();
//   c.command({"INCR", "x"}, [](const redisReply* r) { if (!r) { /* unavailable */ } });
//
// Rules a caller can rely on:
//   - A handler is called exactly once: with the reply (valid only during the call; errors from
//     Redis are REDIS_REPLY_ERROR replies), or with nullptr when there is no reply — not
//     connected, connection lost, or the command timed out. nullptr does NOT say the command was
//     not executed: it may have been (a reply lost with the connection). Callers that must know
//     make their commands idempotent or check afterwards (docs/scale-out.md).
//   - command() never calls its handler before it returns (a refusal is posted), so a handler may
//     issue the next command without growing the stack.
//   - Destroying the connection drops the handlers still pending without calling them.
//   - A command waiting longer than command_timeout for its reply drops the connection (replies are
//     in order, so the oldest command is the one to watch): every pending handler gets nullptr and
//     reconnection starts. A blocking command (XREAD BLOCK) must block for less than that.
//   - Reconnection waits backoff_min, doubling up to backoff_max, ±20 % jitter, reset on success.
//
// hiredis 0.14 has no timeouts for async contexts (connect or command); both are asio timers here.
// It also writes with write(2), so a write to a connection Redis has just closed raises SIGPIPE:
// the first connection sets SIGPIPE to ignored when it is still at its default (which would kill
// the process); a program that handles SIGPIPE itself keeps its handler.
#pragma once

#include <streamstats/websocket/redis/asio_hiredis.hpp>

#include <asio/post.hpp>
#include <asio/steady_timer.hpp>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <initializer_list>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <signal.h>

namespace streamstats::websocket::redis {

struct connection_options {
  std::string host = "127.0.0.1";
  int port = 6379;
  std::string unix_path;  // when set, used instead of host:port
  // AUTH after each connect when `password` is set: AUTH password, or AUTH username password
  // (Redis 6 ACL users) when `username` is set too. Then SELECT db when db is not 0.
  std::string username;
  std::string password;
  int db = 0;
  std::chrono::milliseconds connect_timeout{1000};
  std::chrono::milliseconds command_timeout{2000};
  std::chrono::milliseconds backoff_min{50};
  std::chrono::milliseconds backoff_max{2000};
};

using reply_handler = std::function<void(const redisReply*)>;

// A reply's string payload (status, string, error, verb), or empty.
inline std::string_view reply_str(const redisReply* r) noexcept {
  if (r == nullptr || r->str == nullptr)
    return {};
  return {r->str, r->len};
}
inline bool reply_is_error(const redisReply* r) noexcept {
  return r != nullptr && r->type == REDIS_REPLY_ERROR;
}

class connection {
 public:
  connection(asio::io_context& io, connection_options o)
      : io_(io), opt_(std::move(o)), connect_timer_(io), retry_timer_(io), watchdog_(io) {
    backoff_ = opt_.backoff_min;
    ignore_sigpipe();
    rng_ = static_cast<std::uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count()) |
           1u;  // jitter only: any odd seed will do
  }
  connection(const connection&) = delete;
  connection& operator=(const connection&) = delete;
  ~connection() {
    destroying_ = true;
    life_.reset();  // posted handlers and timer handlers see it and do nothing
    stop();
  }

  void start() {
    if (running_)
      return;
    running_ = true;
    connect_now();
  }

  // Disconnects and stays down; pending handlers are called with nullptr. start() again to resume.
  // Not from inside a reply handler of this connection's own (hiredis is still using the context).
  void stop() {
    running_ = false;
    retry_timer_.cancel();
    connect_timer_.cancel();
    watchdog_.cancel();
    drop();
  }

  [[nodiscard]] bool ready() const noexcept { return ac_ != nullptr && up_; }
  [[nodiscard]] std::size_t pending() const noexcept { return sent_.size(); }
  [[nodiscard]] std::uint64_t connects() const noexcept { return connects_; }
  [[nodiscard]] std::uint64_t timeouts() const noexcept { return timeouts_; }
  // INFO replication's master_replid as seen on the last connect: changes when Redis restarts or a
  // replica is promoted (the ingest script turns that into a new epoch; docs/scale-out.md).
  [[nodiscard]] const std::string& server_replid() const noexcept { return replid_; }
  asio::io_context& io() noexcept { return io_; }
  // Why the last connection attempt was refused after connecting (AUTH, SELECT or INFO answered
  // with an error: a wrong password, NOAUTH, a database out of range); "" once connected.
  [[nodiscard]] const std::string& last_error() const noexcept { return last_error_; }
  // Called (posted) with last_error() when a connect is refused for a reason other than the one
  // before (not again at every retry of the same failure).
  void on_error(std::function<void(const std::string&)> fn) { error_listener_ = std::move(fn); }

  // Called (posted) with true once connected, false when the connection is lost. The id removes it.
  std::uint64_t on_state(std::function<void(bool)> fn) {
    listeners_.emplace_back(++listener_ids_, std::move(fn));
    return listener_ids_;
  }
  void remove_state_listener(std::uint64_t id) {
    for (auto it = listeners_.begin(); it != listeners_.end(); ++it) {
      if (it->first == id) {
        listeners_.erase(it);
        return;
      }
    }
  }

  void command(std::initializer_list<std::string_view> args, reply_handler h) {
    command(args.begin(), args.size(), std::move(h));
  }
  void command(const std::vector<std::string_view>& args, reply_handler h) {
    command(args.data(), args.size(), std::move(h));
  }

  void command(const std::string_view* args, std::size_t n, reply_handler h) {
    if (!ready()) {
      refuse(std::move(h));
      return;
    }
    argv_.clear();
    argvlen_.clear();
    for (std::size_t i = 0; i < n; ++i) {
      argv_.push_back(args[i].data());
      argvlen_.push_back(args[i].size());
    }
    auto* p = new call{std::move(h), this};
    if (redisAsyncCommandArgv(ac_, &connection::on_reply, p, static_cast<int>(n), argv_.data(),
                              argvlen_.data()) != REDIS_OK) {
      reply_handler back = std::move(p->h);
      delete p;
      refuse(std::move(back));
      return;
    }
    sent_.push_back(std::chrono::steady_clock::now());
    arm_watchdog();
  }

  // ---- Pub/Sub. A connection with subscriptions is for Pub/Sub only (RESP2: a subscribed
  // connection takes no other commands); use a connection of its own. Subscriptions are kept
  // across reconnects (subscribed again on every connect), so a subscriber only misses what was
  // published while it was disconnected: snapshots are states, the next one makes up for it.
  using message_handler = std::function<void(std::string_view payload)>;

  void subscribe(const std::string& channel, message_handler h) {
    auto& slot = subs_[channel];
    const bool fresh = slot == nullptr;
    if (fresh)
      slot = std::make_unique<sub>();
    slot->h = std::move(h);
    slot->self = this;
    if (fresh && ready())
      send_subscribe(channel, *slot);
  }

  void unsubscribe(const std::string& channel) {
    auto it = subs_.find(channel);
    if (it == subs_.end())
      return;
    it->second->h = nullptr;  // no more messages; hiredis drops its entry on the reply
    if (ready() && it->second->live) {
      it->second->closing = true;
      const char* argv[] = {"UNSUBSCRIBE", channel.c_str()};
      const std::size_t len[] = {11, channel.size()};
      redisAsyncCommandArgv(ac_, &connection::on_sub, it->second.get(), 2, argv, len);
    } else {
      subs_.erase(it);
    }
  }

  [[nodiscard]] std::size_t subscriptions() const noexcept { return subs_.size(); }

 private:
  struct sub {
    message_handler h;
    connection* self = nullptr;
    bool live = false;     // SUBSCRIBE sent on the current context
    bool closing = false;  // UNSUBSCRIBE sent
  };

  void send_subscribe(const std::string& channel, sub& s) {
    const char* argv[] = {"SUBSCRIBE", channel.c_str()};
    const std::size_t len[] = {9, channel.size()};
    s.live = redisAsyncCommandArgv(ac_, &connection::on_sub, &s, 2, argv, len) == REDIS_OK;
  }

  // Every reply for a subscription: ["subscribe", ch, n], ["message", ch, payload],
  // ["unsubscribe", ch, n]; nullptr when the context goes (the subscription stays in subs_).
  static void on_sub(redisAsyncContext*, void* rv, void* privdata) {
    auto* s = static_cast<sub*>(privdata);
    auto* r = static_cast<const redisReply*>(rv);
    connection* self = s->self;
    if (r == nullptr) {
      s->live = false;
      if (s->closing && !self->destroying_)
        self->erase_sub(s);
      return;
    }
    if (self->destroying_ || r->type != REDIS_REPLY_ARRAY || r->elements < 3)
      return;
    const std::string_view kind = reply_str(r->element[0]);
    if (kind == "message" && s->h) {
      s->h(reply_str(r->element[2]));
    } else if (kind == "unsubscribe" && s->closing) {
      self->erase_sub(s);  // hiredis has copied the callback: freeing it here is safe
    }
  }

  void erase_sub(const sub* s) {
    for (auto it = subs_.begin(); it != subs_.end(); ++it) {
      if (it->second.get() == s) {
        subs_.erase(it);
        return;
      }
    }
  }

  static void ignore_sigpipe() noexcept {
    struct sigaction old {};
    if (::sigaction(SIGPIPE, nullptr, &old) == 0 && old.sa_handler == SIG_DFL) {
      struct sigaction ign {};
      ign.sa_handler = SIG_IGN;
      sigemptyset(&ign.sa_mask);
      ::sigaction(SIGPIPE, &ign, nullptr);
    }
  }

  struct call {
    reply_handler h;
    connection* self;
  };

  void refuse(reply_handler h) {
    if (!h)
      return;
    asio::post(io_, [h = std::move(h), w = std::weak_ptr<char>(life_)] {
      if (!w.expired())
        h(nullptr);
    });
  }

  static void on_reply(redisAsyncContext*, void* r, void* privdata) {
    std::unique_ptr<call> p(static_cast<call*>(privdata));
    connection* self = p->self;
    if (!self->sent_.empty())
      self->sent_.pop_front();
    if (self->destroying_)
      return;
    if (p->h)
      p->h(static_cast<const redisReply*>(r));
  }

  static void on_connect(const redisAsyncContext* ac, int status) {
    auto* self = static_cast<connection*>(ac->data);
    if (self == nullptr || self->ac_ != ac)
      return;
    self->connect_timer_.cancel();
    if (status != REDIS_OK) {
      self->ac_ = nullptr;  // hiredis frees the context after this callback
      self->schedule_reconnect();
      return;
    }
    // AUTH and SELECT when configured, then the replication id, before anyone else may talk: the
    // first replies the connection sees (pipelined; a refusal of any of them drops the connection).
    self->up_ = false;
    self->setup_error_.clear();
    ++self->connects_;
    const connection_options& o = self->opt_;
    if (!o.password.empty()) {
      std::vector<std::string_view> auth{"AUTH"};
      if (!o.username.empty())
        auth.emplace_back(o.username);
      auth.emplace_back(o.password);
      self->send_setup(auth, "AUTH");
    }
    if (o.db != 0) {
      self->db_text_ = std::to_string(o.db);
      self->send_setup({"SELECT", self->db_text_}, "SELECT " + self->db_text_);
    }
    const std::string_view info[] = {"INFO", "replication"};
    self->send_raw(info, 2, [self](const redisReply* r) { self->on_info(r); });
  }

  void send_setup(const std::vector<std::string_view>& args, std::string what) {
    send_raw(args.data(), args.size(), [this, what = std::move(what)](const redisReply* r) {
      if (reply_is_error(r) && setup_error_.empty())
        setup_error_ = what + " refused: " + std::string(reply_str(r));
    });
  }

  void send_raw(const std::string_view* args, std::size_t n, reply_handler h) {
    std::vector<const char*> argv;
    std::vector<std::size_t> len;
    for (std::size_t i = 0; i < n; ++i) {
      argv.push_back(args[i].data());
      len.push_back(args[i].size());
    }
    auto* p = new call{std::move(h), this};
    if (redisAsyncCommandArgv(ac_, &connection::on_reply, p, static_cast<int>(n), argv.data(), len.data()) !=
        REDIS_OK) {
      delete p;
      return;
    }
    sent_.push_back(std::chrono::steady_clock::now());
    arm_watchdog();
  }

  void on_info(const redisReply* r) {
    if (r == nullptr)
      return;  // the connection is being dropped
    if (!setup_error_.empty() || reply_is_error(r)) {
      // Refused (a wrong password, NOAUTH without one, SELECT out of range): not up. The context is
      // in use during this callback: drop it from the io loop, then retry with the usual backoff.
      if (setup_error_.empty())
        setup_error_ = "INFO refused: " + std::string(reply_str(r));
      if (setup_error_ != last_error_) {
        last_error_ = setup_error_;
        if (error_listener_)
          asio::post(io_, [fn = error_listener_, e = last_error_, w = std::weak_ptr<char>(life_)] {
            if (!w.expired())
              fn(e);
          });
      }
      asio::post(io_, [this, ac = ac_, w = std::weak_ptr<char>(life_)] {
        if (!w.expired() && ac_ == ac)
          drop();
      });
      return;
    }
    last_error_.clear();
    std::string_view s = reply_str(r);
    constexpr std::string_view key = "master_replid:";
    replid_.clear();
    if (auto at = s.find(key); at != std::string_view::npos) {
      auto end = s.find_first_of("\r\n", at);
      replid_ =
          std::string(s.substr(at + key.size(), end == std::string_view::npos ? end : end - at - key.size()));
    }
    up_ = true;
    backoff_ = opt_.backoff_min;
    for (auto& [channel, sp] : subs_) {
      if (sp->closing)
        continue;
      send_subscribe(channel, *sp);
    }
    notify(true);
  }

  static void on_disconnect(const redisAsyncContext* ac, int) {
    auto* self = static_cast<connection*>(ac->data);
    if (self == nullptr || self->ac_ != ac)
      return;  // a drop() we started: already handled
    self->ac_ = nullptr;
    self->lost();
  }

  void lost() {
    const bool was_up = up_;
    up_ = false;
    sent_.clear();
    if (was_up)
      notify(false);
    schedule_reconnect();
  }

  void notify(bool up) {
    for (auto& l : listeners_) {
      asio::post(io_, [fn = l.second, up, w = std::weak_ptr<char>(life_)] {
        if (!w.expired())
          fn(up);
      });
    }
  }

  void connect_now() {
    if (!running_ || ac_ != nullptr)
      return;
    redisAsyncContext* ac = opt_.unix_path.empty() ? redisAsyncConnect(opt_.host.c_str(), opt_.port)
                                                   : redisAsyncConnectUnix(opt_.unix_path.c_str());
    if (ac == nullptr) {
      schedule_reconnect();
      return;
    }
    if (ac->err != 0 || !attach(ac, io_)) {
      redisAsyncFree(ac);
      schedule_reconnect();
      return;
    }
    ac->data = this;
    ac_ = ac;
    redisAsyncSetConnectCallback(ac, &connection::on_connect);
    redisAsyncSetDisconnectCallback(ac, &connection::on_disconnect);
    connect_timer_.expires_after(opt_.connect_timeout);
    connect_timer_.async_wait([this, w = std::weak_ptr<char>(life_), ac](const std::error_code& ec) {
      if (ec || w.expired() || ac_ != ac || up_)
        return;
      drop();  // connected neither way in time
    });
  }

  // Frees the context: its pending handlers get nullptr (or nothing while destroying).
  void drop() {
    redisAsyncContext* ac = ac_;
    if (ac == nullptr)
      return;
    ac_ = nullptr;
    redisAsyncFree(ac);  // runs on_reply(nullptr) for each pending command, then on_disconnect
    lost();
  }

  void schedule_reconnect() {
    if (!running_)
      return;
    // ±20 % jitter, so that nodes that lost Redis together do not come back in lockstep.
    rng_ ^= rng_ << 13;
    rng_ ^= rng_ >> 7;
    rng_ ^= rng_ << 17;
    const double jitter = 0.8 + 0.4 * static_cast<double>(rng_ % 1000) / 1000.0;
    auto wait =
        std::chrono::milliseconds(static_cast<std::int64_t>(static_cast<double>(backoff_.count()) * jitter));
    backoff_ = std::min(backoff_ * 2, opt_.backoff_max);
    retry_timer_.expires_after(wait);
    retry_timer_.async_wait([this, w = std::weak_ptr<char>(life_)](const std::error_code& ec) {
      if (ec || w.expired())
        return;
      connect_now();
    });
  }

  void arm_watchdog() {
    if (watchdog_armed_)
      return;
    watchdog_armed_ = true;
    watchdog_.expires_after(opt_.command_timeout / 4 + std::chrono::milliseconds(1));
    watchdog_.async_wait([this, w = std::weak_ptr<char>(life_)](const std::error_code& ec) {
      if (w.expired())
        return;
      watchdog_armed_ = false;
      if (sent_.empty())
        return;
      if (ec != asio::error::operation_aborted &&
          std::chrono::steady_clock::now() - sent_.front() > opt_.command_timeout) {
        ++timeouts_;
        drop();
        return;
      }
      arm_watchdog();
    });
  }

  asio::io_context& io_;
  connection_options opt_;
  asio::steady_timer connect_timer_;
  asio::steady_timer retry_timer_;
  asio::steady_timer watchdog_;
  redisAsyncContext* ac_ = nullptr;
  bool up_ = false;
  bool running_ = false;
  bool watchdog_armed_ = false;
  bool destroying_ = false;
  std::chrono::milliseconds backoff_{};
  std::uint64_t rng_ = 0;
  std::uint64_t connects_ = 0;
  std::uint64_t timeouts_ = 0;
  std::string replid_;
  std::string setup_error_;  // the first refusal among this connect's AUTH / SELECT / INFO
  std::string last_error_;
  std::string db_text_;
  std::function<void(const std::string&)> error_listener_;
  std::deque<std::chrono::steady_clock::time_point> sent_;
  std::vector<const char*> argv_;
  std::vector<std::size_t> argvlen_;
  std::vector<std::pair<std::uint64_t, std::function<void(bool)>>> listeners_;
  std::uint64_t listener_ids_ = 0;
  std::map<std::string, std::unique_ptr<sub>> subs_;
  std::shared_ptr<char> life_ = std::make_shared<char>();
};

}  // namespace streamstats::websocket::redis
