#pragma once
#include "io/ImageDecoder.h"

#include <string>
#include <vector>

namespace medsiam::core {

/// Decodes DICOM files with DCMTK: uncompressed (implicit/explicit VR, little/big endian),
/// JPEG baseline/extended/lossless, JPEG-LS, RLE, and JPEG 2000 through OpenJPEG when built
/// with it. Pixel pipeline, in order: Modality LUT (rescale slope/intercept, or the Modality
/// LUT Sequence), VOI (the first window, else the frame's min-max), MONOCHROME1 inversion.
/// Colour (RGB, YBR_*, PALETTE COLOR) becomes RGB. Each frame of a multi-frame file is a frame.
class DicomDecoder : public ImageDecoder {
public:
    DicomDecoder();
    ImageMeta decode(const std::string& path, const DecodeOptions& options, const FrameSink& sink) const override;
    /// SOPInstanceUID and PatientID from the header; the pixel data is not read.
    Identity readIdentity(const std::string& path) const override;

    struct Tag {
        std::string tag;   ///< "(0010,0020)"
        std::string name;  ///< "PatientID"
        std::string value; ///< printable value, long values shortened
    };
    /// The top-level attributes of a file (meta header and dataset) for a tag panel.
    /// Pixel data and other binary values are summarised. Throws UserError.
    static std::vector<Tag> readTags(const std::string& path);
};

} // namespace medsiam::core
