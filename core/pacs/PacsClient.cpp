#include "pacs/PacsClient.h"

#include "pacs/DicomNet.h"
#include "pacs/StorageReceiver.h"
#include "util/Error.h"
#include "util/Text.h"

#include <dcmtk/dcmdata/dcdeftag.h>
#include <dcmtk/dcmdata/dcuid.h>
#include <dcmtk/dcmnet/cond.h>
#include <dcmtk/dcmnet/diutil.h>
#include <dcmtk/dcmnet/scu.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <filesystem>
#include <map>
#include <mutex>
#include <set>

namespace fs = std::filesystem;

namespace medsiam::core {

namespace {

using Clock = std::chrono::steady_clock;

double secondsSince(Clock::time_point t0)
{
    return std::chrono::duration<double>(Clock::now() - t0).count();
}

std::string str(DcmItem* ds, const DcmTagKey& key)
{
    OFString v;
    if (ds && ds->findAndGetOFStringArray(key, v).good())
        return text::trim(std::string(v.c_str()));
    return {};
}

int num(DcmItem* ds, const DcmTagKey& key)
{
    long long v = -1;
    const std::string s = str(ds, key);
    if (s.empty() || !text::parseInt(s, v) || v < 0)
        return -1;
    return static_cast<int>(std::min<long long>(v, 1 << 30));
}

/// A DICOM date range matching value: "from-to", "from-", "-to" or one date.
std::string dateMatch(const PacsQuery& q)
{
    if (q.dateFrom.empty() && q.dateTo.empty())
        return {};
    if (q.dateFrom == q.dateTo)
        return q.dateFrom;
    return q.dateFrom + "-" + q.dateTo;
}

/// The reason a C-GET or C-MOVE response ended a transfer, in words; empty for success.
std::string retrieveStatusText(Uint16 status, const std::string& who, const std::string& ourAe, bool move)
{
    switch (status) {
    case STATUS_Success: return {};
    case STATUS_MOVE_Failed_MoveDestinationUnknown:
        return who + " does not know the destination '" + ourAe +
               "': register it on the PACS (AE title, this machine's address, the receiver's port), or retrieve by C-GET";
    case STATUS_GET_Refused_OutOfResourcesNumberOfMatches:
    case STATUS_GET_Refused_OutOfResourcesSubOperations:
        return who + " refused the retrieve (out of resources)";
    case STATUS_GET_Failed_IdentifierDoesNotMatchSOPClass:
        return who + " did not understand the retrieve request";
    case STATUS_GET_Cancel_SubOperationsTerminatedDueToCancelIndication: return "cancelled";
    case STATUS_GET_Warning_SubOperationsCompleteOneOrMoreFailures:
        return who + " could not send some of the instances";
    default:
        break;
    }
    char hex[16];
    std::snprintf(hex, sizeof hex, "0x%04x", status);
    if ((status & 0xf000) == 0xc000)
        return who + " was unable to process the retrieve (status " + hex + ")" +
               (move ? "; for C-MOVE the PACS must know '" + ourAe + "' as a destination with this machine's address and the receiver's port"
                     : std::string());
    return who + " ended the retrieve with status " + hex;
}

} // namespace

struct PacsClient::State {
    PacsNode node;
    std::string ourAe;
    PacsTimeouts timeouts;
    std::atomic<bool> cancelFlag{false};
    pacsnet::SocketTracker tracker;

    std::string describe(const OFCondition& cond) const
    {
        return pacsnet::describe(cond, node, ourAe, timeouts.connectSeconds, timeouts.dimseSeconds);
    }
};

namespace {

/// One association's worth of DcmSCU, with medsiam's handling of what arrives.
class Scu : public DcmSCU {
public:
    explicit Scu(PacsClient::State& state) : m_state(state)
    {
        setAETitle(state.ourAe.c_str());
        setPeerAETitle(state.node.aeTitle.c_str());
        setPeerHostName(state.node.host.c_str());
        setPeerPort(static_cast<Uint16>(state.node.port));
        setConnectionTimeout(state.timeouts.connectSeconds);
        setACSETimeout(static_cast<Uint32>(state.timeouts.connectSeconds));
        setDIMSEBlockingMode(DIMSE_NONBLOCKING);
        setDIMSETimeout(static_cast<Uint32>(state.timeouts.dimseSeconds));
        setMaxReceivePDULength(ASC_MAXIMUMPDUSIZE);
    }
    ~Scu() override
    {
        if (isConnected())
            closeAssociation(m_state.cancelFlag ? DCMSCU_ABORT_ASSOCIATION : DCMSCU_RELEASE_ASSOCIATION);
    }

    /// Opens the association; throws UserError in words.
    void connect()
    {
        if (m_state.cancelFlag)
            throw UserError("cancelled");
        OFCondition cond = initNetwork();
        if (cond.good())
            cond = useSecureConnection(&m_state.tracker); // the socket-tracking layer (plain TCP): see DicomNet.h
        if (cond.good())
            cond = negotiateAssociation();
        if (cond.bad()) {
            if (m_state.cancelFlag)
                throw UserError("cancelled");
            throw UserError(m_state.describe(cond));
        }
    }

    T_ASC_PresentationContextID context(const char* abstractSyntax)
    {
        const T_ASC_PresentationContextID id = findPresentationContextID(abstractSyntax, "");
        if (id == 0)
            throw UserError(m_state.node.address() + " does not offer " + std::string(dcmFindNameOfUID(abstractSyntax, abstractSyntax)));
        return id;
    }

    // --- C-FIND -----------------------------------------------------------------------------
    size_t findLimit = 0;
    size_t findAnswers = 0;
    bool findCut = false;
    OFCondition handleFINDResponse(const T_ASC_PresentationContextID presID, QRResponse* response, OFBool& waitForNext) override
    {
        OFCondition cond = DcmSCU::handleFINDResponse(presID, response, waitForNext);
        if (response && response->m_dataset && DICOM_PENDING_STATUS(response->m_status))
            ++findAnswers;
        if (waitForNext && (m_state.cancelFlag || (findLimit && findAnswers >= findLimit))) {
            // Enough: ask the node to stop, and leave the association (aborted) to end what is
            // still on its way.
            sendCANCELRequest(presID);
            waitForNext = OFFalse;
            findCut = true;
        }
        return cond;
    }

    // --- C-GET / C-STORE ----------------------------------------------------------------------
    std::string targetFolder;
    std::function<void(uint64_t bytes)> onStored;
    std::string storeProblem;
    bool storeDiskFull = false;
    Uint16 lastRetrieveStatus = STATUS_Success;
    int lastFailedSubops = 0;

    OFCondition handleSTORERequestFile(T_ASC_PresentationContextID* presID, const OFString& /*filename*/,
                                       T_DIMSE_C_StoreRQ* request) override
    {
        const std::string sop = text::trim(request->AffectedSOPInstanceUID);
        if (m_state.cancelFlag) {
            ignoreSTORERequest(*presID, *request);
            return EC_IllegalCall;
        }
        if (!isDicomUid(sop)) {
            ignoreSTORERequest(*presID, *request);
            storeProblem = "the PACS sent an instance whose SOP Instance UID '" + sop + "' is not a UID; it was refused";
            return EC_IllegalCall;
        }
        const fs::path dest = fs::path(targetFolder) / (sop + ".dcm");
        const fs::path part = fs::path(targetFolder) / (sop + ".dcm.part");
        OFCondition cond = DcmSCU::handleSTORERequestFile(presID, OFString(part.c_str()), request);
        std::error_code ec;
        if (cond.bad()) {
            fs::remove(part, ec);
            if (pacsnet::diskFull(targetFolder))
                storeDiskFull = true;
            else if (!m_state.cancelFlag)
                storeProblem = m_state.describe(cond) + " in the middle of an instance";
            return cond;
        }
        const uint64_t bytes = fs::file_size(part, ec);
        fs::rename(part, dest, ec);
        if (ec) {
            fs::remove(part, ec);
            storeDiskFull = pacsnet::diskFull(targetFolder);
            storeProblem = "could not write " + dest.string() + ": " + ec.message();
            return EC_IllegalCall;
        }
        if (onStored)
            onStored(bytes);
        return cond;
    }
    void notifyInstanceStored(const OFString&, const OFString&, const OFString&) const override {}

    OFCondition handleCGETResponse(const T_ASC_PresentationContextID presID, RetrieveResponse* response, OFBool& continueSession) override
    {
        OFCondition cond = DcmSCU::handleCGETResponse(presID, response, continueSession);
        if (response) {
            lastRetrieveStatus = response->m_status;
            lastFailedSubops = response->m_numberOfFailedSubops;
        }
        if (m_state.cancelFlag)
            continueSession = OFFalse;
        return cond;
    }

    OFCondition handleMOVEResponse(const T_ASC_PresentationContextID presID, RetrieveResponse* response, OFBool& waitForNext) override
    {
        OFCondition cond = DcmSCU::handleMOVEResponse(presID, response, waitForNext);
        if (response) {
            lastRetrieveStatus = response->m_status;
            lastFailedSubops = response->m_numberOfFailedSubops;
        }
        if (m_state.cancelFlag && waitForNext) {
            sendCANCELRequest(presID);
            waitForNext = OFFalse;
        }
        return cond;
    }

private:
    PacsClient::State& m_state;
};

void freeResponses(OFList<QRResponse*>& list)
{
    for (QRResponse* r : list)
        delete r;
    list.clear();
}

void freeResponses(OFList<RetrieveResponse*>& list)
{
    for (RetrieveResponse* r : list)
        delete r;
    list.clear();
}

OFList<OFString> uncompressed()
{
    OFList<OFString> ts;
    ts.push_back(UID_LittleEndianExplicitTransferSyntax);
    ts.push_back(UID_LittleEndianImplicitTransferSyntax);
    return ts;
}

struct InstanceEntry {
    std::string sopUid;
    std::string sopClassUid;
};

} // namespace

PacsClient::PacsClient(PacsNode node, std::string ourAeTitle, PacsTimeouts timeouts) : m_state(std::make_unique<State>())
{
    pacsnet::initialiseOnce();
    checkNode(node);
    if (auto problem = aeTitleProblem(ourAeTitle))
        throw UserError("medsiam's own AE title: " + *problem);
    if (timeouts.connectSeconds < 1 || timeouts.dimseSeconds < 1)
        throw UserError("PACS timeouts must be at least 1 s");
    m_state->node = std::move(node);
    m_state->ourAe = std::move(ourAeTitle);
    m_state->timeouts = timeouts;
}

PacsClient::~PacsClient() = default;

const PacsNode& PacsClient::node() const
{
    return m_state->node;
}

const std::string& PacsClient::ourAeTitle() const
{
    return m_state->ourAe;
}

void PacsClient::cancel()
{
    m_state->cancelFlag = true;
    m_state->tracker.shutdownAll();
}

bool PacsClient::cancelled() const
{
    return m_state->cancelFlag;
}

double PacsClient::echo()
{
    const auto t0 = Clock::now();
    Scu scu(*m_state);
    scu.addPresentationContext(UID_VerificationSOPClass, uncompressed());
    scu.connect();
    const OFCondition cond = scu.sendECHORequest(scu.context(UID_VerificationSOPClass));
    if (cond.bad())
        throw UserError(m_state->cancelFlag ? std::string("cancelled") : m_state->describe(cond));
    return secondsSince(t0);
}

namespace {

/// The identifier of a C-FIND. The patient name goes in only as a matching key when the user
/// gave one; it is never asked back.
void fillQueryKeys(DcmDataset& keys, const PacsQuery& q)
{
    auto put = [&](const DcmTagKey& key, const std::string& value) { keys.putAndInsertString(key, value.c_str()); };
    put(DCM_QueryRetrieveLevel, q.level == QueryLevel::Patient ? "PATIENT"
                                : q.level == QueryLevel::Study ? "STUDY"
                                : q.level == QueryLevel::Series ? "SERIES"
                                                                : "IMAGE");
    put(DCM_PatientID, q.patientId);
    if (!q.patientName.empty())
        put(DCM_PatientName, q.patientName);
    if (q.level == QueryLevel::Patient) {
        put(DCM_NumberOfPatientRelatedStudies, "");
        put(DCM_NumberOfPatientRelatedSeries, "");
        put(DCM_NumberOfPatientRelatedInstances, "");
        return;
    }
    put(DCM_StudyInstanceUID, q.studyUid);
    put(DCM_StudyDate, dateMatch(q));
    put(DCM_AccessionNumber, q.accession);
    if (q.level == QueryLevel::Study) {
        put(DCM_StudyDescription, q.description);
        put(DCM_ModalitiesInStudy, q.modality);
        put(DCM_NumberOfStudyRelatedSeries, "");
        put(DCM_NumberOfStudyRelatedInstances, "");
        return;
    }
    put(DCM_SeriesInstanceUID, q.seriesUid);
    put(DCM_Modality, q.modality);
    if (q.level == QueryLevel::Series) {
        put(DCM_SeriesDescription, q.description);
        put(DCM_SeriesNumber, "");
        put(DCM_NumberOfSeriesRelatedInstances, "");
        return;
    }
    put(DCM_SOPInstanceUID, "");
    put(DCM_SOPClassUID, "");
    put(DCM_InstanceNumber, "");
}

PacsRecord recordFrom(DcmDataset* ds, QueryLevel level)
{
    PacsRecord r;
    r.level = level;
    r.patientId = str(ds, DCM_PatientID);
    r.studyUid = str(ds, DCM_StudyInstanceUID);
    r.seriesUid = str(ds, DCM_SeriesInstanceUID);
    r.sopUid = str(ds, DCM_SOPInstanceUID);
    r.sopClassUid = str(ds, DCM_SOPClassUID);
    r.studyDate = str(ds, DCM_StudyDate);
    r.accession = str(ds, DCM_AccessionNumber);
    r.seriesNumber = str(ds, DCM_SeriesNumber);
    switch (level) {
    case QueryLevel::Patient:
        r.relatedStudies = num(ds, DCM_NumberOfPatientRelatedStudies);
        r.relatedSeries = num(ds, DCM_NumberOfPatientRelatedSeries);
        r.relatedInstances = num(ds, DCM_NumberOfPatientRelatedInstances);
        break;
    case QueryLevel::Study:
        r.modality = str(ds, DCM_ModalitiesInStudy);
        r.description = str(ds, DCM_StudyDescription);
        r.relatedSeries = num(ds, DCM_NumberOfStudyRelatedSeries);
        r.relatedInstances = num(ds, DCM_NumberOfStudyRelatedInstances);
        break;
    case QueryLevel::Series:
        r.modality = str(ds, DCM_Modality);
        r.description = str(ds, DCM_SeriesDescription);
        r.relatedInstances = num(ds, DCM_NumberOfSeriesRelatedInstances);
        break;
    case QueryLevel::Image:
        r.modality = str(ds, DCM_Modality);
        break;
    }
    return r;
}

std::vector<PacsRecord> runFind(PacsClient::State& state, const PacsQuery& query, size_t limit)
{
    checkQuery(query);
    const char* model = query.level == QueryLevel::Patient ? UID_FINDPatientRootQueryRetrieveInformationModel
                                                           : UID_FINDStudyRootQueryRetrieveInformationModel;
    Scu scu(state);
    scu.addPresentationContext(model, uncompressed());
    scu.connect();
    const T_ASC_PresentationContextID pc = scu.context(model);
    DcmDataset keys;
    fillQueryKeys(keys, query);
    scu.findLimit = limit;
    OFList<QRResponse*> responses;
    const OFCondition cond = scu.sendFINDRequest(pc, &keys, &responses);
    std::vector<PacsRecord> out;
    Uint16 finalStatus = STATUS_Success;
    for (QRResponse* r : responses) {
        if (r->m_dataset && DICOM_PENDING_STATUS(r->m_status))
            out.push_back(recordFrom(r->m_dataset, query.level));
        else
            finalStatus = r->m_status;
    }
    freeResponses(responses);
    if (state.cancelFlag)
        throw UserError("the search was cancelled");
    if (scu.findCut) {
        scu.closeAssociation(DCMSCU_ABORT_ASSOCIATION);
    } else if (cond.bad()) {
        throw UserError(state.describe(cond) + " during the search");
    } else if (finalStatus != STATUS_Success && finalStatus != STATUS_FIND_Cancel_MatchingTerminatedDueToCancelRequest) {
        char hex[16];
        std::snprintf(hex, sizeof hex, "0x%04x", finalStatus);
        throw UserError(state.node.address() + " could not run the search (status " + std::string(hex) +
                        "): it may not support searching by one of the fields given");
    }
    if (limit && out.size() > limit)
        out.resize(limit);
    return out;
}

} // namespace

std::vector<PacsRecord> PacsClient::find(const PacsQuery& query, size_t limit)
{
    return runFind(*m_state, query, limit);
}

namespace {

/// Storage presentation contexts for a C-GET: one per (SOP class, transfer syntax), so that the
/// PACS can send each file as it holds it. At most 127 fit beside the C-GET context.
void addStorageContexts(Scu& scu, const std::set<std::string>& sopClasses)
{
    const std::vector<std::string> syntaxes = pacsnet::storageTransferSyntaxes();
    std::vector<std::string> classes(sopClasses.begin(), sopClasses.end());
    classes.erase(std::remove(classes.begin(), classes.end(), std::string()), classes.end());
    if (classes.empty())
        for (int i = 0; i < numberOfDcmShortSCUStorageSOPClassUIDs; ++i)
            classes.emplace_back(dcmShortSCUStorageSOPClassUIDs[i]);
    const size_t budget = 127;
    const bool eachSyntax = classes.size() * syntaxes.size() <= budget;
    size_t used = 0;
    for (const std::string& c : classes) {
        if (eachSyntax) {
            for (const std::string& ts : syntaxes) {
                OFList<OFString> one;
                one.push_back(ts.c_str());
                scu.addPresentationContext(c.c_str(), one, ASC_SC_ROLE_SCP);
                ++used;
            }
        } else {
            if (used >= budget)
                break;
            OFList<OFString> all;
            for (const std::string& ts : syntaxes)
                all.push_back(ts.c_str());
            scu.addPresentationContext(c.c_str(), all, ASC_SC_ROLE_SCP);
            ++used;
        }
    }
}

std::string seriesName(const SeriesRef& s)
{
    return "series " + s.seriesUid;
}

} // namespace

RetrieveSummary PacsClient::retrieve(const std::vector<SeriesRef>& series, const std::string& root, const RetrieveOptions& options,
                                     const RetrieveCallbacks& callbacks)
{
    State& state = *m_state;
    const auto t0 = Clock::now();
    for (const SeriesRef& s : series)
        pacsSeriesFolder(root, s.studyUid, s.seriesUid); // throws for a UID that is not one
    std::error_code ec;
    fs::create_directories(root, ec);
    if (ec)
        throw UserError("cannot create " + root + ": " + ec.message());

    RetrieveSummary summary;
    summary.seriesRequested = series.size();
    RetrieveProgress progress;
    progress.seriesTotal = series.size();
    std::mutex progressMutex;
    auto report = [&] {
        progress.seconds = secondsSince(t0);
        progress.bytes = summary.bytes;
        if (callbacks.progress)
            callbacks.progress(progress);
    };
    auto stored = [&](uint64_t bytes) {
        std::lock_guard<std::mutex> lock(progressMutex);
        ++summary.instancesReceived;
        summary.bytes += bytes;
        ++progress.instancesDone;
        report();
    };

    // C-MOVE: the PACS sends to medsiam's receiver, which must be listening first.
    std::unique_ptr<StorageReceiver> receiver;
    std::string receiverProblem;
    std::mutex receiverMutex;
    if (options.method == RetrieveMethod::Move) {
        StorageReceiver::Options ro;
        ro.aeTitle = state.ourAe;
        ro.port = options.storagePort;
        ro.root = root;
        ro.dimseSeconds = state.timeouts.dimseSeconds;
        receiver = std::make_unique<StorageReceiver>(
            ro, [&](const ReceivedInstance& r) { stored(r.bytes); },
            [&](const std::string& p) {
                std::lock_guard<std::mutex> lock(receiverMutex);
                receiverProblem = p;
            });
        receiver->start();
    }

    bool nodeGone = false;
    for (size_t si = 0; si < series.size(); ++si) {
        const SeriesRef& s = series[si];
        if (state.cancelFlag) {
            summary.cancelled = true;
            break;
        }
        if (nodeGone) {
            summary.problems.push_back(seriesName(s) + ": not attempted (the PACS is gone)");
            continue;
        }
        const std::string folder = pacsSeriesFolder(root, s.studyUid, s.seriesUid);
        fs::create_directories(folder, ec);
        if (ec)
            throw UserError("cannot create " + folder + ": " + ec.message());
        summary.seriesFolders.push_back(folder);

        // 1. What the series holds.
        std::vector<InstanceEntry> listed;
        try {
            PacsQuery q;
            q.level = QueryLevel::Image;
            q.studyUid = s.studyUid;
            q.seriesUid = s.seriesUid;
            for (const PacsRecord& r : runFind(state, q, 0))
                if (isDicomUid(r.sopUid))
                    listed.push_back({r.sopUid, r.sopClassUid});
        } catch (const UserError& e) {
            if (state.cancelFlag) {
                summary.cancelled = true;
                break;
            }
            // Nothing has travelled yet: the caller hears it as an error of its own.
            if (summary.instancesReceived == 0 && summary.instancesAlreadyPresent == 0 && si == 0)
                throw;
            summary.problems.push_back(seriesName(s) + ": " + e.what());
            nodeGone = true;
            continue;
        }
        std::sort(listed.begin(), listed.end(), [](const auto& a, const auto& b) { return a.sopUid < b.sopUid; });
        listed.erase(std::unique(listed.begin(), listed.end(), [](const auto& a, const auto& b) { return a.sopUid == b.sopUid; }),
                     listed.end());
        if (listed.empty()) {
            summary.problems.push_back(seriesName(s) + " (study " + s.studyUid + "): the PACS lists no instances in it");
            if (callbacks.seriesFinished)
                callbacks.seriesFinished(s, folder);
            continue;
        }
        const std::vector<std::string> onDisk = instancesInFolder(folder);
        const std::set<std::string> have(onDisk.begin(), onDisk.end());
        std::vector<InstanceEntry> missing;
        for (const InstanceEntry& e : listed)
            if (!have.count(e.sopUid))
                missing.push_back(e);
        {
            std::lock_guard<std::mutex> lock(progressMutex);
            summary.instancesListed += listed.size();
            summary.instancesAlreadyPresent += listed.size() - missing.size();
            progress.instancesTotal += listed.size();
            progress.instancesDone += listed.size() - missing.size();
            report();
        }

        // 2. Ask for what is missing: the whole series when nothing is here, else by instance.
        std::string transferProblem;
        bool diskFull = false;
        if (!missing.empty()) {
            std::vector<std::vector<std::string>> requests;
            if (missing.size() == listed.size()) {
                requests.emplace_back();
            } else {
                const size_t chunk = 100;
                for (size_t i = 0; i < missing.size(); i += chunk) {
                    requests.emplace_back();
                    for (size_t j = i; j < std::min(missing.size(), i + chunk); ++j)
                        requests.back().push_back(missing[j].sopUid);
                }
            }
            try {
                const bool get = options.method == RetrieveMethod::Get;
                const char* model = get ? UID_GETStudyRootQueryRetrieveInformationModel : UID_MOVEStudyRootQueryRetrieveInformationModel;
                Scu scu(state);
                scu.addPresentationContext(model, uncompressed());
                if (get) {
                    std::set<std::string> classes;
                    for (const InstanceEntry& e : missing)
                        classes.insert(e.sopClassUid);
                    addStorageContexts(scu, classes);
                    scu.setStorageMode(DCMSCU_STORAGE_BIT_PRESERVING);
                    scu.setStorageDir(folder.c_str());
                    scu.targetFolder = folder;
                    scu.onStored = stored;
                }
                scu.connect();
                const T_ASC_PresentationContextID pc = scu.context(model);
                for (const std::vector<std::string>& uids : requests) {
                    if (state.cancelFlag)
                        break;
                    DcmDataset keys;
                    keys.putAndInsertString(DCM_QueryRetrieveLevel, uids.empty() ? "SERIES" : "IMAGE");
                    keys.putAndInsertString(DCM_StudyInstanceUID, s.studyUid.c_str());
                    keys.putAndInsertString(DCM_SeriesInstanceUID, s.seriesUid.c_str());
                    if (!uids.empty()) {
                        std::string list;
                        for (const std::string& u : uids)
                            list += (list.empty() ? "" : "\\") + u;
                        keys.putAndInsertString(DCM_SOPInstanceUID, list.c_str());
                    }
                    OFList<RetrieveResponse*> responses;
                    const OFCondition cond = get ? scu.sendCGETRequest(pc, &keys, &responses)
                                                 : scu.sendMOVERequest(pc, state.ourAe.c_str(), &keys, &responses);
                    freeResponses(responses);
                    if (scu.storeDiskFull) {
                        diskFull = true;
                        break;
                    }
                    if (state.cancelFlag)
                        break;
                    if (cond.bad()) {
                        transferProblem = scu.storeProblem.empty() ? state.describe(cond) + " in the middle of the transfer"
                                                                   : scu.storeProblem;
                        nodeGone = true;
                        break;
                    }
                    if (!scu.storeProblem.empty()) {
                        transferProblem = scu.storeProblem;
                        break;
                    }
                    const std::string status = retrieveStatusText(scu.lastRetrieveStatus, state.node.address(), state.ourAe, !get);
                    if (!status.empty() && scu.lastRetrieveStatus != STATUS_GET_Warning_SubOperationsCompleteOneOrMoreFailures) {
                        transferProblem = status;
                        break;
                    }
                }
            } catch (const UserError& e) {
                if (!state.cancelFlag) {
                    if (summary.instancesReceived == 0 && si == 0 && summary.instancesAlreadyPresent == 0)
                        throw;
                    transferProblem = e.what();
                    nodeGone = true;
                }
            }
        }
        if (receiver) {
            std::lock_guard<std::mutex> lock(receiverMutex);
            if (transferProblem.empty() && !receiverProblem.empty())
                transferProblem = receiverProblem;
            receiverProblem.clear();
        }
        if (state.cancelFlag)
            summary.cancelled = true;

        // 3. What is here now decides: complete, or what is missing and why.
        const std::vector<std::string> nowOnDisk = instancesInFolder(folder);
        const std::set<std::string> nowHave(nowOnDisk.begin(), nowOnDisk.end());
        size_t present = 0;
        for (const InstanceEntry& e : listed)
            present += nowHave.count(e.sopUid);
        if (present == listed.size()) {
            ++summary.seriesComplete;
        } else if (!summary.cancelled) {
            summary.instancesFailed += listed.size() - present;
            progress.instancesFailed += listed.size() - present;
            std::string why = transferProblem.empty() ? std::string("the PACS did not send them") : transferProblem;
            summary.problems.push_back(seriesName(s) + ": " + std::to_string(present) + " of " + std::to_string(listed.size()) +
                                       " instances are here (" + why + "); what arrived is kept, and retrieving again completes it");
        }
        {
            std::lock_guard<std::mutex> lock(progressMutex);
            ++progress.seriesDone;
            report();
        }
        if (callbacks.seriesFinished)
            callbacks.seriesFinished(s, folder);
        if (diskFull) {
            summary.seconds = secondsSince(t0);
            throw DiskFullError("the disk holding " + root + " is full: " + describeRetrieve(summary) +
                                ". What arrived is kept; free some space and retrieve again to complete it");
        }
        if (summary.cancelled)
            break;
    }
    if (receiver)
        receiver->stop();
    if (state.cancelFlag)
        summary.cancelled = true;
    summary.seconds = secondsSince(t0);
    return summary;
}

} // namespace medsiam::core
