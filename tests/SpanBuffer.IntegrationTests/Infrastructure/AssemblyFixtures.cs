using SpanBuffer.IntegrationTests.Infrastructure;

// Each topology is started once per test run and shared by every test class that asks for it.
// Tests isolate themselves with RedisTestBase.NewKeyPrefix, so nothing is flushed between tests.
[assembly: AssemblyFixture(typeof(StandaloneRedisFixture))]
[assembly: AssemblyFixture(typeof(ClusterRedisFixture))]
