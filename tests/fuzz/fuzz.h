/*
 * fuzz.h — what every fuzz target shares.
 *
 * A target is one function, LLVMFuzzerTestOneInput, that takes any bytes
 * and checks a property of the code under test on them: it agrees with a
 * reference (jansson, a plain decoder written the slow way) or survives a
 * round trip. A broken property calls FUZZ_FAIL, which prints why and
 * aborts: libFuzzer then keeps the input as a crash, and the corpus
 * replay (replay.c) fails the test. Crashes, leaks and undefined
 * behaviour are found by the sanitizers the targets are built with.
 */
#ifndef CHATD_FUZZ_H
#define CHATD_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_FAIL(...)                                                   \
    do {                                                                 \
        fprintf(stderr, "%s:%d: property broken: ", __FILE__, __LINE__); \
        fprintf(stderr, __VA_ARGS__);                                    \
        fputc('\n', stderr);                                             \
        abort();                                                         \
    } while (0)

#define FUZZ_CHECK(cond, ...)      \
    do {                           \
        if (!(cond))               \
            FUZZ_FAIL(__VA_ARGS__); \
    } while (0)

#endif /* CHATD_FUZZ_H */
