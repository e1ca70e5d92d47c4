using System.Text.RegularExpressions;
using Npgsql;
using ShopGpt.Tests.Infrastructure;

namespace ShopGpt.Tests.Data;

/// <summary>
/// deploy/citus/distribute.sql against the real schema: the schema must run on Citus unchanged.
/// Citus requires every primary/unique key of a distributed table to contain the distribution
/// column, and foreign keys only between co-located tables (on the distribution column) or
/// towards reference tables.
/// </summary>
[Collection(AppCollection.Name)]
public sealed partial class CitusCompatibilityTests(AppFixture fx)
{
    private sealed record Plan(Dictionary<string, (string Column, string Group)> Distributed, HashSet<string> Reference, HashSet<string> Local);

    private static Plan ReadScript()
    {
        var root = Environment.GetEnvironmentVariable("SHOPGPT_ROOT");
        if (string.IsNullOrEmpty(root))
        {
            root = AppContext.BaseDirectory;
            while (!File.Exists(Path.Combine(root, "ShopGpt.slnx"))) root = Path.GetDirectoryName(root)!;
        }
        var sql = File.ReadAllText(Path.Combine(root, "deploy", "citus", "distribute.sql"));
        var distributed = new Dictionary<string, (string, string)>();
        foreach (Match m in DistributeCall().Matches(sql))
            distributed[m.Groups["t"].Value] = (m.Groups["c"].Value, m.Groups["w"].Success && m.Groups["w"].Value != "default" ? m.Groups["w"].Value : "users");
        var reference = ReferenceCall().Matches(sql).Select(m => m.Groups["t"].Value).ToHashSet();
        var local = LocalComment().Matches(sql).SelectMany(m => m.Groups["l"].Value.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries)).ToHashSet();
        return new Plan(distributed, reference, local);
    }

    [GeneratedRegex(@"create_distributed_table\(\s*'(?<t>\w+)'\s*,\s*'(?<c>\w+)'(?:[^)]*colocate_with\s*=>\s*'(?<w>\w+)')?", RegexOptions.IgnoreCase)]
    private static partial Regex DistributeCall();

    [GeneratedRegex(@"create_reference_table\(\s*'(?<t>\w+)'", RegexOptions.IgnoreCase)]
    private static partial Regex ReferenceCall();

    [GeneratedRegex(@"--\s*coordinator-local:\s*(?<l>[\w, ]+)", RegexOptions.IgnoreCase)]
    private static partial Regex LocalComment();

    private async Task<List<T>> QueryAsync<T>(string sql, Func<NpgsqlDataReader, T> read)
    {
        var ds = fx.App.Services.GetRequiredService<NpgsqlDataSource>();
        await using var cmd = ds.CreateCommand(sql);
        await using var r = await cmd.ExecuteReaderAsync();
        var list = new List<T>();
        while (await r.ReadAsync()) list.Add(read(r));
        return list;
    }

    [Fact]
    public async Task EveryTableIsPlacedByTheScript()
    {
        var plan = ReadScript();
        // Partitions (messages_2026_11, messages_default) follow their parent.
        var tables = await QueryAsync(
            "select c.relname from pg_class c join pg_namespace n on n.oid = c.relnamespace where n.nspname = 'public' and c.relkind in ('r', 'p') and not c.relispartition",
            r => r.GetString(0));
        var unplaced = tables.Where(t => !plan.Distributed.ContainsKey(t) && !plan.Reference.Contains(t) && !plan.Local.Contains(t)).ToList();
        Assert.True(unplaced.Count == 0, $"tables not placed by deploy/citus/distribute.sql: {string.Join(", ", unplaced)}");
        Assert.Contains("messages", plan.Distributed.Keys);
        Assert.Contains("products", plan.Reference);
    }

    [Fact]
    public async Task EveryKeyOfADistributedTableContainsItsDistributionColumn()
    {
        var plan = ReadScript();
        // Unique indexes cover primary keys, unique constraints and bare unique indexes alike.
        var keys = await QueryAsync(
            """
            select t.relname, i.relname, array(select a.attname::text from unnest(x.indkey) k join pg_attribute a on a.attrelid = x.indrelid and a.attnum = k)
            from pg_index x join pg_class t on t.oid = x.indrelid join pg_class i on i.oid = x.indexrelid
            join pg_namespace n on n.oid = t.relnamespace
            where n.nspname = 'public' and x.indisunique and not t.relispartition
            """,
            r => (Table: r.GetString(0), Index: r.GetString(1), Columns: r.GetFieldValue<string[]>(2)));
        var checkedAny = false;
        foreach (var (table, index, columns) in keys)
        {
            if (!plan.Distributed.TryGetValue(table, out var d)) continue;
            checkedAny = true;
            Assert.True(columns.Contains(d.Column), $"{table}.{index} ({string.Join(", ", columns)}) does not contain the distribution column {d.Column}");
        }
        Assert.True(checkedAny);
    }

    [Fact]
    public async Task ForeignKeysOnlyJoinColocatedTablesOnTheDistributionColumnOrPointAtReferenceTables()
    {
        var plan = ReadScript();
        var fks = await QueryAsync(
            """
            select c.conname, s.relname, t.relname,
                   array(select a.attname::text from unnest(c.conkey) with ordinality k(n, o) join pg_attribute a on a.attrelid = c.conrelid and a.attnum = k.n order by k.o),
                   array(select a.attname::text from unnest(c.confkey) with ordinality k(n, o) join pg_attribute a on a.attrelid = c.confrelid and a.attnum = k.n order by k.o)
            from pg_constraint c join pg_class s on s.oid = c.conrelid join pg_class t on t.oid = c.confrelid
            join pg_namespace n on n.oid = s.relnamespace
            where c.contype = 'f' and n.nspname = 'public' and not s.relispartition
            """,
            r => (Name: r.GetString(0), From: r.GetString(1), To: r.GetString(2), FromCols: r.GetFieldValue<string[]>(3), ToCols: r.GetFieldValue<string[]>(4)));
        foreach (var fk in fks)
        {
            if (plan.Reference.Contains(fk.To))
            {
                Assert.False(plan.Local.Contains(fk.From), $"{fk.Name}: a coordinator-local table cannot reference a reference table in every setup");
                continue;
            }
            Assert.False(plan.Reference.Contains(fk.From), $"{fk.Name}: reference table {fk.From} points at non-reference table {fk.To}");
            Assert.True(plan.Distributed.TryGetValue(fk.From, out var from), $"{fk.Name}: {fk.From} is not distributed but references {fk.To}");
            Assert.True(plan.Distributed.TryGetValue(fk.To, out var to), $"{fk.Name}: {fk.To} is neither distributed nor a reference table");
            Assert.Equal(from.Group, to.Group);
            var i = Array.IndexOf(fk.FromCols, from.Column);
            Assert.True(i >= 0 && fk.ToCols[i] == to.Column, $"{fk.Name}: does not join {fk.From}.{from.Column} to {fk.To}.{to.Column}");
        }
    }
}
