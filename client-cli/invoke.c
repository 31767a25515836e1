/* invoke.c — one CLI call: metadata (token, x-request-id), the unary or server-streaming
 * call, retries on UNAVAILABLE with the same request id, and the exit code. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include <grpc/status.h>

#include "cli.h"
#include "error_info.h"
#include "gs_reasons.h"
#include "gs_status.h"

#define MAX_RETRIES 3 /* after the first attempt: waits of 200, 400, 800 ms */

static volatile sig_atomic_t interrupted;

static void on_signal(int sig)
{
    (void)sig;
    interrupted = 1;
}

static void random_id(char out[33])
{
    unsigned char b[16];
    if (getrandom(b, sizeof b, 0) != (ssize_t)sizeof b) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        srand((unsigned)(ts.tv_nsec ^ ts.tv_sec));
        for (size_t i = 0; i < sizeof b; i++)
            b[i] = (unsigned char)rand();
    }
    for (size_t i = 0; i < sizeof b; i++)
        snprintf(out + 2 * i, 3, "%02x", b[i]);
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && !interrupted)
        ;
}

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* Prints a non-OK status and returns its exit code: the code and the server's (English)
 * message, then what the google.rpc.Status details add, in the user's language: the
 * reason (when more specific than the code), its metadata and the fields at fault. */
static int report(const gs_reply *r)
{
    cli_err("%s: %s", gs_code_name(r->code),
            r->details && *r->details ? r->details : _("(no details)"));
    gs_error_info e;
    if (gs_error_info_parse(r->status_bin, r->status_bin_len, &e) == 0) {
        const char *text = gs_reason_text(e.reason);
        if (text)
            fprintf(stderr, "  %s: %s (%s)\n", _("reason"), _(text), e.reason);
        for (int i = 0; i < e.n_meta; i++)
            fprintf(stderr, "  %s = %s\n", e.meta[i][0], e.meta[i][1]);
        for (int i = 0; i < e.n_fields; i++)
            fprintf(stderr, "  %s %s: %s\n", _("field"), e.fields[i][0], e.fields[i][1]);
    }
    return r->code == GRPC_STATUS_UNAVAILABLE ? EXIT_UNAVAILABLE : EXIT_STATUS;
}

static int show(output *out, const ProtobufCMessageDescriptor *d, const uint8_t *buf, size_t len)
{
    ProtobufCMessage *resp = protobuf_c_message_unpack(d, NULL, len, buf);
    if (!resp) {
        cli_err(_("cannot decode the response as %s"), d->name);
        return EXIT_LOCAL;
    }
    int rc = output_message(out, resp);
    protobuf_c_message_free_unpacked(resp, NULL);
    return rc;
}

static int run_unary(const cli_opts *o, const cli_method *m, gs_client *cl, const char *path,
                     const uint8_t *req, size_t len, const gs_md *md, size_t n_md, output *out)
{
    gs_reply r = {0};
    int rc;
    for (int attempt = 0;; attempt++) {
        double t0 = now_ms();
        gs_client_unary(cl, path, req, len, md, n_md, o->timeout, &r);
        cli_verbose(o, _("attempt %d: %s (%.1f ms)%s%s"), attempt + 1, gs_code_name(r.code),
                    now_ms() - t0, *r.details ? ": " : "", r.details);
        if (r.code != GRPC_STATUS_UNAVAILABLE || attempt == MAX_RETRIES || interrupted)
            break;
        gs_reply_clear(&r);
        sleep_ms(200L << attempt);
    }
    if (r.code != GRPC_STATUS_OK)
        rc = report(&r);
    else
        rc = show(out, m->method->output, r.body, r.body_len);
    gs_reply_clear(&r);
    return rc;
}

static int run_stream(const cli_opts *o, const cli_method *m, gs_client *cl, const char *path,
                      const uint8_t *req, size_t len, const gs_md *md, size_t n_md, output *out)
{
    struct sigaction sa, old_int, old_term;
    gs_reply st = {0};
    int rc = EXIT_OK;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal; /* no SA_RESTART: waits end promptly */
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, &old_int);
    sigaction(SIGTERM, &sa, &old_term);

    for (int attempt = 0;; attempt++) {
        char err[256];
        size_t received = 0;
        gs_stream *s = gs_stream_open(cl, path, req, len, md, n_md, o->timeout_set ? o->timeout : 0,
                                      err, sizeof err);
        if (!s) {
            cli_err("%s", err);
            rc = EXIT_LOCAL;
            goto out;
        }
        for (;;) {
            uint8_t *msg;
            size_t mlen;
            int r = gs_stream_next(s, &msg, &mlen, &interrupted);
            if (r <= 0)
                break;
            received++;
            rc = show(out, m->method->output, msg, mlen);
            free(msg);
            fflush(stdout);
            if (rc != EXIT_OK)
                break;
        }
        gs_reply_clear(&st);
        gs_stream_close(s, &st);
        cli_verbose(o, _("stream attempt %d: %zu messages, %s%s%s"), attempt + 1, received,
                    gs_code_name(st.code), *st.details ? ": " : "", st.details);
        if (rc != EXIT_OK || interrupted)
            goto out; /* Ctrl-C ends a watch normally */
        if (st.code != GRPC_STATUS_UNAVAILABLE || received > 0 || attempt == MAX_RETRIES)
            break;
        sleep_ms(200L << attempt);
    }
    if (st.code != GRPC_STATUS_OK)
        rc = report(&st);
out:
    gs_reply_clear(&st);
    sigaction(SIGINT, &old_int, NULL);
    sigaction(SIGTERM, &old_term, NULL);
    return rc;
}

int invoke(const cli_opts *o, const cli_method *m, const ProtobufCMessage *req)
{
    char path[320], rid[33], auth[8192], err[512];
    gs_md md[2];
    size_t n_md = 0;
    uint8_t *buf = NULL;
    gs_client *cl = NULL;
    output *out = NULL;
    int rc = EXIT_LOCAL;

    if (m->server_streaming < 0) {
        cli_err(_("%s is a client- or bidi-streaming method; the CLI cannot call it"),
                m->method->name);
        return EXIT_USAGE;
    }
    snprintf(path, sizeof path, "/%s/%s", m->service->name, m->method->name);
    if (o->request_id) {
        snprintf(rid, sizeof rid, "%s", o->request_id);
        if (strlen(o->request_id) >= sizeof rid) {
            cli_err(_("--request-id: at most %zu characters"), sizeof rid - 1);
            return EXIT_USAGE;
        }
    } else {
        random_id(rid);
    }
    if (o->token) {
        int n = snprintf(auth, sizeof auth, "%s%s",
                         strncmp(o->token, "Bearer ", 7) == 0 ? "" : "Bearer ", o->token);
        if (n < 0 || (size_t)n >= sizeof auth) {
            cli_err(_("--token: too long"));
            return EXIT_USAGE;
        }
        md[n_md++] = (gs_md){"authorization", auth};
    }
    md[n_md++] = (gs_md){"x-request-id", rid};

    size_t len = protobuf_c_message_get_packed_size(req);
    if (!(buf = malloc(len ? len : 1))) {
        cli_err(_("out of memory"));
        goto out;
    }
    protobuf_c_message_pack(req, buf);

    gs_client_config cfg = {.target = o->addr,
                            .ca_file = o->ca,
                            .cert_file = o->cert,
                            .key_file = o->key,
                            .server_name = o->server_name,
                            .tls = o->tls};
    if (!(cl = gs_client_new(&cfg, err, sizeof err))) {
        cli_err("%s", err);
        goto out;
    }
    if (!(out = output_new(o, m->method->output, m->server_streaming, &rc))) {
        if (rc == EXIT_LOCAL)
            cli_err(_("out of memory"));
        goto out;
    }
    cli_verbose(o, _("calling %s at %s (x-request-id %s%s)"), path, o->addr, rid,
                o->token ? ", with token" : ", no token");
    if (m->server_streaming)
        rc = run_stream(o, m, cl, path, buf, len, md, n_md, out);
    else
        rc = run_unary(o, m, cl, path, buf, len, md, n_md, out);
out:
    output_free(out);
    gs_client_free(cl);
    free(buf);
    return rc;
}
