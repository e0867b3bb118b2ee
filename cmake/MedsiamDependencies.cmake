# Finds medsiam's dependencies. Required: LibTorch, SQLite3, nlohmann_json, Threads.
# Optional (behind MEDSIAM_WITH_* options): DCMTK, OpenJPEG, ITK, OpenCV; zlib when present.
# Each optional part sets MEDSIAM_HAVE_<NAME> and defines the matching compile switch on medsiam_core.

find_package(Threads REQUIRED)
# at::parallel_for expands to OpenMP pragmas in *our* translation units: without -fopenmp it runs
# on one thread. LibTorch itself is built with (GNU) OpenMP, so this adds no new runtime.
find_package(OpenMP COMPONENTS CXX)
# Debian's LibTorch is found under /usr/lib/x86_64-linux-gnu/cmake/Torch. A LibTorch named by
# CMAKE_PREFIX_PATH (for example the CUDA one of a pip PyTorch) is searched first and wins.
find_package(Torch REQUIRED)
find_package(SQLite3 REQUIRED)
find_package(nlohmann_json 3.9 REQUIRED)

find_package(ZLIB)
set(MEDSIAM_HAVE_ZLIB ${ZLIB_FOUND})

set(MEDSIAM_HAVE_DCMTK OFF)
set(MEDSIAM_HAVE_OPENJPEG OFF)
if(MEDSIAM_WITH_DCMTK)
  find_package(DCMTK REQUIRED CONFIG)
  set(MEDSIAM_HAVE_DCMTK ON)
  if(MEDSIAM_WITH_OPENJPEG)
    find_package(OpenJPEG CONFIG)
    if(OpenJPEG_FOUND OR OPENJPEG_FOUND)
      set(MEDSIAM_HAVE_OPENJPEG ON)
    else()
      message(WARNING "OpenJPEG not found: JPEG 2000 DICOM files will be reported as not decodable")
    endif()
  endif()
endif()

set(MEDSIAM_HAVE_ITK OFF)
if(MEDSIAM_WITH_ITK)
  find_package(ITK REQUIRED COMPONENTS ITKCommon ITKIOImageBase ITKIONIFTI ITKIOMeta ITKIONRRD)
  set(MEDSIAM_HAVE_ITK ON)
endif()

set(MEDSIAM_HAVE_OPENCV OFF)
if(MEDSIAM_WITH_OPENCV)
  find_package(OpenCV REQUIRED COMPONENTS core imgproc imgcodecs)
  set(MEDSIAM_HAVE_OPENCV ON)
endif()

# hnswlib (header-only): approximate nearest neighbours for t-SNE maps of many points. Optional:
# without it the neighbour search stays exact (matrix products), which is slower above ~20k points.
find_path(HNSWLIB_INCLUDE_DIR hnswlib/hnswlib.h)
if(HNSWLIB_INCLUDE_DIR)
  set(MEDSIAM_HAVE_HNSWLIB ON)
else()
  set(MEDSIAM_HAVE_HNSWLIB OFF)
  message(STATUS "hnswlib not found: large t-SNE maps use exact neighbour search")
endif()
