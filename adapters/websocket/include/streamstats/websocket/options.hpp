// streamstats::websocket options — what a server is told (server_options) and what it counts
// (server_stats). The C++ API is in docs/websocket.md; streamstatsd fills server_options from its
// TOML file (config.hpp).
// SPDX-License-Identifier: MIT
#pragma once

#include <streamstats/websocket/broker.hpp>
#include <streamstats/websocket/pipeline.hpp>
#if defined(STREAMSTATS_WEBSOCKET_TLS)
#include <streamstats/websocket/jwt.hpp>
#include <streamstats/websocket/tls.hpp>
#endif

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace streamstats::websocket {

struct server_options {
  // Address and port to listen on; port 0 picks a free (ephemeral) port, see server::port().
  std::string address = "127.0.0.1";
  std::uint16_t port = 0;
  // Subscribers get at most one snapshot per stream per interval (coalesced: newer replaces older).
  std::chrono::milliseconds snapshot_interval{100};
  // Largest accepted WebSocket message; a bigger one closes the connection with 1009.
  // (websocketpp's own default is 32 MB.)
  std::size_t max_message_size = std::size_t(1) << 20;
  // Handshakes beyond this many open connections are refused with HTTP 503.
  std::size_t max_connections = 1024;
  // Handshakes beyond this many open connections from one IP address are refused with HTTP 429, so
  // that one client cannot hold every slot (an eighth of max_connections' default); 0 = no
  // per-address limit. Behind a reverse proxy every client has the proxy's address: raise it or
  // set 0 there. (Added with issue 9.)
  std::size_t max_connections_per_address = 128;
  // A connection that has neither pushed nor subscribed this long after its handshake is closed
  // with 1008 (policy violation), so idle sockets do not hold slots; 0 = never. (Issue 9.)
  std::chrono::milliseconds idle_timeout{30000};
  // A push that would create more streams than this gets error too_many_streams.
  std::size_t max_streams = 1024;
  // Per connection: while more than this many bytes wait in its send queue, snapshots are held
  // back (coalesced) and alerts and replies are dropped and counted, so a stalled reader costs at
  // most this much memory and never slows producers or other subscribers.
  std::size_t max_queued_bytes = std::size_t(1) << 20;
  // Allowed values of the Origin header (exact match, e.g. "http://localhost:8080"); empty allows
  // every origin. A handshake without Origin (non-browser clients) is always allowed.
  std::vector<std::string> allowed_origins;
  // When true, a browser (a handshake with Origin) may connect only from a page served by this
  // server (Origin's host[:port] equals the Host header) or from one of allowed_origins; other web
  // pages get HTTP 403. (Issue 9; dashboard_server turns it on.)
  bool same_origin = false;
  // When not empty, pushing requires this token at the handshake ("Authorization: Bearer <token>"
  // or "?token=<token>" in the URL). Subscribing, snapshots and list stay anonymous.
  std::string producer_token;
  // Whether a connection without a valid credential (no token, or a wrong producer token) may
  // subscribe; false refuses it at the handshake with HTTP 401. Meaningful once producer_token or
  // jwt is set (an open server lets everyone in). (Issue 13; auth.hpp.)
  bool anonymous_subscribe = true;
#if defined(STREAMSTATS_WEBSOCKET_TLS)
  // JWT access with per-stream rights (jwt.hpp, auth.hpp): a token that fails is refused at the
  // handshake with HTTP 401, one that expires on an open connection closes it with 4001. Only in
  // builds with streamstats::websocket_tls (OpenSSL, libjwt). (Issue 13.)
  std::optional<jwt_options> jwt;
  // TLS: with a certificate chain and key, the server speaks only wss:// and https:// on its port
  // (tls.hpp: TLS >= 1.2, optional client CA for mutual TLS); empty = plain ws:// and http://.
  tls_options tls;
#endif
  // Per connection limit on client messages per second (token bucket, burst = one second's
  // worth); 0 = unlimited. Excess messages get error rate_limited.
  double max_messages_per_second = 0.0;
  // Per connection budget, per second, of the requests whose reply grows with the number of
  // streams: each stream written in a reply costs 1 (list: one per stream listed; subscribe or
  // unsubscribe "*": one per stream; snapshot, subscribe, unsubscribe of one stream: 1). Token
  // bucket, burst = one second's worth; a request over budget gets error rate_limited and costs
  // nothing. 0 = unlimited. Pushes never draw on it. (Issue 9: a flood of {"type":"list"} on a
  // server with 1024 streams pinned the io thread and starved every other client.)
  double query_budget_per_second = 2048.0;
  // A "list" reply names at most this many streams (in name order), with "total" and
  // "truncated": true when there are more. (Issue 9.)
  std::size_t max_list_streams = 256;
  // Directory served over HTTP GET on the same port ("/" → index.html); empty = no HTTP files.
  std::string document_root;
  // After stop(): how long clients get to answer the close handshake before their sockets are closed.
  std::chrono::milliseconds shutdown_timeout{2000};
  // io threads (1 to 64). With more than one, each stream is owned by one thread (by a hash of its
  // name) and each connection lives on one (round robin); a request about a stream of another
  // thread is handed to it in batches, in order per connection. One producer's samples reach a
  // stream in the order sent, and every reply is correct, but replies about streams of different
  // threads may arrive in another order than the requests (match them by "id"), and a subscribe,
  // unsubscribe or snapshot of an unknown stream costs 1 of the query budget. Applied once, at
  // construction.
  std::size_t io_threads = 1;
  // Chooses the pipeline of each new stream by name; empty = default_pipeline for every stream.
  pipeline_factory make_pipeline;
  // Checkpoints (issue 11): when not empty, every stream's counters and pipeline state are saved
  // in this directory (created when missing) every checkpoint_interval and at a graceful stop, and
  // restored by listen() before the server accepts a connection. docs/state-format.md has the files.
  std::string state_dir;
  // Between periodic checkpoints; 0 = only at a graceful stop. Reloadable (reconfigure()).
  std::chrono::milliseconds checkpoint_interval{30000};
  // Receives what the server has to say about checkpoints and restores ("error", "warn", "info"):
  // damaged files, streams not restored, failed writes. Empty = lines on stderr. Called on the io
  // thread and on the checkpoint writer's thread.
  std::function<void(std::string_view level, const std::string& message)> log;
  // Scale-out (issue 14, docs/scale-out.md): with redis.url set, pushes go to the stream's Redis log
  // and are acknowledged once Redis has them (error "unavailable" otherwise); one node owns each
  // stream and applies the log; every node forwards the owner's snapshots and alerts to its own
  // subscribers. Needs make_broker: streamstats::websocket::redis::factory() from
  // <streamstats/websocket/redis/broker.hpp> (target streamstats::redis); listen() throws when the
  // url is set without it. Not reloadable.
  redis_options redis;
  broker_factory make_broker;
};

// Counters since start, readable from any thread (each one is exact; they are not a consistent
// snapshot of one instant).
struct server_stats {
  std::uint64_t connections = 0;         // open WebSocket connections now
  std::uint64_t streams = 0;             // streams that exist now
  std::uint64_t messages = 0;            // client frames received
  std::uint64_t samples = 0;             // samples accepted into streams
  std::uint64_t rejected = 0;            // requests answered with an error (all codes)
  std::uint64_t dropped = 0;             // outgoing messages dropped for back-pressure (all connections)
  std::uint64_t snapshots_sent = 0;      // snapshot messages sent
  std::uint64_t alerts_sent = 0;         // alert messages sent (one per subscriber)
  std::uint64_t refused_handshakes = 0;  // Origin, max_connections or wrong path
  // The largest send queue (bytes) of any connection seen at a snapshot tick: stays near
  // max_queued_bytes however slow a reader is, since nothing is queued past that bound.
  std::uint64_t peak_queued_bytes = 0;
};

}  // namespace streamstats::websocket
