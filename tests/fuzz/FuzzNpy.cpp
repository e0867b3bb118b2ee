// libFuzzer target: the strict .npy parser.
#include "FuzzSupport.h"
#include "io/NpyArray.h"

#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size)
{
    medsiam::fuzz::expectOnlyUserErrors([&] {
        const auto a = medsiam::core::parseNpy(std::vector<uint8_t>(data, data + size), "fuzz input");
        for (int64_t i = 0; i < a.elementCount() && i < 64; ++i)
            (void)a.asDouble(i);
    });
    return 0;
}
