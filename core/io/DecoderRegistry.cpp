#include "io/ImageDecoder.h"

#include "io/NpzDecoder.h"
#ifdef MEDSIAM_HAVE_DCMTK
#include "io/DicomDecoder.h"
#endif
#ifdef MEDSIAM_HAVE_ITK
#include "io/VolumeDecoder.h"
#endif
#ifdef MEDSIAM_HAVE_OPENCV
#include "io/RasterDecoder.h"
#endif

namespace medsiam::core {

DecoderRegistry::DecoderRegistry()
{
#ifdef MEDSIAM_HAVE_DCMTK
    m_decoders.emplace_back(ImageFormat::Dicom, std::make_shared<DicomDecoder>());
#endif
#ifdef MEDSIAM_HAVE_ITK
    auto volume = std::make_shared<VolumeDecoder>();
    for (ImageFormat f : {ImageFormat::Nifti, ImageFormat::MetaImage, ImageFormat::Nrrd})
        m_decoders.emplace_back(f, volume);
#endif
#ifdef MEDSIAM_HAVE_OPENCV
    auto raster = std::make_shared<RasterDecoder>();
    for (ImageFormat f : {ImageFormat::Png, ImageFormat::Jpeg, ImageFormat::Tiff, ImageFormat::Bmp})
        m_decoders.emplace_back(f, raster);
#endif
    m_decoders.emplace_back(ImageFormat::Npz, std::make_shared<NpzDecoder>());
}

const DecoderRegistry& DecoderRegistry::instance()
{
    static const DecoderRegistry registry;
    return registry;
}

const ImageDecoder* DecoderRegistry::find(ImageFormat format) const
{
    for (const auto& [f, d] : m_decoders)
        if (f == format)
            return d.get();
    return nullptr;
}

std::string DecoderRegistry::unavailableReason(ImageFormat format) const
{
    switch (format) {
    case ImageFormat::Dicom:
        return "DICOM support is not built in (medsiam was built without DCMTK)";
    case ImageFormat::Nifti:
    case ImageFormat::MetaImage:
    case ImageFormat::Nrrd:
        return "volume support is not built in (medsiam was built without ITK)";
    case ImageFormat::Png:
    case ImageFormat::Jpeg:
    case ImageFormat::Tiff:
    case ImageFormat::Bmp:
        return "PNG/JPEG/TIFF/BMP support is not built in (medsiam was built without OpenCV)";
    default:
        return "no decoder for this file type";
    }
}

std::vector<ImageFormat> DecoderRegistry::supported() const
{
    std::vector<ImageFormat> out;
    for (const auto& [f, d] : m_decoders)
        out.push_back(f);
    return out;
}

} // namespace medsiam::core
