#pragma once
// medsiam-cli pretrain|resume --nproc N: the ranks of a data-parallel run on this machine, started
// as torchrun would start them.
#include <string>
#include <vector>

namespace medsiam::cli {

/// Runs `n` copies of this program (`command` with `args`, --nproc taken out) with torchrun's
/// variables: RANK and LOCAL_RANK 0..n-1, WORLD_SIZE n, MASTER_ADDR 127.0.0.1 and a free
/// MASTER_PORT; each with `threadsEach` threads (--threads; 0: this machine's cores / n). Ctrl-C
/// and SIGTERM are passed on to every rank (they stop together, rank 0 writing the checkpoint).
/// Returns the exit status of the first rank that failed, or 0.
int launchLocalRanks(int n, const std::string& command, const std::vector<std::string>& args, int threadsEach);

/// `args` without --nproc and its value (either "--nproc N" or "--nproc=N").
std::vector<std::string> withoutOption(const std::vector<std::string>& args, const std::string& option);

} // namespace medsiam::cli
