// One rank of the distributed tests (TestDistributed starts two): joins the group its environment
// describes and runs a scenario, printing what it saw on stdout and errors on stderr.
//   distributed_worker collectives|die|join TIMEOUT_SECONDS
//   distributed_worker allreduce-time TIMEOUT_SECONDS FLOATS   (bench/data_parallel.sh)
#include "train/Distributed.h"
#include "util/Error.h"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <chrono>
#include <thread>

using namespace medsiam::core;

int main(int argc, char** argv)
{
    if (argc < 3)
        return 2;
    const std::string scenario = argv[1];
    const int timeout = std::atoi(argv[2]);
    at::set_num_threads(1);
    try {
        const DistributedEnv env = distributedEnvFromEnvironment();
        ProcessGroup group(env, timeout);
        std::printf("joined %s\n", env.describe().c_str());
        std::fflush(stdout);
        if (scenario == "collectives") {
            // Tensors of two types and shapes: the mean over ranks of rank-dependent values.
            at::Tensor a = at::full({2, 3}, float(group.rank() + 1));
            at::Tensor b = at::arange(5, at::kDouble) * double(group.rank() + 1);
            at::Tensor c = at::full({7}, float(10 * group.rank()));
            group.allreduceMean({a, b, c});
            std::printf("mean a %.6f b4 %.6f c %.6f\n", a[1][2].item<float>(), b[4].item<double>(), c[6].item<float>());
            at::Tensor w = at::full({4}, float(100 + group.rank()));
            group.broadcast({w}, 0);
            std::printf("broadcast %.1f\n", w[3].item<float>());
            std::printf("string '%s'\n", group.broadcastString(group.rank() == 0 ? "run-42" : "").c_str());
            const auto sum = group.allreduceSum({1.0, double(group.rank())});
            std::printf("sum %.0f %.0f\n", sum[0], sum[1]);
            group.barrier();
        } else if (scenario == "allreduce-time" && argc > 3) {
            // What one step's gradient all-reduce costs: FLOATS values in one bucket, 10 times.
            at::Tensor g = at::ones({std::atoll(argv[3])});
            group.allreduceMean({g});
            const auto start = std::chrono::steady_clock::now();
            for (int i = 0; i < 10; ++i)
                group.allreduceMean({g});
            const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count() / 10;
            std::printf("all-reduce of %lld floats (%.0f MB): %.1f ms\n", static_cast<long long>(g.numel()), g.numel() * 4 / 1e6, ms);
        } else if (scenario == "die") {
            // Rank 1 ends abruptly after joining; rank 0's next collective must say so.
            if (group.rank() == 1) {
                std::this_thread::sleep_for(std::chrono::milliseconds(300));
                std::_Exit(3);
            }
            at::Tensor a = at::ones({16});
            for (int i = 0; i < 1000; ++i) {
                group.allreduceMean({a});
                std::this_thread::sleep_for(std::chrono::milliseconds(10));
            }
        }
        std::printf("done\n");
        return 0;
    } catch (const UserError& e) {
        std::fprintf(stderr, "%s\n", e.what());
        return 1;
    }
}
