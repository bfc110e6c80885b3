// PNG and JPEG decoding from memory through Debian's libpng 1.6 and
// libjpeg-turbo. Both libraries report fatal errors by calling an error
// handler that must not return; the defaults print to stderr and, for
// libjpeg, call exit(). Here each error handler records the message and
// longjmps back to the decode function, which frees what it allocated.
#include "greffe_image.h"

// stdio.h first: jpeglib.h uses FILE without including it.
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jpeglib.h>
#include <jerror.h>
#include <png.h>

// A single row may not exceed this many pixels, nor the image this many rows,
// whatever the pixel cap: libpng refuses larger headers before reading on.
#define GREFFE_MAX_SIDE 1000000u
// Ancillary chunks (iCCP, zTXt, ...) are decompressed into memory; a
// compressed chunk can claim gigabytes. 8 MiB is more than any real profile.
#define GREFFE_PNG_CHUNK_MAX (8u * 1024u * 1024u)
// A progressive JPEG may carry thousands of tiny scans, each decoded in full:
// CPU exhaustion from a small file. Real encoders write about 10.
#define GREFFE_JPEG_MAX_SCANS 500

static void set_message(greffe_image *out, const char *prefix, const char *detail) {
    snprintf(out->message, sizeof out->message, "%s%s", prefix, detail ? detail : "");
}

void greffe_image_free(greffe_image *image) {
    if (image == NULL) return;
    free(image->pixels);
    image->pixels = NULL;
}

// Refuses images over the cap before anything proportional to their size is allocated.
static int check_size(uint64_t width, uint64_t height, uint64_t max_pixels, greffe_image *out) {
    if (width == 0 || height == 0) {
        set_message(out, "image has no pixels", NULL);
        return GREFFE_IMAGE_MALFORMED;
    }
    if (width > GREFFE_MAX_SIDE || height > GREFFE_MAX_SIDE || width * height > max_pixels) {
        snprintf(out->message, sizeof out->message, "image is %llu x %llu pixels, over the limit of %llu pixels",
                 (unsigned long long)width, (unsigned long long)height, (unsigned long long)max_pixels);
        return GREFFE_IMAGE_TOO_LARGE;
    }
    return GREFFE_IMAGE_OK;
}

// MARK: - PNG

typedef struct {
    const uint8_t *data;
    size_t length;
    size_t offset;
    greffe_image *out;
    jmp_buf jump;
    uint8_t *pixels;
    png_bytep *rows;
} png_state;

static void png_read_memory(png_structp png, png_bytep into, png_size_t count) {
    png_state *state = (png_state *)png_get_io_ptr(png);
    if (count > state->length - state->offset) png_error(png, "truncated data");
    memcpy(into, state->data + state->offset, count);
    state->offset += count;
}

static void png_fail(png_structp png, png_const_charp message) {
    png_state *state = (png_state *)png_get_error_ptr(png);
    set_message(state->out, "malformed PNG: ", message);
    longjmp(state->jump, 1);
}

static void png_ignore_warning(png_structp png, png_const_charp message) {
    (void)png;
    (void)message;
}

int greffe_decode_png(const uint8_t *data, size_t length, uint64_t max_pixels, greffe_image *out) {
    memset(out, 0, sizeof *out);
    if (length < 8 || png_sig_cmp((png_const_bytep)data, 0, 8) != 0) {
        set_message(out, "not a PNG file (wrong signature)", NULL);
        return GREFFE_IMAGE_MALFORMED;
    }
    png_state state = {.data = data, .length = length, .offset = 0, .out = out, .pixels = NULL, .rows = NULL};
    png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &state, png_fail, png_ignore_warning);
    if (png == NULL) {
        set_message(out, "out of memory", NULL);
        return GREFFE_IMAGE_NO_MEMORY;
    }
    png_infop info = png_create_info_struct(png);
    if (info == NULL) {
        png_destroy_read_struct(&png, NULL, NULL);
        set_message(out, "out of memory", NULL);
        return GREFFE_IMAGE_NO_MEMORY;
    }
    // state lives in memory the longjmp does not roll back: what it points to
    // after a jump is what was allocated before it.
    if (setjmp(state.jump)) {
        free(state.pixels);
        free(state.rows);
        png_destroy_read_struct(&png, &info, NULL);
        return GREFFE_IMAGE_MALFORMED;
    }
    png_set_read_fn(png, &state, png_read_memory);
    png_set_user_limits(png, GREFFE_MAX_SIDE, GREFFE_MAX_SIDE);
    png_set_chunk_malloc_max(png, GREFFE_PNG_CHUNK_MAX);
    png_read_info(png, info);

    png_uint_32 width = png_get_image_width(png, info);
    png_uint_32 height = png_get_image_height(png, info);
    int status = check_size(width, height, max_pixels, out);
    if (status != GREFFE_IMAGE_OK) {
        png_destroy_read_struct(&png, &info, NULL);
        return status;
    }
    int color_type = png_get_color_type(png, info);
    png_set_expand(png);  // palette → RGB, grey < 8 bits → 8 bits, tRNS → alpha
    png_set_strip_16(png);
    png_set_strip_alpha(png);
    if (color_type == PNG_COLOR_TYPE_GRAY || color_type == PNG_COLOR_TYPE_GRAY_ALPHA) png_set_gray_to_rgb(png);
    png_set_interlace_handling(png);
    png_read_update_info(png, info);
    if (png_get_rowbytes(png, info) != (size_t)width * 3) png_error(png, "unexpected row layout after conversion to RGB");

    state.pixels = malloc((size_t)width * height * 3);
    state.rows = malloc(sizeof(png_bytep) * height);
    if (state.pixels == NULL || state.rows == NULL) {
        free(state.pixels);
        free(state.rows);
        png_destroy_read_struct(&png, &info, NULL);
        set_message(out, "out of memory", NULL);
        return GREFFE_IMAGE_NO_MEMORY;
    }
    for (png_uint_32 row = 0; row < height; row++) state.rows[row] = state.pixels + (size_t)row * width * 3;
    png_read_image(png, state.rows);
    png_read_end(png, NULL);
    free(state.rows);
    png_destroy_read_struct(&png, &info, NULL);
    out->pixels = state.pixels;
    out->width = width;
    out->height = height;
    return GREFFE_IMAGE_OK;
}

// MARK: - JPEG

typedef struct {
    struct jpeg_error_mgr base;  // first: libjpeg hands back a pointer to it
    jmp_buf jump;
    greffe_image *out;
    int truncated;
} jpeg_error_state;

static void jpeg_fail(j_common_ptr cinfo) {
    jpeg_error_state *state = (jpeg_error_state *)cinfo->err;
    char text[JMSG_LENGTH_MAX];
    cinfo->err->format_message(cinfo, text);
    int unsupported = cinfo->err->msg_code == JERR_CONVERSION_NOTIMPL;
    set_message(state->out, unsupported ? "unsupported JPEG: " : "malformed JPEG: ", text);
    longjmp(state->jump, unsupported ? GREFFE_IMAGE_UNSUPPORTED : GREFFE_IMAGE_MALFORMED);
}

// Warnings (level -1) are counted, never printed; a premature end of data is
// remembered so that the decode fails instead of returning a padded image.
static void jpeg_note(j_common_ptr cinfo, int level) {
    jpeg_error_state *state = (jpeg_error_state *)cinfo->err;
    if (level < 0) {
        cinfo->err->num_warnings++;
        if (cinfo->err->msg_code == JWRN_JPEG_EOF) state->truncated = 1;
    }
}

static void jpeg_progress(j_common_ptr cinfo) {
    if (cinfo->is_decompressor && ((j_decompress_ptr)cinfo)->input_scan_number > GREFFE_JPEG_MAX_SCANS) {
        jpeg_error_state *state = (jpeg_error_state *)cinfo->err;
        set_message(state->out, "malformed JPEG: too many progressive scans", NULL);
        longjmp(state->jump, GREFFE_IMAGE_MALFORMED);
    }
}

int greffe_decode_jpeg(const uint8_t *data, size_t length, uint64_t max_pixels, greffe_image *out) {
    memset(out, 0, sizeof *out);
    if (length < 3 || data[0] != 0xFF || data[1] != 0xD8 || data[2] != 0xFF) {
        set_message(out, "not a JPEG file (wrong signature)", NULL);
        return GREFFE_IMAGE_MALFORMED;
    }
    struct jpeg_decompress_struct cinfo;
    jpeg_error_state errors;
    struct jpeg_progress_mgr progress = {.progress_monitor = jpeg_progress};
    // Allocated before the setjmp and freed after a jump: volatile so that
    // the value the jump sees is the one last stored.
    uint8_t *volatile pixels = NULL;
    cinfo.err = jpeg_std_error(&errors.base);
    errors.base.error_exit = jpeg_fail;
    errors.base.emit_message = jpeg_note;
    errors.out = out;
    errors.truncated = 0;
    int jumped = setjmp(errors.jump);
    if (jumped) {
        free(pixels);
        jpeg_destroy_decompress(&cinfo);
        return jumped;
    }
    jpeg_create_decompress(&cinfo);
    cinfo.progress = &progress;
    jpeg_mem_src(&cinfo, data, (unsigned long)length);
    jpeg_read_header(&cinfo, TRUE);
    int status = check_size(cinfo.image_width, cinfo.image_height, max_pixels, out);
    if (status != GREFFE_IMAGE_OK) {
        jpeg_destroy_decompress(&cinfo);
        return status;
    }
    if (cinfo.jpeg_color_space == JCS_CMYK || cinfo.jpeg_color_space == JCS_YCCK) {
        jpeg_destroy_decompress(&cinfo);
        set_message(out, "unsupported JPEG: CMYK colour", NULL);
        return GREFFE_IMAGE_UNSUPPORTED;
    }
    cinfo.out_color_space = JCS_RGB;
    jpeg_start_decompress(&cinfo);
    if (cinfo.output_components != 3) {
        jpeg_destroy_decompress(&cinfo);
        set_message(out, "unsupported JPEG: not convertible to RGB", NULL);
        return GREFFE_IMAGE_UNSUPPORTED;
    }
    size_t stride = (size_t)cinfo.output_width * 3;
    pixels = malloc(stride * cinfo.output_height);
    if (pixels == NULL) {
        jpeg_destroy_decompress(&cinfo);
        set_message(out, "out of memory", NULL);
        return GREFFE_IMAGE_NO_MEMORY;
    }
    while (cinfo.output_scanline < cinfo.output_height && !errors.truncated) {
        JSAMPROW row = pixels + stride * cinfo.output_scanline;
        jpeg_read_scanlines(&cinfo, &row, 1);
    }
    if (errors.truncated) {
        free(pixels);
        jpeg_destroy_decompress(&cinfo);
        set_message(out, "malformed JPEG: truncated data", NULL);
        return GREFFE_IMAGE_MALFORMED;
    }
    jpeg_finish_decompress(&cinfo);
    out->width = cinfo.output_width;
    out->height = cinfo.output_height;
    out->pixels = pixels;
    jpeg_destroy_decompress(&cinfo);
    return GREFFE_IMAGE_OK;
}
