/* tls_files.c — parses the TLS PEM files with OpenSSL for `gridstockd check` and says in
 * plain words what is wrong with them (see tls_files.h). The running server never calls
 * this: gRPC loads the files itself. */
#include "tls_files.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#define EXPIRY_WARN_DAYS 21

struct ctx {
    tls_report_fn report;
    void *arg;
    int problems;
};

static void say(struct ctx *c, bool ok, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void say(struct ctx *c, bool ok, const char *key, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (!ok)
        c->problems++;
    c->report(c->arg, ok, key, msg);
}

int secret_file_mode_check(const char *path, char *msg, unsigned long msglen)
{
    struct stat st;
    if (stat(path, &st) != 0) {
        snprintf(msg, msglen, "cannot read %s: %s", path, strerror(errno));
        return -1;
    }
    if (st.st_mode & S_IROTH) {
        snprintf(msg, msglen, "%s is readable by every user: chmod o-rwx %s", path, path);
        return -1;
    }
    return 0;
}

/* The certificates of a PEM file, in order; NULL (and a problem said) when there are none. */
static STACK_OF(X509) * read_certs(struct ctx *c, const char *key, const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        say(c, false, key, "cannot read %s: %s", path, strerror(errno));
        return NULL;
    }
    STACK_OF(X509) *certs = sk_X509_new_null();
    for (X509 *x; certs && (x = PEM_read_X509(f, NULL, NULL, NULL)) != NULL;)
        sk_X509_push(certs, x);
    ERR_clear_error(); /* the end of the file reads as an error */
    fclose(f);
    if (!certs || sk_X509_num(certs) == 0) {
        sk_X509_pop_free(certs, X509_free);
        say(c, false, key, "%s holds no PEM certificate (expected \"-----BEGIN CERTIFICATE-----\")",
            path);
        return NULL;
    }
    return certs;
}

static void subject(X509 *x, char *out, size_t n)
{
    X509_NAME_oneline(X509_get_subject_name(x), out, (int)n);
}

/* Validity period of every certificate in the file. */
static void check_dates(struct ctx *c, const char *key, const char *path, STACK_OF(X509) * certs)
{
    time_t soon = time(NULL) + EXPIRY_WARN_DAYS * 86400;
    for (int i = 0; i < sk_X509_num(certs); i++) {
        X509 *x = sk_X509_value(certs, i);
        char name[256];
        subject(x, name, sizeof name);
        if (X509_cmp_current_time(X509_get0_notBefore(x)) > 0)
            say(c, false, key, "%s: certificate %s is not valid yet", path, name);
        else if (X509_cmp_current_time(X509_get0_notAfter(x)) < 0)
            say(c, false, key, "%s: certificate %s has expired: renew it", path, name);
        else if (X509_cmp_time(X509_get0_notAfter(x), &soon) < 0)
            say(c, false, key, "%s: certificate %s expires within %d days: renew it", path, name,
                EXPIRY_WARN_DAYS);
    }
}

/* `what` names the key in the message: "/etc/x.crt: the certificate's public key". */
static void check_strength(struct ctx *c, const char *key, const char *what, EVP_PKEY *pk)
{
    int bits = EVP_PKEY_get_bits(pk);
    int id = EVP_PKEY_get_base_id(pk);
    int need = id == EVP_PKEY_RSA || id == EVP_PKEY_DSA || id == EVP_PKEY_DH ? 2048
               : id == EVP_PKEY_EC                                           ? 256
                                                                             : 0;
    if (need && bits < need)
        say(c, false, key, "%s has %d bits (%s): use at least %d", what, bits,
            EVP_PKEY_get0_type_name(pk), need);
}

int tls_files_check(const char *cert, const char *key, const char *client_ca, tls_report_fn report,
                    void *arg)
{
    struct ctx c = {report, arg, 0};
    STACK_OF(X509) *chain = NULL;
    EVP_PKEY *pk = NULL;
    if (cert && *cert && (chain = read_certs(&c, "tls_cert", cert)) != NULL) {
        int before = c.problems;
        check_dates(&c, "tls_cert", cert, chain);
        EVP_PKEY *pub = X509_get0_pubkey(sk_X509_value(chain, 0));
        if (pub) {
            char what[600];
            snprintf(what, sizeof what, "%s: the certificate's public key", cert);
            check_strength(&c, "tls_cert", what, pub);
        }
        if (c.problems == before) {
            char name[256];
            subject(sk_X509_value(chain, 0), name, sizeof name);
            say(&c, true, "tls_cert", "%s: %d certificate(s), first %s", cert, sk_X509_num(chain),
                name);
        }
    }
    if (key && *key) {
        char msg[512];
        FILE *f = fopen(key, "r");
        if (!f) {
            say(&c, false, "tls_key", "cannot read %s: %s", key, strerror(errno));
        } else {
            pk = PEM_read_PrivateKey(f, NULL, NULL, NULL);
            ERR_clear_error();
            fclose(f);
            if (!pk) {
                say(&c, false, "tls_key",
                    "%s holds no unencrypted PEM private key (expected \"-----BEGIN PRIVATE "
                    "KEY-----\")",
                    key);
            } else {
                int before = c.problems;
                char what[600];
                snprintf(what, sizeof what, "%s: the private key", key);
                check_strength(&c, "tls_key", what, pk);
                if (secret_file_mode_check(key, msg, sizeof msg))
                    say(&c, false, "tls_key", "%s", msg);
                if (chain && X509_check_private_key(sk_X509_value(chain, 0), pk) != 1)
                    say(&c, false, "tls_key", "%s does not match the certificate in %s", key, cert);
                ERR_clear_error();
                if (c.problems == before)
                    say(&c, true, "tls_key", "%s: %d-bit %s key%s", key, EVP_PKEY_get_bits(pk),
                        EVP_PKEY_get0_type_name(pk), chain ? ", matches the certificate" : "");
            }
        }
    }
    if (client_ca && *client_ca) {
        STACK_OF(X509) *ca = read_certs(&c, "tls_client_ca", client_ca);
        if (ca) {
            int before = c.problems;
            check_dates(&c, "tls_client_ca", client_ca, ca);
            if (c.problems == before)
                say(&c, true, "tls_client_ca", "%s: %d CA certificate(s)", client_ca,
                    sk_X509_num(ca));
            sk_X509_pop_free(ca, X509_free);
        }
    }
    EVP_PKEY_free(pk);
    sk_X509_pop_free(chain, X509_free);
    return c.problems;
}
