#pragma once
#include "io/ImageDecoder.h"

namespace medsiam::core {

/// Reads NIfTI (.nii, .nii.gz), MetaImage (.mha/.mhd) and NRRD volumes with ITK and cuts them
/// into 2-D slices along DecodeOptions::slicing.axis. Intensities are windowed to 8 bits with
/// the volume's min-max. Coronal and sagittal slices are shown superior-up and resampled to
/// square pixels when the voxel spacing is anisotropic. See docs/IMPORT.md.
class VolumeDecoder : public ImageDecoder {
public:
    VolumeDecoder();
    ImageMeta decode(const std::string& path, const DecodeOptions& options, const FrameSink& sink) const override;
};

/// The slice indices that a VolumeSlicing picks out of `sliceCount` slices, given which of them
/// have content. Evenly spaced over the slices with content, in increasing order.
std::vector<int> selectSlices(const std::vector<bool>& hasContent, const VolumeSlicing& slicing);

} // namespace medsiam::core
