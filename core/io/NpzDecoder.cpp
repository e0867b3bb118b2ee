#include "io/NpzDecoder.h"

#include "io/NpyArray.h"
#include "io/ZipArchive.h"
#include "util/Error.h"

namespace medsiam::core {

ImageMeta NpzDecoder::decode(const std::string& path, const DecodeOptions& options, const FrameSink& sink) const
{
    ZipArchive zip(path);
    ImageMeta meta;
    meta.format = ImageFormat::Npz;
    meta.photometric = "MONOCHROME2";
    meta.frameCount = 0;

    struct Part {
        std::string split;
        std::string imagesKey;
        std::string labelsKey;
    };
    std::vector<Part> parts;
    for (const char* s : {"train", "val", "test"})
        if (zip.find(std::string(s) + "_images.npy"))
            parts.push_back({s, std::string(s) + "_images.npy", std::string(s) + "_labels.npy"});
    if (parts.empty() && zip.find("images.npy"))
        parts.push_back({"", "images.npy", "labels.npy"});
    if (parts.empty())
        throw UserError("NumPy archive without image arrays (expected train_images/val_images/test_images or images)");

    int base = 0;
    for (const Part& part : parts) {
        NpyArray images = parseNpy(zip.read(*zip.find(part.imagesKey), uint64_t(options.limits.maxDecodedBytes)), part.imagesKey);
        if (images.kind != 'u' || images.itemSize != 1)
            throw UserError(part.imagesKey + ": expected uint8 images, found " + images.dtypeName());
        const auto& s = images.shape;
        const bool colour = s.size() == 4 && s[3] == 3;
        if (!(s.size() == 3 || colour))
            throw UserError(part.imagesKey + ": expected shape N x H x W or N x H x W x 3, found " + images.shapeText());
        const int n = static_cast<int>(s[0]), h = static_cast<int>(s[1]), w = static_cast<int>(s[2]);
        const int c = colour ? 3 : 1;
        if (static_cast<int64_t>(h) * w > options.limits.maxPixelsPerFrame)
            throw UserError(part.imagesKey + ": images of " + std::to_string(w) + "x" + std::to_string(h) + " exceed the size limit");

        std::vector<int> labels(n, -1);
        if (const auto* le = zip.find(part.labelsKey)) {
            NpyArray l = parseNpy(zip.read(*le, uint64_t(options.limits.maxDecodedBytes)), part.labelsKey);
            const bool single = (l.shape.size() == 1 || (l.shape.size() == 2 && l.shape[1] == 1));
            if (!single || l.shape[0] != n || l.kind == 'f')
                throw UserError(part.labelsKey + ": expected " + std::to_string(n) + " integer class labels, found " +
                                l.dtypeName() + " " + l.shapeText() + " (multi-label archives are not supported)");
            for (int i = 0; i < n; ++i)
                labels[i] = static_cast<int>(l.asInt(i));
        }
        meta.rows = h;
        meta.columns = w;
        meta.frameCount += n;
        const size_t bytes = static_cast<size_t>(h) * w * c;
        for (int i = 0; i < n; ++i) {
            const int index = base + i;
            if (options.frame >= 0 && options.frame != index)
                continue;
            DecodedFrame f;
            f.index = index;
            f.image = Image8(w, h, c);
            std::copy_n(images.data.data() + bytes * i, bytes, f.image.pixels.data());
            f.label = labels[i];
            f.split = part.split;
            sink(std::move(f));
        }
        if (colour)
            meta.photometric = "RGB";
        base += n;
    }
    return meta;
}

} // namespace medsiam::core
