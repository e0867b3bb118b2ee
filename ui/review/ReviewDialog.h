#pragma once
// Review Predictions: the images a classifier is least sure of, first. One key accepts the
// prediction as the label, a class key corrects it, Ctrl+Z undoes; the image is shown with its
// Grad-CAM. After a round of labels, one action trains the next classifier from this one and
// refreshes the queue (the active-learning loop of MONAI Label and ilastik).
#include <QDialog>
#include <QVector>

#include <memory>
#include <vector>

class QCheckBox;
class QComboBox;
class QLabel;
class QListWidget;
class QProgressBar;
class QPushButton;
class QHBoxLayout;

namespace medsiam::core {
struct ClassifiedImage;
}

namespace medsiam::ui {

class ProjectSession;
class ReviewJob;
struct GradCamSource;

class ReviewDialog : public QDialog {
    Q_OBJECT
public:
    explicit ReviewDialog(ProjectSession& session, QWidget* parent = nullptr);
    ~ReviewDialog() override;

    /// Classifies the unlabeled images with the chosen run (a worker thread).
    void predictUnlabeled();
    /// Trains the next round from the chosen run (its recipe and budget), then classifies.
    void retrain();
    /// Chooses a run (false when it is not listed).
    bool selectRun(const QString& runId);
    QString currentRun() const;

    // For tests and screenshots.
    /// The queue's image ids, least certain first.
    QVector<qint64> queueIds() const;
    /// The margins along the queue.
    QVector<double> queueMargins() const;
    qint64 currentImageId() const;
    bool busy() const;
    QString statusText() const;
    QString captionText() const;
    /// Accepts the current image's prediction as its label and moves on.
    void acceptCurrent();
    /// Labels the current image with the class of keyboard key `key` ("1".."9", "0") and moves on.
    void labelCurrent(const QString& key);

Q_SIGNALS:
    /// A retrain made a run; or predictions were stored under a run.
    void runsChanged();

protected:
    void showEvent(QShowEvent* event) override;

private:
    void refillRuns();
    void loadQueue();
    void showCurrent();
    void moveOn();
    void updateMarks();
    void updateButtons();
    void startJob(int mode);
    void explainCurrent();
    void rebuildClassButtons();

    ProjectSession& m_session;
    QComboBox* m_run;
    QPushButton* m_predict;
    QPushButton* m_retrain;
    QLabel* m_status;
    QListWidget* m_queue;
    QLabel* m_image;
    QLabel* m_caption;
    QLabel* m_probabilities;
    QCheckBox* m_showCam;
    QPushButton* m_accept;
    QPushButton* m_skip;
    QPushButton* m_undo;
    QHBoxLayout* m_classButtons;
    QProgressBar* m_progress;
    std::vector<core::ClassifiedImage> m_items;
    std::unique_ptr<ReviewJob> m_job;
    std::shared_ptr<GradCamSource> m_explainer;
    int m_request = 0;
    bool m_shownOnce = false;
};

} // namespace medsiam::ui
