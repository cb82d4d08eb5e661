// streamstats::websocket::redis — a lease: at most one holder of a key at a time, for a TTL.
// SPDX-License-Identifier: MIT
//
// Acquire is `SET key token NX PX ttl`; renew and release are scripts that act only if the key
// still holds our token. A tick every ttl/3 acquires (when not held) or renews (when held).
//
// Held, locally, means: the last successful acquire or renew was *sent* less than ttl − margin ago
// (sent, not answered: Redis started the TTL no earlier than that). When that runs out without a
// renewal — Redis down, a slow reply, a refused renew — on_lost is called before Redis could give
// the key to anyone else (up to clock-rate drift, which `margin` covers). Everything the holder
// writes is fenced as well (the store script checks the token), so even a holder paused past its
// lease cannot overwrite its successor's work.
#pragma once

#include <streamstats/websocket/redis/connection.hpp>
#include <streamstats/websocket/redis/stream_log.hpp>

#include <asio/steady_timer.hpp>

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <utility>

namespace streamstats::websocket::redis {

class lease {
 public:
  using clock = std::chrono::steady_clock;

  lease(connection& c, std::string key, std::string token, std::chrono::milliseconds ttl,
        std::chrono::milliseconds margin = std::chrono::milliseconds(50))
      : c_(c), key_(std::move(key)), token_(std::move(token)), ttl_(ttl), margin_(margin), timer_(c.io()) {}
  lease(const lease&) = delete;
  lease& operator=(const lease&) = delete;
  ~lease() { life_.reset(); }

  std::function<void()> on_acquired;
  std::function<void()> on_lost;

  void start() {
    if (running_)
      return;
    running_ = true;
    tick();
  }

  // Stops trying; releases the key when held (so a successor need not wait for the TTL).
  void stop(bool release = true) {
    running_ = false;
    timer_.cancel();
    if (held_ && release)
      c_.command({"EVAL", scripts::release, "1", key_, token_}, nullptr);
    held_ = false;
  }

  [[nodiscard]] bool held() const noexcept { return held_ && clock::now() < valid_until_; }
  [[nodiscard]] const std::string& token() const noexcept { return token_; }
  [[nodiscard]] const std::string& key() const noexcept { return key_; }
  [[nodiscard]] std::chrono::milliseconds ttl() const noexcept { return ttl_; }

  // Called by the holder when a fenced write was refused: the lease is gone whatever the clock says.
  void lost() {
    if (!held_)
      return;
    held_ = false;
    if (on_lost)
      on_lost();
  }

 private:
  void tick() {
    if (!running_)
      return;
    check_expiry();
    const auto sent = clock::now();
    const std::string ttl_ms = std::to_string(ttl_.count());
    auto w = std::weak_ptr<char>(life_);
    if (!held_) {
      c_.command({"SET", key_, token_, "NX", "PX", ttl_ms}, [this, w, sent](const redisReply* r) {
        if (w.expired() || !running_ || held_)
          return;
        if (r != nullptr && r->type == REDIS_REPLY_STATUS) {  // "OK"; nil when someone holds it
          held_ = true;
          valid_until_ = sent + ttl_ - margin_;
          if (on_acquired)
            on_acquired();
        }
      });
    } else {
      c_.command({"EVAL", scripts::renew, "1", key_, token_, ttl_ms}, [this, w, sent](const redisReply* r) {
        if (w.expired() || !running_ || !held_)
          return;
        if (r == nullptr)
          return;  // no answer: the clock decides (check_expiry)
        if (r->type == REDIS_REPLY_INTEGER && r->integer == 1) {
          valid_until_ = sent + ttl_ - margin_;
        } else {
          lost();
        }
      });
    }
    // Every ttl/3, and at the moment the lease runs out locally (on_lost then, not a tick later).
    auto next = clock::now() + ttl_ / 3;
    if (held_ && valid_until_ < next)
      next = valid_until_;
    timer_.expires_at(next);
    timer_.async_wait([this, w](const std::error_code& ec) {
      if (ec || w.expired())
        return;
      tick();
    });
  }

  void check_expiry() {
    if (held_ && clock::now() >= valid_until_)
      lost();
  }

  connection& c_;
  std::string key_;
  std::string token_;
  std::chrono::milliseconds ttl_;
  std::chrono::milliseconds margin_;
  asio::steady_timer timer_;
  clock::time_point valid_until_{};
  bool held_ = false;
  bool running_ = false;
  std::shared_ptr<char> life_ = std::make_shared<char>();
};

}  // namespace streamstats::websocket::redis
