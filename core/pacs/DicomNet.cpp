#include "pacs/DicomNet.h"

#include <dcmtk/dcmdata/dcdict.h>
#include <dcmtk/dcmdata/dcuid.h>
#include <dcmtk/dcmnet/cond.h>
#include <dcmtk/dcmnet/diutil.h>
#include <dcmtk/oflog/oflog.h>

#include <sys/socket.h>
#include <sys/statvfs.h>

#include <filesystem>

namespace medsiam::core::pacsnet {

void initialiseOnce()
{
    static std::once_flag once;
    std::call_once(once, [] { OFLog::configure(OFLogger::FATAL_LOG_LEVEL); });
}

namespace {

/// A plain TCP connection that leaves the tracker's list before it closes, so that a later
/// shutdownAll() never touches a descriptor number the system has handed to someone else.
class TrackedConnection : public DcmTCPConnection {
public:
    TrackedConnection(DcmNativeSocketType s, SocketTracker& tracker) : DcmTCPConnection(s), m_tracker(tracker), m_socket(s) {}
    ~TrackedConnection() override { m_tracker.remove(m_socket); }
    void close() override
    {
        m_tracker.remove(m_socket);
        DcmTCPConnection::close();
    }
    void closeTransportConnection() override
    {
        m_tracker.remove(m_socket);
        DcmTCPConnection::closeTransportConnection();
    }

private:
    SocketTracker& m_tracker;
    DcmNativeSocketType m_socket;
};

} // namespace

DcmTransportConnection* SocketTracker::createConnection(DcmNativeSocketType openSocket, OFBool /*useSecureLayer*/)
{
    // DCMTK asks for a "secure" connection because the layer was installed through its TLS hook;
    // this one is plain TCP (its handshakes do nothing).
    add(openSocket);
    return new TrackedConnection(openSocket, *this);
}

void SocketTracker::add(DcmNativeSocketType s)
{
    std::lock_guard<std::mutex> lock(m_mutex);
    m_open.insert(s);
    if (m_shutdown)
        ::shutdown(s, SHUT_RDWR);
}

void SocketTracker::remove(DcmNativeSocketType s)
{
    std::lock_guard<std::mutex> lock(m_mutex);
    m_open.erase(s);
}

void SocketTracker::shutdownAll()
{
    std::lock_guard<std::mutex> lock(m_mutex);
    m_shutdown = true;
    for (DcmNativeSocketType s : m_open)
        ::shutdown(s, SHUT_RDWR);
}

void SocketTracker::reset()
{
    std::lock_guard<std::mutex> lock(m_mutex);
    m_shutdown = false;
}

std::vector<std::string> storageTransferSyntaxes()
{
    std::vector<std::string> out = {
        UID_LittleEndianExplicitTransferSyntax,
        UID_LittleEndianImplicitTransferSyntax,
        UID_JPEGProcess14SV1TransferSyntax,
        UID_JPEGProcess14TransferSyntax,
        UID_JPEGLSLosslessTransferSyntax,
        UID_RLELosslessTransferSyntax,
        UID_JPEGProcess1TransferSyntax,
        UID_JPEGProcess2_4TransferSyntax,
        UID_JPEGLSLossyTransferSyntax,
        UID_DeflatedExplicitVRLittleEndianTransferSyntax,
        UID_BigEndianExplicitTransferSyntax,
    };
#ifdef MEDSIAM_HAVE_OPENJPEG
    out.insert(out.begin() + 6, UID_JPEG2000LosslessOnlyTransferSyntax);
    out.insert(out.begin() + 7, UID_JPEG2000TransferSyntax);
#endif
    return out;
}

std::string describe(const OFCondition& cond, const PacsNode& node, const std::string& ourAe, int connectSeconds,
                     int dimseSeconds)
{
    const std::string who = node.address();
    const std::string text = cond.text() ? cond.text() : "";
    auto has = [&](const char* s) { return text.find(s) != std::string::npos; };
    if (has("Broken pipe") || has("Connection reset") || has("TCP I/O Error"))
        return who + " closed the connection";
    if (cond == DUL_ASSOCIATIONREJECTED)
        return who + " rejected the association: it does not accept '" + ourAe + "' as the calling AE title, or its own AE title is not '" +
               node.aeTitle + "'. Check both titles, and that the PACS lists this workstation";
    if (has("Connection refused"))
        return who + " does not answer (connection refused): is the PACS running, and is the port " + std::to_string(node.port) + " right?";
    if (has("Name or service not known") || has("Unknown host") || has("unknown host") || has("Temporary failure in name resolution"))
        return "the host '" + node.host + "' of " + who + " is not known: check its name or use its address";
    if (has("No route to host") || has("Network is unreachable") || has("Host is unreachable"))
        return who + " cannot be reached from this machine (no route to the host): check the address and the network";
    if (has("timed out") || has("Timeout") || has("timeout"))
        return who + " gave no answer within " + std::to_string(connectSeconds) + " s: check the host, the port and any firewall";
    if (cond == DIMSE_NODATAAVAILABLE || cond == DUL_READTIMEOUT)
        return who + " stopped answering for " + std::to_string(dimseSeconds) + " s";
    if (cond == DUL_PEERABORTEDASSOCIATION || cond == DUL_NETWORKCLOSED || cond == DIMSE_READPDVFAILED || cond == DIMSE_RECEIVEFAILED ||
        cond == DUL_PEERREQUESTEDRELEASE)
        return who + " closed the connection";
    if (cond == NET_EC_NoAcceptablePresentationContexts)
        return who + " accepted none of the services medsiam asked for";
    return who + ": " + text;
}

bool diskFull(const std::string& path)
{
    struct statvfs st {};
    std::filesystem::path p(path);
    std::error_code ec;
    while (!p.empty() && !std::filesystem::exists(p, ec))
        p = p.parent_path();
    if (::statvfs(p.empty() ? "." : p.c_str(), &st) != 0)
        return false;
    return static_cast<double>(st.f_bavail) * st.f_frsize < 1024.0 * 1024.0;
}

} // namespace medsiam::core::pacsnet
