// Writes tests/data/state/<case>.bin, the golden states of the current format version (the cases are
// in golden_cases.hpp). Run only when a format version is added (docs/state-format.md, "Versions"):
//   cmake --build build/dev --target gen_state_golden && build/dev/tests/gen_state_golden tests/data/state
#include "golden_cases.hpp"

#include <cstdio>
#include <fstream>
#include <string>

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: gen_state_golden OUTPUT_DIR\n");
    return 2;
  }
  const std::string dir = argv[1];
  int failures = 0;
  streamstats_golden::for_each_case([&](const char* name, auto build) {
    const std::string bytes = streamstats::save_state(build());
    std::ofstream out(dir + "/" + name + ".bin", std::ios::binary);
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    failures += out.good() ? 0 : 1;
    std::printf("%s: %zu bytes\n", name, bytes.size());
  });
  return failures == 0 ? 0 : 1;
}
