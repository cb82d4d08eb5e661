// The umbrella header in two translation units links, and both see the same inline definitions.
#include <cstdio>

double odr_a();
double odr_b();

int main() {
  const double a = odr_a();
  const double b = odr_b();
  std::printf("odr: %g %g\n", a, b);
  return (a == 2.0 && b == 2.0) ? 0 : 1;
}
