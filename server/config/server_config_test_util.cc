#include "server/config/server_config_test_util.h"

#include <cstddef>

#include "gtest/gtest.h"
#include "server/config/server_config.h"
#include "server/kube/kube_options.h"

namespace codeexec {
namespace {

void ExpectSameProfile(const LanguageProfile& actual,
                       const LanguageProfile& expected) {
  EXPECT_EQ(actual.file_name, expected.file_name);
  EXPECT_EQ(actual.command, expected.command);
  EXPECT_EQ(actual.image, expected.image);
  EXPECT_EQ(actual.env, expected.env);
  EXPECT_EQ(actual.rootfs, expected.rootfs);
}

}  // namespace

void ExpectSameConfig(const ServerConfig& actual,
                      const ServerConfig& expected) {
  EXPECT_EQ(actual.server.listen_address, expected.server.listen_address);
  EXPECT_EQ(actual.server.metrics_address, expected.server.metrics_address);
  EXPECT_EQ(actual.server.backend, expected.server.backend);
  EXPECT_EQ(actual.server.shutdown_grace, expected.server.shutdown_grace);
  EXPECT_EQ(actual.server.ports_file, expected.server.ports_file);
  EXPECT_EQ(actual.server.max_unsent_output_bytes,
            expected.server.max_unsent_output_bytes);
  EXPECT_EQ(actual.server.health_address, expected.server.health_address);
  EXPECT_EQ(actual.server.tls.cert_file, expected.server.tls.cert_file);
  EXPECT_EQ(actual.server.tls.key_file, expected.server.tls.key_file);
  EXPECT_EQ(actual.server.tls.client_ca_file,
            expected.server.tls.client_ca_file);
  EXPECT_EQ(actual.server.tls.reload_interval,
            expected.server.tls.reload_interval);
  EXPECT_EQ(actual.server.auth.mode, expected.server.auth.mode);
  EXPECT_EQ(actual.server.auth.allowed_identities,
            expected.server.auth.allowed_identities);
  EXPECT_EQ(actual.server.auth.token.audience,
            expected.server.auth.token.audience);
  EXPECT_EQ(actual.server.auth.token.cache_ttl,
            expected.server.auth.token.cache_ttl);
  EXPECT_EQ(actual.server.auth.token.cache_size,
            expected.server.auth.token.cache_size);
  EXPECT_EQ(actual.server.auth.token.max_pending_reviews,
            expected.server.auth.token.max_pending_reviews);
  EXPECT_EQ(actual.server.quotas.concurrent_executions,
            expected.server.quotas.concurrent_executions);
  EXPECT_EQ(actual.server.quotas.executions_per_minute,
            expected.server.quotas.executions_per_minute);
  EXPECT_EQ(actual.server.quotas.open_sessions,
            expected.server.quotas.open_sessions);
  EXPECT_EQ(actual.server.reflection, expected.server.reflection);
  EXPECT_EQ(actual.dispatcher.workers, expected.dispatcher.workers);
  EXPECT_EQ(actual.dispatcher.queue_size, expected.dispatcher.queue_size);
  EXPECT_EQ(actual.sessions.max_sessions, expected.sessions.max_sessions);
  EXPECT_EQ(actual.sessions.default_idle_timeout,
            expected.sessions.default_idle_timeout);
  EXPECT_EQ(actual.sessions.max_idle_timeout,
            expected.sessions.max_idle_timeout);
  EXPECT_EQ(actual.sessions.default_max_lifetime,
            expected.sessions.default_max_lifetime);
  EXPECT_EQ(actual.sessions.max_lifetime, expected.sessions.max_lifetime);

  const LimitsOptions& limits = actual.validation.limits;
  const LimitsOptions& want = expected.validation.limits;
  EXPECT_EQ(limits.default_timeout, want.default_timeout);
  EXPECT_EQ(limits.default_resources.cpu_request_millis,
            want.default_resources.cpu_request_millis);
  EXPECT_EQ(limits.default_resources.cpu_limit_millis,
            want.default_resources.cpu_limit_millis);
  EXPECT_EQ(limits.default_resources.memory_request_bytes,
            want.default_resources.memory_request_bytes);
  EXPECT_EQ(limits.default_resources.memory_limit_bytes,
            want.default_resources.memory_limit_bytes);
  EXPECT_EQ(limits.default_max_output_bytes, want.default_max_output_bytes);
  EXPECT_EQ(limits.max_timeout, want.max_timeout);
  EXPECT_EQ(limits.max_cpu_millis, want.max_cpu_millis);
  EXPECT_EQ(limits.max_memory_bytes, want.max_memory_bytes);
  EXPECT_EQ(limits.max_output_bytes, want.max_output_bytes);
  EXPECT_EQ(limits.max_code_bytes, want.max_code_bytes);
  EXPECT_EQ(limits.max_stdin_bytes, want.max_stdin_bytes);
  EXPECT_EQ(limits.max_env_vars, want.max_env_vars);
  EXPECT_EQ(limits.max_input_files, want.max_input_files);
  EXPECT_EQ(limits.max_input_file_bytes, want.max_input_file_bytes);
  EXPECT_EQ(limits.max_output_files, want.max_output_files);
  EXPECT_EQ(limits.max_output_file_bytes, want.max_output_file_bytes);

  ASSERT_EQ(actual.validation.languages.size(),
            expected.validation.languages.size());
  for (const auto& [name, profile] : expected.validation.languages) {
    SCOPED_TRACE(name);
    ASSERT_TRUE(actual.validation.languages.contains(name));
    ExpectSameProfile(actual.validation.languages.at(name), profile);
  }
  EXPECT_EQ(actual.validation.default_language,
            expected.validation.default_language);

  EXPECT_EQ(actual.local.runsc_path, expected.local.runsc_path);
  EXPECT_EQ(actual.local.state_dir, expected.local.state_dir);
  EXPECT_EQ(actual.local.rootfs, expected.local.rootfs);
  EXPECT_EQ(actual.local.platform, expected.local.platform);
  EXPECT_EQ(actual.local.workspace_bytes, expected.local.workspace_bytes);
  EXPECT_EQ(actual.local.tmp_bytes, expected.local.tmp_bytes);
  EXPECT_EQ(actual.local.max_processes, expected.local.max_processes);
  EXPECT_EQ(actual.local.host_pids_limit, expected.local.host_pids_limit);
  EXPECT_EQ(actual.local.run_as_uid, expected.local.run_as_uid);
  EXPECT_EQ(actual.local.run_as_gid, expected.local.run_as_gid);
  EXPECT_EQ(actual.local.cgroup_parent, expected.local.cgroup_parent);
  EXPECT_EQ(actual.local.kill_grace, expected.local.kill_grace);
  EXPECT_EQ(actual.local.extra_runsc_flags, expected.local.extra_runsc_flags);
  EXPECT_EQ(actual.local.warm_pool.size, expected.local.warm_pool.size);
  EXPECT_EQ(actual.local.warm_pool.max_age, expected.local.warm_pool.max_age);
  EXPECT_EQ(actual.local.warm_pool.max_starting,
            expected.local.warm_pool.max_starting);
  EXPECT_EQ(actual.kubernetes.warm_pool.size,
            expected.kubernetes.warm_pool.size);
  EXPECT_EQ(actual.kubernetes.warm_pool.max_age,
            expected.kubernetes.warm_pool.max_age);
  EXPECT_EQ(actual.kubernetes.warm_pool.max_starting,
            expected.kubernetes.warm_pool.max_starting);

  ExpectSameKubernetes(actual.kubernetes, expected.kubernetes);
}

void ExpectSameKubernetes(const kube::KubernetesOptions& actual,
                          const kube::KubernetesOptions& expected) {
  EXPECT_EQ(actual.namespace_name, expected.namespace_name);
  EXPECT_EQ(actual.kubeconfig_path, expected.kubeconfig_path);
  EXPECT_EQ(actual.kubeconfig_context, expected.kubeconfig_context);
  EXPECT_EQ(actual.default_image, expected.default_image);
  EXPECT_EQ(actual.image_pull_policy, expected.image_pull_policy);
  EXPECT_EQ(actual.image_pull_secrets, expected.image_pull_secrets);
  EXPECT_EQ(actual.runtime_class_name, expected.runtime_class_name);
  EXPECT_EQ(actual.node_selector, expected.node_selector);
  ASSERT_EQ(actual.tolerations.size(), expected.tolerations.size());
  for (size_t i = 0; i < expected.tolerations.size(); ++i) {
    SCOPED_TRACE(testing::Message() << "tolerations[" << i << "]");
    EXPECT_EQ(actual.tolerations[i].key, expected.tolerations[i].key);
    EXPECT_EQ(actual.tolerations[i].op, expected.tolerations[i].op);
    EXPECT_EQ(actual.tolerations[i].value, expected.tolerations[i].value);
    EXPECT_EQ(actual.tolerations[i].effect, expected.tolerations[i].effect);
  }
  EXPECT_EQ(actual.run_as_user, expected.run_as_user);
  EXPECT_EQ(actual.run_as_group, expected.run_as_group);
  EXPECT_EQ(actual.workspace_bytes, expected.workspace_bytes);
  EXPECT_EQ(actual.tmp_bytes, expected.tmp_bytes);
  EXPECT_EQ(actual.ephemeral_storage_bytes, expected.ephemeral_storage_bytes);
  EXPECT_EQ(actual.ttl_after_finished, expected.ttl_after_finished);
  EXPECT_EQ(actual.schedule_timeout, expected.schedule_timeout);
  EXPECT_EQ(actual.qps, expected.qps);
  EXPECT_EQ(actual.burst, expected.burst);
  EXPECT_EQ(actual.request_timeout, expected.request_timeout);
  EXPECT_EQ(actual.janitor_interval, expected.janitor_interval);
}

}  // namespace codeexec
