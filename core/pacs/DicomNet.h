#pragma once
// What PacsClient and StorageReceiver share below their public headers: DCMTK set-up, the
// sockets an operation has open (so that cancel() can end a blocked read at once), the transfer
// syntaxes medsiam accepts, and DCMTK conditions said in words. Includes DCMTK: only .cpp files
// in pacs/ include it.
#include "pacs/Pacs.h"

#include <dcmtk/config/osconfig.h>
#include <dcmtk/dcmnet/dcmlayer.h>
#include <dcmtk/dcmnet/dcmtrans.h>
#include <dcmtk/ofstd/ofcond.h>

#include <mutex>
#include <set>
#include <string>
#include <vector>

namespace medsiam::core::pacsnet {

/// Quietens DCMTK's logger (its messages are not the user's) and loads the data dictionary check.
void initialiseOnce();

/// A transport layer that remembers the sockets it hands to DCMTK. shutdownAll() makes every
/// blocked read and write on them return at once: DCMTK then reports a closed connection, and the
/// operation ends as if the peer had gone. Installed through DCMTK's transport-layer hook; the
/// bytes on the wire are plain DICOM, as without it.
class SocketTracker : public DcmTransportLayer {
public:
    DcmTransportConnection* createConnection(DcmNativeSocketType openSocket, OFBool useSecureLayer) override;
    /// Shuts down every open socket; sockets opened later are shut down as they open.
    void shutdownAll();
    /// Forgets an earlier shutdownAll(), for a receiver that starts again.
    void reset();
    void add(DcmNativeSocketType s);
    void remove(DcmNativeSocketType s);

private:
    std::mutex m_mutex;
    std::set<DcmNativeSocketType> m_open;
    bool m_shutdown = false;
};

/// Transfer syntaxes, most faithful first, that medsiam can decode and so accepts: the file is
/// kept as the PACS holds it (no transcoding on the way).
std::vector<std::string> storageTransferSyntaxes();

/// The condition in words, for an operation on `node`: "ORTHANC@10.0.0.5:4242 does not answer
/// (connection refused): is the PACS running, and is the port right?".
std::string describe(const OFCondition& cond, const PacsNode& node, const std::string& ourAe, int connectSeconds,
                     int dimseSeconds);

/// True when the file system holding `path` has (almost) no room left.
bool diskFull(const std::string& path);

} // namespace medsiam::core::pacsnet
