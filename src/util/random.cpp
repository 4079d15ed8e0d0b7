#include "util/random.hpp"

#include <random>

namespace util {
namespace {

std::mt19937_64& generator() {
  static thread_local std::mt19937_64 rng{std::random_device{}()};
  return rng;
}

}  // namespace

double random_unit() {
  return std::uniform_real_distribution<double>(0.0, 1.0)(generator());
}

std::uint64_t random_u64() {
  return generator()();
}

}  // namespace util
