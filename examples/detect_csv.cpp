// detect_csv — flags anomalies in a `timestamp,value` CSV with streamstats::anomaly_detector.
//
//   detect_csv [--threshold Z] [--period N] [FILE]   (no FILE, or "-": read standard input)
//
// --period N: the rows come at a fixed pace and N of them make one cycle (288 for a day of 5-minute
// rows): the detector keeps a profile of the cycle and scores the residual once it explains the
// series (streamstats::seasonal_options::period; 0, the default, leaves it off).
//
// Writes `timestamp,value,z,score,anomaly` to standard output, one row per valid input row, in input
// order (value echoed as written). Accepts a header row (a first row whose value is not a number), a UTF-8
// byte-order mark, CRLF line endings and blank lines. A bad row (wrong number of fields, empty timestamp, a
// value that is not entirely a number) is reported on standard error with its line number and skipped; a NaN
// or infinite value is reported and rejected by the detector (it never reaches the baseline). A summary goes
// to standard error at the end. Exit status: 0 when the input was read (even with bad rows), 1 when the file
// cannot be opened (or on an unexpected error, reported), 2 on a usage error.
#include <streamstats/zscore_detector.hpp>

#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <fstream>
#include <iostream>
#include <istream>
#include <string>
#include <string_view>
#include <system_error>

namespace {

std::string_view trim(std::string_view s) {
  const auto is_space = [](char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; };
  while (!s.empty() && is_space(s.front())) {
    s.remove_prefix(1);
  }
  while (!s.empty() && is_space(s.back())) {
    s.remove_suffix(1);
  }
  return s;
}

// The whole field must be a number: std::from_chars stops at the first character it cannot use, so
// "12.5x" or "1,5" are caught by checking that it consumed everything. A leading '+' is accepted
// (from_chars does not take it, spreadsheets write it).
bool parse_double(std::string_view s, double& out) {
  if (!s.empty() && s.front() == '+') {
    s.remove_prefix(1);
  }
  if (s.empty()) {
    return false;
  }
  const char* first = s.data();
  const char* last = s.data() + s.size();
  const auto [ptr, ec] = std::from_chars(first, last, out);
  return ec == std::errc() && ptr == last;
}

void usage(const char* argv0) {
  std::fprintf(stderr, "usage: %s [--threshold Z] [--period N] [FILE]   (no FILE or '-': standard input)\n",
               argv0);
}

int run(int argc, char** argv) {
  streamstats::zscore_options options;
  streamstats::seasonal_options seasonal;
  std::string path = "-";
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (arg == "--threshold" && i + 1 < argc) {
      double z = 0.0;
      if (!parse_double(argv[++i], z) || !(z > 0.0) || !std::isfinite(z)) {
        std::fprintf(stderr, "detect_csv: --threshold needs a positive number, got '%s'\n", argv[i]);
        return 2;
      }
      options.threshold = z;
    } else if (arg == "--period" && i + 1 < argc) {
      const std::string_view n = argv[++i];
      unsigned long long period = 0;
      const auto [end, ec] = std::from_chars(n.data(), n.data() + n.size(), period);
      if (ec != std::errc{} || end != n.data() + n.size() ||
          period > streamstats::seasonal_options::max_period) {
        std::fprintf(stderr, "detect_csv: --period needs a number of rows (0 to 2^32), got '%s'\n", argv[i]);
        return 2;
      }
      seasonal.period = static_cast<std::size_t>(period);
    } else if (arg == "-h" || arg == "--help") {
      usage(argv[0]);
      return 0;
    } else if (!arg.empty() && arg.front() == '-' && arg != "-") {
      usage(argv[0]);
      return 2;
    } else {
      path = std::string(arg);
    }
  }

  std::ifstream file;
  if (path != "-") {
    file.open(path, std::ios::binary);
    if (!file) {
      std::fprintf(stderr, "detect_csv: cannot open '%s'\n", path.c_str());
      return 1;
    }
  }
  std::istream& in = path == "-" ? std::cin : file;

  streamstats::anomaly_detector<double> detector(options, streamstats::calibration_options{}, seasonal);
  std::printf("timestamp,value,z,score,anomaly\n");

  std::string line;
  std::size_t line_no = 0;
  std::size_t rows = 0;
  std::size_t bad = 0;
  bool seen_data = false;  // a header is only recognised before the first data row
  while (std::getline(in, line)) {
    ++line_no;
    std::string_view text = trim(line);  // also drops the '\r' of CRLF files
    if (line_no == 1 && text.substr(0, 3) == "\xEF\xBB\xBF") {
      text.remove_prefix(3);  // the UTF-8 byte-order mark spreadsheets put before the header
    }
    if (text.empty()) {
      continue;
    }
    const auto comma = text.find(',');
    if (comma == std::string_view::npos || text.find(',', comma + 1) != std::string_view::npos) {
      std::fprintf(stderr, "detect_csv: line %zu: expected 2 fields 'timestamp,value', skipped\n", line_no);
      ++bad;
      continue;
    }
    const std::string_view stamp = trim(text.substr(0, comma));
    const std::string_view field = trim(text.substr(comma + 1));
    double value = 0.0;
    if (!parse_double(field, value)) {
      if (!seen_data && rows == 0 && bad == 0) {
        seen_data = true;  // the header row
        continue;
      }
      std::fprintf(stderr, "detect_csv: line %zu: value '%.*s' is not a number, skipped\n", line_no,
                   static_cast<int>(field.size()), field.data());
      ++bad;
      continue;
    }
    seen_data = true;
    if (stamp.empty()) {
      std::fprintf(stderr, "detect_csv: line %zu: empty timestamp, skipped\n", line_no);
      ++bad;
      continue;
    }
    const auto r = detector.push(value);
    if (r.status == streamstats::zscore_status::rejected) {
      std::fprintf(stderr, "detect_csv: line %zu: non-finite value '%.*s' rejected\n", line_no,
                   static_cast<int>(field.size()), field.data());
      continue;
    }
    ++rows;
    // The value is echoed as written (no re-formatting); z to 4 decimals, score to 6 (it needs them
    // near 1), anomaly 0/1. z is "nan" for the first sample (no spread yet) and "inf" after a
    // constant run (see zscore_detector).
    std::printf("%.*s,%.*s,%.4f,%.6f,%d\n", static_cast<int>(stamp.size()), stamp.data(),
                static_cast<int>(field.size()), field.data(), static_cast<double>(r.z),
                static_cast<double>(r.score()), r.anomaly ? 1 : 0);
  }
  std::fprintf(stderr,
               "detect_csv: %zu rows scored, %zu anomalies in %llu episodes, %zu bad rows, %zu rejected\n",
               rows, detector.anomalies(), static_cast<unsigned long long>(detector.episodes()), bad,
               detector.rejected());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const std::exception& e) {  // out of memory, invalid options: a message, not a crash
    std::fprintf(stderr, "detect_csv: %s\n", e.what());
    return 1;
  }
}
