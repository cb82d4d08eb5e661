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
#include <streamstats/ew_variance.hpp>
#include <streamstats/rolling_variance.hpp>
#include <streamstats/zscore_detector.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <filesystem>
#include <fstream>
#include <map>
#include <stdexcept>
#include <string>
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

template <class Detector>
scores run_detector(Detector d, const std::vector<row>& rows, bool alerts) {
  scores out;
  out.reserve(rows.size());
  for (const auto& r : rows) {
    const auto res = d.push(r.value);
    out.push_back(alerts ? (res.new_episode ? 1.0 : 0.0) : static_cast<double>(res.score()));
  }
  return out;
}

scores run_config(const std::string& name, settings& s, const std::vector<row>& rows, bool alerts) {
  if (name == "default") {
    // anomaly_detector<double>, its zscore_options and calibration_options overridable.
    ss::calibration_options c;
    c.span = s.num("rank_span", c.span);
    c.learning = static_cast<std::size_t>(s.num("learning", static_cast<double>(c.learning)));
    c.alert_p = s.num("alert_p", c.alert_p);
    const auto o = zscore_options_from(s);
    switch (static_cast<int>(s.num("window", 64))) {
      case 64:
        return run_detector(ss::anomaly_detector<double, 64>(o, c), rows, alerts);
      case 200:
        return run_detector(ss::anomaly_detector<double, 200>(o, c), rows, alerts);
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
               "               [--output score|alerts] [--set key=value]...\n"
               "  writes DIR/DET/<category>/DET_<file>.csv for every NAB_ROOT/data/<category>/<file>.csv\n");
}

}  // namespace

int main(int argc, char** argv) {
  try {
    std::string root;
    std::string out;
    std::string name;
    std::string detector = "default";
    bool alerts = false;
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
        if (o != "score" && o != "alerts") {
          throw std::invalid_argument("--output is score or alerts");
        }
        alerts = o == "alerts";
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
