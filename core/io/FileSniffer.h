#pragma once
#include "io/ImageFormat.h"

#include <cstddef>
#include <cstdint>
#include <string>

namespace medsiam::core {

/// What a look at a file's first bytes says it is.
struct SniffResult {
    ImageFormat format = ImageFormat::Unknown;
    /// Set when format is Unknown or DicomDir: why the file is not imported, in plain words.
    std::string reason;
};

/// How many of a file's first bytes sniffHead looks at.
constexpr size_t kSniffBytes = 4096;

/// Recognises a file by its content, not its extension: DICOM with or without the 128-byte
/// preamble, DICOMDIR, NIfTI (also gzipped), MetaImage, NRRD, PNG, JPEG, TIFF, BMP and NumPy
/// .npz archives. Reads at most a few kilobytes. Thread-safe.
SniffResult sniffFile(const std::string& path);

/// The same from bytes already read: the file's first kSniffBytes bytes (all of a smaller file)
/// and its size. `path` names the file (DICOMDIR is also known by name; a gzip file is opened to
/// look inside).
SniffResult sniffHead(const std::string& path, const std::string& head, uint64_t size);

} // namespace medsiam::core
