#include "image/Png.h"

#include "util/AtomicFile.h"
#include "util/Error.h"

#ifdef MEDSIAM_HAVE_ZLIB
#include <zlib.h>
#endif

#include <algorithm>
#include <cmath>

namespace medsiam::core {

void writePng(const std::string& path, const Image8& image)
{
#ifndef MEDSIAM_HAVE_ZLIB
    (void)image;
    throw UserError("cannot write '" + path + "': medsiam was built without zlib, which PNG needs");
#else
    if (image.empty() || (image.channels != 1 && image.channels != 3))
        throw UserError("cannot write '" + path + "': PNG export takes gray or RGB images");
    // Raw scanlines, each with filter byte 0.
    const size_t stride = static_cast<size_t>(image.width) * image.channels;
    std::string raw;
    raw.reserve((stride + 1) * image.height);
    for (int y = 0; y < image.height; ++y) {
        raw += '\0';
        raw.append(reinterpret_cast<const char*>(image.row(y)), stride);
    }
    uLongf packedSize = compressBound(static_cast<uLong>(raw.size()));
    std::string packed(packedSize, '\0');
    if (compress2(reinterpret_cast<Bytef*>(&packed[0]), &packedSize, reinterpret_cast<const Bytef*>(raw.data()),
                  static_cast<uLong>(raw.size()), 6) != Z_OK)
        throw UserError("cannot write '" + path + "': compression failed");
    packed.resize(packedSize);
    std::string out = "\x89PNG\r\n\x1a\n";
    auto be32 = [](uint32_t v) {
        return std::string{char(v >> 24), char((v >> 16) & 255), char((v >> 8) & 255), char(v & 255)};
    };
    auto chunk = [&](const char* type, const std::string& data) {
        out += be32(static_cast<uint32_t>(data.size()));
        const std::string body = std::string(type, 4) + data;
        out += body;
        out += be32(static_cast<uint32_t>(crc32(0, reinterpret_cast<const Bytef*>(body.data()), static_cast<uInt>(body.size()))));
    };
    std::string ihdr = be32(static_cast<uint32_t>(image.width)) + be32(static_cast<uint32_t>(image.height));
    ihdr += char(8);                                // bit depth
    ihdr += char(image.channels == 3 ? 2 : 0);      // colour type: RGB or gray
    ihdr += std::string(3, '\0');                   // compression, filter, interlace
    chunk("IHDR", ihdr);
    chunk("IDAT", packed);
    chunk("IEND", "");
    writeFileAtomically(path, out);
#endif
}

Image8 heatmapOverlay(const Image8& base, const std::vector<float>& heat, float alpha)
{
    Image8 out(base.width, base.height, 3);
    const size_t n = static_cast<size_t>(base.width) * base.height;
    if (heat.size() != n)
        throw UserError("heatmap and image sizes differ");
    for (size_t i = 0; i < n; ++i) {
        const float h = std::clamp(heat[i], 0.f, 1.f);
        // Blue -> cyan -> yellow -> red.
        const float r = std::clamp(1.5f - std::abs(4 * h - 3), 0.f, 1.f), g = std::clamp(1.5f - std::abs(4 * h - 2), 0.f, 1.f),
                    b = std::clamp(1.5f - std::abs(4 * h - 1), 0.f, 1.f);
        const float colour[3] = {r, g, b};
        for (int c = 0; c < 3; ++c) {
            const float v = base.channels == 3 ? base.pixels[i * 3 + c] : base.pixels[i];
            out.pixels[i * 3 + c] = static_cast<uint8_t>(std::lround((1 - alpha) * v + alpha * 255 * colour[c]));
        }
    }
    return out;
}

} // namespace medsiam::core
