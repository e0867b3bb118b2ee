#include "DicomWriter.h"

#include <dcmtk/config/osconfig.h>
#include <dcmtk/dcmdata/dcdeftag.h>
#include <dcmtk/dcmdata/dcfilefo.h>
#include <dcmtk/dcmdata/dcmetinf.h>
#include <dcmtk/dcmdata/dcrleerg.h>
#include <dcmtk/dcmdata/dcuid.h>
#include <dcmtk/dcmjpeg/djencode.h>
#include <dcmtk/dcmjpeg/djrplol.h>
#include <dcmtk/dcmjpeg/djrploss.h>
#include <dcmtk/dcmjpls/djencode.h>
#include <dcmtk/dcmjpls/djrparam.h>

#include <mutex>
#include <stdexcept>

namespace medsiam::test {

void writeDicom(const std::string& path, const DicomSpec& s)
{
    static std::once_flag once;
    std::call_once(once, [] {
        DJLSEncoderRegistration::registerCodecs();
        DcmRLEEncoderRegistration::registerCodecs();
        DJEncoderRegistration::registerCodecs();
    });
    DcmFileFormat ff;
    DcmDataset* ds = ff.getDataset();
    char uid[100];
    ds->putAndInsertString(DCM_SOPClassUID, UID_SecondaryCaptureImageStorage);
    ds->putAndInsertString(DCM_SOPInstanceUID, s.sopUid.empty() ? dcmGenerateUniqueIdentifier(uid, SITE_INSTANCE_UID_ROOT) : s.sopUid.c_str());
    ds->putAndInsertString(DCM_StudyInstanceUID, s.studyUid.empty() ? dcmGenerateUniqueIdentifier(uid, SITE_STUDY_UID_ROOT) : s.studyUid.c_str());
    ds->putAndInsertString(DCM_SeriesInstanceUID, s.seriesUid.empty() ? dcmGenerateUniqueIdentifier(uid, SITE_SERIES_UID_ROOT) : s.seriesUid.c_str());
    ds->putAndInsertString(DCM_PatientID, s.patientId.c_str());
    ds->putAndInsertString(DCM_PatientName, s.patientName.c_str());
    if (!s.studyDate.empty())
        ds->putAndInsertString(DCM_StudyDate, s.studyDate.c_str());
    if (!s.studyDescription.empty())
        ds->putAndInsertString(DCM_StudyDescription, s.studyDescription.c_str());
    if (!s.seriesDescription.empty())
        ds->putAndInsertString(DCM_SeriesDescription, s.seriesDescription.c_str());
    if (!s.accession.empty())
        ds->putAndInsertString(DCM_AccessionNumber, s.accession.c_str());
    if (s.instanceNumber > 0)
        ds->putAndInsertString(DCM_InstanceNumber, std::to_string(s.instanceNumber).c_str());
    ds->putAndInsertString(DCM_Modality, s.modality.c_str());
    ds->putAndInsertUint16(DCM_Rows, static_cast<Uint16>(s.claimedRows ? s.claimedRows : s.rows));
    ds->putAndInsertUint16(DCM_Columns, static_cast<Uint16>(s.claimedRows ? s.claimedRows : s.columns));
    ds->putAndInsertUint16(DCM_SamplesPerPixel, static_cast<Uint16>(s.samplesPerPixel));
    ds->putAndInsertString(DCM_PhotometricInterpretation, s.photometric.c_str());
    if (s.samplesPerPixel == 3)
        ds->putAndInsertUint16(DCM_PlanarConfiguration, 0);
    ds->putAndInsertUint16(DCM_BitsAllocated, static_cast<Uint16>(s.bitsAllocated));
    const int bitsStored = s.bitsStored > 0 ? s.bitsStored : s.bitsAllocated;
    ds->putAndInsertUint16(DCM_BitsStored, static_cast<Uint16>(bitsStored));
    ds->putAndInsertUint16(DCM_HighBit, static_cast<Uint16>(bitsStored - 1));
    ds->putAndInsertUint16(DCM_PixelRepresentation, s.isSigned ? 1 : 0);
    if (s.frames > 1)
        ds->putAndInsertString(DCM_NumberOfFrames, std::to_string(s.frames).c_str());
    if (s.rescale) {
        ds->putAndInsertString(DCM_RescaleSlope, std::to_string(s.slope).c_str());
        ds->putAndInsertString(DCM_RescaleIntercept, std::to_string(s.intercept).c_str());
    }
    if (s.windowWidth > 0) {
        ds->putAndInsertString(DCM_WindowCenter, std::to_string(s.windowCentre).c_str());
        ds->putAndInsertString(DCM_WindowWidth, std::to_string(s.windowWidth).c_str());
    }
    if (s.withPixelData) {
        if (s.bitsAllocated == 8) {
            ds->putAndInsertUint8Array(DCM_PixelData, s.pixels8.data(), static_cast<unsigned long>(s.pixels8.size()));
        } else {
            std::vector<Uint16> words(s.pixels16.size());
            for (size_t i = 0; i < words.size(); ++i)
                words[i] = static_cast<Uint16>(s.pixels16[i] & 0xFFFF);
            ds->putAndInsertUint16Array(DCM_PixelData, words.data(), static_cast<unsigned long>(words.size()));
        }
    }
    E_TransferSyntax xfer = EXS_LittleEndianExplicit;
    if (s.transferSyntax == "implicit")
        xfer = EXS_LittleEndianImplicit;
    else if (s.transferSyntax == "bigendian")
        xfer = EXS_BigEndianExplicit;
    else if (s.transferSyntax == "jpegls")
        xfer = EXS_JPEGLSLossless;
    else if (s.transferSyntax == "rle")
        xfer = EXS_RLELossless;
    else if (s.transferSyntax == "jpeg")
        xfer = EXS_JPEGProcess14SV1;
    else if (s.transferSyntax == "jpeg-baseline")
        xfer = EXS_JPEGProcess1; // colour becomes YBR_FULL_422, as ultrasound cine is stored

    if (DcmXfer(xfer).isEncapsulated()) {
        OFCondition c;
        if (xfer == EXS_JPEGLSLossless) {
            DJLSRepresentationParameter p(2, OFTrue);
            c = ds->chooseRepresentation(xfer, &p);
        } else if (xfer == EXS_JPEGProcess14SV1) {
            DJ_RPLossless p;
            c = ds->chooseRepresentation(xfer, &p);
        } else if (xfer == EXS_JPEGProcess1) {
            DJ_RPLossy p(95);
            c = ds->chooseRepresentation(xfer, &p);
        } else {
            c = ds->chooseRepresentation(xfer, nullptr);
        }
        if (c.bad() || !ds->canWriteXfer(xfer))
            throw std::runtime_error("cannot encode test DICOM as " + s.transferSyntax + ": " + c.text());
    }
    OFCondition st = ff.saveFile(path.c_str(), xfer);
    if (st.good() && !s.declaredTransferSyntaxUid.empty()) {
        st = ff.getMetaInfo()->putAndInsertString(DCM_TransferSyntaxUID, s.declaredTransferSyntaxUid.c_str());
        if (st.good())
            st = ff.saveFile(path.c_str(), xfer, EET_ExplicitLength, EGL_recalcGL, EPD_noChange, 0, 0, EWM_dontUpdateMeta);
    }
    if (st.bad())
        throw std::runtime_error("cannot write test DICOM " + path + ": " + st.text());
}

} // namespace medsiam::test
