#pragma once

// The one random source for timing spreads and ids: each thread's own mt19937_64, seeded once
// from std::random_device. Not for secrets.

#include <cstdint>

namespace util {

// A uniform draw in [0, 1).
double random_unit();
// 64 uniform random bits.
std::uint64_t random_u64();

}  // namespace util
