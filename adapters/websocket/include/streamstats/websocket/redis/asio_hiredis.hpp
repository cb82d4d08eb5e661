// streamstats::websocket::redis — hiredis' async context driven by an asio::io_context.
// SPDX-License-Identifier: MIT
//
// hiredis does no I/O waiting of its own: an event library attaches to a redisAsyncContext through
// five hooks (see hiredis' adapters/libevent.h, the reference for the contract):
//   addRead / delRead    hiredis wants / no longer wants to be told when the socket is readable;
//   addWrite / delWrite  the same for writable (pending output, or a non-blocking connect);
//   cleanup              the context is being freed: stop watching, forget the descriptor.
// and calls redisAsyncHandleRead / redisAsyncHandleWrite when the socket is ready. Here each hook
// maps to an asio::posix::stream_descriptor::async_wait on the io_context the caller runs: no
// thread of its own, the same loop as the WebSocket server.
//
// Three traps, and what is done about them:
//   - The descriptor belongs to hiredis (redisFree closes it). asio closes what a stream_descriptor
//     holds when it is destroyed, so cleanup() release()s it first.
//   - An async_wait handler can be queued, or still pending, when hiredis frees the context. The
//     per-context state is shared with every handler (shared_ptr); cleanup() sets `ac` to null, and
//     a handler that finds it null does nothing.
//   - delRead must not cancel(): a descriptor's cancel() aborts the write wait too. A wait that is
//     no longer wanted stays armed; when it fires, `reading` is false and it is simply not renewed.
#pragma once

#ifndef ASIO_STANDALONE
#define ASIO_STANDALONE
#endif
#include <asio/io_context.hpp>
#include <asio/posix/stream_descriptor.hpp>

extern "C" {
#include <hiredis/async.h>
#include <hiredis/hiredis.h>
}

#include <memory>
#include <system_error>

namespace streamstats::websocket::redis::detail {

class asio_events : public std::enable_shared_from_this<asio_events> {
 public:
  asio_events(asio::io_context& io, redisAsyncContext* ac) : ac_(ac), sd_(io, ac->c.fd) {}

  // Installs the hooks; the context keeps the state alive (self_) until cleanup.
  static bool attach(redisAsyncContext* ac, asio::io_context& io) {
    if (ac == nullptr || ac->ev.data != nullptr)
      return false;
    std::shared_ptr<asio_events> ev;
    try {
      ev = std::make_shared<asio_events>(io, ac);
    } catch (const std::exception&) {
      return false;  // the descriptor could not be registered with the reactor
    }
    ev->self_ = ev;
    ac->ev.data = ev.get();
    ac->ev.addRead = [](void* d) { static_cast<asio_events*>(d)->want_read(true); };
    ac->ev.delRead = [](void* d) { static_cast<asio_events*>(d)->want_read(false); };
    ac->ev.addWrite = [](void* d) { static_cast<asio_events*>(d)->want_write(true); };
    ac->ev.delWrite = [](void* d) { static_cast<asio_events*>(d)->want_write(false); };
    ac->ev.cleanup = [](void* d) { static_cast<asio_events*>(d)->cleanup(); };
    // Like the libevent adapter: watch both directions at once, so that a non-blocking connect
    // completes (writable) and an early error is read.
    ev->want_read(true);
    ev->want_write(true);
    return true;
  }

 private:
  void want_read(bool on) {
    reading_ = on;
    if (on)
      arm_read();
  }
  void want_write(bool on) {
    writing_ = on;
    if (on)
      arm_write();
  }

  void arm_read() {
    if (ac_ == nullptr || read_armed_)
      return;
    read_armed_ = true;
    sd_.async_wait(asio::posix::stream_descriptor::wait_read,
                   [p = shared_from_this()](const std::error_code& ec) {
                     p->read_armed_ = false;
                     if (p->ac_ == nullptr || ec == asio::error::operation_aborted || !p->reading_)
                       return;
                     redisAsyncHandleRead(p->ac_);  // may free the context: cleanup() nulls ac_
                     if (p->reading_)
                       p->arm_read();
                   });
  }

  void arm_write() {
    if (ac_ == nullptr || write_armed_)
      return;
    write_armed_ = true;
    sd_.async_wait(asio::posix::stream_descriptor::wait_write,
                   [p = shared_from_this()](const std::error_code& ec) {
                     p->write_armed_ = false;
                     if (p->ac_ == nullptr || ec == asio::error::operation_aborted || !p->writing_)
                       return;
                     redisAsyncHandleWrite(p->ac_);
                     if (p->writing_)
                       p->arm_write();
                   });
  }

  void cleanup() noexcept {
    ac_ = nullptr;
    reading_ = writing_ = false;
    try {
      sd_.release();  // hiredis closes the descriptor; pending waits complete as aborted
    } catch (...) {
    }
    std::shared_ptr<asio_events> keep = std::move(self_);  // handlers still queued hold their own
  }

  redisAsyncContext* ac_;
  asio::posix::stream_descriptor sd_;
  std::shared_ptr<asio_events> self_;
  bool reading_ = false;
  bool writing_ = false;
  bool read_armed_ = false;
  bool write_armed_ = false;
};

}  // namespace streamstats::websocket::redis::detail

namespace streamstats::websocket::redis {

// Attaches a fresh redisAsyncContext to `io`. False if it already has an event library, or the
// descriptor cannot be watched (the caller then frees the context).
inline bool attach(redisAsyncContext* ac, asio::io_context& io) {
  return detail::asio_events::attach(ac, io);
}

}  // namespace streamstats::websocket::redis
