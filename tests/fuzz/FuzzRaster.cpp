// libFuzzer target: PNG, JPEG, TIFF and BMP through the raster module (OpenCV).
#include "FuzzSupport.h"
#include "io/RasterDecoder.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size)
{
    static medsiam::fuzz::MemFile file("raster");
    static medsiam::core::RasterDecoder decoder;
    const std::string& path = file.write(data, size);
    medsiam::fuzz::expectOnlyUserErrors(
        [&] { decoder.decode(path, medsiam::core::DecodeOptions{}, [](medsiam::core::DecodedFrame&&) {}); });
    return 0;
}
