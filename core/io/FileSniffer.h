#pragma once
#include "io/ImageFormat.h"

#include <string>

namespace medsiam::core {

/// What a look at a file's first bytes says it is.
struct SniffResult {
    ImageFormat format = ImageFormat::Unknown;
    /// Set when format is Unknown or DicomDir: why the file is not imported, in plain words.
    std::string reason;
};

/// Recognises a file by its content, not its extension: DICOM with or without the 128-byte
/// preamble, DICOMDIR, NIfTI (also gzipped), MetaImage, NRRD, PNG, JPEG, TIFF, BMP and NumPy
/// .npz archives. Reads at most a few kilobytes. Thread-safe.
SniffResult sniffFile(const std::string& path);

} // namespace medsiam::core
