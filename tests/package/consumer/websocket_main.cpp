// Uses streamstats::websocket through the installed package: a server on an ephemeral port,
// samples injected from C++, a graceful stop; exits non-zero on a wrong count.
#include <streamstats/websocket.hpp>

#include <cstdio>

int main() {
  streamstats::websocket::server_options o;
  o.port = 0;
  streamstats::websocket::server s(o);
  s.start();
  if (s.port() == 0) {
    std::puts("no port");
    return 1;
  }
  s.push("consumer", 1.0);
  s.push("consumer", std::vector<double>{2.0, 3.0});
  s.stop();  // runs after the pushes: the io thread handles posted work in order
  s.join();
  const auto st = s.stats();
  if (st.samples != 3 || st.streams != 1) {
    std::printf("wrong stats: samples %llu streams %llu\n", static_cast<unsigned long long>(st.samples),
                static_cast<unsigned long long>(st.streams));
    return 1;
  }
  std::printf("websocket consumer ok: port %u, %llu samples\n", static_cast<unsigned>(s.port()),
              static_cast<unsigned long long>(st.samples));
  return 0;
}
