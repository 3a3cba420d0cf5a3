// The doctest runner, compiled once for every test executable. failpipe's log is quiet here
// unless FAILPIPE_LOG_LEVEL says otherwise (e.g. FAILPIPE_LOG_LEVEL=debug).
#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>

#include <cstdlib>

int main(int argc, char** argv) {
    setenv("FAILPIPE_LOG_LEVEL", "off", /*overwrite=*/0);
    doctest::Context context(argc, argv);
    return context.run();
}
