namespace ShopGpt.Tests.Infrastructure;

/// <summary>Where the real PostgreSQL and Redis that <c>./shopgpt test</c> started can be found.</summary>
public static class TestEnvironment
{
    public static string Postgres =>
        Environment.GetEnvironmentVariable("SHOPGPT_TEST_PG") ?? "Host=127.0.0.1;Port=25433;Username=shopgpt;Database=shopgpt_test";

    /// <summary>Connection to the maintenance database, for tests that create databases of their own.</summary>
    public static string PostgresAdmin =>
        Environment.GetEnvironmentVariable("SHOPGPT_TEST_PG_ADMIN") ?? "Host=127.0.0.1;Port=25433;Username=shopgpt;Database=postgres";

    public static string Redis => Environment.GetEnvironmentVariable("SHOPGPT_TEST_REDIS") ?? "127.0.0.1:26380";

    /// <summary>A connection string for another database on the same test server.</summary>
    public static string PostgresDatabase(string name) =>
        new Npgsql.NpgsqlConnectionStringBuilder(Postgres) { Database = name }.ConnectionString;
}
