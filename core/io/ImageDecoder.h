#pragma once
#include "image/Image8.h"
#include "io/ImageFormat.h"

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace medsiam::core {

/// Catalogue facts about one source file, as stored in the project's images table.
/// Patient names are never read: only the PatientID, which the user may pseudonymise.
struct ImageMeta {
    ImageFormat format = ImageFormat::Unknown;
    std::string modality;
    std::string patientId;
    std::string studyUid;
    std::string seriesUid;
    std::string sopUid;
    std::string photometric; ///< DICOM PhotometricInterpretation, or "MONOCHROME2"/"RGB" for others
    std::string transferSyntax;
    int rows = 0;
    int columns = 0;
    int bits = 8;       ///< bits stored per sample in the source
    int frameCount = 1; ///< frames (DICOM), slices along the chosen axis (volumes), items (npz)
    int sliceAxis = -1; ///< volumes: the axis the slices were cut along (see VolumeSlicing)
    /// What the user should know about a file that was decoded anyway ("1,204 pixel values exceed
    /// BitsStored 12 and were masked to it"); the importer records them as warnings. Not stored
    /// in the images table.
    std::vector<std::string> warnings;
};

/// How volumes are cut into 2-D slices.
struct VolumeSlicing {
    int axis = 2;              ///< 0 = sagittal (x), 1 = coronal (y), 2 = axial (z)
    int count = 16;            ///< slices to take, evenly spaced; 0 = every slice
    bool contentOnly = true;   ///< skip slices that are constant (no content)
};

/// Limits that protect against hostile or broken headers. Checked, against the file's real size
/// too, before any large allocation (docs/IMPORT.md lists them).
struct DecodeLimits {
    int64_t maxPixelsPerFrame = int64_t(1) << 26; ///< 67 million pixels, 8192 x 8192
    int64_t maxFrameBytes = int64_t(1) << 30;     ///< 1 GiB
    int64_t maxVolumeVoxels = int64_t(1) << 27;   ///< 134 million voxels (512 x 512 x 512): 512 MiB once read as float
    int64_t maxDecodedBytes = int64_t(1) << 31;   ///< 2 GiB: what one file (a volume, an archive entry) may inflate to
};

struct DecodeOptions {
    int frame = -1; ///< -1: every frame / selected slice; otherwise only this frame or slice index
    VolumeSlicing slicing;
    DecodeLimits limits;
    /// Also return grey frames' real values (DecodedFrame::values) for window/level in a viewer.
    bool keepValues = false;
    /// 0: full resolution. Otherwise a decoder may return frames reduced to no less than this on
    /// their longer side when that saves work (JPEG 2000 then decodes fewer wavelet levels, whose
    /// low-pass band is itself a proper downsampling). The importer asks for its cache size.
    int minLongSide = 0;
    /// The whole file's bytes when the caller has read them already (the importer has, to hash
    /// it); a decoder may parse them instead of reading the file again. Null: read the file.
    const std::string* contents = nullptr;
};

/// One decoded 2-D item of a file. `index` is the frame, slice or archive item number.
/// `label` and `split` are set only by formats that carry them (.npz).
struct DecodedFrame {
    int index = 0;
    Image8 image;
    int label = -1;
    std::string split;
    /// Grey frames, when DecodeOptions::keepValues: the values before the display window
    /// (DICOM modality values, e.g. Hounsfield units; volume intensities; 16-bit raster values),
    /// row-major at image's size, with the window `image` was rendered through.
    std::vector<float> values;
    double windowCentre = 0;
    double windowWidth = 0;
    bool inverted = false; ///< MONOCHROME1: high values were drawn dark
};

/// Receives frames in index order, on the decoding thread.
using FrameSink = std::function<void(DecodedFrame&&)>;

/// Decodes one file format to 8-bit display-ready frames (modality rescale and VOI window
/// applied). Implementations are stateless and may be called from many threads at once.
class ImageDecoder {
public:
    virtual ~ImageDecoder() = default;
    /// Reads `path` and calls `sink` for each selected frame. Returns the file's catalogue facts.
    /// Throws UserError with a plain reason ("truncated pixel data", ...) when the file cannot be
    /// decoded; frames already delivered remain valid.
    virtual ImageMeta decode(const std::string& path, const DecodeOptions& options, const FrameSink& sink) const = 0;
    /// The identifiers a label table may name an image by (DICOM's SOPInstanceUID and PatientID),
    /// read from the header alone, without the pixels; `ok` false when the format has none or the
    /// header cannot be read. Lets a label table be previewed as the import will match it.
    struct Identity {
        bool ok = false;
        std::string sopUid, patientId;
    };
    virtual Identity readIdentity(const std::string& path) const { return {}; }
};

/// The decoders built into this binary. A format whose library was left out of the build has
/// no decoder; unavailableReason() explains that in words for the import log.
class DecoderRegistry {
public:
    static const DecoderRegistry& instance();
    const ImageDecoder* find(ImageFormat format) const;
    std::string unavailableReason(ImageFormat format) const;
    /// Formats with a decoder in this build, for `medsiam-cli --version`.
    std::vector<ImageFormat> supported() const;

private:
    DecoderRegistry();
    std::vector<std::pair<ImageFormat, std::shared_ptr<ImageDecoder>>> m_decoders;
};

} // namespace medsiam::core
