// streamstats::websocket metrics — the server's counters in the Prometheus text exposition format
// (version 0.0.4), served at GET /metrics; and the bodies of /healthz and /readyz.
// SPDX-License-Identifier: MIT
//
// Readiness follows Mercure's advice: liveness (/healthz) fails slow — the io thread answered, so the
// process is alive; readiness (/readyz) fails fast — 503 as soon as the server is not listening or
// is stopping, so a load balancer stops sending it clients before they are refused.
#pragma once

#include <streamstats/websocket/broker.hpp>
#include <streamstats/websocket/protocol.hpp>

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace streamstats::websocket {

// What /metrics reports, gathered on the io thread at the scrape.
struct metrics_snapshot {
  std::uint64_t connections = 0;
  std::uint64_t streams = 0;
  std::uint64_t messages = 0;
  std::uint64_t samples = 0;
  std::uint64_t dropped = 0;
  std::uint64_t snapshots_sent = 0;
  std::uint64_t alerts_sent = 0;
  std::uint64_t refused_handshakes = 0;
  std::uint64_t accept_failures = 0;
  // Checkpoints (issue 11), reported only when the server has a state directory.
  bool checkpoints = false;
  std::uint64_t checkpoints_written = 0;
  std::uint64_t checkpoints_failed = 0;
  double checkpoint_last_duration_seconds = 0.0;   // first slice to directory fsync, last one written
  double checkpoint_last_max_slice_seconds = 0.0;  // its longest slice on the io thread
  std::uint64_t checkpoint_last_bytes = 0;
  // Scale-out over Redis (issue 14), reported only when the server has a broker.
  bool redis = false;
  broker_metrics redis_metrics;
  // Rejected requests by error code (error_code's value is the index).
  std::vector<std::pair<error_code, std::uint64_t>> rejected_by_code;
  struct stream {
    std::string_view name;
    std::uint64_t samples = 0;
    std::uint64_t rejected = 0;
    std::uint64_t subscribers = 0;
    double lag_seconds = 0.0;  // now − the time of its last sample; NaN before the first
  };
  std::vector<stream> per_stream;
  // Access (issue 13): handshakes refused by auth by reason (auth.hpp: the JWT reasons,
  // missing_token, bad_token), connections closed because their token expired (close 4001).
  std::vector<std::pair<std::string_view, std::uint64_t>> auth_refused;
  std::uint64_t token_expired_closes = 0;
  // TLS (only on a TLS server): failed handshakes by reason (tls.hpp's tls_failure), certificate
  // reloads, and the expiry of the certificate served.
  bool tls = false;
  std::vector<std::pair<std::string_view, std::uint64_t>> tls_failures;
  std::uint64_t tls_reloads = 0;
  std::int64_t tls_certificate_not_after = 0;
};

namespace detail {

// A label value: backslash, double quote and line feed escaped (exposition format rules).
inline void append_label_value(std::string& out, std::string_view v) {
  for (const char ch : v) {
    if (ch == '\\') {
      out += "\\\\";
    } else if (ch == '"') {
      out += "\\\"";
    } else if (ch == '\n') {
      out += "\\n";
    } else {
      out += ch;
    }
  }
}

inline void append_number(std::string& out, double v) {
  if (std::isnan(v)) {
    out += "NaN";
  } else if (std::isinf(v)) {
    out += v > 0 ? "+Inf" : "-Inf";
  } else {
    char b[32];
    const int n = std::snprintf(b, sizeof b, "%.17g", v);
    out.append(b, static_cast<std::size_t>(n));
  }
}

inline void append_header(std::string& out, const char* name, const char* type, const char* help) {
  out += "# HELP ";
  out += name;
  out += ' ';
  out += help;
  out += "\n# TYPE ";
  out += name;
  out += ' ';
  out += type;
  out += '\n';
}

inline void append_gauge(std::string& out, const char* name, const char* help, double value) {
  append_header(out, name, "gauge", help);
  out += name;
  out += ' ';
  append_number(out, value);
  out += '\n';
}

inline void append_metric(std::string& out, const char* name, const char* type, const char* help,
                          std::uint64_t value) {
  out += "# HELP ";
  out += name;
  out += ' ';
  out += help;
  out += "\n# TYPE ";
  out += name;
  out += ' ';
  out += type;
  out += '\n';
  out += name;
  out += ' ';
  out += std::to_string(value);
  out += '\n';
}

}  // namespace detail

// The exposition text of `m`. Counter names end in _total, as the format's conventions ask.
[[nodiscard]] inline std::string prometheus_text(const metrics_snapshot& m) {
  std::string out;
  using detail::append_metric;
  append_metric(out, "streamstats_connections", "gauge", "Open WebSocket connections.", m.connections);
  append_metric(out, "streamstats_streams", "gauge", "Streams that exist.", m.streams);
  append_metric(out, "streamstats_messages_total", "counter", "Client frames received.", m.messages);
  append_metric(out, "streamstats_samples_total", "counter", "Samples accepted into streams.", m.samples);
  append_metric(out, "streamstats_dropped_total", "counter",
                "Outgoing messages dropped for back-pressure (all connections).", m.dropped);
  append_metric(out, "streamstats_snapshots_sent_total", "counter", "Snapshot messages sent.",
                m.snapshots_sent);
  append_metric(out, "streamstats_alerts_sent_total", "counter", "Alert messages sent (one per subscriber).",
                m.alerts_sent);
  append_metric(out, "streamstats_refused_handshakes_total", "counter",
                "Handshakes refused (origin, limits, path, version).", m.refused_handshakes);
  append_metric(out, "streamstats_accept_failures_total", "counter",
                "Failed accepts (out of descriptors, ...), each followed by a back-off.", m.accept_failures);
  if (m.redis) {
    const broker_metrics& r = m.redis_metrics;
    append_metric(out, "streamstats_redis_connected", "gauge", "1 while every Redis connection is up.",
                  r.connected ? 1 : 0);
    append_metric(out, "streamstats_redis_appended_samples_total", "counter",
                  "Samples appended to Redis stream logs and acknowledged.", r.appended);
    append_metric(out, "streamstats_redis_applied_samples_total", "counter",
                  "Samples applied by this node as a stream's owner.", r.applied);
    append_metric(out, "streamstats_redis_unavailable_total", "counter",
                  "Pushes answered unavailable (Redis did not acknowledge).", r.unavailable);
    append_metric(out, "streamstats_redis_duplicate_pushes_total", "counter",
                  "Numbered pushes (producer id + seq) already in the log: acknowledged, not appended again.",
                  r.duplicates);
    append_metric(out, "streamstats_redis_lease_gains_total", "counter", "Stream leases acquired.",
                  r.lease_gains);
    append_metric(out, "streamstats_redis_lease_losses_total", "counter", "Stream leases lost.",
                  r.lease_losses);
    append_metric(out, "streamstats_redis_owned_streams", "gauge", "Streams this node owns now.", r.owned);
    append_metric(out, "streamstats_redis_known_streams", "gauge", "Streams discovered in Redis.",
                  r.known_streams);
  }
  if (m.checkpoints) {
    append_metric(out, "streamstats_checkpoints_written_total", "counter",
                  "Checkpoints written (renamed into place, directory synced).", m.checkpoints_written);
    append_metric(out, "streamstats_checkpoints_failed_total", "counter",
                  "Checkpoints that could not be written.", m.checkpoints_failed);
    detail::append_gauge(out, "streamstats_checkpoint_last_duration_seconds",
                         "The last checkpoint written: from its first slice to the directory fsync.",
                         m.checkpoint_last_duration_seconds);
    detail::append_gauge(
        out, "streamstats_checkpoint_last_max_slice_seconds",
        "The longest slice of the last checkpoint on the io thread (the longest pause of ingest).",
        m.checkpoint_last_max_slice_seconds);
    append_metric(out, "streamstats_checkpoint_last_bytes", "gauge", "Size of the last checkpoint written.",
                  m.checkpoint_last_bytes);
  }

  out += "# HELP streamstats_rejected_total Requests answered with an error, by error code.\n";
  out += "# TYPE streamstats_rejected_total counter\n";
  for (const auto& [code, n] : m.rejected_by_code) {
    out += "streamstats_rejected_total{code=\"";
    detail::append_label_value(out, to_string(code));
    out += "\"} ";
    out += std::to_string(n);
    out += '\n';
  }

  auto labelled = [&out](const char* name, const char* help, const char* label,
                         const std::vector<std::pair<std::string_view, std::uint64_t>>& values) {
    out += "# HELP ";
    out += name;
    out += ' ';
    out += help;
    out += "\n# TYPE ";
    out += name;
    out += " counter\n";
    for (const auto& [reason, n] : values) {
      out += name;
      out += '{';
      out += label;
      out += "=\"";
      detail::append_label_value(out, reason);
      out += "\"} ";
      out += std::to_string(n);
      out += '\n';
    }
  };
  if (!m.auth_refused.empty()) {
    labelled("streamstats_auth_refused_total", "Handshakes refused by access control (HTTP 401), by reason.",
             "reason", m.auth_refused);
    append_metric(out, "streamstats_token_expired_closes_total", "counter",
                  "Connections closed (4001) because their token expired.", m.token_expired_closes);
  }
  if (m.tls) {
    labelled("streamstats_tls_handshake_failures_total", "Failed TLS handshakes, by reason.", "reason",
             m.tls_failures);
    append_metric(out, "streamstats_tls_reloads_total", "counter",
                  "Certificate reloads (SIGHUP) that succeeded.", m.tls_reloads);
    out +=
        "# HELP streamstats_tls_certificate_not_after_seconds Expiry of the served certificate (Unix time).\n"
        "# TYPE streamstats_tls_certificate_not_after_seconds gauge\n"
        "streamstats_tls_certificate_not_after_seconds ";
    out += std::to_string(m.tls_certificate_not_after);
    out += '\n';
  }

  struct family {
    const char* name;
    const char* type;
    const char* help;
  };
  const family families[] = {
      {"streamstats_stream_samples_total", "counter", "Samples accepted into the stream."},
      {"streamstats_stream_rejected_total", "counter", "Requests about the stream its producers got wrong."},
      {"streamstats_stream_subscribers", "gauge", "Connections subscribed to the stream (\"*\" included)."},
      {"streamstats_stream_lag_seconds", "gauge",
       "Seconds since the time of the stream's last sample (its t, or its arrival)."},
  };
  for (std::size_t f = 0; f < 4; ++f) {
    out += "# HELP ";
    out += families[f].name;
    out += ' ';
    out += families[f].help;
    out += "\n# TYPE ";
    out += families[f].name;
    out += ' ';
    out += families[f].type;
    out += '\n';
    for (const metrics_snapshot::stream& s : m.per_stream) {
      if (f == 3 && std::isnan(s.lag_seconds)) {
        continue;
      }
      out += families[f].name;
      out += "{stream=\"";
      detail::append_label_value(out, s.name);
      out += "\"} ";
      switch (f) {
        case 0:
          out += std::to_string(s.samples);
          break;
        case 1:
          out += std::to_string(s.rejected);
          break;
        case 2:
          out += std::to_string(s.subscribers);
          break;
        default:
          detail::append_number(out, s.lag_seconds);
          break;
      }
      out += '\n';
    }
  }
  return out;
}

}  // namespace streamstats::websocket
