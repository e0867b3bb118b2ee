#include "Launcher.h"

#include "ArgParser.h"

#include "system/Runtime.h"
#include "util/Error.h"

#include <arpa/inet.h>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>

extern char** environ;

namespace medsiam::cli {

namespace {

std::vector<pid_t> g_ranks;

extern "C" void passOn(int signal)
{
    for (pid_t p : g_ranks)
        ::kill(p, signal);
}

int freeLoopbackPort()
{
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    int port = 0;
    if (fd >= 0 && ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0 && ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0)
        port = ntohs(a.sin_port);
    if (fd >= 0)
        ::close(fd);
    if (port == 0)
        throw core::UserError("--nproc: no free port on 127.0.0.1 for the ranks to meet on");
    return port;
}

} // namespace

std::vector<std::string> withoutOption(const std::vector<std::string>& args, const std::string& option)
{
    std::vector<std::string> out;
    const std::string flag = "--" + option;
    for (size_t i = 0; i < args.size(); ++i) {
        if (args[i] == flag) {
            ++i; // and its value
            continue;
        }
        if (args[i].rfind(flag + "=", 0) == 0)
            continue;
        out.push_back(args[i]);
    }
    return out;
}

int launchLocalRanks(int n, const std::string& command, const std::vector<std::string>& argsIn, int threadsEach)
{
    char self[4096];
    const ssize_t len = ::readlink("/proc/self/exe", self, sizeof self - 1);
    if (len <= 0)
        throw core::UserError("--nproc: cannot find this program's own path (/proc/self/exe)");
    self[len] = 0;
    std::vector<std::string> args = withoutOption(withoutOption(argsIn, "nproc"), "threads");
    if (threadsEach <= 0) {
        const unsigned cores = std::max(1u, std::thread::hardware_concurrency());
        threadsEach = static_cast<int>(std::max(1u, cores / static_cast<unsigned>(n)));
    }
    args.push_back("--threads");
    args.push_back(std::to_string(threadsEach));
    const int port = freeLoopbackPort();
    std::fprintf(stderr, "starting %d ranks on this machine (master 127.0.0.1:%d, %d thread%s each)\n", n, port, threadsEach,
                 threadsEach == 1 ? "" : "s");
    // Ctrl-C and SIGTERM are passed on to every rank (a rank asked twice stops once), and the
    // launcher waits for them: they stop together, at the same step.
    std::signal(SIGINT, passOn);
    std::signal(SIGTERM, passOn);
    for (int r = 0; r < n; ++r) {
        const pid_t pid = ::fork();
        if (pid < 0)
            throw core::UserError(std::string("--nproc: cannot start rank ") + std::to_string(r) + ": " + std::strerror(errno));
        if (pid == 0) {
            std::signal(SIGINT, SIG_DFL);
            std::signal(SIGTERM, SIG_DFL);
            ::setenv("RANK", std::to_string(r).c_str(), 1);
            ::setenv("LOCAL_RANK", std::to_string(r).c_str(), 1);
            ::setenv("WORLD_SIZE", std::to_string(n).c_str(), 1);
            ::setenv("LOCAL_WORLD_SIZE", std::to_string(n).c_str(), 1);
            ::setenv("MASTER_ADDR", "127.0.0.1", 1);
            ::setenv("MASTER_PORT", std::to_string(port).c_str(), 1);
            std::vector<char*> argv;
            argv.push_back(self);
            argv.push_back(const_cast<char*>(command.c_str()));
            for (auto& a : args)
                argv.push_back(const_cast<char*>(a.c_str()));
            argv.push_back(nullptr);
            ::execve(self, argv.data(), environ);
            std::fprintf(stderr, "--nproc: cannot start rank %d: %s\n", r, std::strerror(errno));
            std::_Exit(127);
        }
        g_ranks.push_back(pid);
    }
    std::vector<int> status(static_cast<size_t>(n), 0);
    for (int left = n; left > 0;) {
        int st = 0;
        const pid_t pid = ::waitpid(-1, &st, 0);
        if (pid < 0) {
            if (errno == EINTR)
                continue;
            break;
        }
        for (int r = 0; r < n; ++r)
            if (g_ranks[static_cast<size_t>(r)] == pid) {
                status[static_cast<size_t>(r)] = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
                --left;
            }
    }
    g_ranks.clear();
    std::signal(SIGINT, SIG_DFL);
    std::signal(SIGTERM, SIG_DFL);
    for (int r = 0; r < n; ++r)
        if (status[static_cast<size_t>(r)] != 0) {
            std::fprintf(stderr, "rank %d ended with status %d\n", r, status[static_cast<size_t>(r)]);
            return status[static_cast<size_t>(r)];
        }
    return 0;
}

std::optional<int> startRanks(const ArgParser& p, const std::string& command, const std::vector<std::string>& args, Ranks& ranks)
{
    ranks.env = core::distributedEnvFromEnvironment();
    if (const int nproc = p.intValue("nproc", 1, 1024); nproc > 1) {
        if (ranks.env.distributed())
            throw UsageError("--nproc starts its own ranks; this process is already " + ranks.env.describe() + ": leave --nproc out");
        return launchLocalRanks(nproc, command, args, p.has("threads") ? p.threads() : 0);
    }
    core::configureThreads(p.threads());
    if (ranks.env.distributed()) {
        ranks.group = std::make_unique<core::ProcessGroup>(ranks.env, p.intValue("dist-timeout", 10, 7 * 24 * 3600));
        if (ranks.env.rank == 0)
            std::fprintf(stderr, "data-parallel over %d processes (%s)\n", ranks.env.worldSize, ranks.env.source.c_str());
    }
    return std::nullopt;
}

void addDistributedOptions(ArgParser& p)
{
    p.option("nproc", "N", "train data-parallel in N processes on this machine (each with --threads threads, "
                           "default cores / N); torchrun, Slurm's srun or RANK/WORLD_SIZE/MASTER_ADDR/MASTER_PORT start "
                           "ranks too (docs/SCALE.md)", "1")
        .option("dist-timeout", "SECONDS", "data-parallel: give up on a rank that stays silent this long", "600");
}

} // namespace medsiam::cli
