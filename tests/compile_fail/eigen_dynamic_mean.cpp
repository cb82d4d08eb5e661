// Must NOT compile: Eigen::Dynamic vectors allocate, so the Eigen layer refuses them with a readable
// static_assert (checked by the test's PASS_REGULAR_EXPRESSION on the compiler's output).
#include <streamstats/eigen.hpp>

int main() {
  streamstats::mean<Eigen::VectorXd> m;
  m.push(Eigen::VectorXd::Zero(3));
  return static_cast<int>(m.count());
}
