// libFuzzer target: volume headers, medsiam's own checks (and, in a build with ITK, the volumes
// ITK then reads). The first byte picks the file name's extension, as ITK chooses its reader by it.
#include "FuzzSupport.h"
#include "io/VolumeHeader.h"
#ifdef MEDSIAM_HAVE_ITK
#include "io/VolumeDecoder.h"
#endif

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size)
{
    if (size < 1)
        return 0;
    static const char* extensions[] = {".mha", ".nii", ".nrrd", ".nii.gz"};
#ifdef MEDSIAM_HAVE_ITK
    static medsiam::core::VolumeDecoder decoder;
#endif
    const std::string path = medsiam::fuzz::writeShmFile(extensions[data[0] % 4], data + 1, size - 1);
    medsiam::core::DecodeOptions options;
    options.slicing.count = 2;
    medsiam::fuzz::expectOnlyUserErrors([&] {
        medsiam::core::checkVolumeHeaderFile(path, options.limits);
#ifdef MEDSIAM_HAVE_ITK
        decoder.decode(path, options, [](medsiam::core::DecodedFrame&&) {});
#endif
    });
    return 0;
}
