#pragma once
// The data-parallel side of the training commands (pretrain, finetune, resume, probe): joining the group
// the environment describes, and --nproc N, a run's ranks on this machine started as torchrun would.
#include "train/Distributed.h"

#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace medsiam::cli {

class ArgParser;

/// Where a training command runs: this process's place in a data-parallel group (torchrun's
/// variables, set by hand, by --nproc or by Slurm), and the group; none alone.
struct Ranks {
    core::DistributedEnv env;
    std::unique_ptr<core::ProcessGroup> group;
};

/// --nproc and --dist-timeout, for the commands that run data-parallel.
void addDistributedOptions(ArgParser& p);

/// With --nproc N: starts N ranks of `command` and returns their exit status. Otherwise sets the
/// threads, joins the group this process belongs to (if any) into `ranks`, and returns nullopt.
std::optional<int> startRanks(const ArgParser& p, const std::string& command, const std::vector<std::string>& args, Ranks& ranks);

/// Runs `n` copies of this program (`command` with `args`, --nproc taken out) with torchrun's
/// variables: RANK and LOCAL_RANK 0..n-1, WORLD_SIZE n, MASTER_ADDR 127.0.0.1 and a free
/// MASTER_PORT; each with `threadsEach` threads (--threads; 0: this machine's cores / n). Ctrl-C
/// and SIGTERM are passed on to every rank (they stop together, rank 0 writing the checkpoint).
/// Returns the exit status of the first rank that failed, or 0.
int launchLocalRanks(int n, const std::string& command, const std::vector<std::string>& args, int threadsEach);

/// `args` without --nproc and its value (either "--nproc N" or "--nproc=N").
std::vector<std::string> withoutOption(const std::vector<std::string>& args, const std::string& option);

} // namespace medsiam::cli
