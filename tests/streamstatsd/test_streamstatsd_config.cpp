// streamstatsd's configuration, pipeline specs and command line, in process: every key read,
// the defaults, and every refusal naming the key and the line. Expected statistics are closed
// forms (noted beside each) or straightforward recomputations over the kept samples.
#include "cli.hpp"
#include "tls_fixture.hpp"

#include <streamstats/websocket/config.hpp>
#include <streamstats/websocket/pipeline_spec.hpp>
#include <streamstats/websocket/server.hpp>

#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

namespace ws = streamstats::websocket;
using nlohmann::json;

namespace {

// The error messages of parse_config(text), or {} when it parses.
std::vector<std::string> errors_of(const std::string& text) {
  try {
    (void)ws::parse_config(text, "t.toml");
  } catch (const ws::config_error& e) {
    return e.errors();
  }
  return {};
}

// One error expected: it must start with "t.toml:<line>:" and contain every fragment.
void require_one_error(const std::string& text, int line, std::initializer_list<std::string> fragments) {
  const auto e = errors_of(text);
  INFO(text);
  REQUIRE(e.size() == 1);
  INFO(e[0]);
  CHECK(e[0].rfind("t.toml:" + std::to_string(line) + ":", 0) == 0);
  for (const auto& f : fragments) {
    CHECK(e[0].find(f) != std::string::npos);
  }
}

// A pipeline's snapshot "stats" object after pushing xs one by one.
json stats_after(const ws::pipeline_spec& spec, const std::vector<double>& xs) {
  ws::spec_pipeline p(spec);
  ws::alert_info a;
  for (double x : xs) {
    (void)p.push(x, a);
  }
  std::string out;
  ws::json_writer w(out);
  w.begin_object();
  ws::stats_writer sw(w);
  p.write_stats(sw);
  w.end_object();
  return json::parse(out);
}

std::vector<std::string> keys(const json& j) {
  std::vector<std::string> k;
  for (auto it = j.begin(); it != j.end(); ++it) {
    k.push_back(it.key());
  }
  std::sort(k.begin(), k.end());
  return k;
}

}  // namespace

TEST_CASE("an empty config gives the documented defaults - the same limits as server_options") {
  const ws::daemon_config c = ws::parse_config("", "t.toml");
  const ws::server_options plain;
  CHECK(c.server.bind == "127.0.0.1");
  CHECK(c.server.port == 8080);
  CHECK(c.server.document_root.empty());
  CHECK(c.server.max_connections == plain.max_connections);
  CHECK(c.server.max_streams == plain.max_streams);
  CHECK(c.server.max_message_size == plain.max_message_size);
  CHECK(c.server.max_queued_bytes == plain.max_queued_bytes);
  CHECK(c.server.max_messages_per_second == plain.max_messages_per_second);
  CHECK(c.server.snapshot_interval_ms == plain.snapshot_interval.count());
  CHECK(c.server.shutdown_timeout_ms == plain.shutdown_timeout.count());
  CHECK(c.server.allowed_origins.empty());
  CHECK(c.server.max_connections_per_address == plain.max_connections_per_address);
  CHECK(c.server.idle_timeout_ms == plain.idle_timeout.count());
  CHECK(c.server.same_origin == plain.same_origin);
  CHECK(c.server.query_budget_per_second == plain.query_budget_per_second);
  CHECK(c.server.max_list_streams == plain.max_list_streams);
  CHECK(c.auth.producer_token.empty());
  CHECK(c.tls.cert.empty());
  CHECK(c.tls.key.empty());
  CHECK(c.state.dir.empty());
  CHECK(c.redis.url.empty());
  CHECK(c.log.level == ws::log_level::info);
  CHECK(c.pipelines.empty());
  CHECK(ws::unsupported_features(c).empty());
}

TEST_CASE("every key is read into its field and mapped to server_options") {
  const std::string text = R"(
[server]
bind = "::1"
port = 9001
document_root = "/srv/www"
max_connections = 7
max_streams = 9
max_message_size = 4096
max_queued_bytes = 2048
max_messages_per_second = 12.5
snapshot_interval_ms = 250
shutdown_timeout_ms = 300
allowed_origins = ["http://a.example", "http://b.example"]
max_connections_per_address = 3
idle_timeout_ms = 4500
same_origin = true
query_budget_per_second = 77.5
max_list_streams = 11
[auth]
producer_token = "s3cret"
[tls]
cert = "/etc/c.pem"
key = "/etc/k.pem"
client_ca = "/etc/ca.pem"
[state]
dir = "/var/lib/x"
checkpoint_interval_ms = 1500
[redis]
url = "redis://127.0.0.1:6379/2"
[log]
level = "debug"
[[pipeline]]
match = "cpu.*"
stats = ["count", "mean", "stddev", "variance", "min", "max"]
sma = 16
rolling_variance = 32
rolling_extrema = 64
ema_halflife = 2.5
quantiles = [0.5, 0.99]
sketch_quantiles = [0, 0.9, 1]
sketch_accuracy = 0.02
detector = true
detector_threshold = 3.25
detector_side = "lower"
detector_warmup = 12
detector_min_stddev = 0.125
detector_period = 288
detector_slot_alpha = 0.25
detector_use_ratio = 0.6
[[pipeline]]
match = "*"
ema_span = 7
)";
  const ws::daemon_config c = ws::parse_config(text, "t.toml");
  CHECK(c.server.bind == "::1");
  CHECK(c.server.port == 9001);
  CHECK(c.server.document_root == "/srv/www");
  CHECK(c.server.max_connections == 7);
  CHECK(c.server.max_streams == 9);
  CHECK(c.server.max_message_size == 4096);
  CHECK(c.server.max_queued_bytes == 2048);
  CHECK(c.server.max_messages_per_second == 12.5);
  CHECK(c.server.snapshot_interval_ms == 250);
  CHECK(c.server.shutdown_timeout_ms == 300);
  CHECK(c.server.allowed_origins == std::vector<std::string>{"http://a.example", "http://b.example"});
  CHECK(c.server.max_connections_per_address == 3);
  CHECK(c.server.idle_timeout_ms == 4500);
  CHECK(c.server.same_origin);
  CHECK(c.server.query_budget_per_second == 77.5);
  CHECK(c.server.max_list_streams == 11);
  CHECK(c.auth.producer_token == "s3cret");
  CHECK(c.tls.cert == "/etc/c.pem");
  CHECK(c.tls.key == "/etc/k.pem");
  CHECK(c.tls.client_ca == "/etc/ca.pem");
  CHECK(c.state.dir == "/var/lib/x");
  CHECK(c.state.checkpoint_interval_ms == 1500);
  CHECK(c.redis.url == "redis://127.0.0.1:6379/2");
  CHECK(c.log.level == ws::log_level::debug);
  REQUIRE(c.pipelines.size() == 2);
  const auto& p = c.pipelines[0];
  CHECK(p.match == "cpu.*");
  CHECK((p.cumulative.count && p.cumulative.mean && p.cumulative.stddev && p.cumulative.variance &&
         p.cumulative.min && p.cumulative.max));
  CHECK(p.sma == 16);
  CHECK(p.rolling_variance == 32);
  CHECK(p.rolling_extrema == 64);
  CHECK(p.ema_span == 0.0);
  CHECK(p.ema_halflife == 2.5);
  CHECK(p.quantiles == std::vector<double>{0.5, 0.99});
  CHECK(p.detector.enabled);
  CHECK(p.detector.options.threshold == 3.25);
  CHECK(p.detector.options.side == streamstats::zscore_side::lower);
  CHECK(p.detector.options.warmup == 12);
  CHECK(p.detector.options.min_stddev == 0.125);
  CHECK(p.sketch_quantiles == std::vector<double>{0.0, 0.9, 1.0});
  CHECK(p.sketch_accuracy == 0.02);
  CHECK(p.detector.seasonal.period == 288);
  CHECK(p.detector.seasonal.slot_alpha == 0.25);
  CHECK(p.detector.seasonal.use_ratio == 0.6);
  // An integer is accepted where a number is expected; unset keys stay off.
  CHECK(c.pipelines[1].ema_span == 7.0);
  CHECK(c.pipelines[1].sma == 0);
  CHECK_FALSE(c.pipelines[1].detector.enabled);
  CHECK_FALSE(c.pipelines[1].cumulative.mean);

  const ws::server_options o = ws::to_server_options(c);
  CHECK(o.address == "::1");
  CHECK(o.port == 9001);
  CHECK(o.document_root == "/srv/www");
  CHECK(o.max_connections == 7);
  CHECK(o.max_streams == 9);
  CHECK(o.max_message_size == 4096);
  CHECK(o.max_queued_bytes == 2048);
  CHECK(o.max_messages_per_second == 12.5);
  CHECK(o.snapshot_interval == std::chrono::milliseconds(250));
  CHECK(o.shutdown_timeout == std::chrono::milliseconds(300));
  CHECK(o.allowed_origins == c.server.allowed_origins);
  CHECK(o.max_connections_per_address == 3);
  CHECK(o.idle_timeout == std::chrono::milliseconds(4500));
  CHECK(o.same_origin);
  CHECK(o.query_budget_per_second == 77.5);
  CHECK(o.max_list_streams == 11);
  CHECK(o.producer_token == "s3cret");
  CHECK(o.anonymous_subscribe);  // unset, and no [jwt]: today's anonymous subscribers
  REQUIRE(o.make_pipeline);
  CHECK(o.state_dir == "/var/lib/x");
  CHECK(o.checkpoint_interval == std::chrono::milliseconds(1500));
#if defined(STREAMSTATS_WEBSOCKET_TLS)
  CHECK(o.tls.cert_chain == "/etc/c.pem");
  CHECK(o.tls.key == "/etc/k.pem");
  CHECK(o.tls.client_ca == "/etc/ca.pem");
  CHECK_FALSE(o.jwt.has_value());
  CHECK(ws::unsupported_features(c).size() == 1);  // Redis: TLS and state checkpoints are served
#else
  CHECK(ws::unsupported_features(c).size() == 2);  // TLS, Redis (state is served since issue 11)
#endif

  // The printed effective config reads back to the same values (what --check-config shows is
  // what runs).
  const std::string printed = ws::to_toml(c);
  CHECK(ws::to_toml(ws::parse_config(printed, "printed")) == printed);
}

TEST_CASE("an unknown key is an error naming the key and its line") {
  require_one_error("[server]\nport = 1\nprot = 2\n", 3, {"server.prot", "unknown key"});
  require_one_error("\n[sevrer]\nport = 1\n", 2, {"sevrer", "unknown key"});
  require_one_error("[[pipeline]]\nmatch = \"a\"\nwindow = 3\n", 3, {"pipeline[0].window", "unknown key"});
  require_one_error("[log]\nlevel = \"info\"\nformat = \"json\"\n", 3, {"log.format", "unknown key"});
  require_one_error("[state]\ndir = \"/x\"\ncheckpoint_interval = 5\n", 3,
                    {"state.checkpoint_interval", "unknown key"});
  require_one_error("[state]\ncheckpoint_interval_ms = -1\n", 2,
                    {"state.checkpoint_interval_ms", "out of range"});
}

TEST_CASE("a wrong type is an error naming the key - its line and the expected type") {
  require_one_error("[server]\nport = \"8080\"\n", 2, {"server.port", "must be an integer, not a string"});
  require_one_error("[server]\nport = 80.0\n", 2, {"server.port", "must be an integer, not a float"});
  require_one_error("[server]\n\nbind = 127\n", 3, {"server.bind", "must be a string, not an integer"});
  require_one_error("[server]\nallowed_origins = \"http://a\"\n", 2,
                    {"server.allowed_origins", "array of strings"});
  require_one_error("[server]\nallowed_origins = [\"http://a\", 3]\n", 2, {"server.allowed_origins"});
  require_one_error("server = 3\n", 1, {"server", "must be a table"});
  require_one_error("[server]\nmax_messages_per_second = \"fast\"\n", 2,
                    {"server.max_messages_per_second", "must be a number"});
  require_one_error("[[pipeline]]\ndetector = 1\n", 2, {"pipeline[0].detector", "must be a boolean"});
  require_one_error("[[pipeline]]\nquantiles = 0.5\n", 2, {"pipeline[0].quantiles", "array"});
  require_one_error("[pipeline]\nmatch = \"*\"\n", 1, {"pipeline", "array of tables"});
}

TEST_CASE("an out-of-range value is an error naming the key - its line and the range") {
  require_one_error("[server]\nport = 70000\n", 2, {"server.port", "70000 is out of range 0 … 65535"});
  require_one_error("[server]\nport = -1\n", 2, {"server.port", "out of range"});
  require_one_error("[server]\nmax_connections = 0\n", 2, {"server.max_connections", "out of range 1"});
  require_one_error("[server]\nmax_message_size = 10\n", 2, {"server.max_message_size", "out of range 64"});
  require_one_error("[server]\nsnapshot_interval_ms = 0\n", 2, {"server.snapshot_interval_ms"});
  require_one_error("[server]\nmax_messages_per_second = -3\n", 2, {"server.max_messages_per_second"});
  require_one_error("[log]\nlevel = \"verbose\"\n", 2, {"log.level", "\"verbose\" is not one of"});
  require_one_error("[[pipeline]]\nsma = 4097\n", 2, {"pipeline[0].sma", "4097 is out of range 0 … 4096"});
  require_one_error("[[pipeline]]\nrolling_variance = -2\n", 2, {"pipeline[0].rolling_variance"});
  require_one_error("[[pipeline]]\nrolling_extrema = 100000\n", 2, {"pipeline[0].rolling_extrema"});
  require_one_error("[[pipeline]]\nema_span = 0.5\n", 2, {"pipeline[0].ema_span", "out of range [1"});
  require_one_error("[[pipeline]]\nema_halflife = 0\n", 2, {"pipeline[0].ema_halflife", "out of range (0"});
  require_one_error("[[pipeline]]\nema_span = 3\nema_halflife = 2\n", 3,
                    {"pipeline[0].ema_span", "exclusive"});
  require_one_error("[[pipeline]]\nquantiles = [0.5, 1.0]\n", 2,
                    {"pipeline[0].quantiles", "1 is out of range (0, 1)"});
  require_one_error("[[pipeline]]\nquantiles = [0.5, 0.5]\n", 2,
                    {"pipeline[0].quantiles", "p50 is listed twice"});
  require_one_error("[[pipeline]]\nstats = [\"mean\", \"median\"]\n", 2, {"pipeline[0].stats", "\"median\""});
  require_one_error("[[pipeline]]\ndetector_threshold = 0\n", 2, {"pipeline[0].detector_threshold"});
  require_one_error("[[pipeline]]\ndetector_warmup = 1\n", 2,
                    {"pipeline[0].detector_warmup", "out of range 2"});
  require_one_error("[[pipeline]]\ndetector_side = \"left\"\n", 2, {"pipeline[0].detector_side", "\"left\""});
  require_one_error("[[pipeline]]\ndetector_min_stddev = -1\n", 2, {"pipeline[0].detector_min_stddev"});
  require_one_error("[[pipeline]]\nsketch_quantiles = [1.5]\n", 2,
                    {"pipeline[0].sketch_quantiles", "1.5 is out of range [0, 1]"});
  require_one_error("[[pipeline]]\nquantiles = [0.5]\nsketch_quantiles = [0.5]\n", 3,
                    {"pipeline[0].sketch_quantiles", "also in quantiles"});
  require_one_error("[[pipeline]]\nsketch_quantiles = [0.5]\nsketch_accuracy = 1\n", 3,
                    {"pipeline[0].sketch_accuracy"});
  require_one_error("[[pipeline]]\ndetector_period = -1\n", 2, {"pipeline[0].detector_period"});
  require_one_error("[[pipeline]]\ndetector_period = 1.5\n", 2, {"pipeline[0].detector_period"});
  require_one_error("[[pipeline]]\ndetector_period = \"1x\"\n", 2, {"pipeline[0].detector_period", "\"1x\""});
  require_one_error("[[pipeline]]\ndetector_period = \"0d\"\n", 2, {"pipeline[0].detector_period", "\"0d\""});
  require_one_error("[[pipeline]]\ndetector_period = \"d\"\n", 2, {"pipeline[0].detector_period"});
  require_one_error("[[pipeline]]\ndetector_period = \"-1d\"\n", 2, {"pipeline[0].detector_period"});
  require_one_error("[[pipeline]]\ndetector_period = \"4000d\"\n", 2, {"pipeline[0].detector_period"});
  require_one_error("[[pipeline]]\ndetector_period = \"Auto\"\n", 2, {"pipeline[0].detector_period"});
  require_one_error("[[pipeline]]\ndetector_period = true\n", 2,
                    {"pipeline[0].detector_period", "an integer"});
  require_one_error("[[pipeline]]\ndetector_slot_alpha = 0\n", 2, {"pipeline[0].detector_slot_alpha"});
  require_one_error("[[pipeline]]\ndetector_use_ratio = -0.5\n", 2, {"pipeline[0].detector_use_ratio"});
  require_one_error("[[pipeline]]\nmatch = \"\"\n", 2, {"pipeline[0].match", "empty"});
  require_one_error("[[pipeline]]\nmatch = \"a\"\n[[pipeline]]\n\nsma = 99999\n", 5, {"pipeline[1].sma"});
}

TEST_CASE("every error of a file is reported - in file order - a syntax error names its line") {
  const auto e = errors_of("[server]\nport = 1e9\nbind = 1\n[log]\nlevel = 2\n[x]\n");
  REQUIRE(e.size() == 4);
  CHECK(e[0].rfind("t.toml:2:", 0) == 0);
  CHECK(e[1].rfind("t.toml:3:", 0) == 0);
  CHECK(e[2].rfind("t.toml:5:", 0) == 0);
  CHECK(e[3].rfind("t.toml:6:", 0) == 0);
  require_one_error("[server]\nport = = 3\n", 2, {"TOML syntax"});
  CHECK_THROWS_AS(ws::load_config("/nonexistent/streamstatsd.toml"), ws::config_error);
}

TEST_CASE(
    "detector_period: samples per cycle, 0 for off, \"auto\" or a cycle learned from the samples' times") {
  const auto spec_of = [](const std::string& value) {
    const auto c =
        ws::parse_config("[[pipeline]]\ndetector = true\ndetector_period = " + value + "\n", "t.toml");
    REQUIRE(c.pipelines.size() == 1);
    return c.pipelines[0].detector.seasonal;
  };
  // Unset: the default, a one-day cycle (the default pipeline's too).
  const auto unset =
      ws::parse_config("[[pipeline]]\ndetector = true\n", "t.toml").pipelines.at(0).detector.seasonal;
  CHECK(unset.period == 0);
  CHECK(unset.cycle == 86400.0);
  CHECK(ws::default_pipeline_spec().detector.seasonal.cycle == 86400.0);
  CHECK(streamstats::websocket::default_pipeline_options{}.seasonal.cycle == 86400.0);
  struct row {
    const char* value;
    std::size_t period;
    double cycle;
  };
  for (const row& r : {row{"288", 288, 86400.0}, row{"0", 0, 0.0}, row{"\"auto\"", 0, 86400.0},
                       row{"\"1d\"", 0, 86400.0}, row{"\"12h\"", 0, 43200.0}, row{"\"7d\"", 0, 604800.0},
                       row{"\"2w\"", 0, 1209600.0}, row{"\"90m\"", 0, 5400.0}, row{"\"45s\"", 0, 45.0}}) {
    INFO("detector_period = " << r.value);
    const auto z = spec_of(r.value);
    CHECK(z.period == r.period);
    CHECK(z.cycle == r.cycle);
    // Printed back in a form that reads to the same options.
    ws::daemon_config c;
    ws::pipeline_spec p = ws::default_pipeline_spec();
    p.detector.seasonal = z;
    c.pipelines.push_back(p);
    const auto again = ws::parse_config(ws::to_toml(c), "printed").pipelines.at(0).detector.seasonal;
    CHECK(again.period == z.period);
    CHECK(again.cycle == z.cycle);
  }
}

TEST_CASE("the example config under packaging/ is valid and documents every key it sets") {
  const ws::daemon_config c = ws::load_config(STREAMSTATSD_EXAMPLE_CONFIG);
  REQUIRE(c.pipelines.size() == 2);
  CHECK(c.pipelines[1].match == "*");
  // Every key that to_toml prints (all of them) appears in the example file.
  std::ifstream in(STREAMSTATSD_EXAMPLE_CONFIG);
  const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::istringstream printed(ws::to_toml(c));
  for (std::string line; std::getline(printed, line);) {
    if (line.empty() || line[0] == '[') {
      continue;
    }
    const std::string key = line.substr(0, line.find(' '));
    INFO(key);
    CHECK(text.find("\n" + key + " =") != std::string::npos);
  }
}

TEST_CASE("globs: * any run - ? one code point - the rest literal - the first matching spec wins") {
  CHECK(ws::glob_match("*", ""));
  CHECK(ws::glob_match("*", "anything"));
  CHECK(ws::glob_match("cpu.*", "cpu.0"));
  CHECK(ws::glob_match("cpu.*", "cpu."));
  CHECK_FALSE(ws::glob_match("cpu.*", "cpu"));
  CHECK_FALSE(ws::glob_match("cpu.*", "gpu.0"));
  CHECK(ws::glob_match("*.latency", "eu.api.latency"));
  CHECK_FALSE(ws::glob_match("*.latency", "eu.api.latency_ms"));
  CHECK(ws::glob_match("a*b*c", "a__b__b__c"));
  CHECK_FALSE(ws::glob_match("a*b*c", "a__b__b__"));
  CHECK(ws::glob_match("node?", "node7"));
  CHECK_FALSE(ws::glob_match("node?", "node"));
  CHECK_FALSE(ws::glob_match("node?", "node77"));
  CHECK(ws::glob_match("t?mp", "t\xC3\xA9mp"));  // "é" is one character (two bytes)
  CHECK(ws::glob_match("CPU", "CPU"));
  CHECK_FALSE(ws::glob_match("CPU", "cpu"));

  std::vector<ws::pipeline_spec> specs(3);
  specs[0].match = "cpu.*";
  specs[1].match = "cpu*";
  specs[2].match = "*";
  const ws::pipeline_spec fallback;
  CHECK(&ws::select_pipeline_spec(specs, fallback, "cpu.1") == &specs[0]);
  CHECK(&ws::select_pipeline_spec(specs, fallback, "cpu1") == &specs[1]);
  CHECK(&ws::select_pipeline_spec(specs, fallback, "mem") == &specs[2]);
  specs.pop_back();
  CHECK(&ws::select_pipeline_spec(specs, fallback, "mem") == &fallback);
}

TEST_CASE("a spec pipeline writes exactly its configured fields - with independently computed values") {
  std::vector<double> xs;
  for (int i = 1; i <= 100; ++i) {
    xs.push_back(static_cast<double>(i));
  }
  SECTION("cumulative statistics over 1..100") {
    ws::pipeline_spec s;
    s.cumulative.count = s.cumulative.mean = s.cumulative.variance = s.cumulative.max = true;
    const json j = stats_after(s, xs);
    CHECK(keys(j) == std::vector<std::string>{"count", "max", "mean", "variance"});
    CHECK(j["count"] == 100);
    CHECK(j["mean"].get<double>() == Approx(50.5).epsilon(1e-15));
    CHECK(j["variance"].get<double>() == Approx(841.6666666666666).epsilon(1e-14));  // n(n+1)/12
    CHECK(j["max"] == 100.0);
  }
  SECTION("windows at run-time lengths") {
    ws::pipeline_spec s;
    s.sma = 5;
    s.rolling_variance = 10;
    s.rolling_extrema = 7;
    const json j = stats_after(s, xs);
    CHECK(keys(j) == std::vector<std::string>{"rolling_max", "rolling_mean", "rolling_min", "rolling_stddev",
                                              "rolling_variance", "sma"});
    CHECK(j["sma"].get<double>() == Approx(98.0).epsilon(1e-14));           // mean of 96..100
    CHECK(j["rolling_mean"].get<double>() == Approx(95.5).epsilon(1e-14));  // mean of 91..100
    // Ten consecutive integers: sample variance (n² − 1)/12 · n/(n − 1) = 99/12 · 10/9 = 9.1666…
    CHECK(j["rolling_variance"].get<double>() == Approx(55.0 / 6.0).epsilon(1e-13));
    CHECK(j["rolling_stddev"].get<double>() == Approx(std::sqrt(55.0 / 6.0)).epsilon(1e-13));
    CHECK(j["rolling_min"] == 94.0);  // the last 7: 94..100
    CHECK(j["rolling_max"] == 100.0);
  }
  SECTION("EMA by half-life, and quantiles named p50, p99.9") {
    ws::pipeline_spec s;
    s.ema_halflife = 3.0;
    s.quantiles = {0.5, 0.999};
    const std::vector<double> five = {4.0, 1.0, 9.0, 16.0, 25.0};
    const json j = stats_after(s, five);
    CHECK(keys(j) == std::vector<std::string>{"ema", "p50", "p99.9"});
    // pandas ewm(halflife=3, adjust=False): alpha = 1 − 2^(−1/3), y0 = x0, y = (1 − alpha)·y + alpha·x.
    const double alpha = 1.0 - std::pow(2.0, -1.0 / 3.0);
    double y = five[0];
    for (std::size_t i = 1; i < five.size(); ++i) {
      y = (1.0 - alpha) * y + alpha * five[i];
    }
    CHECK(j["ema"].get<double>() == Approx(y).epsilon(1e-14));
    // Five samples: NumPy's np.quantile (linear): median of {1, 4, 9, 16, 25} = 9;
    // p = 0.999: h = 4·0.999 = 3.996 → 16 + 0.996·9 = 24.964.
    CHECK(j["p50"] == 9.0);
    CHECK(j["p99.9"].get<double>() == Approx(24.964).epsilon(1e-12));
  }
  SECTION("the detector's fields, and its alert on a spike after warm-up") {
    ws::pipeline_spec s;
    s.detector.enabled = true;
    s.detector.options.threshold = 3.0;
    ws::spec_pipeline p(s);
    ws::alert_info a;
    bool alerted = false;
    for (int i = 0; i < 100; ++i) {
      alerted = p.push(10.0 + (i % 2 == 0 ? 1.0 : -1.0), a) || alerted;
    }
    CHECK_FALSE(alerted);
    REQUIRE(p.push(100.0, a));  // z = (100 − 10)/sd(±1 alternating over 64) ≈ 89.3
    CHECK(a.z > 80.0);
    std::string out;
    ws::json_writer w(out);
    w.begin_object();
    ws::stats_writer sw(w);
    p.write_stats(sw);
    w.end_object();
    CHECK(keys(json::parse(out)) == std::vector<std::string>{"band_hi", "band_lo", "score", "z"});
  }
  SECTION("the default spec gives the default pipeline's fields") {
    const json j = stats_after(ws::default_pipeline_spec(), xs);
    const json d = [&] {
      ws::default_pipeline p;
      ws::alert_info a;
      for (double x : xs) {
        (void)p.push(x, a);
      }
      std::string out;
      ws::json_writer w(out);
      w.begin_object();
      ws::stats_writer sw(w);
      p.write_stats(sw);
      w.end_object();
      return json::parse(out);
    }();
    CHECK(keys(j) == keys(d));
  }
}

TEST_CASE("invalid specs throw from the factory - never on the io thread") {
  ws::pipeline_spec s;
  s.quantiles = {0.5, 0.5};
  CHECK_THROWS_AS(ws::spec_pipeline_factory({s}), std::invalid_argument);
  s.quantiles = {};
  s.sma = ws::pipeline_window_capacity + 1;
  CHECK_THROWS_AS(ws::spec_pipeline_factory({s}), std::invalid_argument);
  CHECK_THROWS_AS(ws::spec_pipeline(s), std::invalid_argument);
}

TEST_CASE("Redis URLs: the accepted forms and the refused ones") {
  for (const char* ok :
       {"redis://localhost", "redis://127.0.0.1:6379", "redis://127.0.0.1:6379/0",
        "rediss://user:pa:ss@cache.example:6380/3", "redis://[::1]:6379", "unix:///run/redis.sock"}) {
    INFO(ok);
    CHECK(ws::check_redis_url(ok).empty());
  }
  for (const char* bad : {"localhost:6379", "http://localhost", "redis://", "redis://:6379",
                          "redis://host:", "redis://host:0", "redis://host:65536", "redis://host:63x9",
                          "redis://host/db", "redis://[::1", "unix://relative.sock", "redis://ho st:1"}) {
    INFO(bad);
    CHECK_FALSE(ws::check_redis_url(bad).empty());
  }
}

TEST_CASE("the machine checks: readable TLS files - a writable state directory - a Redis URL") {
  const auto dir =
      std::filesystem::temp_directory_path() / ("streamstatsd_cfg_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const auto pem = (dir / "c.pem").string();
  std::ofstream(pem) << "not a certificate\n";
  ws::daemon_config c;
  CHECK(ws::check_environment(c).empty());
  c.tls.cert = pem;
  auto e = ws::check_environment(c);
  REQUIRE(e.size() == 1);
  CHECK(e[0].rfind("tls.key:", 0) == 0);
  c.tls.key = (dir / "missing.pem").string();
  e = ws::check_environment(c);
  REQUIRE(e.size() == 1);
  CHECK(e[0].find("tls.key: cannot read") == 0);
  c.tls.key = pem;
#if defined(STREAMSTATS_WEBSOCKET_TLS)
  // OpenSSL reads the files: the content is checked too.
  e = ws::check_environment(c);
  REQUIRE(e.size() == 1);
  CHECK(e[0].find("tls.cert:") == 0);
  CHECK(e[0].find("no usable PEM certificate") != std::string::npos);
  streamstats_test::pki_dir pki;
  pki.make_ca("ca");
  pki.make_leaf("server", "ca");
  pki.make_leaf("other", "ca");
  c.tls.cert = pki.path("server.pem");
  c.tls.key = pki.path("other.key");
  e = ws::check_environment(c);
  REQUIRE(e.size() == 1);
  CHECK(e[0].find("does not match the certificate") != std::string::npos);
  c.tls.key = pki.path("server.key");
  c.tls.client_ca = pki.path("ca.pem");
#endif
  CHECK(ws::check_environment(c).empty());
  c.state.dir = (dir / "nope").string();
  e = ws::check_environment(c);
  REQUIRE(e.size() == 1);
  CHECK(e[0].rfind("state.dir:", 0) == 0);
  c.state.dir = dir.string();
  c.redis.url = "redis//x";
  e = ws::check_environment(c);
  REQUIRE(e.size() == 1);
  CHECK(e[0].rfind("redis.url:", 0) == 0);
  c.redis.url = "redis://127.0.0.1:6379";
  CHECK(ws::check_environment(c).empty());
#if defined(STREAMSTATS_WEBSOCKET_TLS)
  CHECK(ws::unsupported_features(c).size() == 1);  // Redis
#else
  CHECK(ws::unsupported_features(c).size() == 2);  // TLS, Redis (state is served since issue 11)
#endif
  std::filesystem::remove_all(dir);
}

TEST_CASE("command line: the fixed flags - flag=value - and the refusals") {
  auto parse = [](std::vector<const char*> args) {
    args.insert(args.begin(), "streamstatsd");
    return streamstatsd::parse_cli(static_cast<int>(args.size()), args.data());
  };
  const auto o = parse({"--config",        "f.toml",          "--check-config", "--bind",      "0.0.0.0",
                        "--port=0",        "--tls-cert",      "c.pem",          "--tls-key",   "k.pem",
                        "--tls-client-ca", "ca.pem",          "--state-dir",    "/var/x",      "--redis",
                        "redis://h",       "--document-root", "/www",           "--log-level", "warn"});
  CHECK(o.config_path == "f.toml");
  CHECK(o.check_config);
  CHECK(*o.bind == "0.0.0.0");
  CHECK(*o.port == 0);
  CHECK(*o.tls_cert == "c.pem");
  CHECK(*o.tls_key == "k.pem");
  CHECK(*o.tls_client_ca == "ca.pem");
  CHECK(*o.state_dir == "/var/x");
  CHECK(*o.redis == "redis://h");
  CHECK(*o.document_root == "/www");
  CHECK(*o.log_level == ws::log_level::warn);
  CHECK(parse({"--help"}).help);
  CHECK(parse({"--version"}).version);
  CHECK_THROWS_AS(parse({"--port", "65536"}), streamstatsd::usage_error);
  CHECK_THROWS_AS(parse({"--port", "-1"}), streamstatsd::usage_error);
  CHECK_THROWS_AS(parse({"--port", "80x"}), streamstatsd::usage_error);
  CHECK_THROWS_AS(parse({"--port"}), streamstatsd::usage_error);
  CHECK_THROWS_AS(parse({"--prot", "1"}), streamstatsd::usage_error);
  CHECK_THROWS_AS(parse({"--check-config=yes"}), streamstatsd::usage_error);
  CHECK_THROWS_AS(parse({"--log-level", "loud"}), streamstatsd::usage_error);
  // --checkpoint-interval: milliseconds, or with a unit; at most 24 h.
  CHECK(*parse({"--checkpoint-interval", "1500"}).checkpoint_interval_ms == 1500);
  CHECK(*parse({"--checkpoint-interval=250ms"}).checkpoint_interval_ms == 250);
  CHECK(*parse({"--checkpoint-interval", "30s"}).checkpoint_interval_ms == 30000);
  CHECK(*parse({"--checkpoint-interval", "5m"}).checkpoint_interval_ms == 300000);
  CHECK(*parse({"--checkpoint-interval", "0"}).checkpoint_interval_ms == 0);
  for (const char* bad : {"", "-5", "5h", "1.5s", "s", "25h", "1441m", "9999999999"}) {
    INFO(bad);
    CHECK_THROWS_AS(parse({"--checkpoint-interval", bad}), streamstatsd::usage_error);
  }
  {
    ws::daemon_config d;
    streamstatsd::apply_cli(parse({"--checkpoint-interval", "2s", "--state-dir", "/s"}), d);
    CHECK(d.state.checkpoint_interval_ms == 2000);
    CHECK(d.state.dir == "/s");
  }

  // Flags override the file, key by key; what no flag names keeps the file's value.
  ws::daemon_config c = ws::parse_config("[server]\nbind = \"127.0.0.1\"\nport = 1\nmax_streams = 5\n", "t");
  streamstatsd::apply_cli(o, c);
  CHECK(c.server.bind == "0.0.0.0");
  CHECK(c.server.port == 0);
  CHECK(c.server.max_streams == 5);
  CHECK(c.tls.cert == "c.pem");
  CHECK(c.tls.client_ca == "ca.pem");
  CHECK(c.redis.url == "redis://h");
  CHECK(c.log.level == ws::log_level::warn);
}

TEST_CASE("a reload applies what can change live and keeps the restart-only keys") {
  const ws::daemon_config running = ws::parse_config("[server]\nport = 1\nmax_streams = 5\n", "t");
  const ws::daemon_config next = ws::parse_config(
      "[server]\nport = 2\nmax_message_size = 4096\nmax_streams = 6\n[log]\nlevel = \"debug\"\n", "t");
  CHECK(streamstatsd::restart_only_changes(running, next) ==
        std::vector<std::string>{"server.port", "server.max_message_size"});
  const ws::daemon_config applied = streamstatsd::reloadable_part(running, next);
  CHECK(applied.server.port == 1);
  CHECK(applied.server.max_message_size == running.server.max_message_size);
  CHECK(applied.server.max_streams == 6);
  CHECK(applied.log.level == ws::log_level::debug);
  CHECK(streamstatsd::restart_only_changes(running, applied).empty());

  // The state directory needs a restart; the checkpoint interval is reloaded.
  const ws::daemon_config s1 = ws::parse_config("[state]\ndir = \"/a\"\ncheckpoint_interval_ms = 100\n", "t");
  const ws::daemon_config s2 = ws::parse_config("[state]\ndir = \"/b\"\ncheckpoint_interval_ms = 200\n", "t");
  CHECK(streamstatsd::restart_only_changes(s1, s2) == std::vector<std::string>{"state.dir"});
  const ws::daemon_config s3 = streamstatsd::reloadable_part(s1, s2);
  CHECK(s3.state.dir == "/a");
  CHECK(s3.state.checkpoint_interval_ms == 200);
}

TEST_CASE("io_threads: read, range-checked, mapped, printed, and restart-only") {
  CHECK(ws::parse_config("", "t").server.io_threads == 1);
  CHECK(ws::server_options{}.io_threads == 1);
  const ws::daemon_config c = ws::parse_config("[server]\nio_threads = 2\n", "t");
  CHECK(c.server.io_threads == 2);
  CHECK(ws::to_server_options(c).io_threads == 2);
  CHECK(ws::to_toml(c).find("io_threads = 2\n") != std::string::npos);
  require_one_error("[server]\n\nio_threads = 0\n", 3, {"server.io_threads", "0 is out of range 1 … 64"});
  require_one_error("[server]\nio_threads = 65\n", 2, {"server.io_threads", "out of range"});
  require_one_error("[server]\nio_threads = \"2\"\n", 2, {"server.io_threads"});
  const ws::daemon_config one = ws::parse_config("[server]\nio_threads = 1\n", "t");
  CHECK(streamstatsd::restart_only_changes(one, c) == std::vector<std::string>{"server.io_threads"});
  CHECK(streamstatsd::reloadable_part(one, c).server.io_threads == 1);
}

TEST_CASE(
    "io_threads above 1 together with a Redis URL - from the file or --redis - is an error naming both") {
  ws::daemon_config c =
      ws::parse_config("[server]\nio_threads = 2\n[redis]\nurl = \"redis://127.0.0.1:6379\"\n", "t");
  auto e = ws::check_environment(c);
  REQUIRE(e.size() == 1);
  CHECK(e[0].rfind("server.io_threads: 2 ", 0) == 0);
  CHECK(e[0].find("redis.url (--redis)") != std::string::npos);
  c.server.io_threads = 1;
  CHECK(ws::check_environment(c).empty());
  // The flag: the file asks for two threads, --redis adds the broker.
  ws::daemon_config f = ws::parse_config("[server]\nio_threads = 2\n", "t");
  CHECK(ws::check_environment(f).empty());
  std::vector<const char*> args{"streamstatsd", "--redis", "redis://127.0.0.1:6379"};
  streamstatsd::apply_cli(streamstatsd::parse_cli(static_cast<int>(args.size()), args.data()), f);
  e = ws::check_environment(f);
  REQUIRE(e.size() == 1);
  CHECK(e[0].find("server.io_threads") != std::string::npos);
  CHECK(e[0].find("redis.url") != std::string::npos);
  // And the server itself refuses the combination (a C++ user without the config file).
  ws::server_options o;
  o.io_threads = 2;
  o.redis.url = "redis://127.0.0.1:6379";
  CHECK_THROWS_AS(ws::server(o), std::invalid_argument);
}

TEST_CASE("a reload re-reads TLS files but turning TLS on or off needs a restart") {
  const ws::daemon_config running = ws::parse_config("[tls]\ncert = \"a.pem\"\nkey = \"a.key\"\n", "t");
  const ws::daemon_config renewed = ws::parse_config("[tls]\ncert = \"b.pem\"\nkey = \"b.key\"\n", "t");
  CHECK(streamstatsd::restart_only_changes(running, renewed).empty());
  CHECK(streamstatsd::reloadable_part(running, renewed).tls.cert == "b.pem");
  const ws::daemon_config plain = ws::parse_config("", "t");
  CHECK(streamstatsd::restart_only_changes(running, plain) == std::vector<std::string>{"tls (on/off)"});
  CHECK(streamstatsd::reloadable_part(running, plain).tls.cert == "a.pem");
}

TEST_CASE("jwt section and auth.anonymous_subscribe are read - checked - printed back") {
  const std::string text = R"([auth]
anonymous_subscribe = true
[jwt]
algorithm = "RS256"
key_file = "/etc/jwt.pub"
previous_key_file = "/etc/jwt-old.pub"
previous_key_until = 2027-01-31T01:00:00+01:00
issuer = "https://auth.example"
audience = "streamstats"
leeway_s = 5
rights_claim = "rights"
)";
  const ws::daemon_config c = ws::parse_config(text, "t.toml");
  CHECK(c.auth.anonymous_subscribe == std::optional<bool>(true));
  CHECK(c.jwt.algorithm == "RS256");
  CHECK(c.jwt.key_file == "/etc/jwt.pub");
  CHECK(c.jwt.previous_key_file == "/etc/jwt-old.pub");
  // `date -u -d 2027-01-31T00:00:00Z +%s` (GNU date): 1801353600.
  CHECK(c.jwt.previous_key_until == 1801353600);
  CHECK(c.jwt.issuer == "https://auth.example");
  CHECK(c.jwt.audience == "streamstats");
  CHECK(c.jwt.leeway_s == 5);
  CHECK(c.jwt.rights_claim == "rights");
  const std::string printed = ws::to_toml(c);
  CHECK(ws::to_toml(ws::parse_config(printed, "printed")) == printed);
  CHECK(ws::parse_config("[jwt]\nprevious_key_until = 1801353600\n", "t").jwt.previous_key_until ==
        1801353600);

  require_one_error("[jwt]\nalgorithm = \"none\"\nkey_file = \"k\"\n", 2, {"jwt.algorithm", "\"none\""});
  require_one_error("[jwt]\nalgorithm = \"HS256\"\n", 1, {"jwt.key_file", "required"});
  require_one_error("[jwt]\nkey_file = \"k\"\n", 1, {"jwt.algorithm", "required"});
  require_one_error("[jwt]\nleeway_s = 7200\n", 2, {"jwt.leeway_s", "out of range"});
  require_one_error("[jwt]\nkid = \"x\"\n", 2, {"jwt.kid", "unknown key"});
  require_one_error("[jwt]\nprevious_key_until = \"soon\"\n", 2, {"jwt.previous_key_until", "Unix seconds"});
  require_one_error("[auth]\nanonymous_subscribe = 1\n", 2, {"auth.anonymous_subscribe", "boolean"});
  require_one_error("[tls]\nclient_key = \"x\"\n", 2, {"tls.client_key", "unknown key"});
}

#if defined(STREAMSTATS_WEBSOCKET_TLS)
TEST_CASE(
    "jwt key files are read and checked by the verifier - anonymous subscribing defaults off with JWT") {
  streamstats_test::pki_dir pki;
  pki.make_keypair("issuer");
  const std::string secret_file = pki.path("secret");
  std::ofstream(secret_file) << "0123456789abcdef0123456789abcdef\n";  // 32 bytes and echo's newline
  ws::daemon_config c;
  c.jwt.algorithm = "HS256";
  c.jwt.key_file = secret_file;
  CHECK(ws::check_environment(c).empty());
  ws::server_options o = ws::to_server_options(c);
  REQUIRE(o.jwt.has_value());
  CHECK(o.jwt->key == "0123456789abcdef0123456789abcdef");
  CHECK(o.jwt->leeway == std::chrono::seconds(30));
  CHECK_FALSE(o.anonymous_subscribe);
  c.auth.anonymous_subscribe = true;
  CHECK(ws::to_server_options(c).anonymous_subscribe);
  // A public key PEM as an HS256 secret: refused before the server starts.
  c.jwt.key_file = pki.path("issuer.pub");
  auto e = ws::check_environment(c);
  REQUIRE(e.size() == 1);
  CHECK(e[0].find("jwt.key_file:") == 0);
  CHECK(e[0].find("PEM key was given for HS256") != std::string::npos);
  c.jwt.algorithm = "RS256";
  CHECK(ws::check_environment(c).empty());
  c.jwt.key_file = pki.path("missing.pub");
  e = ws::check_environment(c);
  REQUIRE_FALSE(e.empty());
  CHECK(e[0].find("jwt.key_file: cannot read") == 0);
}
#endif
