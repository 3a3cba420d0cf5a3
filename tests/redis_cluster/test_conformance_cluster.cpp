// The adapter conformance suite against RedisAdapter on the test Redis Cluster (found from one seed
// node's URL, exactly as a user would configure it): every check that holds on one Redis holds here.
#include <failpipe/testing/adapter_conformance.hpp>

#include "cluster_test_support.hpp"

namespace {

struct ClusterFixture {
    std::shared_ptr<failpipe::AdapterInterface> make() {
        failpipe::RedisAdapter::Options options;
        options.url = failpipe::cluster_test::cluster_url();
        options.key_prefix = failpipe::redis_test::unique_prefix("cconf");
        options.visibility_timeout = visibility();
        return std::make_shared<failpipe::RedisAdapter>(options);
    }
    failpipe::Seconds visibility() const { return failpipe::Seconds{0.5}; }
    failpipe::Seconds delay() const { return failpipe::Seconds{0.3}; }
    void pass(failpipe::Seconds by) {
        std::this_thread::sleep_for(std::chrono::duration_cast<std::chrono::milliseconds>(by) + std::chrono::milliseconds(30));
    }
    void push_raw(failpipe::AdapterInterface& adapter, const std::string& channel, std::string bytes) {
        dynamic_cast<failpipe::RedisAdapter&>(adapter).push_raw(channel, std::move(bytes));
    }
};

}  // namespace

FAILPIPE_ADAPTER_CONFORMANCE(ClusterFixture, "cluster")
