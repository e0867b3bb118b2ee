#pragma once
#include "io/ImageDecoder.h"

namespace medsiam::core {

/// Reads PNG, JPEG, TIFF (every page of a multi-page file is a frame) and BMP with OpenCV.
/// 8-bit samples are kept; 16-bit and other depths are stretched min-max to 8 bits per frame.
/// Colour becomes RGB; alpha is dropped; an RGB image whose channels are all equal is stored
/// as grey. JPEG EXIF orientation is applied.
class RasterDecoder : public ImageDecoder {
public:
    ImageMeta decode(const std::string& path, const DecodeOptions& options, const FrameSink& sink) const override;
};

} // namespace medsiam::core
