#include "project/ProjectSession.h"

#include "common/Count.h"
#include "data/ImageCache.h"
#include "eval/Predictions.h"
#include "project/Project.h"
#include "util/Error.h"

#include <QUndoCommand>
#include <QUndoStack>

#include <set>

namespace medsiam::ui {

namespace {

// One labeling step: the images, the class they got, and the classes they had before. It is
// pushed after its first write succeeded (QUndoStack would keep a step whose write failed), so
// its first redo() has nothing to do.
class LabelCommand : public QUndoCommand {
public:
    LabelCommand(ProjectSession& session, std::vector<std::pair<int64_t, int64_t>> after,
                 std::vector<std::pair<int64_t, int64_t>> before, const QString& text)
        : QUndoCommand(text), m_session(session), m_after(std::move(after)), m_before(std::move(before))
    {
    }
    void redo() override
    {
        if (m_written) {
            m_written = false;
            return;
        }
        m_session.writeLabels(m_after);
    }
    void undo() override { m_session.writeLabels(m_before); }

private:
    ProjectSession& m_session;
    std::vector<std::pair<int64_t, int64_t>> m_after, m_before;
    bool m_written = true;
};

} // namespace

QColor defaultClassColor(int index)
{
    static const char* palette[] = {"#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
                                    "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"};
    return QColor(palette[((index % 10) + 10) % 10]);
}

ProjectSession::ProjectSession(std::unique_ptr<core::Project> project) : m_project(std::move(project)), m_undo(new QUndoStack(this))
{
    reload();
}

ProjectSession::~ProjectSession() = default;

std::unique_ptr<ProjectSession> ProjectSession::open(const QString& dir, bool readOnly)
{
    return std::unique_ptr<ProjectSession>(new ProjectSession(
        core::Project::open(dir.toStdString(), readOnly ? core::ProjectAccess::ReadOnly : core::ProjectAccess::ReadWrite)));
}

bool ProjectSession::readOnly() const { return m_project->readOnly(); }

std::unique_ptr<ProjectSession> ProjectSession::create(const QString& dir, int cacheResolution)
{
    return std::unique_ptr<ProjectSession>(new ProjectSession(core::Project::create(dir.toStdString(), cacheResolution)));
}

QString ProjectSession::dir() const { return QString::fromStdString(m_project->dir()); }

int ProjectSession::rowOf(int64_t imageId) const
{
    auto it = m_rowById.find(imageId);
    return it == m_rowById.end() ? -1 : it->second;
}

const core::ClassInfo* ProjectSession::classById(int64_t classId) const
{
    for (const auto& c : m_classes)
        if (c.id == classId)
            return &c;
    return nullptr;
}

const core::ClassInfo* ProjectSession::classForShortcut(const QString& key) const
{
    for (const auto& c : m_classes)
        if (!c.shortcut.empty() && QString::fromStdString(c.shortcut) == key)
            return &c;
    return nullptr;
}

QColor ProjectSession::classColor(int64_t classId) const
{
    for (size_t i = 0; i < m_classes.size(); ++i)
        if (m_classes[i].id == classId) {
            const QColor c(QString::fromStdString(m_classes[i].color));
            return c.isValid() ? c : defaultClassColor(static_cast<int>(i));
        }
    return QColor();
}

QString ProjectSession::className(int64_t classId) const
{
    const core::ClassInfo* c = classById(classId);
    return c ? QString::fromStdString(c->name) : QString();
}

int64_t ProjectSession::labeledCount(int64_t classId) const
{
    auto it = m_counts.find(classId);
    return it == m_counts.end() ? 0 : it->second;
}

int64_t ProjectSession::unlabeledCount() const
{
    int64_t labeled = 0;
    for (const auto& [id, n] : m_counts)
        labeled += n;
    return static_cast<int64_t>(m_rows.size()) - labeled;
}

void ProjectSession::labelImages(const QVector<qint64>& imageIds, int64_t classId)
{
    std::vector<std::pair<int64_t, int64_t>> after, before;
    for (qint64 id : imageIds) {
        const int r = rowOf(id);
        if (r < 0)
            continue;
        const int64_t old = m_rows[r].classId;
        if (old == (classId > 0 ? classId : -1))
            continue;
        after.emplace_back(id, classId);
        before.emplace_back(id, old);
    }
    if (after.empty())
        return;
    if (readOnly())
        throw core::UserError(tr("The project is open read-only: labels cannot be changed.").toStdString());
    const QString what = classId > 0 ? tr("Label %1 %2").arg(countOf(qint64(after.size()), tr("image"), tr("images")), className(classId))
                                     : tr("Clear the label of %1").arg(countOf(qint64(after.size()), tr("image"), tr("images")));
    writeLabels(after); // throws, changing nothing, when the labels cannot be saved
    m_undo->push(new LabelCommand(*this, std::move(after), std::move(before), what));
}

void ProjectSession::writeLabels(const std::vector<std::pair<int64_t, int64_t>>& labels)
{
    m_project->setLabels(labels, "user");
    QVector<qint64> changed;
    for (const auto& [id, classId] : labels) {
        const int r = rowOf(id);
        if (r < 0)
            continue;
        int64_t& current = m_rows[r].classId;
        if (current > 0 && --m_counts[current] == 0)
            m_counts.erase(current);
        current = classId > 0 ? classId : -1;
        if (current > 0)
            ++m_counts[current];
        changed.push_back(id);
    }
    Q_EMIT labelsChanged(changed);
}

int64_t ProjectSession::addClass(const QString& name)
{
    const int64_t id = m_project->ensureClass(name.toStdString());
    std::vector<core::ClassInfo> all = m_project->classes();
    for (size_t i = 0; i < all.size(); ++i)
        if (all[i].id == id && all[i].color.empty()) {
            all[i].color = defaultClassColor(static_cast<int>(i)).name().toStdString();
            core::assignDefaultKeys(all, {i});
            m_project->updateClass(all[i]);
        }
    reloadClasses();
    return id;
}

void ProjectSession::updateClass(const core::ClassInfo& info)
{
    m_project->updateClass(info);
    reloadClasses();
}

void ProjectSession::removeClass(int64_t classId)
{
    m_project->removeClass(classId);
    // Undo steps may name the removed class; they can no longer be replayed faithfully.
    m_undo->clear();
    reload();
}

void ProjectSession::reloadClasses()
{
    m_classes = m_project->classes();
    // Classes made by an import or a CSV get a colour and a key the first time (core's rule).
    std::vector<size_t> fresh;
    for (size_t i = 0; i < m_classes.size(); ++i)
        if (m_classes[i].color.empty()) // configured before: an empty key then means "no key"
            fresh.push_back(i);
    core::assignDefaultKeys(m_classes, fresh);
    for (size_t i : fresh) {
        core::ClassInfo& c = m_classes[i];
        c.color = defaultClassColor(static_cast<int>(i)).name().toStdString();
        if (!readOnly())
            m_project->updateClass(c); // read-only, the colour and key hold for this window only
    }
    recountLabels();
    Q_EMIT classesChanged();
}

void ProjectSession::recountLabels()
{
    m_counts.clear();
    for (const auto& [id, n] : m_project->labelCounts())
        m_counts[id] = n;
}

void ProjectSession::showPredictions(const QString& runId)
{
    m_predictionsRun = runId;
    m_predictions.clear();
    if (!runId.isEmpty()) {
        const size_t k = m_classes.size();
        for (const auto& p : m_project->predictions(runId.toStdString())) {
            if (p.probabilities.size() != k || k == 0)
                continue;
            ShownPrediction s;
            s.predicted = core::predictedClass(p.probabilities);
            s.confidence = p.probabilities[static_cast<size_t>(s.predicted)];
            s.margin = static_cast<float>(core::predictionMargin(p.probabilities));
            m_predictions[p.imageId] = s;
        }
    }
    Q_EMIT predictionsChanged();
}

const ShownPrediction* ProjectSession::predictionOf(int64_t imageId) const
{
    const auto it = m_predictions.find(imageId);
    return it == m_predictions.end() ? nullptr : &it->second;
}

void ProjectSession::reload()
{
    m_cacheResolution = m_project->cacheResolution(); // an empty project's may be changed before its first import
    m_rows = m_project->catalogue();
    m_rowById.clear();
    m_rowById.reserve(m_rows.size());
    for (size_t i = 0; i < m_rows.size(); ++i)
        m_rowById[m_rows[i].imageId] = static_cast<int>(i);
    m_cache.reset();
    if (!m_rows.empty()) {
        try {
            m_cache = m_project->openCache(m_cacheResolution);
        } catch (const core::UserError&) {
            m_cache.reset(); // no cache yet: the browser draws placeholders
        }
    }
    reloadClasses();
    Q_EMIT catalogueReloaded();
}

} // namespace medsiam::ui
