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
    int reduction = 0; ///< resolution levels dropped: width and height are ceil(full / 2^reduction)
    std::vector<int32_t> samples;
};

/// Decodes a JPEG 2000 codestream (J2K) or JP2 file held in memory with OpenJPEG. With
/// `minLongSide` > 0, the finest resolution levels are skipped as long as the longer side stays at
/// least that long. Throws UserError when the data cannot be decoded. Thread-safe.
/// `headerSigned` (0 or 1; -1 unknown) is the container's signedness: when the codestream says
/// otherwise its samples are reinterpreted after decoding, which filtered (reduced) samples do
/// not survive, so such images are always decoded in full.
Jpeg2000Image decodeJpeg2000(const uint8_t* data, size_t size, int minLongSide = 0, int headerSigned = -1);

} // namespace medsiam::core
