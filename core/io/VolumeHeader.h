#pragma once
// Checks of volume headers (NIfTI, MetaImage, NRRD) before a library reads the file: sizes are
// checked against the file and against the limits, with overflow-safe arithmetic, so that a
// hostile or broken header can neither make a library allocate gigabytes nor loop on a
// nonsensical field (ITK's MetaIO never returns from NDims = -1).
#include "io/ImageDecoder.h"

#include <cstdint>
#include <string>
#include <vector>

namespace medsiam::core {

/// What a volume's header declares.
struct VolumeHeaderFacts {
    ImageFormat format = ImageFormat::Unknown;
    std::vector<int64_t> dims; ///< voxels along each axis (all >= 1)
    int bytesPerSample = 0;
    int64_t samplesPerVoxel = 1;
    int64_t voxels = 0;        ///< product of dims (without samples)
    uint64_t dataBytes = 0;    ///< uncompressed voxel data the header promises
    bool compressed = false;
    std::string dataFile;      ///< the file holding the voxels (the header file itself when attached)
};

/// Reads and checks the header of a volume file (`head`: its first bytes, at least 4 KiB or the
/// whole file; `fileSize`: its size). Throws UserError in plain words ("NDims is -1", "the header
/// promises 8.6 GB of voxels but the file holds 9.8 kB", "exceeds the limit of ...").
VolumeHeaderFacts checkVolumeHeader(const std::string& path, const std::string& head, uint64_t fileSize,
                                    const DecodeLimits& limits);

/// The same, reading the head itself.
VolumeHeaderFacts checkVolumeHeaderFile(const std::string& path, const DecodeLimits& limits);

} // namespace medsiam::core
