#pragma once
// Data-parallel training over processes with PyTorch's own distributed engine (c10d): who this
// process is in the group (from torchrun's variables, the same set by hand, or Slurm's), and a
// Gloo process group over TCP with a TCPStore rendezvous on the master. Every wait has a timeout;
// a rank that dies makes the others fail with a message that names it, never hang.
#include <ATen/core/Tensor.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace medsiam::core {

/// This process's place in a training group. worldSize 1: training alone.
struct DistributedEnv {
    int rank = 0;
    int worldSize = 1;
    int localRank = 0;
    std::string masterAddr = "127.0.0.1";
    int masterPort = 29500;
    std::string source; ///< where it came from: "torchrun variables", "Slurm", or "" (alone)
    bool distributed() const { return worldSize > 1; }
    /// "rank 1 of 2 (local rank 1), master 127.0.0.1:29500, from torchrun variables".
    std::string describe() const;
};

/// Reads RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR and MASTER_PORT (set by torchrun, by
/// medsiam-cli --nproc, or by hand); without them, Slurm's SLURM_PROCID, SLURM_NTASKS,
/// SLURM_LOCALID and the first host of SLURM_JOB_NODELIST (MASTER_PORT, else 29500); without
/// either, one process alone. Throws UserError for a partial or impossible set (a rank outside
/// the world, a port that is not one), naming the variable.
DistributedEnv distributedEnvFromEnvironment(const std::function<const char*(const char*)>& getenv = nullptr);

/// The first host of a Slurm node list: "gpu[03-05,09],cpu1" -> "gpu03", "node7" -> "node7".
std::string firstSlurmHost(const std::string& nodelist);

/// Throws UserError when a run's batch does not divide into `world` equal shares (each rank takes
/// batch / world of every step's batch).
void checkBatchShards(int batch, int world);

/// True when this build has the Gloo backend (libgloo-dev at build time).
bool distributedAvailable();

/// A Gloo process group: joins the group at construction (rank 0 hosts the TCPStore), with
/// `timeoutSeconds` for joining and for every collective. Collectives on CPU tensors. A failure
/// (a rank gone, a timeout) throws UserError naming the ranks that stopped answering.
class ProcessGroup {
public:
    ProcessGroup(const DistributedEnv& env, int timeoutSeconds = 120);
    ~ProcessGroup();
    ProcessGroup(const ProcessGroup&) = delete;
    ProcessGroup& operator=(const ProcessGroup&) = delete;

    int rank() const;
    int size() const;
    /// Averages the tensors over the ranks, in place, in one flat bucket per dtype (one
    /// all-reduce instead of one per tensor).
    void allreduceMean(const std::vector<at::Tensor>& tensors);
    /// Sums the tensors over the ranks, in place, bucketed as allreduceMean; `what` names the
    /// collective in a failure's message.
    void allreduceSumInPlace(const std::vector<at::Tensor>& tensors, const char* what);
    /// Sums a few numbers over the ranks.
    std::vector<double> allreduceSum(const std::vector<double>& values);
    /// Copies root's tensors to every rank, in place.
    void broadcast(const std::vector<at::Tensor>& tensors, int root = 0);
    /// Root's string on every rank.
    std::string broadcastString(const std::string& value, int root = 0);
    /// Waits until every rank is here.
    void barrier();

    struct State;

private:
    void reduceInPlace(const std::vector<at::Tensor>& tensors, bool mean, const char* what);
    std::unique_ptr<State> m_state;
};

} // namespace medsiam::core
