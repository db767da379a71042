/*
 * libcurl's global initialisation is not thread-safe: the validators start
 * threads that use libcurl, so they initialise it here first, once.
 */
#include <curl/curl.h>
#include <pthread.h>

#include "validate-internal.h"

static pthread_once_t validate_curl_once = PTHREAD_ONCE_INIT;

static void validate_curl_global(void)
{
	curl_global_init(CURL_GLOBAL_DEFAULT);
}

void validate_curl_init(void)
{
	pthread_once(&validate_curl_once, validate_curl_global);
}
