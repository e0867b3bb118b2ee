#pragma once
// A real PACS for the tests: Debian's Orthanc, started on loopback with a configuration of its own
// (temporary storage, free ports, medsiam registered as a C-MOVE destination), seeded by DCMTK's
// storescu. Used by the core PACS test and the desktop app's Import from PACS test.
#include "pacs/Pacs.h"

#include <QProcess>
#include <QString>

namespace medsiam::test {

/// A listening TCP socket on a port the system chose; closed when it goes.
struct Listener {
    int fd = -1;
    int port = 0; ///< 0 when no socket could be had
    Listener();
    ~Listener();
    Listener(const Listener&) = delete;
    Listener& operator=(const Listener&) = delete;
};

/// A TCP port nobody listens on at the moment of asking.
int freePort();

class OrthancServer {
public:
    /// Keeps its configuration, storage and log under `workDir`.
    explicit OrthancServer(QString workDir);
    ~OrthancServer(); // stops Orthanc

    /// Orthanc's executable, or "" when it is not installed (scripts/install-deps.sh installs it).
    static QString binary();

    /// Starts Orthanc (ports chosen the first time, kept for restarts) and waits until it answers
    /// a C-ECHO; C-MOVE sends to `moveAe` on 127.0.0.1:moveDestinationPort(). Returns "" or
    /// what went wrong.
    QString start(const QString& moveAe = QStringLiteral("MEDSIAM"));
    /// Kills Orthanc and waits for it (nothing when it is not running).
    void stop();
    /// Sends every DICOM file under `folder` with storescu; returns "" or storescu's output.
    QString seed(const QString& folder);

    qint64 pid() const { return m_process.processId(); }
    bool waitForExit(int ms) { return m_process.waitForFinished(ms); }
    /// The node to call: AE title ORTHANC on 127.0.0.1.
    core::PacsNode node() const;
    int dicomPort() const { return m_dicomPort; }
    /// Where C-MOVE sends: the port medsiam's storage receiver must listen on.
    int moveDestinationPort() const { return m_movePort; }
    QString logPath() const;

private:
    QString m_dir;
    QProcess m_process;
    int m_dicomPort = 0;
    int m_httpPort = 0;
    int m_movePort = 0;
};

} // namespace medsiam::test
