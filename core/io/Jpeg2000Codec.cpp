#include "io/Jpeg2000Codec.h"

#include "util/Error.h"

#include <algorithm>
#include <cstring>
#include <memory>
#include <openjpeg.h>
#include <string>

namespace medsiam::core {

namespace {

struct MemoryStream {
    const uint8_t* data;
    size_t size;
    size_t pos;
};

OPJ_SIZE_T readFn(void* buffer, OPJ_SIZE_T bytes, void* user)
{
    auto* m = static_cast<MemoryStream*>(user);
    if (m->pos >= m->size)
        return static_cast<OPJ_SIZE_T>(-1);
    const size_t n = std::min<size_t>(bytes, m->size - m->pos);
    std::memcpy(buffer, m->data + m->pos, n);
    m->pos += n;
    return n;
}

OPJ_OFF_T skipFn(OPJ_OFF_T bytes, void* user)
{
    auto* m = static_cast<MemoryStream*>(user);
    const OPJ_OFF_T room = static_cast<OPJ_OFF_T>(m->size - m->pos);
    const OPJ_OFF_T n = std::clamp<OPJ_OFF_T>(bytes, -static_cast<OPJ_OFF_T>(m->pos), room);
    m->pos = static_cast<size_t>(static_cast<OPJ_OFF_T>(m->pos) + n);
    return n;
}

OPJ_BOOL seekFn(OPJ_OFF_T at, void* user)
{
    auto* m = static_cast<MemoryStream*>(user);
    if (at < 0 || static_cast<size_t>(at) > m->size)
        return OPJ_FALSE;
    m->pos = static_cast<size_t>(at);
    return OPJ_TRUE;
}

void quietHandler(const char*, void*) {}

} // namespace

Jpeg2000Image decodeJpeg2000(const uint8_t* data, size_t size, int minLongSide, int headerSigned)
{
    if (size < 12)
        throw UserError("JPEG 2000 data too short");
    // A JP2 file starts with a signature box; a raw codestream with SOC + SIZ markers.
    const bool jp2 = std::memcmp(data, "\x00\x00\x00\x0C\x6A\x50\x20\x20", 8) == 0;
    const bool j2k = data[0] == 0xFF && data[1] == 0x4F;
    if (!jp2 && !j2k)
        throw UserError("pixel data is not a JPEG 2000 codestream");

    MemoryStream mem{data, size, 0};
    std::unique_ptr<opj_stream_t, void (*)(opj_stream_t*)> stream(opj_stream_default_create(OPJ_TRUE), opj_stream_destroy);
    opj_stream_set_user_data(stream.get(), &mem, nullptr);
    opj_stream_set_user_data_length(stream.get(), size);
    opj_stream_set_read_function(stream.get(), readFn);
    opj_stream_set_skip_function(stream.get(), skipFn);
    opj_stream_set_seek_function(stream.get(), seekFn);

    std::unique_ptr<opj_codec_t, void (*)(opj_codec_t*)> codec(opj_create_decompress(jp2 ? OPJ_CODEC_JP2 : OPJ_CODEC_J2K),
                                                               opj_destroy_codec);
    opj_set_info_handler(codec.get(), quietHandler, nullptr);
    opj_set_warning_handler(codec.get(), quietHandler, nullptr);
    opj_set_error_handler(codec.get(), quietHandler, nullptr);
    opj_dparameters_t params;
    opj_set_default_decoder_parameters(&params);
    if (!opj_setup_decoder(codec.get(), &params))
        throw UserError("JPEG 2000 decoder setup failed");

    opj_image_t* raw = nullptr;
    if (!opj_read_header(stream.get(), codec.get(), &raw))
        throw UserError("corrupt JPEG 2000 header");
    std::unique_ptr<opj_image_t, void (*)(opj_image_t*)> image(raw, opj_image_destroy);
    int reduction = 0;
    const bool signednessAgrees = headerSigned < 0 || raw->numcomps == 0 || (raw->comps[0].sgnd != 0) == (headerSigned != 0);
    if (minLongSide > 0 && signednessAgrees) {
        // Drop resolution levels while the longer side stays at least minLongSide; never all of
        // the codestream's levels.
        int levels = 1;
        if (opj_codestream_info_v2_t* info = opj_get_cstr_info(codec.get())) {
            if (info->m_default_tile_info.tccp_info)
                levels = static_cast<int>(info->m_default_tile_info.tccp_info[0].numresolutions);
            opj_destroy_cstr_info(&info);
        }
        const int64_t longSide = std::max<int64_t>(int64_t(raw->x1) - raw->x0, int64_t(raw->y1) - raw->y0);
        while (reduction + 1 < levels && ((longSide + (int64_t(1) << (reduction + 1)) - 1) >> (reduction + 1)) >= minLongSide)
            ++reduction;
        if (reduction > 0 && !opj_set_decoded_resolution_factor(codec.get(), static_cast<OPJ_UINT32>(reduction)))
            reduction = 0;
    }
    if (!opj_decode(codec.get(), stream.get(), image.get()) || !opj_end_decompress(codec.get(), stream.get()))
        throw UserError("corrupt or truncated JPEG 2000 data");

    Jpeg2000Image out;
    out.components = static_cast<int>(image->numcomps);
    if (out.components != 1 && out.components != 3)
        throw UserError("JPEG 2000 image with " + std::to_string(out.components) + " components is not supported");
    const opj_image_comp_t& c0 = image->comps[0];
    out.width = static_cast<int>(c0.w);
    out.height = static_cast<int>(c0.h);
    out.precision = static_cast<int>(c0.prec);
    out.isSigned = c0.sgnd != 0;
    out.reduction = reduction;
    for (int c = 0; c < out.components; ++c)
        if (image->comps[c].w != c0.w || image->comps[c].h != c0.h || !image->comps[c].data)
            throw UserError("JPEG 2000 image with subsampled components is not supported");
    const size_t n = static_cast<size_t>(out.width) * out.height;
    if (out.components == 1) {
        out.samples.assign(image->comps[0].data, image->comps[0].data + n);
    } else {
        out.samples.resize(n * out.components);
        for (int c = 0; c < out.components; ++c)
            for (size_t i = 0; i < n; ++i)
                out.samples[i * out.components + c] = image->comps[c].data[i];
    }
    return out;
}

} // namespace medsiam::core
