#include "browser/BrowserView.h"

#include "browser/CatalogueModel.h"
#include "browser/ThumbnailDelegate.h"
#include "browser/ThumbnailLoader.h"
#include "data/ImageCache.h"
#include "project/Project.h"
#include "project/ProjectSession.h"

#include <QComboBox>
#include <QEvent>
#include <QHBoxLayout>
#include <QLabel>
#include <QLineEdit>
#include <QListView>
#include <QScrollBar>
#include <QTimer>
#include <QVBoxLayout>

#include <set>

namespace medsiam::ui {

namespace {

constexpr int kThumbnailSize = 96;
constexpr int kLruCapacity = 2000;

// Thumbnails cut from the project's cache: the letterboxed content, scaled to fit `size`.
ThumbnailLoader::Source cacheSource(std::shared_ptr<const core::ImageCache> cache)
{
    if (!cache)
        return {};
    return [cache](int64_t imageId, int size) -> QImage {
        const int64_t i = cache->indexOf(imageId);
        if (i < 0)
            return {};
        const core::CacheEntry& e = cache->entries()[i];
        const int side = cache->side();
        const QImage::Format format = e.channels == 3 ? QImage::Format_RGB888 : QImage::Format_Grayscale8;
        const QImage square(cache->pixels(i), side, side, side * e.channels, format);
        const QRect content = e.content.width > 0 ? QRect(e.content.x, e.content.y, e.content.width, e.content.height) : square.rect();
        return square.copy(content).scaled(size, size, Qt::KeepAspectRatio, Qt::SmoothTransformation);
    };
}

// Replaces a filter combo's choices after "any", keeping the chosen one when it is still there.
void refillCombo(QComboBox* box, const QString& any, const std::vector<std::pair<QString, QVariant>>& items)
{
    const QVariant keep = box->currentData();
    box->clear();
    box->addItem(any, QVariant());
    for (const auto& [text, data] : items)
        box->addItem(text, data);
    const int i = keep.isValid() ? box->findData(keep) : 0;
    box->setCurrentIndex(i < 0 ? 0 : i);
}

} // namespace

BrowserView::BrowserView(ProjectSession& session, QWidget* parent, ThumbnailLoader* thumbnails)
    : QWidget(parent), m_session(session), m_thumbnails(thumbnails)
{
    if (!m_thumbnails) {
        m_ownThumbnails = std::make_unique<ThumbnailLoader>(cacheSource(session.cache()), kThumbnailSize, kLruCapacity);
        m_thumbnails = m_ownThumbnails.get();
        connect(&session, &ProjectSession::catalogueReloaded, this, [this] { m_thumbnails->reset(cacheSource(m_session.cache())); });
    }
    m_model = new CatalogueModel(session, *m_thumbnails, this);
    m_list = new QListView(this);
    // A wrapping list rather than IconMode: with uniform item sizes its layout is arithmetic,
    // so 100k images cost nothing to lay out.
    m_list->setViewMode(QListView::ListMode);
    m_list->setFlow(QListView::LeftToRight);
    m_list->setWrapping(true);
    m_list->setMovement(QListView::Static);
    m_list->setResizeMode(QListView::Adjust);
    m_list->setSpacing(0);
    m_list->setUniformItemSizes(true);
    m_list->setSelectionMode(QAbstractItemView::ExtendedSelection);
    m_list->setSelectionRectVisible(true);
    m_list->setVerticalScrollMode(QAbstractItemView::ScrollPerPixel);
    m_list->setItemDelegate(new ThumbnailDelegate(m_thumbnails->size(), m_list));
    m_list->setModel(m_model);
    m_list->setAccessibleName(tr("Image thumbnails"));

    m_thumbTimer = new QTimer(this);
    m_thumbTimer->setSingleShot(true);
    m_thumbTimer->setInterval(0);
    connect(m_thumbTimer, &QTimer::timeout, this, &BrowserView::requestVisibleThumbnails);
    connect(m_list->verticalScrollBar(), &QScrollBar::valueChanged, this, &BrowserView::scheduleThumbnails);
    connect(m_model, &QAbstractItemModel::modelReset, this, &BrowserView::scheduleThumbnails);
    // A reload (after an import, a split or F5) keeps the current image and the selection.
    connect(m_model, &QAbstractItemModel::modelAboutToBeReset, this, [this] {
        m_keepCurrent = currentImageId();
        m_keepSelection = selectedImageIds();
    });
    connect(m_model, &QAbstractItemModel::modelReset, this, [this] {
        QItemSelection selection;
        for (qint64 id : std::as_const(m_keepSelection)) {
            const int row = m_model->rowOfImage(id);
            if (row >= 0)
                selection.select(m_model->index(row), m_model->index(row));
        }
        const int current = m_keepCurrent >= 0 ? m_model->rowOfImage(m_keepCurrent) : -1;
        if (current >= 0)
            m_list->selectionModel()->setCurrentIndex(m_model->index(current), QItemSelectionModel::NoUpdate);
        m_list->selectionModel()->select(selection, QItemSelectionModel::ClearAndSelect);
        if (current >= 0)
            m_list->scrollTo(m_model->index(current));
    });
    connect(m_model, &QAbstractItemModel::layoutChanged, this, &BrowserView::scheduleThumbnails);
    connect(m_list->selectionModel(), &QItemSelectionModel::currentChanged, this,
            [this](const QModelIndex& current) { Q_EMIT currentImageChanged(current.isValid() ? m_model->imageIdAt(current.row()) : -1); });
    connect(m_list->selectionModel(), &QItemSelectionModel::selectionChanged, this,
            [this] { Q_EMIT selectionCountChanged(static_cast<int>(m_list->selectionModel()->selectedIndexes().size())); });

    buildFilterBar();
    auto* layout = new QVBoxLayout(this);
    layout->setContentsMargins(0, 0, 0, 0);
    auto* bar = new QHBoxLayout;
    bar->setContentsMargins(4, 4, 4, 0);
    for (QWidget* w : std::initializer_list<QWidget*>{m_class, m_split, m_modality, m_patient, m_predicted, m_search, m_sort})
        bar->addWidget(w);
    bar->addWidget(m_count, 1, Qt::AlignRight);
    layout->addLayout(bar);
    layout->addWidget(m_list, 1);

    connect(&session, &ProjectSession::catalogueReloaded, this, &BrowserView::refillFilterChoices);
    connect(&session, &ProjectSession::predictionsChanged, this, &BrowserView::refillPredictedChoices);
    // Classes change alone when the schema is edited; a reload rereads modalities and patients too.
    connect(&session, &ProjectSession::classesChanged, this, &BrowserView::refillClassChoices);
    connect(&session, &ProjectSession::labelsChanged, this, &BrowserView::updateClassCounts);
    m_list->viewport()->installEventFilter(this);
    refillFilterChoices();
}

bool BrowserView::eventFilter(QObject* watched, QEvent* event)
{
    if (watched == m_list->viewport() && (event->type() == QEvent::Resize || event->type() == QEvent::Show))
        scheduleThumbnails();
    return QWidget::eventFilter(watched, event);
}

QString BrowserView::classChoiceText(qint64 classId) const
{
    return classId < 0 ? tr("Unlabeled (%1)").arg(m_session.unlabeledCount())
                       : QStringLiteral("%1 (%2)").arg(m_session.className(classId)).arg(m_session.labeledCount(classId));
}

void BrowserView::updateClassCounts()
{
    for (int i = 1; i < m_class->count(); ++i)
        m_class->setItemText(i, classChoiceText(m_class->itemData(i).value<qint64>()));
}

BrowserView::~BrowserView() = default;

void BrowserView::buildFilterBar()
{
    m_class = new QComboBox(this);
    m_class->setToolTip(tr("Show one class, or the unlabeled images"));
    m_split = new QComboBox(this);
    m_split->setToolTip(tr("Show one split"));
    m_split->addItem(tr("Any split"), QString());
    m_split->addItem(tr("train"), QStringLiteral("train"));
    m_split->addItem(tr("val"), QStringLiteral("val"));
    m_split->addItem(tr("test"), QStringLiteral("test"));
    m_split->addItem(tr("No split"), QStringLiteral("none"));
    m_modality = new QComboBox(this);
    m_modality->setToolTip(tr("Show one modality"));
    m_patient = new QComboBox(this);
    m_patient->setToolTip(tr("Show one patient"));
    m_patient->setMinimumContentsLength(10);
    m_patient->setSizeAdjustPolicy(QComboBox::AdjustToMinimumContentsLengthWithIcon);
    m_search = new QLineEdit(this);
    m_search->setPlaceholderText(tr("Search file name or patient id"));
    m_search->setClearButtonEnabled(true);
    m_search->setMinimumWidth(200);
    m_sort = new QComboBox(this);
    m_sort->setToolTip(tr("Sort order"));
    m_sort->addItem(tr("Import order"), int(BrowserSort::ImportOrder));
    m_sort->addItem(tr("File name"), int(BrowserSort::FileName));
    m_sort->addItem(tr("Patient"), int(BrowserSort::Patient));
    m_sort->addItem(tr("Class"), int(BrowserSort::Class));
    m_sort->addItem(tr("Least certain first"), int(BrowserSort::LeastCertain));
    m_sort->setItemData(m_sort->count() - 1, tr("The images a classifier is least sure of first (Train > Predict Unlabeled)"),
                        Qt::ToolTipRole);
    m_predicted = new QComboBox(this);
    m_predicted->setToolTip(tr("Show the images a classifier predicted as one class"));
    m_predicted->hide(); // until predictions are shown
    m_count = new QLabel(this);

    for (QComboBox* c : {m_class, m_split, m_modality, m_patient, m_predicted})
        connect(c, QOverload<int>::of(&QComboBox::activated), this, &BrowserView::applyFilter);
    auto* searchDelay = new QTimer(this);
    searchDelay->setSingleShot(true);
    searchDelay->setInterval(200);
    connect(m_search, &QLineEdit::textChanged, searchDelay, qOverload<>(&QTimer::start));
    connect(searchDelay, &QTimer::timeout, this, &BrowserView::applyFilter);
    connect(m_sort, QOverload<int>::of(&QComboBox::activated), this,
            [this] { m_model->setSort(static_cast<BrowserSort>(m_sort->currentData().toInt())); });
}

void BrowserView::refillClassChoices()
{
    std::vector<std::pair<QString, QVariant>> classes = {{classChoiceText(-1), QVariant::fromValue<qint64>(-1)}};
    for (const auto& c : m_session.classes())
        classes.emplace_back(classChoiceText(c.id), QVariant::fromValue<qint64>(c.id));
    refillCombo(m_class, tr("Any class"), classes);
}

void BrowserView::refillPredictedChoices()
{
    std::vector<std::pair<QString, QVariant>> items;
    for (size_t c = 0; c < m_session.classes().size(); ++c)
        items.emplace_back(tr("Predicted %1").arg(QString::fromStdString(m_session.classes()[c].name)), int(c));
    refillCombo(m_predicted, tr("Any prediction"), items);
    m_predicted->setVisible(m_session.hasPredictions());
    m_predicted->setToolTip(tr("Show the images run %1 predicted as one class").arg(m_session.predictionsRun()));
    if (!m_session.hasPredictions() && m_predicted->currentIndex() > 0) {
        m_predicted->setCurrentIndex(0);
        applyFilter();
    }
}

void BrowserView::refillFilterChoices()
{
    refillClassChoices();
    refillPredictedChoices();
    std::set<std::string> modalities, patients;
    for (const auto& r : m_session.rows()) {
        if (!r.modality.empty())
            modalities.insert(r.modality);
        if (!r.patientId.empty())
            patients.insert(r.patientId);
    }
    std::vector<std::pair<QString, QVariant>> m, p;
    for (const auto& s : modalities)
        m.emplace_back(QString::fromStdString(s), QString::fromStdString(s));
    for (const auto& s : patients)
        p.emplace_back(QString::fromStdString(s), QString::fromStdString(s));
    refillCombo(m_modality, tr("Any modality"), m);
    refillCombo(m_patient, tr("Any patient"), p);
    m_count->setText(tr("%1 of %2 images").arg(m_model->rowCount()).arg(m_session.rows().size()));
}

void BrowserView::applyFilter()
{
    BrowserFilter f;
    const QVariant c = m_class->currentData();
    f.classId = c.isValid() ? c.value<qint64>() : BrowserFilter::kAnyClass;
    f.split = m_split->currentData().toString();
    f.modality = m_modality->currentData().toString();
    f.patientId = m_patient->currentData().toString();
    f.search = m_search->text();
    f.predicted = m_predicted->currentData().isValid() ? m_predicted->currentData().toInt() : -1;
    const int64_t keep = currentImageId();
    m_model->setFilter(f);
    m_count->setText(tr("%1 of %2 images").arg(m_model->rowCount()).arg(m_session.rows().size()));
    if (keep >= 0)
        showImage(keep);
}

void BrowserView::setSort(BrowserSort sort)
{
    m_sort->setCurrentIndex(std::max(0, m_sort->findData(int(sort))));
    m_model->setSort(sort);
}

void BrowserView::setFilter(const BrowserFilter& f)
{
    auto select = [](QComboBox* box, const QVariant& value) {
        const int i = value.isValid() ? box->findData(value) : 0;
        box->setCurrentIndex(i < 0 ? 0 : i);
    };
    select(m_class, f.classId == BrowserFilter::kAnyClass ? QVariant() : QVariant::fromValue<qint64>(f.classId));
    m_split->setCurrentIndex(std::max(0, m_split->findData(f.split)));
    select(m_modality, f.modality.isEmpty() ? QVariant() : QVariant(f.modality));
    select(m_patient, f.patientId.isEmpty() ? QVariant() : QVariant(f.patientId));
    select(m_predicted, f.predicted < 0 ? QVariant() : QVariant(f.predicted));
    {
        const QSignalBlocker block(m_search);
        m_search->setText(f.search);
    }
    applyFilter();
}

QVector<qint64> BrowserView::selectedImageIds() const
{
    QVector<qint64> ids;
    QModelIndexList rows = m_list->selectionModel()->selectedIndexes();
    std::sort(rows.begin(), rows.end(), [](const QModelIndex& a, const QModelIndex& b) { return a.row() < b.row(); });
    for (const QModelIndex& i : rows)
        ids.push_back(m_model->imageIdAt(i.row()));
    if (ids.isEmpty() && currentImageId() >= 0)
        ids.push_back(currentImageId());
    return ids;
}

int64_t BrowserView::currentImageId() const
{
    const QModelIndex i = m_list->currentIndex();
    return i.isValid() ? m_model->imageIdAt(i.row()) : -1;
}

bool BrowserView::showImage(int64_t imageId)
{
    const int row = m_model->rowOfImage(imageId);
    if (row < 0)
        return false;
    const QModelIndex i = m_model->index(row);
    m_list->selectionModel()->setCurrentIndex(i, QItemSelectionModel::ClearAndSelect);
    m_list->scrollTo(i);
    return true;
}

void BrowserView::scheduleThumbnails()
{
    if (!m_thumbTimer->isActive())
        m_thumbTimer->start();
}

void BrowserView::requestVisibleThumbnails()
{
    const int n = m_model->rowCount();
    if (n == 0) {
        m_thumbnails->request({});
        return;
    }
    const QRect vp = m_list->viewport()->rect();
    const QSize cell = m_list->visualRect(m_model->index(0)).size();
    const int columns = std::max(1, cell.width() > 0 ? vp.width() / cell.width() : 1);
    // The first visible cell: probe the top-left corner, and a few points in from it (gaps).
    int first = -1;
    for (int dy = 0; dy < std::max(cell.height(), 1) && first < 0; dy += 4)
        for (int dx = 0; dx < std::max(cell.width(), 1) && first < 0; dx += 8) {
            const QModelIndex i = m_list->indexAt(QPoint(dx + 2, dy + 2));
            if (i.isValid())
                first = i.row();
        }
    if (first < 0)
        first = 0;
    const int visibleRows = cell.height() > 0 ? vp.height() / cell.height() + 2 : 1;
    const int last = std::min(n - 1, first + visibleRows * columns - 1);
    const int prefetchEnd = std::min(n - 1, last + m_prefetchRows * columns);
    const int prefetchBegin = std::max(0, first - columns);
    std::vector<int64_t> ids;
    ids.reserve(prefetchEnd - prefetchBegin + 1);
    for (int r = first; r <= last; ++r)
        ids.push_back(m_model->imageIdAt(r));
    for (int r = last + 1; r <= prefetchEnd; ++r)
        ids.push_back(m_model->imageIdAt(r));
    for (int r = first - 1; r >= prefetchBegin; --r)
        ids.push_back(m_model->imageIdAt(r));
    m_thumbnails->request(ids);
}

} // namespace medsiam::ui
