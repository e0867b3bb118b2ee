// libFuzzer target: the DICOM decoder (DCMTK, OpenJPEG), from memory as the importer calls it.
#include "FuzzSupport.h"
#include "io/DicomDecoder.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size)
{
    static medsiam::fuzz::MemFile file("dicom");
    static medsiam::core::DicomDecoder decoder;
    const std::string& path = file.write(data, size);
    const std::string contents(reinterpret_cast<const char*>(data), size);
    medsiam::fuzz::expectOnlyUserErrors([&] {
        medsiam::core::DecodeOptions options;
        options.contents = &contents;
        options.minLongSide = 64;
        decoder.decode(path, options, [](medsiam::core::DecodedFrame&&) {});
    });
    return 0;
}
