/* secret.c — request fields marked `(secret) = true` in the .proto files (options.proto; a
 * household head's resident ID number): which fields they are, read from the descriptor
 * set embedded in the library (protobuf-c's descriptors carry no custom options), and the
 * two ways the CLI takes their value without putting it on the command line, where shell
 * history and process lists keep it: a file (`--<field>-file PATH`, - = standard input) and
 * a prompt on the terminal with echo off. request.c refuses the plain flag and --data. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "cli.h"
#include "google/protobuf/descriptor.pb-c.h"

#define SECRET_OPTION 50010 /* options.proto: extend FieldOptions { bool secret } */
#define SECRET_MAX 1024     /* longer than any secret field needs */

/* Whether `opts` carries secret = true; custom options are unknown fields to protobuf-c. */
static int option_set(const Google__Protobuf__FieldOptions *opts)
{
    if (!opts)
        return 0;
    for (unsigned i = 0; i < opts->base.n_unknown_fields; i++) {
        const ProtobufCMessageUnknownField *u = &opts->base.unknown_fields[i];
        if (u->tag == SECRET_OPTION && u->wire_type == PROTOBUF_C_WIRE_TYPE_VARINT && u->len > 0)
            return u->data[0] != 0;
    }
    return 0;
}

int secret_field(const ProtobufCMessageDescriptor *d, const ProtobufCFieldDescriptor *f)
{
    const Google__Protobuf__FileDescriptorSet *set = cli_descriptor_set();
    for (size_t k = 0; set && k < set->n_file; k++) {
        const Google__Protobuf__FileDescriptorProto *fd = set->file[k];
        const char *pkg = fd->package ? fd->package : "";
        size_t plen = strlen(pkg);
        /* d->name is "<package>.<Message>" (top-level messages: requests are) */
        if (strncmp(d->name, pkg, plen) != 0 || (plen && d->name[plen] != '.'))
            continue;
        const char *short_name = d->name + plen + (plen ? 1 : 0);
        for (size_t m = 0; m < fd->n_message_type; m++) {
            const Google__Protobuf__DescriptorProto *md = fd->message_type[m];
            if (!md->name || strcmp(md->name, short_name) != 0)
                continue;
            for (size_t i = 0; i < md->n_field; i++)
                if (md->field[i]->name && strcmp(md->field[i]->name, f->name) == 0)
                    return option_set(md->field[i]->options);
        }
    }
    return 0;
}

/* The first line of buf without its end and surrounding blanks, in place. */
static char *first_line(char *buf)
{
    buf[strcspn(buf, "\r\n")] = '\0';
    char *s = buf;
    while (*s == ' ' || *s == '\t')
        s++;
    size_t n = strlen(s);
    while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t'))
        s[--n] = '\0';
    return s;
}

char *secret_read_file(const char *flag, const char *path)
{
    char buf[SECRET_MAX + 2];
    FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "r");
    if (!f) {
        cli_err("%s: %s: %s", flag, path, strerror(errno));
        return NULL;
    }
    char *got = fgets(buf, sizeof buf, f);
    int bad = f != stdin ? ferror(f) : 0;
    if (f != stdin)
        fclose(f);
    if (!got || bad) {
        cli_err(_("%s: %s: nothing to read"), flag, path);
        return NULL;
    }
    char *s = first_line(buf);
    char *out = *s ? strdup(s) : NULL;
    explicit_bzero(buf, sizeof buf);
    if (!out)
        cli_err(_("%s: %s: the first line is empty"), flag, path);
    return out;
}

/* The terminal's settings while echo is off, restored by a signal that ends the CLI. */
static struct termios saved;
static volatile sig_atomic_t echo_off;

static void restore_echo(int sig)
{
    if (echo_off)
        tcsetattr(STDIN_FILENO, TCSAFLUSH, &saved);
    signal(sig, SIG_DFL);
    raise(sig);
}

char *secret_prompt(const char *label, int *failed)
{
    static const int sigs[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT};
    struct sigaction sa, old[4];
    struct termios quiet;
    char buf[SECRET_MAX + 2];
    *failed = 0;
    if (!isatty(STDIN_FILENO) || tcgetattr(STDIN_FILENO, &saved) != 0)
        return NULL;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = restore_echo;
    sigemptyset(&sa.sa_mask);
    for (int i = 0; i < 4; i++)
        sigaction(sigs[i], &sa, &old[i]);
    quiet = saved;
    quiet.c_lflag &= (tcflag_t) ~(ECHO | ECHOE | ECHOK | ECHONL);
    /* echo goes off (and typeahead is dropped) before the prompt shows, never after: what is
       typed once the prompt is visible must reach fgets, and must not be echoed */
    echo_off = tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet) == 0;
    fprintf(stderr, _("%s (not shown): "), label);
    fflush(stderr);
    char *got = fgets(buf, sizeof buf, stdin);
    if (echo_off)
        tcsetattr(STDIN_FILENO, TCSAFLUSH, &saved);
    echo_off = 0;
    for (int i = 0; i < 4; i++)
        sigaction(sigs[i], &old[i], NULL);
    fputc('\n', stderr);
    char *out = got ? strdup(first_line(buf)) : NULL;
    explicit_bzero(buf, sizeof buf);
    if (!out || !*out) {
        cli_err(_("%s: nothing entered"), label);
        free(out);
        *failed = 1;
        return NULL;
    }
    return out;
}
