#include "io/RasterDecoder.h"

#include "io/FileSniffer.h"
#include "io/raster/RasterModule.h"
#include "util/Error.h"

#include <dlfcn.h>
#include <unistd.h>

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

} // namespace

ImageMeta RasterDecoder::decode(const std::string& path, const DecodeOptions& options, const FrameSink& sink) const
{
    // The format (a TIFF may hold several pages) from the bytes the caller read, if it did.
    const SniffResult sniff = options.contents ? sniffHead(path, options.contents->substr(0, kSniffBytes), options.contents->size())
                                               : sniffFile(path);
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
