#include "io/RasterDecoder.h"

#include "io/FileSniffer.h"
#include "io/raster/RasterModule.h"
#include "util/Error.h"
#include "util/SafeSize.h"

#include <dlfcn.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>

#include <exception>
#include <filesystem>
#include <vector>

namespace medsiam::core {

namespace {

namespace fs = std::filesystem;

/// libmedsiam_raster.so, opened on first use: from $MEDSIAM_RASTER_MODULE when set (that file only),
/// else from the installed executables' ../lib/medsiam, else where this build tree made it.
struct RasterModule {
    MedsiamRasterReadFn read = nullptr;
    std::string problem; ///< why it could not be loaded
};

const RasterModule& rasterModule()
{
    static const RasterModule module = [] {
        RasterModule m;
        // OpenCV checks a header's size against this before it allocates (its default allows a
        // billion pixels); read once, when its library is loaded with the module.
        ::setenv("OPENCV_IO_MAX_IMAGE_PIXELS", std::to_string(DecodeLimits{}.maxPixelsPerFrame).c_str(), 0);
        std::vector<std::string> candidates;
        std::error_code ec;
        if (const char* path = std::getenv("MEDSIAM_RASTER_MODULE")) {
            candidates.emplace_back(path); // this one and no other
        } else {
            const fs::path exe = fs::read_symlink("/proc/self/exe", ec);
            if (!ec)
                candidates.push_back((exe.parent_path() / "../lib/medsiam/libmedsiam_raster.so").lexically_normal().string());
#ifdef MEDSIAM_RASTER_MODULE_BUILD_PATH
            candidates.emplace_back(MEDSIAM_RASTER_MODULE_BUILD_PATH);
#endif
        }
        for (const std::string& path : candidates) {
            if (!fs::exists(path, ec)) {
                m.problem = path + " does not exist";
                continue;
            }
            void* handle = ::dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
            if (!handle) {
                const char* why = ::dlerror();
                m.problem = "cannot load " + path + ": " + (why ? why : "unknown error");
                continue;
            }
            m.read = reinterpret_cast<MedsiamRasterReadFn>(::dlsym(handle, MEDSIAM_RASTER_READ_SYMBOL));
            if (m.read)
                return m; // kept loaded for the life of the process
            m.problem = path + " is not medsiam's raster module";
            ::dlclose(handle);
        }
        if (candidates.size() > 1)
            m.problem = "libmedsiam_raster.so was found neither in the executable's ../lib/medsiam nor in the build tree";
        return m;
    }();
    return module;
}

struct SinkContext {
    const DecodeOptions* options = nullptr;
    const FrameSink* sink = nullptr;
    ImageMeta* meta = nullptr;
    bool first = true;
    std::exception_ptr failure;
};

int deliverPage(const MedsiamRasterPage* page, void* context)
{
    auto* c = static_cast<SinkContext*>(context);
    try {
        if (c->first) {
            c->meta->columns = page->width;
            c->meta->rows = page->height;
            c->meta->bits = page->bitsPerSample;
            c->meta->photometric = page->channels == 3 ? "RGB" : "MONOCHROME2";
            c->first = false;
        }
        DecodedFrame f;
        f.index = page->index;
        Image8 img(page->width, page->height, page->channels);
        std::copy_n(page->pixels, img.pixels.size(), img.pixels.data());
        f.image = collapseGreyRgb(std::move(img));
        if (c->options->keepValues && page->values && f.image.channels == 1) {
            f.values.assign(page->values, page->values + static_cast<size_t>(page->width) * page->height);
            f.windowCentre = page->windowCentre;
            f.windowWidth = page->windowWidth;
        }
        (*c->sink)(std::move(f));
        return 0;
    } catch (...) {
        c->failure = std::current_exception(); // rethrown once the module has returned
        return 1;
    }
}

uint32_t be32(const std::string& s, size_t at)
{
    return uint32_t(uint8_t(s[at])) << 24 | uint32_t(uint8_t(s[at + 1])) << 16 | uint32_t(uint8_t(s[at + 2])) << 8 | uint8_t(s[at + 3]);
}
uint16_t be16(const std::string& s, size_t at) { return static_cast<uint16_t>(uint8_t(s[at]) << 8 | uint8_t(s[at + 1])); }
uint32_t le32(const std::string& s, size_t at)
{
    return uint32_t(uint8_t(s[at])) | uint32_t(uint8_t(s[at + 1])) << 8 | uint32_t(uint8_t(s[at + 2])) << 16 | uint32_t(uint8_t(s[at + 3])) << 24;
}
uint16_t le16(const std::string& s, size_t at) { return static_cast<uint16_t>(uint8_t(s[at]) | uint8_t(s[at + 1]) << 8); }

} // namespace

std::optional<std::pair<int64_t, int64_t>> rasterHeaderSize(const std::string& h)
{
    if (h.size() >= 24 && std::memcmp(h.data(), "\x89PNG\r\n\x1a\n", 8) == 0 && std::memcmp(h.data() + 12, "IHDR", 4) == 0)
        return std::make_pair(int64_t(be32(h, 16)), int64_t(be32(h, 20)));
    if (h.size() >= 26 && h[0] == 'B' && h[1] == 'M') {
        const int32_t w = static_cast<int32_t>(le32(h, 18)), ht = static_cast<int32_t>(le32(h, 22));
        return std::make_pair(std::abs(int64_t(w)), std::abs(int64_t(ht)));
    }
    if (h.size() >= 4 && uint8_t(h[0]) == 0xFF && uint8_t(h[1]) == 0xD8) {
        // JPEG: walk the marker segments up to the frame header (SOF0 .. SOF15 but DHT, JPG, DAC).
        size_t p = 2;
        while (p + 4 <= h.size()) {
            if (uint8_t(h[p]) != 0xFF)
                return std::nullopt;
            const uint8_t marker = uint8_t(h[p + 1]);
            if (marker == 0xFF) {
                ++p;
                continue;
            }
            if (marker == 0xD9 || marker == 0xDA)
                return std::nullopt;
            const uint16_t length = be16(h, p + 2);
            if (marker >= 0xC0 && marker <= 0xCF && marker != 0xC4 && marker != 0xC8 && marker != 0xCC) {
                if (p + 9 > h.size())
                    return std::nullopt;
                return std::make_pair(int64_t(be16(h, p + 7)), int64_t(be16(h, p + 5)));
            }
            p += 2 + length;
        }
        return std::nullopt;
    }
    if (h.size() >= 8 && ((h[0] == 'I' && h[1] == 'I') || (h[0] == 'M' && h[1] == 'M'))) {
        // TIFF: the first page's ImageWidth (256) and ImageLength (257).
        const bool le = h[0] == 'I';
        auto u16 = [&](size_t at) { return le ? le16(h, at) : be16(h, at); };
        auto u32 = [&](size_t at) { return le ? le32(h, at) : be32(h, at); };
        const uint64_t ifd = u32(4);
        if (ifd + 2 > h.size())
            return std::nullopt;
        const uint16_t entries = u16(static_cast<size_t>(ifd));
        int64_t w = -1, ht = -1;
        for (uint64_t e = 0; e < entries && ifd + 2 + 12 * (e + 1) <= h.size(); ++e) {
            const size_t at = static_cast<size_t>(ifd + 2 + 12 * e);
            const uint16_t tag = u16(at), type = u16(at + 2);
            const int64_t value = type == 3 ? u16(at + 8) : type == 4 ? int64_t(u32(at + 8)) : -1;
            if (tag == 256)
                w = value;
            else if (tag == 257)
                ht = value;
        }
        if (w >= 0 && ht >= 0)
            return std::make_pair(w, ht);
    }
    return std::nullopt;
}

ImageMeta RasterDecoder::decode(const std::string& path, const DecodeOptions& options, const FrameSink& sink) const
{
    // The format (a TIFF may hold several pages) from the bytes the caller read, if it did.
    const SniffResult sniff = options.contents ? sniffHead(path, options.contents->substr(0, kSniffBytes), options.contents->size())
                                               : sniffFile(path);
    {
        // A header claiming a giant image is refused before any library allocates it.
        std::string head;
        if (options.contents) {
            head = options.contents->substr(0, 65536);
        } else if (FILE* f = std::fopen(path.c_str(), "rb")) {
            head.resize(65536);
            head.resize(std::fread(head.data(), 1, head.size(), f));
            std::fclose(f);
        }
        if (const auto size = rasterHeaderSize(head)) {
            int64_t pixels = 0;
            if (!checkedMul(size->first, size->second, pixels) || pixels > options.limits.maxPixelsPerFrame)
                throw UserError("image too large: the header says " + std::to_string(size->first) + "x" + std::to_string(size->second) +
                                " pixels, over the limit of " + std::to_string(options.limits.maxPixelsPerFrame));
            if (size->first == 0 || size->second == 0)
                throw UserError("the header says the image is " + std::to_string(size->first) + "x" + std::to_string(size->second) + " pixels");
        }
    }
    const RasterModule& module = rasterModule();
    if (!module.read)
        throw UserError("PNG/JPEG/TIFF/BMP support could not be loaded: " + module.problem);
    ImageMeta m;
    m.format = sniff.format;
    SinkContext context;
    context.options = &options;
    context.sink = &sink;
    context.meta = &m;
    int pages = 0;
    char error[512] = "";
    const int status = module.read(path.c_str(), sniff.format == ImageFormat::Tiff, options.frame, options.keepValues ? 1 : 0,
                                   options.limits.maxPixelsPerFrame, deliverPage, &context, &pages, error, sizeof error);
    if (context.failure)
        std::rethrow_exception(context.failure);
    switch (status) {
    case MEDSIAM_RASTER_OK:
        break;
    case MEDSIAM_RASTER_ERROR:
        throw UserError(std::string("cannot decode image: ") + error);
    case MEDSIAM_RASTER_TOO_LARGE:
        throw UserError("image too large");
    default:
        throw UserError(std::string("cannot decode ") + formatName(sniff.format) + " image (corrupt, truncated or unsupported)");
    }
    m.frameCount = pages;
    if (options.frame >= m.frameCount)
        throw UserError("page " + std::to_string(options.frame) + " does not exist");
    return m;
}

} // namespace medsiam::core
