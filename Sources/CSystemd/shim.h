#ifndef CSYSTEMD_SHIM_H
#define CSYSTEMD_SHIM_H

// The C types of the few libsystemd functions xoauth2-proxy calls, copied from sd-journal.h and
// sd-daemon.h (stable ABI since LIBSYSTEMD_209) rather than included, so building needs no systemd
// headers. Ops resolves the symbols with dlsym and casts them to these types.

#include <sys/uio.h>

// int sd_journal_sendv(const struct iovec *iov, int n);
typedef int (*csystemd_sd_journal_sendv_fn)(const struct iovec *iov, int n);

// int sd_notify(int unset_environment, const char *state);
typedef int (*csystemd_sd_notify_fn)(int unset_environment, const char *state);

#endif
