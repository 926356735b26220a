/*
 * Scratch directories for the storage tests: a fresh mkdtemp directory per
 * test (under $TMPDIR, else /tmp), removed with everything in it after.
 * Real LMDB, real files, no mocks.
 */
#ifndef TESTS_UNIT_EVLOG_TESTDIR_H
#define TESTS_UNIT_EVLOG_TESTDIR_H

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Returns a malloc()ed path of a new empty directory, or NULL. */
static inline char *testdir_make(void)
{
    const char *base = getenv("TMPDIR");
    char path[4096];

    snprintf(path, sizeof path, "%s/chatd-test-XXXXXX",
             base && base[0] ? base : "/tmp");
    if (!mkdtemp(path))
        return NULL;
    return strdup(path);
}

static inline int testdir_rm_one(const char *path, const struct stat *sb,
                                 int flag, struct FTW *ftw)
{
    (void)sb;
    (void)ftw;
    return flag == FTW_DP ? rmdir(path) : unlink(path);
}

/* Removes the directory tree and frees the path. */
static inline void testdir_remove(char *path)
{
    if (!path)
        return;
    nftw(path, testdir_rm_one, 16, FTW_DEPTH | FTW_PHYS);
    free(path);
}

/* "<dir>/<leaf>" in a malloc()ed string. */
static inline char *testdir_join(const char *dir, const char *leaf)
{
    char *p = NULL;

    if (asprintf(&p, "%s/%s", dir, leaf) < 0)
        return NULL;
    return p;
}

/* cmocka fixtures for a test that needs only a directory: *state is its
 * path (char *), made before the test and removed with everything in it
 * after. */
static inline int testdir_setup(void **state)
{
    *state = testdir_make();
    return *state ? 0 : -1;
}

static inline int testdir_teardown(void **state)
{
    testdir_remove(*state);
    return 0;
}

/* A cmocka test with those fixtures. */
#define TESTDIR_TEST(f) \
    cmocka_unit_test_setup_teardown(f, testdir_setup, testdir_teardown)

#endif /* TESTS_UNIT_EVLOG_TESTDIR_H */
