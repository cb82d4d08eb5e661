// nab_run — runs a streamstats detector configuration over a NAB-format root (the Numenta Anomaly
// Benchmark layout: <root>/data/<category>/<file>.csv with columns timestamp,value) and writes NAB
// result files <out>/<det>/<category>/<det>_<file>.csv (timestamp,value,anomaly_score,label), which
// NAB's scorer reads (tools/nab.sh runs both). Needs nothing of NAB to build.
//
//   nab_run --root ../shared/nab-dev --out /tmp/nab --name sscore --detector default
//   nab_run ... --detector zscore --set window=64 --set resolution_floor=0 --output alerts
//
// --output score   anomaly_score = the detector's score() (default)
// --output alerts  anomaly_score = 1 on new_episode, else 0 (the detector as deployed)
// --output report  anomaly_score = report_score() (score(), 0 on repeats; zscore: score())
// --set period=day the seasonal stage with the samples per day measured from the timestamps
#include <streamstats/ew_variance.hpp>
#include <streamstats/rolling_variance.hpp>
#include <streamstats/zscore_detector.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <filesystem>
#include <fstream>
#include <map>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <vector>

namespace fs = std::filesystem;
namespace ss = streamstats;

namespace {

struct row {
  std::string stamp;
  std::string value_text;
  double value;
};

std::vector<row> read_nab_csv(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  if (!in) {
    throw std::runtime_error("cannot open " + p.string());
  }
  std::vector<row> rows;
  std::string line;
  bool header = true;
  while (std::getline(in, line)) {
    if (!line.empty() && line.back() == '\r') {
      line.pop_back();  // 8 NAB files use CRLF
    }
    if (header) {
      header = false;
      continue;
    }
    if (line.empty()) {
      continue;
    }
    const auto comma = line.find(',');
    if (comma == std::string::npos) {
      throw std::runtime_error(p.string() + ": no comma in '" + line + "'");
    }
    row r{line.substr(0, comma), line.substr(comma + 1), 0.0};
    char* end = nullptr;
    r.value = std::strtod(r.value_text.c_str(), &end);
    rows.push_back(std::move(r));
  }
  return rows;
}

// Seconds since 1970 of a NAB timestamp "YYYY-MM-DD HH:MM:SS[.ffffff]" (UTC), via days from civil.
double seconds_of(const std::string& stamp) {
  int y = 0, mo = 0, d = 0, h = 0, mi = 0;
  double sec = 0.0;
  if (std::sscanf(stamp.c_str(), "%d-%d-%d %d:%d:%lf", &y, &mo, &d, &h, &mi, &sec) != 6) {
    throw std::runtime_error("timestamp '" + stamp + "' is not YYYY-MM-DD HH:MM:SS");
  }
  y -= mo <= 2 ? 1 : 0;
  const long era = (y >= 0 ? y : y - 399) / 400;
  const long yoe = y - era * 400;
  const long doy = (153L * (mo + (mo > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const long doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  const long days = era * 146097 + doe - 719468;
  return static_cast<double>(days) * 86400.0 + h * 3600.0 + mi * 60.0 + sec;
}

// Samples per day: 86400 s over the median spacing of the first 200 timestamps (0 when the
// spacing is not positive or a day holds fewer than 4 samples). What a deployment sets from its
// known sampling pace.
std::size_t samples_per_day(const std::vector<row>& rows) {
  std::vector<double> gaps;
  for (std::size_t i = 1; i < rows.size() && i < 200; ++i) {
    gaps.push_back(seconds_of(rows[i].stamp) - seconds_of(rows[i - 1].stamp));
  }
  if (gaps.empty()) {
    return 0;
  }
  std::nth_element(gaps.begin(), gaps.begin() + static_cast<std::ptrdiff_t>(gaps.size() / 2), gaps.end());
  const double median = gaps[gaps.size() / 2];
  const double per_day = median > 0.0 ? std::round(86400.0 / median) : 0.0;
  return per_day >= 4.0 ? static_cast<std::size_t>(per_day) : 0;
}

// key=value settings, read by the configurations below; unknown keys are an error.
class settings {
 public:
  void set(const std::string& kv) {
    const auto eq = kv.find('=');
    if (eq == std::string::npos) {
      throw std::invalid_argument("--set needs key=value, got '" + kv + "'");
    }
    values_[kv.substr(0, eq)] = kv.substr(eq + 1);
  }
  double num(const std::string& key, double fallback) {
    used_[key] = true;
    const auto it = values_.find(key);
    return it == values_.end() ? fallback : std::stod(it->second);
  }
  std::string str(const std::string& key, const std::string& fallback) {
    used_[key] = true;
    const auto it = values_.find(key);
    return it == values_.end() ? fallback : it->second;
  }
  void check_all_used() const {
    for (const auto& [k, v] : values_) {
      if (used_.find(k) == used_.end()) {
        throw std::invalid_argument("unknown --set key '" + k + "'");
      }
    }
  }

 private:
  std::map<std::string, std::string> values_;
  std::map<std::string, bool> used_;
};

ss::zscore_options zscore_options_from(settings& s) {
  ss::zscore_options o;
  o.threshold = s.num("threshold", o.threshold);
  o.warmup = static_cast<std::size_t>(s.num("warmup", static_cast<double>(o.warmup)));
  o.relearn_after = static_cast<std::size_t>(s.num("relearn_after", static_cast<double>(o.relearn_after)));
  o.cooldown = static_cast<std::size_t>(s.num("cooldown", static_cast<double>(o.cooldown)));
  o.min_stddev = s.num("min_stddev", o.min_stddev);
  o.resolution_floor = s.num("resolution_floor", o.resolution_floor);
  const std::string learning = s.str("learning", "clipped");
  o.learning = learning == "skip"  ? ss::zscore_learning::skip
               : learning == "all" ? ss::zscore_learning::all
                                   : ss::zscore_learning::clipped;
  return o;
}

// One output value per input row.
using scores = std::vector<double>;

// What goes into anomaly_score.
enum class output { score, alerts, report };

template <class R>
double report_of(const R& r) {
  if constexpr (std::is_same_v<R, ss::anomaly_result<double>>) {
    return static_cast<double>(r.report_score());
  } else {
    return static_cast<double>(r.score());  // zscore_detector has no repeats
  }
}

template <class Detector>
scores run_detector(Detector d, const std::vector<row>& rows, output what) {
  scores out;
  out.reserve(rows.size());
  for (const auto& r : rows) {
    const auto res = d.push(r.value);
    out.push_back(what == output::alerts   ? (res.new_episode ? 1.0 : 0.0)
                  : what == output::report ? report_of(res)
                                           : static_cast<double>(res.score()));
  }
  return out;
}

scores run_config(const std::string& name, settings& s, const std::vector<row>& rows, output alerts) {
  if (name == "default") {
    // anomaly_detector<double>, its zscore_options and calibration_options overridable.
    ss::calibration_options c;
    c.span = s.num("rank_span", c.span);
    c.learning = static_cast<std::size_t>(s.num("learning", static_cast<double>(c.learning)));
    c.alert_p = s.num("alert_p", c.alert_p);
    c.quiet = static_cast<std::size_t>(s.num("quiet", static_cast<double>(c.quiet)));
    ss::seasonal_options sea;
    // period=day: samples per day from the file's timestamps; a number: that many samples; 0: off.
    const std::string period = s.str("period", "0");
    sea.period = period == "day" ? samples_per_day(rows) : static_cast<std::size_t>(std::stoul(period));
    sea.slot_alpha = s.num("slot_alpha", sea.slot_alpha);
    sea.use_ratio = s.num("use_ratio", sea.use_ratio);
    const auto o = zscore_options_from(s);
    switch (static_cast<int>(s.num("window", 64))) {
      case 64:
        return run_detector(ss::anomaly_detector<double, 64>(o, c, sea), rows, alerts);
      case 200:
        return run_detector(ss::anomaly_detector<double, 200>(o, c, sea), rows, alerts);
      default:
        throw std::invalid_argument("window must be 64 or 200");
    }
  }
  if (name == "zscore") {
    // zscore_detector over a rolling window (window=64|200|1000) or an exponential one (span=N).
    const auto o = zscore_options_from(s);
    const double span = s.num("span", 0.0);
    if (span > 0.0) {
      return run_detector(
          ss::zscore_detector<ss::ew_variance<double>>(ss::ew_variance<double>::from_span(span), o), rows,
          alerts);
    }
    const int window = static_cast<int>(s.num("window", 64));
    switch (window) {
      case 64:
        return run_detector(ss::zscore_detector<ss::rolling_variance<double, 64>>({}, o), rows, alerts);
      case 200:
        return run_detector(ss::zscore_detector<ss::rolling_variance<double, 200>>({}, o), rows, alerts);
      case 1000:
        return run_detector(ss::zscore_detector<ss::rolling_variance<double, 1000>>({}, o), rows, alerts);
      default:
        throw std::invalid_argument("window must be 64, 200 or 1000");
    }
  }
  throw std::invalid_argument("unknown detector '" + name + "' (default, zscore)");
}

void usage() {
  std::fprintf(stderr,
               "usage: nab_run --root NAB_ROOT --out DIR --name DET [--detector default|zscore]\n"
               "               [--output score|alerts|report] [--set key=value]...\n"
               "  writes DIR/DET/<category>/DET_<file>.csv for every NAB_ROOT/data/<category>/<file>.csv\n");
}

}  // namespace

int main(int argc, char** argv) {
  try {
    std::string root;
    std::string out;
    std::string name;
    std::string detector = "default";
    output alerts = output::score;
    settings s;
    for (int i = 1; i < argc; ++i) {
      const std::string arg = argv[i];
      const auto next = [&]() -> std::string {
        if (i + 1 >= argc) {
          throw std::invalid_argument(arg + " needs a value");
        }
        return argv[++i];
      };
      if (arg == "--root") {
        root = next();
      } else if (arg == "--out") {
        out = next();
      } else if (arg == "--name") {
        name = next();
      } else if (arg == "--detector") {
        detector = next();
      } else if (arg == "--output") {
        const std::string o = next();
        if (o != "score" && o != "alerts" && o != "report") {
          throw std::invalid_argument("--output is score, alerts or report");
        }
        alerts = o == "alerts" ? output::alerts : o == "report" ? output::report : output::score;
      } else if (arg == "--set") {
        s.set(next());
      } else {
        usage();
        return 2;
      }
    }
    if (root.empty() || out.empty() || name.empty()) {
      usage();
      return 2;
    }
    if (name.find('_') != std::string::npos) {
      throw std::invalid_argument("--name must not contain '_' (NAB splits result file names on it)");
    }
    const fs::path data = fs::path(root) / "data";
    if (!fs::is_directory(data)) {
      throw std::runtime_error(data.string() + " is not a directory (is --root a NAB root?)");
    }
    std::vector<fs::path> files;
    for (const auto& e : fs::recursive_directory_iterator(data)) {
      if (e.is_regular_file() && e.path().extension() == ".csv") {
        files.push_back(e.path());
      }
    }
    std::sort(files.begin(), files.end());
    std::size_t total = 0;
    for (const auto& f : files) {
      const auto rows = read_nab_csv(f);
      const auto sc = run_config(detector, s, rows, alerts);
      s.check_all_used();
      const std::string category = f.parent_path().filename().string();
      const fs::path dir = fs::path(out) / name / category;
      fs::create_directories(dir);
      const fs::path target = dir / (name + "_" + f.filename().string());
      std::FILE* o = std::fopen(target.string().c_str(), "wb");
      if (o == nullptr) {
        throw std::runtime_error("cannot write " + target.string());
      }
      std::fprintf(o, "timestamp,value,anomaly_score,label\n");
      for (std::size_t i = 0; i < rows.size(); ++i) {
        const double v = std::isfinite(sc[i]) ? std::clamp(sc[i], 0.0, 1.0) : 0.0;
        std::fprintf(o, "%s,%s,%.12f,0\n", rows[i].stamp.c_str(), rows[i].value_text.c_str(), v);
      }
      std::fclose(o);
      total += rows.size();
    }
    std::fprintf(stderr, "nab_run: %zu files, %zu samples -> %s/%s\n", files.size(), total, out.c_str(),
                 name.c_str());
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "nab_run: %s\n", e.what());
    return 1;
  }
}
