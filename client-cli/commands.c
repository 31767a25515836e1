/* commands.c — CLI commands from the protobuf-c service descriptors: names, lookup and help.
 * SiteService -> `site`, ListSites -> `list` (kebab case, trailing service noun dropped;
 * when two methods would get the same short name both keep their full kebab name). */
#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "cli.h"
#include "gs_services.h"
#include "pbjson.h"

/* "OrgUnitService" -> "org-unit-service"; "HTTPServer" -> "http-server". */
static void kebab(const char *in, char *out, size_t outlen)
{
    size_t o = 0;
    for (size_t i = 0; in[i] && o + 2 < outlen; i++) {
        char ch = in[i];
        if (isupper((unsigned char)ch) && i > 0) {
            char prev = in[i - 1], next = in[i + 1];
            if (islower((unsigned char)prev) || isdigit((unsigned char)prev) ||
                (isupper((unsigned char)prev) && next && islower((unsigned char)next)))
                out[o++] = '-';
        }
        out[o++] = ch == '_' ? '-' : (char)tolower((unsigned char)ch);
    }
    out[o] = '\0';
}

static int ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), k = strlen(suffix);
    return n > k && strcmp(s + n - k, suffix) == 0;
}

const char *commands_service_name(const ProtobufCServiceDescriptor *s)
{
    static char buf[128];
    char base[128];
    snprintf(base, sizeof base, "%s", s->short_name);
    size_t n = strlen(base);
    if (n > 7 && strcmp(base + n - 7, "Service") == 0)
        base[n - 7] = '\0';
    kebab(base, buf, sizeof buf);
    return buf;
}

/* The method's kebab name with a trailing "-<noun>", "-<noun>s", "-<noun>es" or
 * "-<nou>ies" dropped. */
static void short_method_name(const ProtobufCServiceDescriptor *s, const char *method, char *out,
                              size_t outlen)
{
    char noun[128], full[160], cand[4][140];
    snprintf(noun, sizeof noun, "%s", commands_service_name(s));
    kebab(method, full, sizeof full);
    snprintf(out, outlen, "%s", full);
    size_t nn = strlen(noun);
    snprintf(cand[0], sizeof cand[0], "-%s", noun);
    snprintf(cand[1], sizeof cand[1], "-%ss", noun);
    snprintf(cand[2], sizeof cand[2], "-%ses", noun);
    snprintf(cand[3], sizeof cand[3], "-%.*sies", nn && noun[nn - 1] == 'y' ? (int)nn - 1 : 0,
             noun);
    for (int k = 0; k < 4; k++) {
        if (k == 3 && !(nn && noun[nn - 1] == 'y'))
            continue;
        if (ends_with(full, cand[k])) {
            out[strlen(full) - strlen(cand[k])] = '\0';
            return;
        }
    }
}

const char *commands_method_name(const ProtobufCServiceDescriptor *s, unsigned index)
{
    static char buf[160];
    char other[160];
    short_method_name(s, s->methods[index].name, buf, sizeof buf);
    for (unsigned i = 0; i < s->n_methods; i++) {
        if (i == index)
            continue;
        short_method_name(s, s->methods[i].name, other, sizeof other);
        if (strcmp(other, buf) == 0) {
            kebab(s->methods[index].name, buf, sizeof buf);
            break;
        }
    }
    return buf;
}

void commands_print_services(FILE *out)
{
    fputs(_("Services (`gridstock <service>` lists its methods):\n"), out);
    for (size_t i = 0; gs_service_descriptors[i]; i++) {
        const ProtobufCServiceDescriptor *s = gs_service_descriptors[i];
        fprintf(out, "  %-16s %s (", commands_service_name(s), s->name);
        fprintf(out, ngettext("%u method", "%u methods", s->n_methods), s->n_methods);
        fputs(")\n", out);
    }
}

const ProtobufCServiceDescriptor *commands_find_service(const char *name)
{
    for (size_t i = 0; gs_service_descriptors[i]; i++) {
        const ProtobufCServiceDescriptor *s = gs_service_descriptors[i];
        if (strcmp(commands_service_name(s), name) == 0 || strcasecmp(s->short_name, name) == 0 ||
            strcmp(s->name, name) == 0)
            return s;
    }
    return NULL;
}

int commands_find_method(const ProtobufCServiceDescriptor *s, const char *name, cli_method *m)
{
    for (int pass = 0; pass < 3; pass++) {
        for (unsigned i = 0; i < s->n_methods; i++) {
            char full[160];
            int hit = 0;
            if (pass == 0) {
                hit = strcmp(commands_method_name(s, i), name) == 0;
            } else if (pass == 1) {
                kebab(s->methods[i].name, full, sizeof full);
                hit = strcmp(full, name) == 0;
            } else {
                hit = strcasecmp(s->methods[i].name, name) == 0;
            }
            if (hit) {
                m->service = s;
                m->method = &s->methods[i];
                m->server_streaming = streaming_kind(s, m->method);
                return 0;
            }
        }
    }
    return -1;
}

/* "--site-id INT64" for a field (hyphenated .proto name). */
static void flag_usage(const ProtobufCFieldDescriptor *f, char *buf, size_t n)
{
    char name[128];
    kebab(f->name, name, sizeof name);
    if (f->type == PROTOBUF_C_TYPE_BOOL && f->label != PROTOBUF_C_LABEL_REPEATED)
        snprintf(buf, n, "--%s", name);
    else if (f->type == PROTOBUF_C_TYPE_MESSAGE)
        snprintf(buf, n, "--%s JSON", name);
    else if (f->type == PROTOBUF_C_TYPE_ENUM)
        snprintf(buf, n, "--%s NAME", name);
    else
        snprintf(buf, n, "--%s %s", name, pbjson_type_name(f));
    for (char *p = strchr(buf, ' '); p && *p; p++)
        *p = (char)toupper((unsigned char)*p);
}

void commands_print_methods(FILE *out, const ProtobufCServiceDescriptor *s)
{
    const char *sname = commands_service_name(s);
    char svc[128];
    snprintf(svc, sizeof svc, "%s", sname);
    fprintf(out, _("Methods of %s (`gridstock %s <method> --help` lists the fields):\n"), s->name,
            svc);
    for (unsigned i = 0; i < s->n_methods; i++) {
        const ProtobufCMethodDescriptor *md = &s->methods[i];
        const ProtobufCMessageDescriptor *in = md->input;
        char line[1024];
        size_t o = 0;
        int nested = 0, kind = streaming_kind(s, md);
        o += (size_t)snprintf(line, sizeof line, "  %-22s", commands_method_name(s, i));
        for (unsigned k = 0; k < in->n_fields && o < sizeof line - 80; k++) {
            const ProtobufCFieldDescriptor *f = &in->fields[k];
            char fl[160];
            if (f->label == PROTOBUF_C_LABEL_REPEATED || f->type == PROTOBUF_C_TYPE_MESSAGE) {
                nested = 1;
                continue;
            }
            flag_usage(f, fl, sizeof fl);
            o += (size_t)snprintf(line + o, sizeof line - o, " [%s]", fl);
        }
        if (nested && o < sizeof line - 40)
            o += (size_t)snprintf(line + o, sizeof line - o, " [--data JSON]");
        if (kind == 1 && o < sizeof line - 40)
            snprintf(line + o, sizeof line - o, "  %s", _("(stream)"));
        fprintf(out, "%s\n", line);
    }
}

void commands_print_method_help(FILE *out, const cli_method *m)
{
    const ProtobufCMessageDescriptor *in = m->method->input;
    char svc[128];
    snprintf(svc, sizeof svc, "%s", commands_service_name(m->service));
    fprintf(out,
            _("usage: gridstock [global options] %s %s [--field value ...] [--data JSON | "
              "--file PATH]\n"),
            svc, commands_method_name(m->service, (unsigned)(m->method - m->service->methods)));
    fprintf(out, "\n/%s/%s: %s -> %s%s\n", m->service->name, m->method->name, in->name,
            m->method->output->name,
            m->server_streaming == 1 ? _(" (server stream: prints messages until the stream ends "
                                         "or Ctrl-C)")
                                     : "");
    fputs(_("\nRequest fields (flags override --data/--file; `--a.b` sets a nested field):\n"),
          out);
    for (unsigned k = 0; k < in->n_fields; k++) {
        const ProtobufCFieldDescriptor *f = &in->fields[k];
        char fl[160], note[1024] = "";
        size_t o = 0;
        flag_usage(f, fl, sizeof fl);
        if (secret_field(in, f)) {
            char name[128];
            kebab(f->name, name, sizeof name);
            snprintf(fl, sizeof fl, "--%s-file FILE", name);
            fprintf(out, "  %-34s %s\n", fl,
                    _("secret: its first line (- = stdin); left out, asked for on the terminal"));
            continue;
        }
        if (f->type == PROTOBUF_C_TYPE_MESSAGE)
            o += (size_t)snprintf(note + o, sizeof note - o, " %s", pbjson_type_name(f));
        if (f->type == PROTOBUF_C_TYPE_ENUM) {
            const ProtobufCEnumDescriptor *ed = f->descriptor;
            o += (size_t)snprintf(note + o, sizeof note - o, " %s", _("one of"));
            for (unsigned v = 0; v < ed->n_values && o < sizeof note - 80; v++)
                o += (size_t)snprintf(note + o, sizeof note - o, "%s%s", v ? "|" : " ",
                                      ed->values[v].name);
        }
        if (f->label == PROTOBUF_C_LABEL_REPEATED && o < sizeof note - 80)
            snprintf(note + o, sizeof note - o, " %s",
                     _("(repeated: repeat the flag, or a JSON array in --data)"));
        if (*note)
            fprintf(out, "  %-34s%s\n", fl, note);
        else
            fprintf(out, "  %s\n", fl);
    }
    if (in->n_fields == 0)
        fprintf(out, "  %s\n", _("(none)"));
    fputs(_("\nMethod options:\n"
            "  --data JSON                        the request as JSON (proto3 mapping)\n"
            "  --file PATH                        the request as JSON from a file (- = stdin)\n"),
          out);
}

void commands_flag_name(const ProtobufCFieldDescriptor *f, char *buf, size_t n)
{
    char name[128];
    kebab(f->name, name, sizeof name);
    snprintf(buf, n, "--%s", name);
}
