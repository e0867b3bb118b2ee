#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>

namespace medsiam::core {

/// An 8-bit image with interleaved channels: 1 (grey) or 3 (RGB). Row-major, no padding.
struct Image8 {
    int width = 0;
    int height = 0;
    int channels = 0;
    std::vector<uint8_t> pixels;

    Image8() = default;
    Image8(int w, int h, int c) : width(w), height(h), channels(c), pixels(static_cast<size_t>(w) * h * c, 0) {}
    bool empty() const { return width <= 0 || height <= 0 || pixels.empty(); }
    size_t byteSize() const { return pixels.size(); }
    uint8_t* row(int y) { return pixels.data() + static_cast<size_t>(y) * width * channels; }
    const uint8_t* row(int y) const { return pixels.data() + static_cast<size_t>(y) * width * channels; }
};

/// Where the image content lies inside a letterboxed square (the rest is zero padding).
struct ContentRect {
    int x = 0;
    int y = 0;
    int width = 0;
    int height = 0;
};

/// An image fitted to a square side: the content, scaled with its aspect ratio kept, centred
/// on a black square.
struct FittedImage {
    Image8 image;
    ContentRect content;
};

/// Resamples to w x h with an antialiasing triangle filter (area-like when shrinking, bilinear
/// when enlarging). Channels are kept.
Image8 resizeImage(const Image8& src, int w, int h);

/// Letterboxes src into a side x side square: scales it so that its longer edge is `side`,
/// keeps the aspect ratio, centres it and pads with black. See docs/IMPORT.md.
FittedImage fitToSquare(const Image8& src, int side);

/// Nearest-neighbour resample to w x h (the sampling DICOM reference tools use for thumbnails).
Image8 resizeNearest(const Image8& src, int w, int h);

/// Collapses an RGB image whose three channels are identical everywhere to one channel;
/// returns the image unchanged otherwise.
Image8 collapseGreyRgb(Image8 src);

} // namespace medsiam::core
