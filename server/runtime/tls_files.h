/* tls_files.h — inspection of the PEM files named by tls_cert, tls_key and tls_client_ca
 * for `gridstockd check` (tls_files.c is the server's one OpenSSL boundary outside lib/). */
#ifndef GS_TLS_FILES_H
#define GS_TLS_FILES_H

#include <stdbool.h>

/* Called once per finding: ok (a plain fact) or a problem, the config key it concerns and
 * a sentence in plain words. */
typedef void (*tls_report_fn)(void *arg, bool ok, const char *key, const char *msg);

/* Checks each non-empty file: certificates parse, are in their validity period, are not
 * about to expire; the key parses, is strong enough (RSA >= 2048 bits, EC >= 256) and
 * matches the certificate; the key file is not readable by every user. Returns the
 * number of problems reported. */
int tls_files_check(const char *cert, const char *key, const char *client_ca, tls_report_fn report,
                    void *arg);

/* A secret file (keyring, private key) readable by every user is a problem: 0 fine,
 * -1 with msg filled. */
int secret_file_mode_check(const char *path, char *msg, unsigned long msglen);

#endif
