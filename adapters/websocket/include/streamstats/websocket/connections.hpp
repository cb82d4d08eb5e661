// streamstats::websocket connections — how many connections the server holds and from where:
// handshakes admitted but not yet open, open ones, per remote address; and the pongs a connection
// has queued.
// SPDX-License-Identifier: MIT
//
// Step 2 of a message's way, with access.hpp (transport → access → dispatch → registry → fan-out →
// HTTP): access.hpp decides whether a handshake's Origin and token are acceptable, this header
// whether there is room for it (max_connections → 503, max_connections_per_address → 429).
// Nothing here touches a socket; one thread owns an admission_table.
#pragma once

#include <streamstats/websocket/auth.hpp>

#include <cstddef>
#include <deque>
#include <map>
#include <memory>
#include <string>
#include <unordered_map>
#include <utility>

namespace streamstats::websocket::detail {

// Handshakes admitted (validated, not yet open) keyed by websocketpp's connection handle (a
// std::weak_ptr<void>), and connections per remote address (admitted + open).
class admission_table {
 public:
  using handle = std::weak_ptr<void>;

  struct admission {
    bool authorized = false;  // may push (access_policy::may_push at the handshake)
    std::string address;      // remote IP, for max_connections_per_address
    access_grant grant;       // what it may do (auth.hpp: shared token, JWT rights, anonymous)
  };

  enum class verdict { admitted, full, too_many_from_address };

  // Admits handshake `h` from `address` when fewer than max_connections are open or admitted and
  // fewer than max_per_address (0 = no limit) come from `address`.
  verdict admit(const handle& h, std::string address, bool authorized, std::size_t open_now,
                std::size_t max_connections, std::size_t max_per_address, access_grant grant = {}) {
    if (open_now + admitted_.size() >= max_connections) {
      return verdict::full;
    }
    std::size_t& from_here = per_address_[address];
    if (max_per_address > 0 && from_here >= max_per_address) {
      if (from_here == 0) {
        per_address_.erase(address);
      }
      return verdict::too_many_from_address;
    }
    ++from_here;
    admitted_[h] = admission{authorized, std::move(address), std::move(grant)};
    return verdict::admitted;
  }

  // The handshake opened: its admission moves to the caller, who later calls release(address).
  admission open(const handle& h) {
    admission adm;
    if (const auto it = admitted_.find(h); it != admitted_.end()) {
      adm = std::move(it->second);
      admitted_.erase(it);
    }
    return adm;
  }

  // A handshake that never opened (failed or closed before): its slot is freed.
  void forget(const handle& h) {
    if (const auto it = admitted_.find(h); it != admitted_.end()) {
      release(it->second.address);
      admitted_.erase(it);
    }
  }

  // An open connection from `address` closed.
  void release(const std::string& address) {
    const auto it = per_address_.find(address);
    if (it != per_address_.end() && --it->second == 0) {
      per_address_.erase(it);
    }
  }

  [[nodiscard]] std::size_t pending() const noexcept { return admitted_.size(); }
  [[nodiscard]] std::size_t from(const std::string& address) const {
    const auto it = per_address_.find(address);
    return it == per_address_.end() ? 0 : it->second;
  }

 private:
  std::map<handle, admission, std::owner_less<handle>> admitted_;
  std::unordered_map<std::string, std::size_t> per_address_;
};

// The pongs a connection has queued and not yet written, oldest first, with what each costs:
// websocketpp answers every ping outside our send-queue bound, so the server answers them itself
// and keeps this in bound. `Message` is the queued message type (a shared_ptr); a pong is written
// when websocketpp lets go of it.
template <typename Message>
class pong_budget {
 public:
  // A pong waiting in the send queue costs its payload plus the message around it (~160 bytes
  // measured: 10^6 empty pings grew the server by 156 MB).
  static constexpr std::size_t per_message = 160;
  static constexpr std::size_t max_pending_bytes = 64 * 1024;

  // Whether one more pong of this payload fits (after forgetting those written).
  [[nodiscard]] bool fits(std::size_t payload_size) {
    while (!pongs_.empty() && pongs_.front().first.expired()) {
      bytes_ -= pongs_.front().second;
      pongs_.pop_front();
    }
    return bytes_ + per_message + payload_size <= max_pending_bytes;
  }
  void queued(const std::shared_ptr<Message>& pong, std::size_t payload_size) {
    pongs_.emplace_back(pong, per_message + payload_size);
    bytes_ += per_message + payload_size;
  }
  [[nodiscard]] std::size_t bytes() const noexcept { return bytes_; }

 private:
  std::deque<std::pair<std::weak_ptr<Message>, std::size_t>> pongs_;
  std::size_t bytes_ = 0;
};

}  // namespace streamstats::websocket::detail
