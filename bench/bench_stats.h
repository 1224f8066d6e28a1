// Median and p95 of a benchmark's samples (nearest rank), shared by the
// benches that print them.
#ifndef CODEEXEC_BENCH_BENCH_STATS_H_
#define CODEEXEC_BENCH_BENCH_STATS_H_

#include <algorithm>
#include <vector>

namespace codeexec::bench {

struct Stats {
  double median = 0, p95 = 0;
};

inline Stats Summarize(std::vector<double> values) {
  if (values.empty()) return {};
  std::sort(values.begin(), values.end());
  const auto at = [&](double q) {
    return values[std::min(values.size() - 1,
                           static_cast<size_t>(q * (values.size() - 1) + 0.5))];
  };
  return {at(0.5), at(0.95)};
}

}  // namespace codeexec::bench

#endif  // CODEEXEC_BENCH_BENCH_STATS_H_
