#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>

namespace medsiam::core {

/// A decoded JPEG 2000 image: components interleaved per pixel, samples as int32 with the
/// codestream's own precision and signedness.
struct Jpeg2000Image {
    int width = 0;
    int height = 0;
    int components = 0;
    int precision = 0;
    bool isSigned = false;
    std::vector<int32_t> samples;
};

/// Decodes a JPEG 2000 codestream (J2K) or JP2 file held in memory with OpenJPEG. Throws
/// UserError when the data cannot be decoded. Thread-safe.
Jpeg2000Image decodeJpeg2000(const uint8_t* data, size_t size);

} // namespace medsiam::core
