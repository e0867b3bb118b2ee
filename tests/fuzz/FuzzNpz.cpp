// libFuzzer target: MedMNIST-style .npz image archives (medsiam's zip reader and .npy parser).
#include "FuzzSupport.h"
#include "io/NpzDecoder.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size)
{
    static medsiam::fuzz::MemFile file("npz");
    static medsiam::core::NpzDecoder decoder;
    const std::string& path = file.write(data, size);
    medsiam::fuzz::expectOnlyUserErrors(
        [&] { decoder.decode(path, medsiam::core::DecodeOptions{}, [](medsiam::core::DecodedFrame&&) {}); });
    return 0;
}
