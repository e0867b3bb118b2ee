#include "io/SourceImage.h"

#include "io/FileSniffer.h"
#include "util/Error.h"

#ifdef MEDSIAM_HAVE_DCMTK
#include "io/DicomDecoder.h"
#endif

#include <filesystem>

namespace medsiam::core {

namespace {

const ImageDecoder& decoderFor(const std::string& path, ImageFormat& format)
{
    std::error_code ec;
    if (!std::filesystem::is_regular_file(path, ec))
        throw UserError("the source file '" + path + "' is missing (moved or deleted since the import?)");
    const SniffResult sniff = sniffFile(path);
    if (sniff.format == ImageFormat::Unknown || sniff.format == ImageFormat::DicomDir)
        throw UserError(sniff.reason.empty() ? std::string("not an image medsiam reads") : sniff.reason);
    const ImageDecoder* decoder = DecoderRegistry::instance().find(sniff.format);
    if (!decoder)
        throw UserError(DecoderRegistry::instance().unavailableReason(sniff.format));
    format = sniff.format;
    return *decoder;
}

} // namespace

SourceFrame decodeSourceFrame(const std::string& path, int frame, int sliceAxis)
{
    ImageFormat format = ImageFormat::Unknown;
    const ImageDecoder& decoder = decoderFor(path, format);
    DecodeOptions options;
    options.frame = std::max(frame, 0);
    options.keepValues = true;
    if (sliceAxis >= 0)
        options.slicing.axis = sliceAxis;
    SourceFrame out;
    bool got = false;
    out.meta = decoder.decode(path, options, [&](DecodedFrame&& f) {
        if (!got && f.index == options.frame) {
            out.frame = std::move(f);
            got = true;
        }
    });
    if (!got)
        throw UserError("frame " + std::to_string(options.frame) + " of '" + path + "' could not be decoded");
    return out;
}

std::vector<SourceTag> readSourceTags(const std::string& path)
{
    ImageFormat format = ImageFormat::Unknown;
    const ImageDecoder& decoder = decoderFor(path, format);
#ifdef MEDSIAM_HAVE_DCMTK
    if (format == ImageFormat::Dicom) {
        std::vector<SourceTag> out;
        for (auto& t : DicomDecoder::readTags(path))
            out.push_back({std::move(t.tag), std::move(t.name), std::move(t.value)});
        return out;
    }
#endif
    DecodeOptions options;
    options.frame = 0;
    const ImageMeta m = decoder.decode(path, options, [](DecodedFrame&&) {});
    std::vector<SourceTag> out = {
        {"", "Format", formatName(m.format)},
        {"", "Columns", std::to_string(m.columns)},
        {"", "Rows", std::to_string(m.rows)},
        {"", "Bits", std::to_string(m.bits)},
        {"", "Frames", std::to_string(m.frameCount)},
        {"", "Photometric", m.photometric},
    };
    if (!m.modality.empty())
        out.push_back({"", "Modality", m.modality});
    if (!m.patientId.empty())
        out.push_back({"", "Patient ID", m.patientId});
    return out;
}

} // namespace medsiam::core
