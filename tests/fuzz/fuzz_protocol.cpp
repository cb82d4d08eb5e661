// libFuzzer target: arbitrary bytes through the protocol decoder (protocol.hpp) and into the
// default pipeline, and every message written from the result checked with simdjson.
//
// Input: messages separated by "\n\x1e\n" (listed in protocol.dict). A message whose first byte
// is 0x02 is a binary frame (the bytes after it); any other is a JSON text frame (all its bytes).
// For each one the harness does what server.hpp does with it — the same request_parser, the same
// json_writer, the same pipeline::write_stats — and writes the error reply, ack, subscription
// reply, stream list, alert or snapshot that the server would send (the message skeletons copy
// server::reject, handle_push, send_subscription_ack, reply_list, send_alert and write_snapshot).
// Invariant: each written message is one JSON document that simdjson accepts (valid UTF-8, no raw
// control characters, no integer beyond 64 bits, no NaN/Inf), and a pushed sample that reached a
// pipeline was finite and within ±max_sample_magnitude. A violation aborts with the message.
#include <streamstats/websocket/json_writer.hpp>
#include <streamstats/websocket/pipeline.hpp>
#include <streamstats/websocket/protocol.hpp>

#include <simdjson.h>

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <memory>
#include <string>
#include <string_view>

namespace ws = streamstats::websocket;

namespace {

constexpr std::string_view separator = "\n\x1e\n";
constexpr std::size_t max_streams = 8;  // the server's max_streams, small so that it is reached

[[noreturn]] void violation(const char* what, std::string_view detail) {
  std::fprintf(stderr, "fuzz_protocol: %s: [%.*s]\n", what, static_cast<int>(detail.size()), detail.data());
  std::abort();
}

struct stream {
  std::unique_ptr<ws::pipeline> pipe = std::make_unique<ws::default_pipeline>();
  std::uint64_t count = 0;
  std::uint64_t rejected = 0;
  double last = std::nan("");
  double t = std::nan("");
};

// The parsers outlive the inputs, as in the server (their buffers are reused); the streams do not,
// so that every input is reproducible on its own.
struct parsers {
  ws::request_parser request;
  simdjson::dom::parser json;
};

class harness {
 public:
  explicit harness(parsers& p) noexcept : parser_(p.request), json_(p.json) {}

  void message(std::string_view m) {
    if (!m.empty() && m[0] == '\x02') {
      binary(m.substr(1));
    } else {
      text(m);
    }
  }

 private:
  void text(std::string_view m) {
    ws::request req;
    ws::request_error err;
    if (!parser_.parse(m, req, err)) {
      reject(req.has_stream ? find(req.stream) : nullptr, err, req.id);
      return;
    }
    switch (req.type) {
      case ws::request_type::push: {
        const double* x = req.single ? &req.value : parser_.values().data();
        const std::size_t n = req.single ? 1 : parser_.values().size();
        push(req.stream, x, n, req.has_t ? req.t : std::nan(""), req.id);
        return;
      }
      case ws::request_type::list:
        list(req.id);
        return;
      case ws::request_type::snapshot:
        if (stream* s = find(req.stream)) {
          snapshot(req.stream, *s, req.id);
        } else {
          reject(nullptr, {ws::error_code::unknown_stream, "no such stream"}, req.id);
        }
        return;
      case ws::request_type::subscribe:
      case ws::request_type::unsubscribe: {
        out_.clear();
        ws::json_writer w(out_);
        w.begin_object();
        w.member_string("type", req.type == ws::request_type::subscribe ? "subscribed" : "unsubscribed");
        w.member_string("stream", req.stream);
        if (!req.id.empty()) {
          w.key("id");
          w.value_raw(req.id);
        }
        w.end_object();
        check(out_);
        if (stream* s = find(req.stream); s != nullptr && req.type == ws::request_type::subscribe) {
          snapshot(req.stream, *s, {});
        }
        return;
      }
    }
  }

  void binary(std::string_view m) {
    ws::request req;
    ws::request_error err;
    if (!parser_.parse_binary(m, req, err)) {
      reject(req.has_stream ? find(req.stream) : nullptr, err, {});
      return;
    }
    push(req.stream, parser_.values().data(), parser_.values().size(), std::nan(""), {});
  }

  void push(std::string_view name, const double* x, std::size_t n, double t, std::string_view id) {
    ws::request_error err;
    if (!ws::check_samples(x, n, t, err)) {
      violation("the decoder let through a sample that check_samples refuses", name);
    }
    for (std::size_t i = 0; i < n; ++i) {
      if (!(std::fabs(x[i]) <= ws::max_sample_magnitude)) {
        violation("a sample beyond max_sample_magnitude reached a pipeline", name);
      }
    }
    auto it = streams_.find(name);
    if (it == streams_.end()) {
      if (name.empty() || name.size() > ws::max_stream_name_bytes ||
          !simdjson::validate_utf8(name.data(), name.size())) {
        reject(nullptr, {ws::error_code::invalid_stream_name, "bad name"}, id);
        return;
      }
      if (streams_.size() >= max_streams) {
        reject(nullptr, {ws::error_code::too_many_streams, "limit"}, id);
        return;
      }
      it = streams_.emplace(std::string(name), stream{}).first;
    }
    stream& s = it->second;
    const double when = std::isnan(t) ? 1.7e9 : t;
    struct sink final : ws::alert_sink {
      harness* self;
      const std::string* name;
      std::uint64_t base;
      double when;
      sink(harness* h, const std::string* nm, std::uint64_t b, double w)
          : self(h), name(nm), base(b), when(w) {}
      void on_alert(std::size_t offset, double v, const ws::alert_info& a) override {
        self->alert(*name, base + offset, v, when, a);
      }
    } alerts(this, &it->first, s.count, when);
    if (n == 1) {
      ws::alert_info a;
      if (s.pipe->push(x[0], a)) {
        alert(it->first, s.count, x[0], when, a);
      }
    } else {
      s.pipe->push_batch(x, n, alerts);
    }
    s.count += n;
    s.last = x[n - 1];
    s.t = when;
    if (!id.empty()) {
      out_.clear();
      ws::json_writer w(out_);
      w.begin_object();
      w.member_string("type", "ack");
      w.member_string("stream", it->first);
      w.member_uint("accepted", n);
      w.key("id");
      w.value_raw(id);
      w.end_object();
      check(out_);
    }
    // What a subscriber would get at the next tick.
    snapshot(it->first, s, {});
  }

  void reject(stream* s, const ws::request_error& err, std::string_view id) {
    if (s != nullptr) {
      ++s->rejected;
    }
    out_.clear();
    ws::json_writer w(out_);
    w.begin_object();
    w.member_string("type", "error");
    w.member_string("code", ws::to_string(err.code));
    w.member_string("message", err.message);
    if (!id.empty()) {
      w.key("id");
      w.value_raw(id);
    }
    w.end_object();
    check(out_);
  }

  void list(std::string_view id) {
    out_.clear();
    ws::json_writer w(out_);
    w.begin_object();
    w.member_string("type", "streams");
    w.key("streams");
    w.begin_array();
    for (const auto& [name, s] : streams_) {
      w.begin_object();
      w.member_string("name", name);
      w.member_uint("count", s.count);
      w.member_uint("rejected", s.rejected);
      w.member_uint("subscribers", 0);
      w.end_object();
    }
    w.end_array();
    if (!id.empty()) {
      w.key("id");
      w.value_raw(id);
    }
    w.end_object();
    check(out_);
  }

  void snapshot(std::string_view name, const stream& s, std::string_view id) {
    out_.clear();
    ws::json_writer w(out_);
    w.begin_object();
    w.member_string("type", "snapshot");
    w.member_string("stream", name);
    w.member_uint("count", s.count);
    w.member_uint("rejected", s.rejected);
    w.member_number("last", s.last);
    w.member_number("t", s.t);
    w.key("stats");
    w.begin_object();
    ws::stats_writer sw(w);
    s.pipe->write_stats(sw);
    w.end_object();
    if (!id.empty()) {
      w.key("id");
      w.value_raw(id);
    }
    w.end_object();
    check(out_);
    // The README's "never poisoned": with admitted samples only, the stream's mean stays a number.
    simdjson::dom::element mean;
    if (doc_["stats"]["mean"].get(mean) != simdjson::SUCCESS || (s.count > 0 && mean.is_null())) {
      violation("a stream's mean is null after finite, bounded samples", out_);
    }
  }

  void alert(const std::string& name, std::uint64_t index, double value, double t, const ws::alert_info& a) {
    std::string out;
    ws::json_writer w(out);
    w.begin_object();
    w.member_string("type", "alert");
    w.member_string("stream", name);
    w.member_uint("index", index);
    w.member_number("value", value);
    w.member_number("z", a.z);
    w.member_number("score", a.score);
    w.member_number("t", t);
    w.end_object();
    check(out);
  }

  void check(const std::string& json) {
    if (json_.parse(json).get(doc_) != simdjson::SUCCESS) {
      violation("the server would write JSON that simdjson refuses", json);
    }
    if (!doc_.is_object()) {
      violation("a message is not a JSON object", json);
    }
  }

  ws::request_parser& parser_;
  simdjson::dom::parser& json_;
  simdjson::dom::element doc_;
  std::string out_;
  std::map<std::string, stream, std::less<>> streams_;

  stream* find(std::string_view name) {
    const auto it = streams_.find(name);
    return it == streams_.end() ? nullptr : &it->second;
  }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  // NOLINTNEXTLINE(cppcoreguidelines-pro-type-reinterpret-cast): libFuzzer hands over bytes
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  static parsers reused;
  harness h(reused);
  std::size_t pos = 0;
  while (pos <= input.size()) {
    const std::size_t end = input.find(separator, pos);
    const std::size_t stop = end == std::string_view::npos ? input.size() : end;
    h.message(input.substr(pos, stop - pos));
    if (end == std::string_view::npos) {
      break;
    }
    pos = end + separator.size();
  }
  return 0;
}
