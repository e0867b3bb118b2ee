#pragma once
#include "io/ImageDecoder.h"

#include <cstdint>
#include <optional>
#include <string>
#include <utility>

namespace medsiam::core {

/// Width and height from the header of a PNG, JPEG, BMP or TIFF (its first page) in `head`, the
/// file's first bytes; nullopt when they are not there.
std::optional<std::pair<int64_t, int64_t>> rasterHeaderSize(const std::string& head);

/// Reads PNG, JPEG, TIFF (every page of a multi-page file is a frame) and BMP with OpenCV.
/// 8-bit samples are kept; 16-bit and other depths are stretched min-max to 8 bits per frame.
/// Colour becomes RGB; alpha is dropped; an RGB image whose channels are all equal is stored
/// as grey. JPEG EXIF orientation is applied.
class RasterDecoder : public ImageDecoder {
public:
    ImageMeta decode(const std::string& path, const DecodeOptions& options, const FrameSink& sink) const override;
};

} // namespace medsiam::core
