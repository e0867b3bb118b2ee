#pragma once
// A small PNG writer (8-bit gray or RGB, zlib) for exports such as Grad-CAM overlays, so that
// medsiam-cli needs no image library to write them.
#include "image/Image8.h"

#include <string>
#include <vector>

namespace medsiam::core {

/// Writes `image` (1 or 3 channels) as a PNG, atomically. Throws UserError (also when medsiam was
/// built without zlib).
void writePng(const std::string& path, const Image8& image);

/// A heatmap (width x height values in [0, 1]) blended over a gray or colour image of the same
/// size with a blue-to-red colour map; `alpha` is the heatmap's weight.
Image8 heatmapOverlay(const Image8& base, const std::vector<float>& heat, float alpha = 0.45f);

} // namespace medsiam::core
