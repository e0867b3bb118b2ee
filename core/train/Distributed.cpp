#include "train/Distributed.h"

#include "util/Error.h"
#include "util/Text.h"

#include <ATen/ATen.h>

#ifdef MEDSIAM_HAVE_GLOO
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#endif

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <map>
#include <thread>

namespace medsiam::core {

namespace {

int intVar(const std::function<const char*(const char*)>& getenv, const char* name, long long lo, long long hi)
{
    const char* v = getenv(name);
    long long n = 0;
    if (!v || !text::parseInt(v, n) || n < lo || n > hi)
        throw UserError(std::string("distributed training: ") + name + " must be a whole number from " + std::to_string(lo) + " to " +
                        std::to_string(hi) + ", not '" + (v ? v : "") + "'");
    return static_cast<int>(n);
}

int64_t nowMs()
{
    return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

} // namespace

std::string DistributedEnv::describe() const
{
    if (!distributed())
        return "one process";
    return "rank " + std::to_string(rank) + " of " + std::to_string(worldSize) + " (local rank " + std::to_string(localRank) +
           "), master " + masterAddr + ":" + std::to_string(masterPort) + (source.empty() ? "" : ", from " + source);
}

std::string firstSlurmHost(const std::string& list)
{
    // The first entry: up to the first comma outside brackets.
    size_t depth = 0, end = list.size();
    for (size_t i = 0; i < list.size(); ++i) {
        if (list[i] == '[')
            ++depth;
        else if (list[i] == ']' && depth)
            --depth;
        else if (list[i] == ',' && depth == 0) {
            end = i;
            break;
        }
    }
    std::string entry = text::trim(list.substr(0, end));
    // Each bracket holds a list of numbers or ranges: keep the first number as written ("03").
    std::string out;
    for (size_t i = 0; i < entry.size(); ++i) {
        if (entry[i] != '[') {
            out += entry[i];
            continue;
        }
        const size_t close = entry.find(']', i);
        if (close == std::string::npos)
            throw UserError("distributed training: the Slurm node list '" + list + "' has an unclosed bracket");
        const std::string inside = entry.substr(i + 1, close - i - 1);
        out += inside.substr(0, inside.find_first_of(",-"));
        i = close;
    }
    return out;
}

DistributedEnv distributedEnvFromEnvironment(const std::function<const char*(const char*)>& getenvIn)
{
    const std::function<const char*(const char*)> getenv = getenvIn ? getenvIn : [](const char* n) -> const char* { return std::getenv(n); };
    DistributedEnv env;
    auto has = [&](const char* n) { return getenv(n) && *getenv(n); };
    if (has("MASTER_PORT"))
        env.masterPort = intVar(getenv, "MASTER_PORT", 1, 65535);
    if (has("RANK") || has("WORLD_SIZE")) {
        if (!has("RANK") || !has("WORLD_SIZE"))
            throw UserError(std::string("distributed training: ") + (has("RANK") ? "RANK is set but WORLD_SIZE is not" : "WORLD_SIZE is set but RANK is not") +
                            " (set both, with MASTER_ADDR and MASTER_PORT, or use torchrun or medsiam-cli --nproc)");
        env.worldSize = intVar(getenv, "WORLD_SIZE", 1, 65536);
        env.rank = intVar(getenv, "RANK", 0, env.worldSize - 1);
        env.localRank = has("LOCAL_RANK") ? intVar(getenv, "LOCAL_RANK", 0, env.worldSize - 1) : env.rank;
        if (env.distributed() && !has("MASTER_ADDR"))
            throw UserError("distributed training: MASTER_ADDR is not set (the host of rank 0, e.g. 127.0.0.1 on one machine)");
        if (has("MASTER_ADDR"))
            env.masterAddr = getenv("MASTER_ADDR");
        env.source = "torchrun variables";
        return env;
    }
    if (has("SLURM_PROCID") && has("SLURM_NTASKS")) {
        env.worldSize = intVar(getenv, "SLURM_NTASKS", 1, 65536);
        env.rank = intVar(getenv, "SLURM_PROCID", 0, env.worldSize - 1);
        env.localRank = has("SLURM_LOCALID") ? intVar(getenv, "SLURM_LOCALID", 0, env.worldSize - 1) : 0;
        if (has("MASTER_ADDR"))
            env.masterAddr = getenv("MASTER_ADDR");
        else if (has("SLURM_JOB_NODELIST") || has("SLURM_NODELIST"))
            env.masterAddr = firstSlurmHost(getenv(has("SLURM_JOB_NODELIST") ? "SLURM_JOB_NODELIST" : "SLURM_NODELIST"));
        else if (env.distributed())
            throw UserError("distributed training: under Slurm, neither MASTER_ADDR nor SLURM_JOB_NODELIST says where rank 0 runs");
        env.source = "Slurm";
        return env;
    }
    return env;
}

void checkBatchShards(int batch, int world)
{
    if (world > 1 && batch % world != 0)
        throw UserError("the batch of " + std::to_string(batch) + " does not divide into " + std::to_string(world) +
                        " processes: each takes an equal share (use a batch that is a multiple of " + std::to_string(world) + ")");
}

#ifdef MEDSIAM_HAVE_GLOO

bool distributedAvailable() { return true; }

struct ProcessGroup::State {
    DistributedEnv env;
    std::chrono::milliseconds timeout;
    c10::intrusive_ptr<c10d::TCPStore> store;
    c10::intrusive_ptr<c10d::ProcessGroupGloo> group;
    // Each rank marks itself alive every second on a store connection of its own, so that a
    // failed collective can say which rank stopped.
    c10::intrusive_ptr<c10d::TCPStore> heartbeatStore;
    std::thread heartbeat;
    std::atomic<bool> stopping{false};

    static std::string aliveKey(int r) { return "medsiam/alive/" + std::to_string(r); }

    c10::intrusive_ptr<c10d::TCPStore> connect(bool server, std::chrono::milliseconds wait) const
    {
        c10d::TCPStoreOptions o;
        o.port = static_cast<std::uint16_t>(env.masterPort);
        o.isServer = server;
        o.waitWorkers = false;
        o.timeout = wait;
        return c10::make_intrusive<c10d::TCPStore>(env.masterAddr, o);
    }

    /// Why a collective failed, in words: which ranks have stopped marking themselves alive.
    [[noreturn]] void fail(const char* what, const std::exception& e)
    {
        std::string gloo = e.what();
        if (const size_t nl = gloo.find('\n'); nl != std::string::npos)
            gloo.resize(nl);
        std::vector<int> silent;
        bool storeGone = false;
        try {
            auto probe = connect(false, std::chrono::milliseconds(3000));
            // A rank that has died stops within a second and a half of beats; wait that long.
            const auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(3500);
            do {
                silent.clear();
                for (int r = 0; r < env.worldSize; ++r) {
                    if (r == env.rank)
                        continue;
                    const std::string key = aliveKey(r);
                    if (!probe->check({key})) {
                        silent.push_back(r);
                        continue;
                    }
                    const auto v = probe->get(key);
                    const int64_t last = std::stoll(std::string(v.begin(), v.end()));
                    if (nowMs() - last > 2500)
                        silent.push_back(r);
                }
                if (!silent.empty())
                    break;
                std::this_thread::sleep_for(std::chrono::milliseconds(250));
            } while (std::chrono::steady_clock::now() < until);
        } catch (const std::exception&) {
            storeGone = true; // rank 0 hosts the store: it is gone
        }
        std::string who;
        if (storeGone && env.rank != 0)
            who = "rank 0 (the master, " + env.masterAddr + ":" + std::to_string(env.masterPort) + ") stopped answering";
        else if (!silent.empty()) {
            who = silent.size() == 1 ? "rank " : "ranks ";
            for (size_t i = 0; i < silent.size(); ++i)
                who += (i ? ", " : "") + std::to_string(silent[i]);
            who += " stopped answering";
        } else {
            who = "the group failed";
        }
        throw UserError("distributed training (" + env.describe() + "): " + who + " during " + what +
                        "; this rank stops too (what the last checkpoint holds is kept). Gloo: " + gloo);
    }
};

ProcessGroup::ProcessGroup(const DistributedEnv& env, int timeoutSeconds) : m_state(std::make_unique<State>())
{
    State& s = *m_state;
    s.env = env;
    s.timeout = std::chrono::milliseconds(int64_t(timeoutSeconds) * 1000);
    const std::string where = env.masterAddr + ":" + std::to_string(env.masterPort);
    try {
        s.store = s.connect(env.rank == 0, s.timeout);
    } catch (const std::exception& e) {
        std::string why = e.what();
        if (const size_t nl = why.find('\n'); nl != std::string::npos)
            why.resize(nl);
        throw UserError(env.rank == 0 ? "distributed training: rank 0 cannot listen on " + where + " (" + why +
                                            "): is another run using MASTER_PORT " + std::to_string(env.masterPort) + "?"
                                      : "distributed training: rank " + std::to_string(env.rank) + " cannot reach the master at " + where +
                                            " within " + std::to_string(timeoutSeconds) + " s (" + why +
                                            "): is MASTER_ADDR right, and is rank 0 running?");
    }
    try {
        // Join: every rank says its world size; rank 0 checks that they agree.
        const std::string world = std::to_string(env.worldSize);
        s.store->set("medsiam/world-of/" + std::to_string(env.rank), std::vector<uint8_t>(world.begin(), world.end()));
        s.store->add("medsiam/joined", 1);
        const auto deadline = std::chrono::steady_clock::now() + s.timeout;
        int64_t count = 0;
        while ((count = s.store->add("medsiam/joined", 0)) < env.worldSize) {
            if (std::chrono::steady_clock::now() > deadline)
                throw UserError("distributed training: only " + std::to_string(count) + " of " + world + " ranks joined at " + where +
                                " within " + std::to_string(timeoutSeconds) + " s: is WORLD_SIZE right, and did every rank start?");
            std::this_thread::sleep_for(std::chrono::milliseconds(50));
        }
        if (count > env.worldSize)
            throw UserError("distributed training: " + std::to_string(count) + " processes joined a group of " + world +
                            ": is WORLD_SIZE the same for every rank, or is another run on MASTER_PORT " + std::to_string(env.masterPort) + "?");
        for (int r = 0; r < env.worldSize; ++r) {
            const auto v = s.store->get("medsiam/world-of/" + std::to_string(r));
            if (std::string(v.begin(), v.end()) != world)
                throw UserError("distributed training: rank " + std::to_string(r) + " was started with WORLD_SIZE " + std::string(v.begin(), v.end()) +
                                ", rank " + std::to_string(env.rank) + " with " + world);
        }
    } catch (const UserError&) {
        throw;
    } catch (const std::exception& e) {
        std::string why = e.what();
        if (const size_t nl = why.find('\n'); nl != std::string::npos)
            why.resize(nl);
        throw UserError("distributed training: the master at " + where + " stopped answering while the ranks were joining (" + why +
                        "): rank 0 has ended; its own message says why");
    }
    auto options = c10d::ProcessGroupGloo::Options::create(s.timeout);
    // The network Gloo talks over: GLOO_SOCKET_IFNAME's interface (as in PyTorch), loopback for
    // a group on one machine, else the address this machine's name resolves to.
    const char* ifname = std::getenv("GLOO_SOCKET_IFNAME");
    const bool loopback = env.masterAddr == "localhost" || env.masterAddr.rfind("127.", 0) == 0;
    options->devices.push_back(ifname && *ifname ? c10d::ProcessGroupGloo::createDeviceForInterface(ifname)
                               : loopback        ? c10d::ProcessGroupGloo::createDeviceForHostname("127.0.0.1")
                                                 : c10d::ProcessGroupGloo::createDefaultDevice());
    try {
        s.group = c10::make_intrusive<c10d::ProcessGroupGloo>(s.store, env.rank, env.worldSize, options);
    } catch (const std::exception& e) {
        s.fail("joining the group", e);
    }
    s.heartbeatStore = s.connect(false, s.timeout);
    const std::string alive = State::aliveKey(env.rank);
    auto beat = [&s, alive] {
        const std::string t = std::to_string(nowMs());
        s.heartbeatStore->set(alive, std::vector<uint8_t>(t.begin(), t.end()));
    };
    beat();
    s.heartbeat = std::thread([&s, beat] {
        while (!s.stopping) {
            for (int i = 0; i < 10 && !s.stopping; ++i)
                std::this_thread::sleep_for(std::chrono::milliseconds(50));
            try {
                beat();
            } catch (const std::exception&) {
                return; // the store is gone: the next collective says so
            }
        }
    });
}

ProcessGroup::~ProcessGroup()
{
    m_state->stopping = true;
    if (m_state->heartbeat.joinable())
        m_state->heartbeat.join();
}

int ProcessGroup::rank() const { return m_state->env.rank; }
int ProcessGroup::size() const { return m_state->env.worldSize; }

void ProcessGroup::allreduceMean(const std::vector<at::Tensor>& tensors) { reduceInPlace(tensors, true, "an all-reduce of gradients"); }

void ProcessGroup::allreduceSumInPlace(const std::vector<at::Tensor>& tensors, const char* what) { reduceInPlace(tensors, false, what); }

void ProcessGroup::reduceInPlace(const std::vector<at::Tensor>& tensors, bool mean, const char* what)
{
    std::map<at::ScalarType, std::vector<at::Tensor>> byType;
    for (const auto& t : tensors)
        if (t.defined())
            byType[t.scalar_type()].push_back(t);
    for (auto& [type, list] : byType) {
        // Gloo sums no 16-bit floats (bf16 under autocast): they travel, and are summed, as float32.
        const at::ScalarType wire = type == at::kBFloat16 || type == at::kHalf ? at::kFloat : type;
        std::vector<at::Tensor> flat;
        for (const auto& t : list)
            flat.push_back(t.detach().reshape({-1}).to(at::kCPU).to(wire));
        std::vector<at::Tensor> bucket{at::cat(flat)};
        try {
            c10d::AllreduceOptions o;
            o.reduceOp = c10d::ReduceOp::SUM;
            m_state->group->allreduce(bucket, o)->wait(m_state->timeout);
        } catch (const std::exception& e) {
            m_state->fail(what, e);
        }
        if (mean)
            bucket[0].div_(double(size()));
        int64_t offset = 0;
        for (auto& t : list) {
            const int64_t n = t.numel();
            at::NoGradGuard guard;
            t.copy_(bucket[0].narrow(0, offset, n).view(t.sizes()));
            offset += n;
        }
    }
}

std::vector<double> ProcessGroup::allreduceSum(const std::vector<double>& values)
{
    std::vector<at::Tensor> t{at::tensor(values, at::kDouble)};
    try {
        c10d::AllreduceOptions o;
        o.reduceOp = c10d::ReduceOp::SUM;
        m_state->group->allreduce(t, o)->wait(m_state->timeout);
    } catch (const std::exception& e) {
        m_state->fail("an all-reduce", e);
    }
    return std::vector<double>(t[0].data_ptr<double>(), t[0].data_ptr<double>() + values.size());
}

void ProcessGroup::broadcast(const std::vector<at::Tensor>& tensors, int root)
{
    for (const auto& t : tensors) {
        if (!t.defined())
            continue;
        std::vector<at::Tensor> one{t.detach().to(at::kCPU).contiguous()};
        try {
            c10d::BroadcastOptions o;
            o.rootRank = root;
            m_state->group->broadcast(one, o)->wait(m_state->timeout);
        } catch (const std::exception& e) {
            m_state->fail("a broadcast", e);
        }
        at::NoGradGuard guard;
        t.copy_(one[0]);
    }
}

std::string ProcessGroup::broadcastString(const std::string& value, int root)
{
    std::vector<double> n = {rank() == root ? double(value.size()) : 0.0};
    n = allreduceSum(n);
    at::Tensor bytes = at::zeros({static_cast<int64_t>(n[0])}, at::kByte);
    if (rank() == root && !value.empty())
        std::memcpy(bytes.data_ptr<uint8_t>(), value.data(), value.size());
    if (bytes.numel() > 0)
        broadcast({bytes}, root);
    return std::string(reinterpret_cast<const char*>(bytes.data_ptr<uint8_t>()), static_cast<size_t>(bytes.numel()));
}

void ProcessGroup::barrier()
{
    try {
        m_state->group->barrier()->wait(m_state->timeout);
    } catch (const std::exception& e) {
        m_state->fail("a barrier", e);
    }
}

#else

bool distributedAvailable() { return false; }

struct ProcessGroup::State {};

ProcessGroup::ProcessGroup(const DistributedEnv&, int)
{
    throw UserError("distributed training: this build has no Gloo backend (install libgloo-dev, scripts/install-deps.sh does, and rebuild)");
}
ProcessGroup::~ProcessGroup() = default;
int ProcessGroup::rank() const { return 0; }
int ProcessGroup::size() const { return 1; }
void ProcessGroup::allreduceMean(const std::vector<at::Tensor>&) {}
void ProcessGroup::allreduceSumInPlace(const std::vector<at::Tensor>&, const char*) {}
void ProcessGroup::reduceInPlace(const std::vector<at::Tensor>&, bool, const char*) {}
std::vector<double> ProcessGroup::allreduceSum(const std::vector<double>& v) { return v; }
void ProcessGroup::broadcast(const std::vector<at::Tensor>&, int) {}
std::string ProcessGroup::broadcastString(const std::string& v, int) { return v; }
void ProcessGroup::barrier() {}

#endif

} // namespace medsiam::core
