// NIST StRD univariate data sets (tests/data/strd, copied from shared/data; public domain, NIST)
// and the log relative error used to score them.
#pragma once

#include <cmath>
#include <fstream>
#include <limits>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#ifndef STREAMSTATS_TEST_DATA_DIR
#error "STREAMSTATS_TEST_DATA_DIR must name tests/data"
#endif

namespace streamstats_test {

struct strd_set {
  std::string name;
  std::vector<double> y;
  double mean;  // certified sample mean
  double sd;    // certified sample standard deviation (n − 1)
  double r1;    // certified lag-1 autocorrelation
};

// The certified value is the first number after the ':' on its line; observations start at line 61.
inline strd_set load_strd(const std::string& name) {
  const std::string path = std::string(STREAMSTATS_TEST_DATA_DIR) + "/strd/" + name + ".dat";
  std::ifstream in(path);
  if (!in) {
    throw std::runtime_error("cannot open " + path);
  }
  strd_set s{name, {}, 0.0, 0.0, 0.0};
  std::string line;
  int lineno = 0;
  auto certified = [](const std::string& l) {
    const auto colon = l.find(':');
    return std::stod(l.substr(colon + 1));
  };
  while (std::getline(in, line)) {
    ++lineno;
    if (!line.empty() && line.back() == '\r') {
      line.pop_back();
    }
    if (lineno == 41) {
      s.mean = certified(line);
    } else if (lineno == 42) {
      s.sd = certified(line);
    } else if (lineno == 43) {
      s.r1 = certified(line);
    } else if (lineno >= 61) {
      std::istringstream ls(line);
      double v = 0.0;
      if (ls >> v) {
        s.y.push_back(v);
      }
    }
  }
  return s;
}

inline const char* const strd_names[] = {"PiDigits", "Lottery", "Lew",     "Mavro",  "Michelso",
                                         "NumAcc1",  "NumAcc2", "NumAcc3", "NumAcc4"};

// LRE = −log10(|estimate − certified| / |certified|), capped at 15 (NIST's convention);
// an exact answer scores 15.
inline double lre(double estimate, double certified) {
  if (estimate == certified) {
    return 15.0;
  }
  if (!std::isfinite(estimate)) {
    return 0.0;
  }
  const double rel = std::fabs(estimate - certified) / std::fabs(certified);
  const double v = -std::log10(rel);
  return v > 15.0 ? 15.0 : (v < 0.0 ? 0.0 : v);
}

}  // namespace streamstats_test
