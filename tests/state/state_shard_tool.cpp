// A separate process for the cross-process tests of test_state: `state_shard_tool shard I N FILE`
// computes shard I of N (golden_cases.hpp) and writes its save_state bytes to FILE.
#include "golden_cases.hpp"

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>

int main(int argc, char** argv) {
  if (argc != 5 || std::string(argv[1]) != "shard") {
    std::fprintf(stderr, "usage: state_shard_tool shard I N FILE\n");
    return 2;
  }
  const int i = std::atoi(argv[2]);
  const int n = std::atoi(argv[3]);
  if (n < 1 || i < 0 || i >= n) {
    return 2;
  }
  const std::string bytes = streamstats::save_state(streamstats_golden::shard_of(i, n));
  std::ofstream out(argv[4], std::ios::binary);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  return out.good() ? 0 : 1;
}
