#pragma once
#include "image/Image8.h"

#include <string>
#include <vector>

namespace medsiam::core {

/// A display window over real-valued pixels: values in [centre - width/2, centre + width/2]
/// map linearly onto 0..255 (DICOM PS3.3 C.11.2.1.2, linear function).
struct WindowLevel {
    double centre = 127.5;
    double width = 255.0;
};

/// A named window for CT, in Hounsfield units.
struct WindowPreset {
    std::string name;
    WindowLevel window;
};

/// The usual CT presets: lung, bone, brain and soft tissue.
const std::vector<WindowPreset>& ctWindowPresets();

/// Renders grey values (width x height, row-major) through a window to 8 bits; `invert` draws
/// high values dark (MONOCHROME1).
Image8 applyWindow(const std::vector<float>& values, int width, int height, WindowLevel window, bool invert);

/// Windows an 8-bit image (grey or RGB, each channel alike), reading its bytes as values 0..255.
Image8 applyWindow(const Image8& image, WindowLevel window);

/// The window after a right-button drag of (dx, dy) screen pixels started at `start`, as in
/// radiology viewers: dragging right widens the window, dragging down raises the level.
/// `valueRange` (max - min of the image) scales the sensitivity so that a 512-pixel drag spans
/// the whole range. The width never drops below 1/1000 of the range.
WindowLevel dragWindow(WindowLevel start, int dx, int dy, double valueRange);

/// Bilinear resample of grey values from w x h to nw x nh (pixel centres aligned).
std::vector<float> resizeValues(const std::vector<float>& values, int w, int h, int nw, int nh);

/// The min and max of the values (0, 1 when empty).
std::pair<double, double> valueRange(const std::vector<float>& values);

} // namespace medsiam::core
