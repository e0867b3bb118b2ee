// bench/device_augment.sh: SimSiam's augmentation per sample on CPU threads (makeBatch) against the
// batched tensor path (makeBatchOnDevice) on the CPU, and on a GPU when there is one: images/s of
// each on the same cache, the same batches and the same views.
#include "data/ImageCache.h"
#include "image/Image8.h"
#include "train/DeviceAugment.h"
#include "train/Features.h"

#include <ATen/ATen.h>
#include <ATen/Context.h>

#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <functional>
#include <string>

using namespace medsiam::core;

int main(int argc, char** argv)
{
    const int side = argc > 1 ? std::atoi(argv[1]) : 128;    // cache resolution
    const int outSize = argc > 2 ? std::atoi(argv[2]) : 112; // network input
    const int batch = argc > 3 ? std::atoi(argv[3]) : 64;
    const int threads = argc > 4 ? std::atoi(argv[4]) : 2;
    const int steps = argc > 5 ? std::atoi(argv[5]) : 20;
    at::set_num_threads(threads);
    const std::string dir = (std::filesystem::temp_directory_path() / ("medsiam-augment-bench-" + std::to_string(::getpid()))).string();
    std::filesystem::create_directories(dir);
    std::vector<CacheEntry> entries;
    {
        ImageCacheWriter writer(dir, side);
        uint64_t s = 1;
        for (int i = 0; i < 512; ++i) {
            FittedImage f;
            f.image = Image8(side, side, 1);
            for (auto& p : f.image.pixels) {
                s = s * 6364136223846793005ull + 1442695040888963407ull;
                p = static_cast<uint8_t>(s >> 56);
            }
            f.content = {0, 0, side, side};
            CacheEntry e = writer.append(f);
            e.imageId = i + 1;
            entries.push_back(e);
        }
        writer.sync();
    }
    ImageCache cache(dir, side, entries);
    const AugmentConfig cfg; // SimSiam's full augmentation
    auto indices = [&](int step) {
        std::vector<int64_t> v(static_cast<size_t>(batch));
        for (int i = 0; i < batch; ++i)
            v[static_cast<size_t>(i)] = (step * batch + i * 7) % 512;
        return v;
    };
    auto run = [&](const std::function<at::Tensor(int)>& make, bool sync) {
        at::Tensor t = make(0);
        double checksum = t.sum().item<double>();
        const auto start = std::chrono::steady_clock::now();
        for (int step = 1; step <= steps; ++step) {
            t = make(step);
            if (sync)
                checksum += t.sum().item<double>(); // waits for the device
        }
        if (!sync)
            checksum += t.sum().item<double>();
        const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
        (void)checksum;
        return steps * double(batch) / seconds;
    };
    std::printf("augmentation of %d x %d px cache images to %d px, batch %d, %d threads, %d batches\n", side, side, outSize, batch,
                threads, steps);
    const double cpu = run([&](int step) { return makeBatch(cache, indices(step), outSize, 1, cfg, InputNormalization::MinusOneToOne, 3, step, 0); }, false);
    std::printf("  per-sample CPU path (makeBatch)        %8.0f images/s\n", cpu);
    const double tensorCpu = run([&](int step) {
        return makeBatchOnDevice(cache, indices(step), outSize, 1, cfg, InputNormalization::MinusOneToOne, 3, step, 0, at::kCPU);
    }, false);
    std::printf("  batched tensor path on the CPU         %8.0f images/s  (%.2fx the CPU path)\n", tensorCpu, tensorCpu / cpu);
    if (at::hasCUDA()) {
        const at::Device gpu(at::kCUDA, 0);
        const double tensorGpu = run([&](int step) {
            return makeBatchOnDevice(cache, indices(step), outSize, 1, cfg, InputNormalization::MinusOneToOne, 3, step, 0, gpu);
        }, true);
        const double copyOnly = run([&](int step) { return makeBatch(cache, indices(step), outSize, 1, cfg, InputNormalization::MinusOneToOne, 3, step, 0).to(gpu); }, true);
        std::printf("  batched tensor path on the GPU         %8.0f images/s  (%.2fx the CPU path)\n", tensorGpu, tensorGpu / cpu);
        std::printf("  CPU path, then copied to the GPU       %8.0f images/s\n", copyOnly);
    }
    std::filesystem::remove_all(dir);
    return 0;
}
