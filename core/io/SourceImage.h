#pragma once
#include "io/ImageDecoder.h"

#include <string>
#include <vector>

namespace medsiam::core {

/// One frame of a source file at full resolution, for a viewer: the 8-bit rendering, the grey
/// values behind it (when the format has them) and the file's facts.
struct SourceFrame {
    ImageMeta meta;
    DecodedFrame frame;
};

/// Decodes frame `frame` (a DICOM frame, a volume slice along `sliceAxis` (-1: axial), a TIFF
/// page or an archive item) of a file from its source, not the cache, with its values kept.
/// Throws UserError in plain words (missing file, unknown format, no such frame, ...).
SourceFrame decodeSourceFrame(const std::string& path, int frame, int sliceAxis = -1);

/// A row of a file's attribute panel.
struct SourceTag {
    std::string tag;   ///< "(0028,0010)" for DICOM, empty for other formats
    std::string name;  ///< "Rows"
    std::string value;
};

/// The attributes a tag panel shows: every top-level DICOM attribute (binary values summarised),
/// or, for other formats, the facts medsiam reads (format, size, bit depth, frames).
/// Throws UserError.
std::vector<SourceTag> readSourceTags(const std::string& path);

} // namespace medsiam::core
