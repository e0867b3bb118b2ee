#include "io/ImageFormat.h"

namespace medsiam::core {

namespace {
struct Entry {
    ImageFormat format;
    const char* name;
};
constexpr Entry kNames[] = {
    {ImageFormat::Unknown, "unknown"}, {ImageFormat::Dicom, "dicom"}, {ImageFormat::DicomDir, "dicomdir"},
    {ImageFormat::Nifti, "nifti"},     {ImageFormat::MetaImage, "mha"}, {ImageFormat::Nrrd, "nrrd"},
    {ImageFormat::Png, "png"},         {ImageFormat::Jpeg, "jpeg"},    {ImageFormat::Tiff, "tiff"},
    {ImageFormat::Bmp, "bmp"},         {ImageFormat::Npz, "npz"},
};
} // namespace

const char* formatName(ImageFormat format)
{
    for (const auto& e : kNames)
        if (e.format == format)
            return e.name;
    return "unknown";
}

ImageFormat formatFromName(const std::string& name)
{
    for (const auto& e : kNames)
        if (name == e.name)
            return e.format;
    return ImageFormat::Unknown;
}

bool isVolumeFormat(ImageFormat format)
{
    return format == ImageFormat::Nifti || format == ImageFormat::MetaImage || format == ImageFormat::Nrrd;
}

} // namespace medsiam::core
