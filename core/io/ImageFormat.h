#pragma once
#include <string>

namespace medsiam::core {

/// The file kinds medsiam recognises by content.
enum class ImageFormat {
    Unknown,
    Dicom,
    DicomDir, ///< a DICOM media directory: an index, not an image; skipped on import
    Nifti,
    MetaImage, ///< .mha / .mhd
    Nrrd,
    Png,
    Jpeg,
    Tiff,
    Bmp,
    Npz, ///< a MedMNIST-style NumPy archive of images and labels
};

/// Short lower-case name stored in the project ("dicom", "nifti", ...).
const char* formatName(ImageFormat format);
/// Inverse of formatName(); Unknown for anything else.
ImageFormat formatFromName(const std::string& name);
/// True for formats that hold a 3-D volume cut into slices on import.
bool isVolumeFormat(ImageFormat format);

} // namespace medsiam::core
