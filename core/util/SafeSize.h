#pragma once
// Overflow-safe size arithmetic for sizes read from file headers.
#include <cstdint>
#include <initializer_list>
#include <vector>

namespace medsiam::core {

/// a x b, or false when it does not fit in 64 bits (or either is negative).
inline bool checkedMul(int64_t a, int64_t b, int64_t& out)
{
    if (a < 0 || b < 0)
        return false;
    return !__builtin_mul_overflow(a, b, &out);
}

/// The product of the factors, or false on overflow or a negative factor.
inline bool checkedProduct(const std::vector<int64_t>& factors, int64_t& out)
{
    int64_t n = 1;
    for (int64_t f : factors)
        if (!checkedMul(n, f, n))
            return false;
    out = n;
    return true;
}

/// The most a deflate stream (zlib, gzip, zip) can expand: about 1032 to 1, plus a little for
/// headers. A stream that claims more is lying about its size.
constexpr double kMaxDeflateRatio = 1032.0;

/// Whether `declared` bytes can come out of `compressed` bytes of deflate data.
inline bool plausiblyInflates(uint64_t compressed, uint64_t declared)
{
    return double(declared) <= double(compressed) * kMaxDeflateRatio + 4096.0;
}

} // namespace medsiam::core
