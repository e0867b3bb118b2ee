#include "pacs/StorageReceiver.h"

#include "pacs/DicomNet.h"
#include "util/Error.h"
#include "util/Text.h"

#include <dcmtk/dcmdata/dcdeftag.h>
#include <dcmtk/dcmdata/dcfilefo.h>
#include <dcmtk/dcmdata/dcuid.h>
#include <dcmtk/dcmnet/cond.h>
#include <dcmtk/dcmnet/diutil.h>
#include <dcmtk/dcmnet/scp.h>

#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <mutex>
#include <thread>

namespace fs = std::filesystem;

namespace medsiam::core {

namespace {

std::string headerString(DcmDataset* ds, const DcmTagKey& key)
{
    OFString v;
    if (ds && ds->findAndGetOFString(key, v).good())
        return text::trim(std::string(v.c_str()));
    return {};
}

} // namespace

struct StorageReceiver::Impl : public DcmSCP {
    Options options;
    std::function<void(const ReceivedInstance&)> onReceived;
    std::function<void(const std::string&)> onProblem;
    pacsnet::SocketTracker tracker;
    std::atomic<bool> stopFlag{false};
    std::atomic<bool> runningFlag{false};
    std::atomic<size_t> received{0};
    std::atomic<size_t> failed{0};
    std::atomic<uint64_t> partCounter{0};
    std::thread thread;
    bool contextsAdded = false;

    void problem(const std::string& message)
    {
        ++failed;
        if (onProblem)
            onProblem(message);
    }

    OFBool stopAfterConnectionTimeout() override { return stopFlag.load(); }
    OFBool stopAfterCurrentAssociation() override { return stopFlag.load(); }
    OFBool checkCalledAETitleAccepted(const OFString& calledAE) override
    {
        return text::trim(std::string(calledAE.c_str())) == text::trim(options.aeTitle);
    }

    OFCondition handleIncomingCommand(T_DIMSE_Message* msg, const DcmPresentationContextInfo& presInfo) override
    {
        if (msg->CommandField != DIMSE_C_STORE_RQ)
            return DcmSCP::handleIncomingCommand(msg, presInfo);
        T_DIMSE_C_StoreRQ& req = msg->msg.CStoreRQ;
        const fs::path incoming = fs::path(options.root) / ".incoming";
        std::error_code ec;
        fs::create_directories(incoming, ec);
        // Named by a counter, not by the sender's UID: nothing from the network names a file
        // before it has been checked.
        const fs::path part = incoming / (std::to_string(::getpid()) + "-" + std::to_string(partCounter++) + ".part");
        OFCondition cond = receiveSTORERequest(req, presInfo.presentationContextID, OFString(part.c_str()));
        Uint16 status = STATUS_Success;
        if (cond.bad()) {
            fs::remove(part, ec);
            if (pacsnet::diskFull(options.root)) {
                problem("the disk holding " + options.root + " is full: an instance from " + std::string(getPeerAETitle().c_str()) +
                        " was refused");
                status = STATUS_STORE_Refused_OutOfResources;
            } else {
                problem("an instance from " + std::string(getPeerAETitle().c_str()) + " did not arrive whole (" +
                        std::string(cond.text()) + ")");
                return cond; // the association is broken: DcmSCP ends it
            }
        } else {
            DcmFileFormat ff;
            std::string study, series, sop;
            if (ff.loadFile(part.c_str(), EXS_Unknown, EGL_noChange, 4096).good()) {
                study = headerString(ff.getDataset(), DCM_StudyInstanceUID);
                series = headerString(ff.getDataset(), DCM_SeriesInstanceUID);
                sop = headerString(ff.getDataset(), DCM_SOPInstanceUID);
            }
            if (!isDicomUid(study) || !isDicomUid(series) || !isDicomUid(sop)) {
                fs::remove(part, ec);
                problem("an instance from " + std::string(getPeerAETitle().c_str()) +
                        " was refused: it has no valid Study, Series or SOP Instance UID");
                status = STATUS_STORE_Error_CannotUnderstand;
            } else {
                const fs::path dest = pacsInstancePath(options.root, study, series, sop);
                fs::create_directories(dest.parent_path(), ec);
                const uint64_t bytes = fs::file_size(part, ec);
                fs::rename(part, dest, ec);
                if (ec) {
                    fs::remove(part, ec);
                    problem("could not write " + dest.string() + ": " + ec.message());
                    status = STATUS_STORE_Refused_OutOfResources;
                } else {
                    ++received;
                    if (onReceived)
                        onReceived(ReceivedInstance{study, series, sop, dest.string(), getPeerAETitle().c_str(), bytes});
                }
            }
        }
        return sendSTOREResponse(presInfo.presentationContextID, req, status);
    }
};

StorageReceiver::StorageReceiver(Options options, std::function<void(const ReceivedInstance&)> onReceived,
                                 std::function<void(const std::string&)> onProblem)
    : m_impl(std::make_unique<Impl>())
{
    m_impl->options = std::move(options);
    m_impl->onReceived = std::move(onReceived);
    m_impl->onProblem = std::move(onProblem);
}

StorageReceiver::~StorageReceiver()
{
    stop();
}

void StorageReceiver::start()
{
    pacsnet::initialiseOnce();
    Impl& s = *m_impl;
    if (s.runningFlag)
        return;
    if (auto problem = aeTitleProblem(s.options.aeTitle))
        throw UserError("storage receiver: " + *problem);
    if (s.options.port < 1 || s.options.port > 65535)
        throw UserError("storage receiver: the port must be 1 to 65535, not " + std::to_string(s.options.port));
    std::error_code ec;
    fs::create_directories(s.options.root, ec);
    if (ec)
        throw UserError("storage receiver: cannot create " + s.options.root + ": " + ec.message());

    s.setAETitle(s.options.aeTitle.c_str());
    s.setPort(static_cast<Uint16>(s.options.port));
    s.setConnectionBlockingMode(DUL_NOBLOCK);
    s.setConnectionTimeout(1);
    s.setDIMSEBlockingMode(DIMSE_NONBLOCKING);
    s.setDIMSETimeout(static_cast<Uint32>(s.options.dimseSeconds));
    s.setACSETimeout(static_cast<Uint32>(s.options.dimseSeconds));
    s.setHostLookupEnabled(OFFalse);
    s.getConfig().setTransportLayer(&s.tracker);
    if (!s.contextsAdded) {
        OFList<OFString> syntaxes;
        for (const std::string& ts : pacsnet::storageTransferSyntaxes())
            syntaxes.push_back(ts.c_str());
        for (int i = 0; i < numberOfDcmAllStorageSOPClassUIDs; ++i)
            s.addPresentationContext(dcmAllStorageSOPClassUIDs[i], syntaxes);
        s.setEnableVerification();
        s.contextsAdded = true;
    }

    const OFCondition cond = s.openListenPort();
    if (cond.bad()) {
        const std::string t = cond.text() ? cond.text() : "";
        if (t.find("in use") != std::string::npos)
            throw UserError("storage receiver: port " + std::to_string(s.options.port) +
                            " is taken by another program; choose another port (and tell the PACS)");
        if (cond == NET_EC_InsufficientPortPrivileges)
            throw UserError("storage receiver: port " + std::to_string(s.options.port) +
                            " is below 1024, which needs administrator rights; choose a port from 1024 up (11112 is usual)");
        throw UserError("storage receiver: cannot listen on port " + std::to_string(s.options.port) + ": " + t);
    }
    s.stopFlag = false;
    s.tracker.reset();
    s.runningFlag = true;
    s.thread = std::thread([&s] {
        s.acceptAssociations();
        s.runningFlag = false;
    });
}

void StorageReceiver::stop()
{
    Impl& s = *m_impl;
    s.stopFlag = true;
    if (s.thread.joinable()) {
        // A transfer under way ends at once; between transfers the thread sees the flag within
        // its one-second connection timeout.
        s.tracker.shutdownAll();
        s.thread.join();
    }
    s.runningFlag = false;
}

bool StorageReceiver::running() const
{
    return m_impl->runningFlag;
}

const StorageReceiver::Options& StorageReceiver::options() const
{
    return m_impl->options;
}

size_t StorageReceiver::receivedCount() const
{
    return m_impl->received;
}

size_t StorageReceiver::failedCount() const
{
    return m_impl->failed;
}

} // namespace medsiam::core
