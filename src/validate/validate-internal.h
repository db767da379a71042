/* Shared inside src/validate only. */
#ifndef CORPDEPLOY_VALIDATE_INTERNAL_H
#define CORPDEPLOY_VALIDATE_INTERNAL_H

/* libcurl's global setup, once per process, before any thread uses it. */
void validate_curl_init(void);

#endif
