/* request.c — a request message from method flags, --data JSON and --file PATH, driven by
 * the request's descriptor. Flags override JSON; `--a.b v` sets a nested field; a repeated
 * field's flag may be repeated; bools take `--x`, `--x=false` or `--no-x`. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cli.h"
#include "pbjson.h"

#define MAX_DEPTH 8
#define MAX_FLAGS 256

typedef struct flag_set {
    const char *flag; /* as written, for messages */
    const ProtobufCFieldDescriptor *path[MAX_DEPTH];
    int depth;
    const ProtobufCMessageDescriptor *owner; /* message holding the last field */
    json_t *value;                           /* owned */
} flag_set;

/* "site-id", "site_id", "siteId" all normalise to "siteid". */
static int same_name(const char *a, size_t alen, const char *field)
{
    size_t i = 0;
    const char *f = field;
    for (;;) {
        while (i < alen && (a[i] == '-' || a[i] == '_'))
            i++;
        while (*f == '_')
            f++;
        if (i == alen || !*f)
            return i == alen && !*f;
        if (tolower((unsigned char)a[i]) != tolower((unsigned char)*f))
            return 0;
        i++;
        f++;
    }
}

/* Resolves "a.b.c" against d; 0 or -1. */
static int resolve(const ProtobufCMessageDescriptor *d, const char *name, flag_set *fs)
{
    fs->depth = 0;
    for (const char *seg = name; *seg;) {
        const char *dot = strchr(seg, '.');
        size_t n = dot ? (size_t)(dot - seg) : strlen(seg);
        const ProtobufCFieldDescriptor *hit = NULL;
        if (fs->depth == MAX_DEPTH || !d)
            return -1;
        for (unsigned k = 0; k < d->n_fields && !hit; k++)
            if (same_name(seg, n, d->fields[k].name))
                hit = &d->fields[k];
        if (!hit)
            return -1;
        fs->owner = d;
        fs->path[fs->depth++] = hit;
        if (!dot)
            return 0;
        if (hit->type != PROTOBUF_C_TYPE_MESSAGE || hit->label == PROTOBUF_C_LABEL_REPEATED)
            return -1; /* only singular messages have addressable sub-fields */
        d = hit->descriptor;
        seg = dot + 1;
    }
    return -1;
}

/* An enum value by exact name, case-insensitively, or by unique suffix ("reserve-point"
 * for SITE_KIND_RESERVE_POINT). */
static json_t *enum_value(const ProtobufCEnumDescriptor *ed, const char *text)
{
    char up[128];
    size_t n = 0;
    const ProtobufCEnumValue *hit = NULL;
    int hits = 0;
    if ((text[0] == '-' && isdigit((unsigned char)text[1])) || isdigit((unsigned char)text[0]))
        return json_integer(strtoll(text, NULL, 10));
    for (; text[n] && n + 1 < sizeof up; n++)
        up[n] = text[n] == '-' ? '_' : (char)toupper((unsigned char)text[n]);
    up[n] = '\0';
    for (unsigned i = 0; i < ed->n_values; i++) {
        const char *v = ed->values[i].name;
        size_t vl = strlen(v);
        if (strcmp(v, text) == 0 || strcmp(v, up) == 0)
            return json_string(v);
        if (vl > n && v[vl - n - 1] == '_' && strcmp(v + vl - n, up) == 0) {
            hit = &ed->values[i];
            hits++;
        }
    }
    return json_string(hits == 1 ? hit->name : text); /* unknown names fail validation */
}

/* The JSON value of a flag's text for field f, or NULL with a message printed. */
static json_t *flag_value(const char *flag, const ProtobufCFieldDescriptor *f, const char *text)
{
    json_t *v = NULL;
    switch (f->type) {
    case PROTOBUF_C_TYPE_BOOL:
        if (!strcasecmp(text, "true") || !strcmp(text, "1") || !strcasecmp(text, "yes"))
            return json_true();
        if (!strcasecmp(text, "false") || !strcmp(text, "0") || !strcasecmp(text, "no"))
            return json_false();
        cli_err(_("%s: \"%s\" is not true or false"), flag, text);
        return NULL;
    case PROTOBUF_C_TYPE_ENUM:
        return enum_value(f->descriptor, text);
    case PROTOBUF_C_TYPE_MESSAGE: {
        json_error_t je;
        v = json_loads(text, JSON_REJECT_DUPLICATES, &je);
        if (!v || !json_is_object(v)) {
            cli_err(_("%s: expected a JSON object (%s)%s%s"), flag, pbjson_type_name(f),
                    v ? "" : ": ", v ? "" : je.text);
            json_decref(v);
            return NULL;
        }
        return v;
    }
    default:
        /* numbers go in as strings: pbjson parses and range-checks them per type */
        v = json_string(text);
        if (!v)
            cli_err(_("%s: value is not valid UTF-8"), flag);
        return v;
    }
}

/* Checks one flag value against its field so errors name the flag (exit 1), not JSON. */
static int validate(const flag_set *fs)
{
    const ProtobufCFieldDescriptor *f = fs->path[fs->depth - 1];
    char err[512];
    json_t *probe = json_object();
    json_t *val = json_incref(fs->value);
    if (f->label == PROTOBUF_C_LABEL_REPEATED) {
        json_t *arr = json_array();
        json_array_append_new(arr, val);
        val = arr;
    }
    json_object_set_new(probe, f->name, val);
    ProtobufCMessage *m = pbjson_from_json(fs->owner, probe, NULL, err, sizeof err);
    json_decref(probe);
    if (!m) {
        const char *colon = strstr(err, ": ");
        cli_err("%s: %s", fs->flag, colon ? colon + 2 : err);
        return -1;
    }
    protobuf_c_message_free_unpacked(m, NULL);
    return 0;
}

/* Removes the lowerCamelCase spelling of f from obj (the flag's value replaces it). */
static void drop_alias(json_t *obj, const ProtobufCFieldDescriptor *f)
{
    char jn[256];
    pbjson_json_name(f->name, jn, sizeof jn);
    if (strcmp(jn, f->name) != 0) {
        json_t *old = json_object_get(obj, jn);
        if (old && !json_object_get(obj, f->name))
            json_object_set(obj, f->name, old);
        json_object_del(obj, jn);
    }
}

/* Puts a flag's value into the request JSON; `first` for the first flag of a field. */
static int apply(json_t *root, const flag_set *fs, int first)
{
    json_t *obj = root;
    for (int i = 0; i < fs->depth - 1; i++) {
        const ProtobufCFieldDescriptor *f = fs->path[i];
        drop_alias(obj, f);
        json_t *sub = json_object_get(obj, f->name);
        if (!json_is_object(sub)) {
            sub = json_object();
            json_object_set_new(obj, f->name, sub);
        }
        obj = sub;
    }
    const ProtobufCFieldDescriptor *f = fs->path[fs->depth - 1];
    drop_alias(obj, f);
    if (f->label == PROTOBUF_C_LABEL_REPEATED) {
        json_t *arr = json_object_get(obj, f->name);
        if (first || !json_is_array(arr)) {
            arr = json_array();
            json_object_set_new(obj, f->name, arr);
        }
        return json_array_append(arr, fs->value);
    }
    return json_object_set(obj, f->name, fs->value);
}

static json_t *load_json(const char *what, const char *src, int is_file)
{
    json_error_t je;
    json_t *j;
    if (!is_file)
        j = json_loads(src, JSON_REJECT_DUPLICATES, &je);
    else if (strcmp(src, "-") == 0)
        j = json_loadf(stdin, JSON_REJECT_DUPLICATES, &je);
    else
        j = json_load_file(src, JSON_REJECT_DUPLICATES, &je);
    if (!j) {
        if (je.line > 0)
            cli_err(_("%s: %s (line %d column %d)"), what, je.text, je.line, je.column);
        else
            cli_err("%s: %s", what, je.text);
        return NULL;
    }
    if (!json_is_object(j)) {
        cli_err(_("%s: expected a JSON object"), what);
        json_decref(j);
        return NULL;
    }
    return j;
}

/* A secret field (secret.c) set from a file: `--<field>-file PATH` or `--<field>_file=PATH`;
 * 1 when `name` is such a flag (its value put into fs), 0 when it is not, -1 on a usage
 * error, -2 when the file cannot be read. */
static int secret_file_flag(const ProtobufCMessageDescriptor *d, const char *a, const char *name,
                            const char *text, int argc, char **argv, int *i, flag_set *fs)
{
    size_t n = strlen(name);
    char base[256];
    if (n < 6 || (strcmp(name + n - 5, "-file") != 0 && strcmp(name + n - 5, "_file") != 0))
        return 0;
    snprintf(base, sizeof base, "%.*s", (int)(n - 5), name);
    if (resolve(d, base, fs) < 0 || fs->depth != 1 || fs->path[0]->type != PROTOBUF_C_TYPE_STRING ||
        !secret_field(d, fs->path[0]))
        return 0;
    (*i)++;
    if (!text) {
        if (*i >= argc) {
            cli_err(_("%s needs a value (a file, - = standard input)"), a);
            return -1;
        }
        text = argv[(*i)++];
    }
    char *v = secret_read_file(a, text);
    if (!v)
        return -2;
    fs->flag = a;
    fs->value = json_string(v);
    explicit_bzero(v, strlen(v));
    free(v);
    if (!fs->value) {
        cli_err(_("%s: value is not valid UTF-8"), a);
        return -1;
    }
    return 1;
}

/* The refusal of a secret given where shell history keeps it (a flag's value, --data). */
static void secret_refused(const ProtobufCFieldDescriptor *f, const char *where)
{
    char flag[160];
    commands_flag_name(f, flag, sizeof flag);
    cli_err(_("%s: a secret is not taken from %s, where shell history and process lists keep it: "
              "give %s-file FILE (- = standard input) or --file JSON, or leave it out to be asked "
              "for it on the terminal"),
            flag, where, flag);
}

/* A copy of the request JSON for --verbose with every secret field replaced. */
static json_t *secret_masked(const ProtobufCMessageDescriptor *d, json_t *root)
{
    json_t *copy = json_deep_copy(root);
    for (unsigned k = 0; copy && k < d->n_fields; k++) {
        if (!secret_field(d, &d->fields[k]))
            continue;
        char jn[256];
        pbjson_json_name(d->fields[k].name, jn, sizeof jn);
        if (json_object_get(copy, d->fields[k].name))
            json_object_set_new(copy, d->fields[k].name, json_string("(secret)"));
        if (json_object_get(copy, jn))
            json_object_set_new(copy, jn, json_string("(secret)"));
    }
    return copy;
}

/* Secret fields of d: with `data` (the JSON of --data, before the flags apply) refused when
 * set there; without, asked for on the terminal when neither a flag nor --file gave them.
 * 0, or -1 with a message printed. */
static int secret_fields_fill(const ProtobufCMessageDescriptor *d, json_t *root, const char *data)
{
    for (unsigned k = 0; k < d->n_fields; k++) {
        const ProtobufCFieldDescriptor *f = &d->fields[k];
        if (f->type != PROTOBUF_C_TYPE_STRING || !secret_field(d, f))
            continue;
        char jn[256];
        pbjson_json_name(f->name, jn, sizeof jn);
        int given = json_object_get(root, f->name) || json_object_get(root, jn);
        if (given && data) {
            secret_refused(f, "--data");
            return -1;
        }
        if (given || data)
            continue;
        char label[160];
        int failed;
        commands_flag_name(f, label, sizeof label);
        char *v = secret_prompt(label + 2, &failed);
        if (failed)
            return -1;
        if (!v)
            continue; /* not a terminal: the server says the field is required */
        json_object_set_new(root, f->name, json_string(v));
        explicit_bzero(v, strlen(v));
        free(v);
    }
    return 0;
}

ProtobufCMessage *request_build(const cli_method *m, cli_opts *o, int argc, char **argv, int first,
                                int *exit_code)
{
    const ProtobufCMessageDescriptor *d = m->method->input;
    flag_set *flags = calloc(MAX_FLAGS, sizeof *flags);
    size_t n_flags = 0;
    const char *data = NULL, *file = NULL;
    json_t *root = NULL;
    ProtobufCMessage *req = NULL;
    char err[512];

    *exit_code = EXIT_USAGE;
    if (!flags)
        return NULL;
    for (int i = first; i < argc;) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            commands_print_method_help(stdout, m);
            *exit_code = EXIT_OK;
            goto out;
        }
        if (!strcmp(a, "--data") || !strcmp(a, "--file") || !strncmp(a, "--data=", 7) ||
            !strncmp(a, "--file=", 7)) {
            const char *eq = strchr(a, '=');
            const char *v = eq ? eq + 1 : (i + 1 < argc ? argv[i + 1] : NULL);
            if (!v) {
                cli_err(_("%.6s needs a value"), a);
                goto out;
            }
            *(a[2] == 'd' ? &data : &file) = v;
            i += eq ? 1 : 2;
            continue;
        }
        if (strncmp(a, "--", 2) != 0 || !a[2]) {
            int r = opts_parse_one(o, argc, argv, &i); /* -v */
            if (r < 0)
                goto out;
            if (r == 0) {
                cli_err(_("unexpected argument \"%s\" (flags are --field value)"), a);
                goto out;
            }
            continue;
        }
        flag_set *fs = &flags[n_flags];
        const char *eq = strchr(a + 2, '=');
        char name[256];
        snprintf(name, sizeof name, "%.*s", (int)(eq ? (size_t)(eq - a - 2) : strlen(a + 2)),
                 a + 2);
        const char *text = eq ? eq + 1 : NULL;
        fs->flag = a;
        int negated = 0;
        int sf = secret_file_flag(d, a, name, text, argc, argv, &i, fs);
        if (sf < 0) {
            if (sf == -2)
                *exit_code = EXIT_LOCAL;
            goto out;
        }
        if (sf > 0) {
            n_flags++;
            continue;
        }
        if (resolve(d, name, fs) < 0) {
            if (!strncmp(name, "no-", 3) && !text && resolve(d, name + 3, fs) == 0 &&
                fs->path[fs->depth - 1]->type == PROTOBUF_C_TYPE_BOOL) {
                negated = 1;
            } else {
                int r = opts_parse_one(o, argc, argv, &i);
                if (r < 0)
                    goto out;
                if (r == 0) {
                    cli_err(_("unknown flag %s for %s (see `--help`)"), a, d->name);
                    goto out;
                }
                continue;
            }
        }
        if (n_flags + 1 >= MAX_FLAGS) {
            cli_err(_("too many flags"));
            goto out;
        }
        const ProtobufCFieldDescriptor *f = fs->path[fs->depth - 1];
        if (fs->depth == 1 && secret_field(d, f)) {
            secret_refused(f, _("the command line"));
            goto out;
        }
        i++;
        if (negated) {
            text = "false";
        } else if (!text && f->type == PROTOBUF_C_TYPE_BOOL) {
            if (i < argc && (!strcasecmp(argv[i], "true") || !strcasecmp(argv[i], "false")))
                text = argv[i++];
            else
                text = "true";
        } else if (!text) {
            if (i >= argc) {
                cli_err(_("%s needs a value (%s)"), a, pbjson_type_name(f));
                goto out;
            }
            text = argv[i++];
        }
        if (!(fs->value = flag_value(a, f, text)))
            goto out;
        n_flags++;
        if (validate(fs) < 0)
            goto out;
    }

    if (data && file) {
        cli_err(_("give either --data or --file, not both"));
        goto out;
    }
    *exit_code = EXIT_LOCAL;
    if (data)
        root = load_json("--data", data, 0);
    else if (file)
        root = load_json(file, file, 1);
    else
        root = json_object();
    if (!root)
        goto out;
    *exit_code = EXIT_USAGE;
    if (data && secret_fields_fill(d, root, data) < 0)
        goto out;
    *exit_code = EXIT_LOCAL;
    for (size_t k = 0; k < n_flags; k++) {
        int first_of_field = 1;
        for (size_t p = 0; p < k; p++)
            if (flags[p].depth == flags[k].depth &&
                !memcmp(flags[p].path, flags[k].path, sizeof(flags[k].path[0]) * flags[k].depth))
                first_of_field = 0;
        if (apply(root, &flags[k], first_of_field) < 0) {
            cli_err(_("%s: cannot set the value"), flags[k].flag);
            goto out;
        }
    }
    *exit_code = EXIT_USAGE;
    if (secret_fields_fill(d, root, NULL) < 0)
        goto out;
    *exit_code = EXIT_LOCAL;
    req = pbjson_from_json(d, root, NULL, err, sizeof err);
    if (!req) {
        cli_err(_("request %s: %s"), d->name, err);
        *exit_code = (data || file) ? EXIT_LOCAL : EXIT_USAGE;
        goto out;
    }
    if (o->verbose) {
        json_t *shown = secret_masked(d, root);
        char *s = shown ? json_dumps(shown, JSON_COMPACT) : NULL;
        cli_verbose(o, _("request %s"), s ? s : "?");
        free(s);
        json_decref(shown);
    }
    *exit_code = EXIT_OK;
out:
    for (size_t k = 0; k < MAX_FLAGS; k++)
        json_decref(flags[k].value);
    free(flags);
    json_decref(root);
    return req;
}
