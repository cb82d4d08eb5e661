// Reads the reference tables written by tests/gen_pandas_reference.py (tests/data/pandas/*.csv):
// a header row of column names, then numbers (std::stod accepts "nan").
#pragma once

#include <cstddef>
#include <fstream>
#include <map>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#ifndef STREAMSTATS_TEST_DATA_DIR
#error "STREAMSTATS_TEST_DATA_DIR must name tests/data"
#endif

namespace streamstats_test {

struct csv_table {
  std::vector<std::string> names;
  std::map<std::string, std::vector<double>> columns;
  std::map<std::string, std::vector<long long>> integers;  // the same cells, read as integers

  [[nodiscard]] const std::vector<double>& operator[](const std::string& name) const {
    const auto it = columns.find(name);
    if (it == columns.end()) {
      throw std::runtime_error("no column " + name);
    }
    return it->second;
  }
  [[nodiscard]] std::size_t rows() const { return names.empty() ? 0 : columns.at(names.front()).size(); }
};

// Loads tests/data/pandas/<file>.
inline csv_table load_pandas_csv(const std::string& file) {
  const std::string path = std::string(STREAMSTATS_TEST_DATA_DIR) + "/pandas/" + file;
  std::ifstream in(path);
  if (!in) {
    throw std::runtime_error("cannot open " + path);
  }
  csv_table t;
  std::string line;
  std::getline(in, line);
  {
    std::istringstream ls(line);
    std::string name;
    while (std::getline(ls, name, ',')) {
      t.names.push_back(name);
    }
  }
  while (std::getline(in, line)) {
    if (line.empty()) {
      continue;
    }
    std::istringstream ls(line);
    std::string cell;
    for (const auto& name : t.names) {
      if (!std::getline(ls, cell, ',')) {
        throw std::runtime_error("short row in " + path);
      }
      t.columns[name].push_back(std::stod(cell));
      t.integers[name].push_back(cell.find_first_of(".en") == std::string::npos ? std::stoll(cell) : 0);
    }
  }
  return t;
}

}  // namespace streamstats_test
