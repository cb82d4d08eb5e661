// /metrics, /healthz and /readyz (issue 12, Operations): a real scrape over HTTP on 127.0.0.1, parsed
// by the rules of the Prometheus text exposition format 0.0.4 (metric and label name grammar, label
// value escapes, one HELP and one TYPE per family before its samples, float values).
#include "raw_socket.hpp"

#include <streamstats/websocket/metrics.hpp>
#include <streamstats/websocket/server.hpp>

#include <catch2/catch.hpp>

#include <cmath>
#include <cstdlib>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <thread>

using namespace std::chrono_literals;
namespace ws = streamstats::websocket;

namespace {

struct sample {
  std::string name;
  std::map<std::string, std::string> labels;
  double value = 0.0;
};

bool name_start(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':'; }
bool name_char(char c) { return name_start(c) || (c >= '0' && c <= '9'); }

// Parses an exposition body; throws std::runtime_error naming the line that breaks the format.
std::vector<sample> parse_exposition(const std::string& body) {
  std::vector<sample> out;
  std::set<std::string> help;
  std::map<std::string, std::string> type;
  std::istringstream in(body);
  std::string line;
  int no = 0;
  auto fail = [&](const std::string& why) {
    throw std::runtime_error("line " + std::to_string(no) + ": " + why + ": " + line);
  };
  REQUIRE((!body.empty() && body.back() == '\n'));
  while (std::getline(in, line)) {
    ++no;
    if (line.empty()) {
      continue;
    }
    if (line[0] == '#') {
      std::istringstream c(line);
      std::string hash, kw, name;
      c >> hash >> kw >> name;
      if (kw == "HELP") {
        if (!help.insert(name).second) {
          fail("second HELP");
        }
      } else if (kw == "TYPE") {
        std::string t;
        c >> t;
        if (t != "counter" && t != "gauge" && t != "histogram" && t != "summary" && t != "untyped") {
          fail("bad type");
        }
        if (type.count(name) != 0) {
          fail("second TYPE");
        }
        type[name] = t;
      }
      continue;
    }
    sample s;
    std::size_t i = 0;
    if (!name_start(line[i])) {
      fail("bad metric name");
    }
    while (i < line.size() && name_char(line[i])) {
      s.name += line[i++];
    }
    if (i < line.size() && line[i] == '{') {
      ++i;
      while (i < line.size() && line[i] != '}') {
        std::string label;
        if (!name_start(line[i]) || line[i] == ':') {
          fail("bad label name");
        }
        while (i < line.size() && name_char(line[i]) && line[i] != ':') {
          label += line[i++];
        }
        if (line.compare(i, 2, "=\"") != 0) {
          fail("label without =\"");
        }
        i += 2;
        std::string value;
        while (i < line.size() && line[i] != '"') {
          if (line[i] == '\\') {
            ++i;
            if (i >= line.size()) {
              fail("dangling escape");
            }
            if (line[i] == 'n') {
              value += '\n';
            } else if (line[i] == '\\' || line[i] == '"') {
              value += line[i];
            } else {
              fail("bad escape");
            }
          } else {
            value += line[i];
          }
          ++i;
        }
        if (i >= line.size()) {
          fail("unterminated label value");
        }
        ++i;
        s.labels[label] = value;
        if (i < line.size() && line[i] == ',') {
          ++i;
        }
      }
      if (i >= line.size()) {
        fail("unterminated labels");
      }
      ++i;
    }
    if (i >= line.size() || line[i] != ' ') {
      fail("no space before the value");
    }
    const std::string v = line.substr(i + 1);
    if (v == "NaN") {
      s.value = std::nan("");
    } else if (v == "+Inf" || v == "-Inf") {
      s.value = v[0] == '+' ? HUGE_VAL : -HUGE_VAL;
    } else {
      char* end = nullptr;
      s.value = std::strtod(v.c_str(), &end);
      if (end == v.c_str() || *end != '\0') {
        fail("bad value");
      }
    }
    if (type.count(s.name) == 0 || help.count(s.name) == 0) {
      fail("sample before its HELP and TYPE");
    }
    out.push_back(std::move(s));
  }
  return out;
}

std::string body_of(const std::string& response) {
  const auto at = response.find("\r\n\r\n");
  return at == std::string::npos ? std::string() : response.substr(at + 4);
}

double value_of(const std::vector<sample>& all, const std::string& name,
                const std::map<std::string, std::string>& labels = {}) {
  for (const sample& s : all) {
    if (s.name == name && s.labels == labels) {
      return s.value;
    }
  }
  throw std::runtime_error("no sample " + name);
}

}  // namespace

TEST_CASE("a scrape of /metrics parses as Prometheus text and counts what happened", "[websocket][metrics]") {
  ws::server_options o;
  o.snapshot_interval = 20ms;
  ws::server srv(o);
  srv.start();
  const std::string odd = "we\"ird\\name\nx";  // every character the format escapes
  {
    raw::tcp t(srv.port());
    t.send(raw::handshake("13"));
    REQUIRE(raw::status_of(t.read_until("\r\n\r\n")) == 101);
    t.send(raw::frame(1, R"({"stream":"a","values":[1,2,3],"id":1})"));
    REQUIRE(t.read_frame().first == 1);
    t.send(raw::frame(1, R"({"stream":"a","value":"x","id":2})"));  // wrong_type, counted on "a"
    REQUIRE(t.read_frame().first == 1);
    t.send(raw::frame(1, R"({"type":"subscribe","stream":"nope","id":3})"));  // unknown_stream
    REQUIRE(t.read_frame().first == 1);
    t.send(raw::frame(1, R"({"type":"subscribe","stream":"a","id":4})"));
    REQUIRE(t.read_frame().first == 1);
    srv.push(odd, 5.0, 1.0);  // t = 1 s after the epoch: a lag of decades

    std::vector<sample> m;
    for (int attempt = 0; attempt < 100; ++attempt) {
      const std::string response = raw::http_get(srv.port(), "/metrics");
      REQUIRE(raw::status_of(response) == 200);
      CHECK(response.find("Content-Type: text/plain; version=0.0.4") != std::string::npos);
      m = parse_exposition(body_of(response));
      if (value_of(m, "streamstats_streams") == 2) {
        break;
      }
      std::this_thread::sleep_for(10ms);
    }
    CHECK(value_of(m, "streamstats_connections") == 1);
    CHECK(value_of(m, "streamstats_streams") == 2);
    CHECK(value_of(m, "streamstats_samples_total") == 4);
    CHECK(value_of(m, "streamstats_messages_total") == 4);
    CHECK(value_of(m, "streamstats_rejected_total", {{"code", "wrong_type"}}) == 1);
    CHECK(value_of(m, "streamstats_rejected_total", {{"code", "unknown_stream"}}) == 1);
    CHECK(value_of(m, "streamstats_rejected_total", {{"code", "non_finite"}}) == 0);
    CHECK(value_of(m, "streamstats_stream_samples_total", {{"stream", "a"}}) == 3);
    CHECK(value_of(m, "streamstats_stream_rejected_total", {{"stream", "a"}}) == 1);
    CHECK(value_of(m, "streamstats_stream_subscribers", {{"stream", "a"}}) == 1);
    CHECK(value_of(m, "streamstats_stream_samples_total", {{"stream", odd}}) == 1);
    const double lag_a = value_of(m, "streamstats_stream_lag_seconds", {{"stream", "a"}});
    CHECK(lag_a >= 0.0);
    CHECK(lag_a < 60.0);
    CHECK(value_of(m, "streamstats_stream_lag_seconds", {{"stream", odd}}) > 1e9);
  }
  const std::string health = raw::http_get(srv.port(), "/healthz");
  CHECK(raw::status_of(health) == 200);
  CHECK(body_of(health) == "ok\n");
  const std::string ready = raw::http_get(srv.port(), "/readyz");
  CHECK(raw::status_of(ready) == 200);
  srv.stop();
  srv.join();
}

TEST_CASE("the exposition text escapes label values and writes special floats", "[websocket][metrics]") {
  ws::metrics_snapshot m;
  m.per_stream.push_back({"q\"\\\n", 1, 0, 0, HUGE_VAL});
  m.per_stream.push_back({"never", 0, 0, 0, std::nan("")});
  const std::string text = ws::prometheus_text(m);
  CHECK(text.find(R"(streamstats_stream_lag_seconds{stream="q\"\\\n"} +Inf)") != std::string::npos);
  // A stream without samples has no lag (no sample line rather than NaN).
  CHECK(text.find(R"(streamstats_stream_lag_seconds{stream="never"})") == std::string::npos);
  const auto parsed = parse_exposition(text);
  CHECK(value_of(parsed, "streamstats_stream_samples_total", {{"stream", "q\"\\\n"}}) == 1);
}
