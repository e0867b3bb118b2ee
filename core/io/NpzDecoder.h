#pragma once
#include "io/ImageDecoder.h"

namespace medsiam::core {

/// Reads MedMNIST-style NumPy archives: `{train,val,test}_images` (N x H x W or N x H x W x 3,
/// uint8) with matching `{split}_labels` (N or N x 1 integers), or plain `images`/`labels`.
/// Each image becomes a frame carrying its label and split; frame indices run over the
/// splits in the order train, val, test.
class NpzDecoder : public ImageDecoder {
public:
    ImageMeta decode(const std::string& path, const DecodeOptions& options, const FrameSink& sink) const override;
};

} // namespace medsiam::core
