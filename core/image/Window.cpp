#include "image/Window.h"

#include <algorithm>
#include <cmath>

namespace medsiam::core {

namespace {

inline uint8_t windowed(double v, double lo, double scale)
{
    return static_cast<uint8_t>(std::clamp((v - lo) * scale, 0.0, 255.0) + 0.5);
}

} // namespace

const std::vector<WindowPreset>& ctWindowPresets()
{
    static const std::vector<WindowPreset> presets = {
        {"CT lung", {-600, 1500}},
        {"CT bone", {400, 1800}},
        {"CT brain", {40, 80}},
        {"CT soft tissue", {50, 400}},
    };
    return presets;
}

Image8 applyWindow(const std::vector<float>& values, int width, int height, WindowLevel window, bool invert)
{
    Image8 out(width, height, 1);
    const size_t n = std::min(values.size(), out.pixels.size());
    const double w = std::max(window.width, 1e-9);
    const double lo = window.centre - w / 2;
    const double scale = 255.0 / w;
    for (size_t i = 0; i < n; ++i) {
        const uint8_t g = windowed(values[i], lo, scale);
        out.pixels[i] = invert ? static_cast<uint8_t>(255 - g) : g;
    }
    return out;
}

Image8 applyWindow(const Image8& image, WindowLevel window)
{
    Image8 out(image.width, image.height, image.channels);
    const double w = std::max(window.width, 1e-9);
    const double lo = window.centre - w / 2;
    const double scale = 255.0 / w;
    uint8_t lut[256];
    for (int v = 0; v < 256; ++v)
        lut[v] = windowed(v, lo, scale);
    for (size_t i = 0; i < image.pixels.size(); ++i)
        out.pixels[i] = lut[image.pixels[i]];
    return out;
}

WindowLevel dragWindow(WindowLevel start, int dx, int dy, double valueRange)
{
    const double range = valueRange > 0 ? valueRange : 1.0;
    const double step = range / 512.0;
    WindowLevel w;
    w.width = std::max(start.width + dx * step, range / 1000.0);
    w.centre = start.centre + dy * step;
    return w;
}

std::vector<float> resizeValues(const std::vector<float>& values, int w, int h, int nw, int nh)
{
    std::vector<float> out(size_t(nw) * nh);
    if (w <= 0 || h <= 0 || values.size() < size_t(w) * h)
        return out;
    auto coord = [](int i, int n, int m, int& a, int& b, float& t) {
        const double x = std::clamp((i + 0.5) * n / m - 0.5, 0.0, double(n - 1));
        a = static_cast<int>(x);
        b = std::min(a + 1, n - 1);
        t = static_cast<float>(x - a);
    };
    for (int y = 0; y < nh; ++y) {
        int y0, y1;
        float ty;
        coord(y, h, nh, y0, y1, ty);
        for (int x = 0; x < nw; ++x) {
            int x0, x1;
            float tx;
            coord(x, w, nw, x0, x1, tx);
            const float top = values[size_t(y0) * w + x0] * (1 - tx) + values[size_t(y0) * w + x1] * tx;
            const float bottom = values[size_t(y1) * w + x0] * (1 - tx) + values[size_t(y1) * w + x1] * tx;
            out[size_t(y) * nw + x] = top * (1 - ty) + bottom * ty;
        }
    }
    return out;
}

std::pair<double, double> valueRange(const std::vector<float>& values)
{
    if (values.empty())
        return {0.0, 1.0};
    const auto [mn, mx] = std::minmax_element(values.begin(), values.end());
    return {*mn, *mx};
}

} // namespace medsiam::core
