// Must NOT compile: covariance<T, Eigen::Dynamic> would allocate; the static_assert says so.
#include <streamstats/eigen.hpp>

int main() {
  streamstats::covariance<double, Eigen::Dynamic> c;
  return static_cast<int>(c.count());
}
